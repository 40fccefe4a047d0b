"""`search: all`: operations off the flat list that the search view finds and calls through the one call pipeline.

The package is the petstore with `create_pet` compiled as a spec's `search: all` compiles the operations it does
not curate (`listed: false` in the manifest). The flat list must stay exactly the curated tools; the search view
must find the unlisted operation, call it with the caller's credential, and usage must name the real tool.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from runtime.support import Upstream, make_account, mcp_client, petstore, write_package

from mcphub.runtime.tenancy.services import Tenancy
from mcphub.runtime.tenancy.usage import call_log
from tenancy import test_hub_e2e as hub_e2e

upstream = hub_e2e.upstream
_hub = hub_e2e._hub


@pytest.fixture
def whole_api(upstream: Upstream, tmp_path: Path) -> Path:
    folder = tmp_path / "catalog"
    for slug in ("pets", "zoo"):
        integration = petstore(upstream.base_url, slug=slug)
        for tool in integration.tools:
            tool.listed = tool.name != "create_pet"
        write_package(integration, folder)
    return folder


def _text(result: types.CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))


def _answer(result: types.CallToolResult) -> Any:
    assert result.is_error is False, _text(result)
    return json.loads(_text(result))


def test_the_manifest_says_listed_false_only_for_the_unlisted_tool(whole_api: Path) -> None:
    tools = json.loads((whole_api / "pets" / "manifest.json").read_text())["tools"]
    assert {t["name"]: t.get("listed", True) for t in tools}["create_pet"] is False
    assert all("listed" not in t for t in tools if t["name"] != "create_pet")  # unchanged bytes for the rest


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_search_finds_and_calls_an_unlisted_operation_and_the_flat_list_is_unchanged(
    tenancy: Tenancy, db_url: str, whole_api: Path, upstream: Upstream, mode: str
) -> None:
    account = await make_account(
        tenancy,
        "whole@example.com",
        enable=["pets", "zoo"],
        credentials={"pets": {"token": "whole-pets"}, "zoo": {"token": "whole-zoo"}},
    )
    flat_key = (await tenancy.accounts.create_key(account.user_id, "flat", view="flat")).secret
    search_key = (await tenancy.accounts.create_key(account.user_id, "search", view="search")).secret
    zoo_key = (await tenancy.accounts.create_key(account.user_id, "zoo", view="search", scope=["zoo"])).secret
    name = f"whole-{secrets.token_hex(4)}"
    with _hub(tenancy, db_url, whole_api) as base:
        async with mcp_client(f"{base}/mcp", flat_key, mode=mode) as client:
            listed = {tool.name for tool in (await client.list_tools()).tools}
            assert "pets__get_pet" in listed and "pets__list_pets" in listed
            assert not {n for n in listed if n.endswith("__create_pet")}
        async with mcp_client(f"{base}/mcp/pets", flat_key, mode=mode) as client:
            assert "create_pet" not in {tool.name for tool in (await client.list_tools()).tools}
        async with mcp_client(f"{base}/mcp", search_key, mode=mode) as client:
            found = _answer(await client.call_tool("search_tools", {"query": "create a new pet", "limit": 3}))
            names = [hit["name"] for hit in found["results"]]
            assert "pets__create_pet" in names, names
            described = _answer(await client.call_tool("describe_tool", {"name": "pets__create_pet"}))
            assert described["name"] == "pets__create_pet"
            called = await client.call_tool("call_tool", {"name": "pets__create_pet", "arguments": {"name": name}})
            assert called.is_error is False, _text(called)
        async with mcp_client(f"{base}/mcp", zoo_key, mode=mode) as client:
            found = _answer(await client.call_tool("search_tools", {"query": "create a new pet", "limit": 20}))
            assert {hit["integration"] for hit in found["results"]} <= {"zoo"}
            assert "zoo__create_pet" in [hit["name"] for hit in found["results"]]
            refused = await client.call_tool("call_tool", {"name": "pets__create_pet", "arguments": {"name": name}})
            assert refused.is_error is True
    sent = [r for r in upstream.requests if r.method == "POST" and name in r.body.decode(errors="replace")]
    assert len(sent) == 1 and sent[0].headers["authorization"] == "Bearer whole-pets"
    # The log names the real tool, for the call and for the scoped key's refusal alike.
    log = await call_log(tenancy.db, user_id=account.user_id, limit=100)
    assert sorted((e.integration, e.tool, e.status) for e in log) == [
        ("pets", "create_pet", "denied"),
        ("pets", "create_pet", "ok"),
    ]
