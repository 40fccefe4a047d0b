"""The search view end to end: a key's view, `/mcp/search`, the meta-tools through the official SDK client.

The real app (tenancy on SQLite and PostgreSQL, real keys), the real search index with the embedding model the
`embeddings` extra ships, and the recording upstream: a call through `call_tool` must reach the upstream with the
caller's credential and be recorded as the real tool, and refusals must read exactly like a direct call's.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError
from runtime.support import Upstream, make_account, mcp_client, petstore, write_package

from mcphub.compiler.errors import SpecError
from mcphub.compiler.spec import load_spec
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.runtime.tenancy.usage import call_log
from tenancy import test_hub_e2e as hub_e2e

# The hub e2e tests' recording upstream and catalog (pets, zoo, limited), and how they serve the app.
upstream = hub_e2e.upstream
catalog = hub_e2e.catalog
_hub = hub_e2e._hub

META = {"search_tools", "call_tool", "describe_tool"}
MODES = ["legacy", "2026-07-28"]


def _text(result: types.CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))


def _answer(result: types.CallToolResult) -> Any:
    assert result.is_error is False, _text(result)
    return json.loads(_text(result))


async def _keyed(tenancy: Tenancy, email: str, *, view: str, scope: list[str] | None = None) -> tuple[int, str]:
    """A user with pets and zoo enabled and connected, and one key with `view` (and `scope`)."""
    account = await make_account(
        tenancy,
        email,
        enable=["pets", "zoo"],
        credentials={"pets": {"token": f"{email}-pets"}, "zoo": {"token": f"{email}-zoo"}},
    )
    key = await tenancy.accounts.create_key(account.user_id, "search", view=view, scope=scope)
    return account.user_id, key.secret


@pytest.mark.parametrize("mode", MODES)
async def test_a_search_view_key_lists_the_meta_tools_finds_a_tool_and_calls_it_as_itself(
    tenancy: Tenancy, db_url: str, catalog: Path, upstream: Upstream, mode: str
) -> None:
    user_id, key = await _keyed(tenancy, "ada@example.com", view="search")
    pet = f"search-{secrets.token_hex(4)}"
    with _hub(tenancy, db_url, catalog) as base:
        async with mcp_client(f"{base}/mcp", key, mode=mode) as client:
            listed = await client.list_tools()
            assert {tool.name for tool in listed.tools} == META
            wire = json.dumps(listed.model_dump(by_alias=True, mode="json", exclude_none=True))
            assert len(wire) / 4 <= 1500

            found = _answer(await client.call_tool("search_tools", {"query": "fetch one pet by its id"}))
            names = [hit["name"] for hit in found["results"]]
            assert {"pets__get_pet", "zoo__get_pet"} <= set(names[:3]), names
            hit = next(h for h in found["results"] if h["name"] == "pets__get_pet")
            assert hit["integration"] == "pets" and "pet_id" in hit["inputSchema"]["properties"]
            only_pets = _answer(await client.call_tool("search_tools", {"query": "pet by id", "integration": "pets"}))
            assert {h["integration"] for h in only_pets["results"]} == {"pets"}

            described = _answer(await client.call_tool("describe_tool", {"name": "pets__get_pet"}))
            assert described["description"] == "Fetch one pet by id."

            called = await client.call_tool("call_tool", {"name": "pets__get_pet", "arguments": {"pet_id": pet}})
            assert called.is_error is False, _text(called)
            sent = next(r for r in upstream.requests if r.path == f"/pets/{pet}")
            assert sent.headers["authorization"] == "Bearer ada@example.com-pets"
            # The same validation and message as a direct call (nothing is sent upstream).
            direct = await client.call_tool("pets__get_pet", {})
            through = await client.call_tool("call_tool", {"name": "pets__get_pet", "arguments": {}})
            assert direct.is_error is True and through.is_error is True
            assert _text(through) == _text(direct)
            unknown = await client.call_tool("call_tool", {"name": "pets__no_such_tool"})
            assert unknown.is_error is True and "search_tools" in _text(unknown)
    # The hub has shut down (usage flushed): the log names the real tool, never a meta-tool.
    log = await call_log(tenancy.db, user_id=user_id, limit=100)
    assert sorted((e.integration, e.tool, e.status) for e in log) == [
        ("pets", "get_pet", "ok"),
        ("pets", "get_pet", "tool_error"),
        ("pets", "get_pet", "tool_error"),
    ]


@pytest.mark.parametrize("mode", MODES)
async def test_a_key_scoped_to_one_integration_never_finds_or_calls_another(
    tenancy: Tenancy, db_url: str, catalog: Path, upstream: Upstream, mode: str
) -> None:
    user_id, key = await _keyed(tenancy, "bob@example.com", view="search", scope=["pets"])
    pet = f"scoped-{secrets.token_hex(4)}"
    with _hub(tenancy, db_url, catalog) as base:
        async with mcp_client(f"{base}/mcp", key, mode=mode) as client:
            found = _answer(await client.call_tool("search_tools", {"query": "fetch one pet by its id", "limit": 20}))
            assert found["results"] and {h["integration"] for h in found["results"]} == {"pets"}
            elsewhere = _answer(await client.call_tool("search_tools", {"query": "pet", "integration": "zoo"}))
            assert elsewhere["results"] == [] and "hint" in elsewhere
            hidden = await client.call_tool("describe_tool", {"name": "zoo__get_pet"})
            assert hidden.is_error is True and "is available to this key" in _text(hidden)

            direct = await client.call_tool("zoo__get_pet", {"pet_id": pet})
            through = await client.call_tool("call_tool", {"name": "zoo__get_pet", "arguments": {"pet_id": pet}})
            assert direct.is_error is True and through.is_error is True
            assert _text(through) == _text(direct) and "zoo" in _text(direct)
    assert not [r for r in upstream.requests if r.path == f"/pets/{pet}"]  # refused before anything left
    log = await call_log(tenancy.db, user_id=user_id, limit=100)
    assert {(e.integration, e.tool) for e in log} == {("zoo", "get_pet")}


@pytest.mark.parametrize("mode", MODES)
async def test_mcp_search_gives_a_flat_key_the_search_view_and_auto_stays_flat_when_small(
    tenancy: Tenancy, db_url: str, catalog: Path, mode: str
) -> None:
    _, flat_key = await _keyed(tenancy, "cy@example.com", view="flat")
    with _hub(tenancy, db_url, catalog) as base:
        async with mcp_client(f"{base}/mcp", flat_key, mode=mode) as client:
            flat = {tool.name for tool in (await client.list_tools()).tools}
            assert "pets__get_pet" in flat and not flat & META
            with pytest.raises(MCPError, match="Unknown tool: search_tools"):
                await client.call_tool("search_tools", {"query": "pet"})  # not a tool of the flat view
        async with mcp_client(f"{base}/mcp/search", flat_key, mode=mode) as client:
            assert {tool.name for tool in (await client.list_tools()).tools} == META
            found = _answer(await client.call_tool("search_tools", {"query": "get a pet", "integration": "zoo"}))
            assert found["results"][0]["integration"] == "zoo"
            called = await client.call_tool("call_tool", {"name": "zoo__get_pet", "arguments": {"pet_id": "x"}})
            assert called.is_error is False, _text(called)
        # The JSON API sets and shows the view; `auto` lists flat while the tools fit the token budget.
        async with httpx2.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {flat_key}"}) as http:
            created = await http.post("/api/v1/keys", json={"name": "auto", "view": "auto"})
            assert created.status_code == 201 and created.json()["key"]["view"] == "auto"
            bad = await http.post("/api/v1/keys", json={"name": "x", "view": "tree"})
            assert bad.status_code == 422 and "view" in bad.json()["error"]["message"]
        async with mcp_client(f"{base}/mcp", created.json()["secret"], mode=mode) as client:
            assert {tool.name for tool in (await client.list_tools()).tools} == flat


def test_the_slug_search_is_reserved_for_the_view(tmp_path: Path) -> None:
    spec = tmp_path / "search.yaml"
    spec.write_text("slug: search\nname: Search\nsource:\n  kind: openapi\n  path: api.yaml\n")
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    message = str(caught.value)
    assert "search.yaml" in message and "reserved" in message and "/mcp/search" in message


async def test_auto_is_flat_within_the_token_budget_and_search_above_it(
    tenancy: Tenancy, db_url: str, catalog: Path, upstream: Upstream
) -> None:
    # A fourth integration whose 100 tools alone are well over 8,000 tokens as a tool list.
    template = next(tool for tool in petstore(upstream.base_url).tools if tool.name == "get_pet")
    blurb = "Fetch one pet of the large shelter by id, with its records, vaccinations and adoption history. " * 3
    tools = [template.model_copy(update={"name": f"get_pet_{i}", "description": blurb}) for i in range(100)]
    write_package(petstore(upstream.base_url, slug="shelter").model_copy(update={"tools": tools}), catalog)
    small = await make_account(tenancy, "eve@example.com", enable=["pets"], credentials={"pets": {"token": "e"}})
    large = await make_account(
        tenancy, "fay@example.com", enable=["pets", "shelter"], credentials={"shelter": {"token": "f"}}
    )
    keys = {}
    for account in (small, large):
        keys[account.email] = (await tenancy.accounts.create_key(account.user_id, "auto", view="auto")).secret
    with _hub(tenancy, db_url, catalog) as base:
        async with mcp_client(f"{base}/mcp", keys["eve@example.com"], mode="2026-07-28") as client:
            listed = {tool.name for tool in (await client.list_tools()).tools}
            assert "pets__get_pet" in listed and not listed & META
        async with mcp_client(f"{base}/mcp", keys["fay@example.com"], mode="legacy") as client:
            assert {tool.name for tool in (await client.list_tools()).tools} == META
            found = _answer(await client.call_tool("search_tools", {"query": "pet vaccinations", "limit": 3}))
            assert [hit["integration"] for hit in found["results"]] == ["shelter"] * 3


async def test_a_reload_rebuilds_the_index_with_the_new_tools(
    tenancy: Tenancy, db_url: str, catalog: Path, upstream: Upstream
) -> None:
    user_id, key = await _keyed(tenancy, "gus@example.com", view="search")
    await tenancy.integrations.enable(user_id, "kennel")  # not mounted yet: it comes with the reload
    await tenancy.credentials.set(user_id, "kennel", {"token": "g"}, scheme="bearer")
    with _hub(tenancy, db_url, catalog) as base:
        async with mcp_client(f"{base}/mcp", key, mode="2026-07-28") as client:
            before = _answer(await client.call_tool("search_tools", {"query": "pet", "integration": "kennel"}))
            assert before["results"] == []
            write_package(petstore(upstream.base_url, slug="kennel"), catalog)
            async with httpx2.AsyncClient(base_url=base, headers={"Authorization": "Bearer t"}) as http:
                assert (await http.post("/admin/reload")).json()["added"] == ["kennel"]
            after = _answer(await client.call_tool("search_tools", {"query": "pet", "integration": "kennel"}))
            assert after["results"] and {hit["integration"] for hit in after["results"]} == {"kennel"}
            called = await client.call_tool("call_tool", {"name": "kennel__get_pet", "arguments": {"pet_id": "k"}})
            assert called.is_error is False, _text(called)
