"""The hub with its tenancy, end to end: real keys, the official MCP client, SQLite and PostgreSQL.

Each test serves the real app (`mcphub.app.create_app`) with uvicorn in its own thread and event loop; the
app opens its own `Tenancy` on the test's database at startup, as `mcphub serve` does. Users, keys,
enabled integrations and credentials are made by the test through the tenancy layer (the `tenancy`
fixture: the same database and data dir), before the hub caches anything, or through the hub's JSON API
while it runs. Upstream requests are recorded, so every test shows which credential reached the upstream.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.session import IncomingMessage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ToolsListChanged
from runtime.support import Account, Upstream, make_account, mcp_client, open_tenancy, petstore, serve, write_package
from sqlalchemy import func, select

from mcphub.app import Settings, create_app
from mcphub.runtime.store.models import UsageEvent
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.runtime.tenancy.usage import call_log
from tenancy.conftest import REDIS_URL

EVENT_WAIT_S = 10.0


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    recorder = Upstream()
    with serve(recorder) as base:
        recorder.base_url = base
        yield recorder


@pytest.fixture
def catalog(upstream: Upstream, tmp_path: Path) -> Path:
    """Three integrations on the recording upstream: `pets`, `zoo`, and `limited` (2 calls a minute)."""
    folder = tmp_path / "catalog"
    write_package(petstore(upstream.base_url), folder)
    write_package(petstore(upstream.base_url, slug="zoo"), folder)
    write_package(petstore(upstream.base_url, slug="limited", rate_limit="2/min"), folder)
    return folder


def _settings(tenancy: Tenancy, db_url: str, catalog: Path, **extra: Any) -> Settings:
    return Settings(
        port=0, catalog_dirs=[catalog], admin_token="t", data_dir=tenancy.data_dir, database_url=db_url, **extra
    )


def _hub(tenancy: Tenancy, db_url: str, catalog: Path, **extra: Any) -> Any:
    return serve(create_app(_settings(tenancy, db_url, catalog, **extra)), health_path="/healthz")


def _names(result: types.ListToolsResult) -> set[str]:
    return {tool.name for tool in result.tools}


def _text(result: types.CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))


def _pets(prefix: str = "pets") -> set[str]:
    tools = petstore("http://127.0.0.1").tools
    return {f"{prefix}__{tool.name}" for tool in tools if tool.enabled}


async def test_no_key_or_a_bad_key_is_401_pointing_at_the_resource_metadata(
    tenancy: Tenancy, db_url: str, catalog: Path
) -> None:
    with _hub(tenancy, db_url, catalog) as base:
        async with httpx2.AsyncClient(base_url=base) as http:
            for method, path in (("POST", "/mcp"), ("POST", "/mcp/pets"), ("GET", "/sse"), ("POST", "/messages/")):
                for headers in ({}, {"Authorization": "Bearer mcp_sk_" + "x" * 43}, {"Authorization": "Basic Zm9v"}):
                    response = await http.request(method, path, json={}, headers=headers)
                    assert response.status_code == 401, (method, path, headers)
                    challenge = response.headers["www-authenticate"]
                    assert challenge.startswith(
                        f'Bearer resource_metadata="{base}/.well-known/oauth-protected-resource"'
                    )
            metadata = (await http.get("/.well-known/oauth-protected-resource")).json()
    assert metadata["resource"] == f"{base}/mcp"
    assert metadata["bearer_methods_supported"] == ["header"]


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_two_users_at_once_each_see_their_tools_and_reach_the_upstream_with_their_credential(
    tenancy: Tenancy, db_url: str, catalog: Path, upstream: Upstream, mode: str
) -> None:
    ada = await make_account(
        tenancy, "ada@example.com", enable=["pets"], credentials={"pets": {"token": "ada-pets-token"}}
    )
    bob = await make_account(
        tenancy,
        "bob@example.com",
        enable=["pets", "zoo"],
        credentials={"pets": {"token": "bob-pets-token"}, "zoo": {"api_key": "bob-zoo-key"}},
    )
    run = secrets.token_hex(4)  # the upstream is shared by the module's tests: tell this run's requests apart

    async def agent(account: Account, tools: list[str]) -> tuple[set[str], dict[str, set[str]]]:
        seen: dict[str, set[str]] = {}
        async with mcp_client(f"{base}/mcp", account.key, mode=mode) as client:
            listed = _names(await client.list_tools())
            for i in range(4):
                for name in tools:
                    pet = f"{account.email[:3]}-{run}-{name}-{i}"
                    result = await client.call_tool(name, {"pet_id": pet})
                    assert result.is_error is False, _text(result)
                    sent = next(r for r in upstream.requests if r.path == f"/pets/{pet}")
                    credential = sent.headers.get("authorization") or f"key {sent.headers.get('x-api-key')}"
                    seen.setdefault(name, set()).add(credential)
            # Another user's integration is refused before anything leaves, with what to do about it.
            if "zoo__get_pet" not in tools:
                refused = await client.call_tool("zoo__get_pet", {"pet_id": f"nope-{run}"})
                assert refused.is_error is True
                assert "is not enabled for your account; enable it with `mcphub integrations enable zoo`" in _text(
                    refused
                )
        return listed, seen

    with _hub(tenancy, db_url, catalog) as base:
        (ada_tools, ada_seen), (bob_tools, bob_seen) = await asyncio.gather(
            agent(ada, ["pets__get_pet"]), agent(bob, ["pets__get_pet", "zoo__get_pet"])
        )
    assert ada_tools == _pets()
    assert bob_tools == _pets() | _pets("zoo")
    assert ada_seen == {"pets__get_pet": {"Bearer ada-pets-token"}}
    assert bob_seen == {"pets__get_pet": {"Bearer bob-pets-token"}, "zoo__get_pet": {"key bob-zoo-key"}}
    assert not [r for r in upstream.requests if r.path == f"/pets/nope-{run}"]


async def test_a_scoped_key_sees_and_calls_only_its_scope(
    tenancy: Tenancy, db_url: str, catalog: Path, upstream: Upstream
) -> None:
    ada = await make_account(
        tenancy,
        "ada@example.com",
        enable=["pets", "zoo"],
        credentials={"pets": {"token": "ada-pets"}, "zoo": {"token": "ada-zoo"}},
        scope=["pets__get_pet", "pets__list_pets"],
    )
    with _hub(tenancy, db_url, catalog) as base:
        async with mcp_client(f"{base}/mcp", ada.key, mode="legacy") as client:
            assert _names(await client.list_tools()) == {"pets__get_pet", "pets__list_pets"}
            assert (await client.call_tool("pets__list_pets", {})).is_error is False
            before = len(upstream.requests)
            for name in ("pets__get_text", "zoo__get_text"):
                refused = await client.call_tool(name, {})
                assert refused.is_error is True and "is not scoped to" in _text(refused), name
            assert len(upstream.requests) == before
        async with mcp_client(f"{base}/mcp/pets", ada.key, mode="2026-07-28") as client:
            assert _names(await client.list_tools()) == {"get_pet", "list_pets"}
        async with mcp_client(f"{base}/mcp/zoo", ada.key, mode="2026-07-28") as client:
            assert _names(await client.list_tools()) == set()


async def test_a_revoked_key_is_refused_at_once(tenancy: Tenancy, db_url: str, catalog: Path) -> None:
    admin = await make_account(tenancy, "ada@example.com", enable=["pets"], credentials={"pets": {"token": "t-ada"}})
    with _hub(tenancy, db_url, catalog) as base:
        async with httpx2.AsyncClient(base_url=base, headers=admin.headers) as api:
            created = (await api.post("/api/v1/keys", json={"name": "laptop"})).json()
            async with mcp_client(f"{base}/mcp", created["secret"], mode="legacy") as client:
                assert (await client.call_tool("pets__get_text", {})).is_error is False
                revoked = await api.delete(f"/api/v1/keys/{created['key']['id']}")
                assert revoked.status_code == 200, revoked.text
                async with httpx2.AsyncClient() as http:
                    again = await http.post(
                        f"{base}/mcp", json={}, headers={"Authorization": f"Bearer {created['secret']}"}
                    )
                assert again.status_code == 401
                assert 'error="invalid_token"' in again.headers["www-authenticate"]
                with pytest.raises(MCPError):  # the open session's next request is refused (HTTP 401)
                    await client.call_tool("pets__get_text", {})
            # The admin's own key still works.
            async with mcp_client(f"{base}/mcp", admin.key, mode="legacy") as client:
                assert (await client.call_tool("pets__get_text", {})).is_error is False


async def test_rate_limited_call_is_a_tool_error_saying_when_to_retry_and_usage_is_recorded(
    tenancy: Tenancy, db_url: str, catalog: Path
) -> None:
    ada = await make_account(
        tenancy,
        "ada@example.com",
        enable=["limited", "pets"],
        credentials={"limited": {"token": "t-limited"}, "pets": {"token": "t-pets"}},
    )
    bob = await make_account(tenancy, "bob@example.com", enable=["pets"], credentials={"pets": {"token": "t-bob"}})
    with _hub(tenancy, db_url, catalog) as base:
        async with mcp_client(f"{base}/mcp", ada.key, mode="legacy") as client:
            results = [await client.call_tool("limited__get_text", {}) for _ in range(3)]
            assert [r.is_error for r in results] == [False, False, True]
            assert "rate limited by Pet Store's limit of 2/min; retry in" in _text(results[2])
            assert (await client.call_tool("pets__fail", {})).is_error is True  # upstream 500
            assert (await client.call_tool("pets__missing", {})).is_error is True  # upstream 404
            assert (await client.call_tool("zoo__get_text", {})).is_error is True  # not enabled
            for _ in range(5):
                assert (
                    await client.call_tool("pets__get_pet", {"pet_id": "p", "session": "s3cr3t-cookie"})
                ).is_error is False
        async with mcp_client(f"{base}/mcp", bob.key, mode="2026-07-28") as client:
            for _ in range(7):
                assert (await client.call_tool("pets__get_text", {})).is_error is False
    # The hub has shut down: its buffered usage is flushed. Count the rows, per user and status.
    async with tenancy.db.session() as session:
        rows = (
            await session.execute(
                select(UsageEvent.user_id, UsageEvent.status, func.count()).group_by(
                    UsageEvent.user_id, UsageEvent.status
                )
            )
        ).all()
    counts = {(user, status): n for user, status, n in rows}
    assert counts == {
        (ada.user_id, "ok"): 7,
        (ada.user_id, "rate_limited"): 1,
        (ada.user_id, "upstream_error"): 1,
        (ada.user_id, "tool_error"): 1,
        (ada.user_id, "denied"): 1,
        (bob.user_id, "ok"): 7,
    }
    log = await call_log(tenancy.db, user_id=ada.user_id, limit=100)
    assert len(log) == 11
    assert "s3cr3t-cookie" not in json.dumps([entry.arguments for entry in log])  # `session` is redacted


async def test_list_changed_reaches_only_the_user_whose_set_changed(
    tenancy: Tenancy, db_url: str, catalog: Path, namespace: str, redis: Any
) -> None:
    """A change made on another replica (this test's Tenancy, sharing Redis) reaches that user's sessions only."""
    accounts = {
        name: await make_account(
            tenancy, f"{name}@example.com", enable=["pets"], credentials={"pets": {"token": f"t-{name}"}}
        )
        for name in ("ada", "bob")
    }
    legacy_events: dict[str, int] = {"ada": 0, "bob": 0}
    modern_events: dict[str, int] = {"ada": 0, "bob": 0}
    arrived = {name: anyio.Event() for name in ("ada", "bob")}

    def handler(name: str) -> Any:
        async def on_message(message: IncomingMessage) -> None:
            if isinstance(message, types.ToolListChangedNotification):
                legacy_events[name] += 1
                arrived[name].set()

        return on_message

    replica = await open_tenancy(tenancy.data_dir, db_url, redis_url=REDIS_URL, namespace=namespace)
    try:
        with _hub(tenancy, db_url, catalog, redis_url=REDIS_URL, namespace=namespace) as base:
            async with (
                mcp_client(f"{base}/mcp", accounts["ada"].key, mode="legacy", message_handler=handler("ada")) as ada,
                mcp_client(f"{base}/mcp", accounts["bob"].key, mode="legacy", message_handler=handler("bob")) as bob,
                mcp_client(f"{base}/mcp", accounts["ada"].key, mode="2026-07-28") as ada_modern,
                mcp_client(f"{base}/mcp", accounts["bob"].key, mode="2026-07-28") as bob_modern,
                ada_modern.listen(tools_list_changed=True) as ada_stream,
                bob_modern.listen(tools_list_changed=True) as bob_stream,
            ):
                assert _names(await ada.list_tools()) == _pets() == _names(await bob.list_tools())

                await replica.integrations.enable(accounts["ada"].user_id, "zoo")
                await replica.credentials.set(accounts["ada"].user_id, "zoo", {"token": "t-ada-zoo"})
                with anyio.fail_after(EVENT_WAIT_S):
                    await arrived["ada"].wait()
                    assert isinstance(await ada_stream.__anext__(), ToolsListChanged)
                    modern_events["ada"] += 1
                assert _names(await ada.list_tools(cache_mode="refresh")) == _pets() | _pets("zoo")
                assert _names(await ada_modern.list_tools(cache_mode="refresh")) == _pets() | _pets("zoo")

                await replica.integrations.disable(accounts["bob"].user_id, "pets")
                with anyio.fail_after(EVENT_WAIT_S):
                    await arrived["bob"].wait()
                    assert isinstance(await bob_stream.__anext__(), ToolsListChanged)
                    modern_events["bob"] += 1
                assert _names(await bob.list_tools(cache_mode="refresh")) == set()
                assert _names(await ada.list_tools(cache_mode="refresh")) == _pets() | _pets("zoo")
    finally:
        await replica.aclose()
    # Bob's first notification came from his own change: Ada's (two changes) never reached him.
    assert legacy_events["bob"] == 1
    assert legacy_events["ada"] >= 1
    assert modern_events == {"ada": 1, "bob": 1}


async def test_a_session_opened_by_one_user_is_refused_to_another(
    tenancy: Tenancy, db_url: str, catalog: Path, upstream: Upstream
) -> None:
    keys = {
        name: await make_account(
            tenancy, f"{name}@example.com", enable=["pets"], credentials={"pets": {"token": f"{name}-token"}}
        )
        for name in ("ada", "bob")
    }
    run = secrets.token_hex(4)
    session: dict[str, str] = {}

    async def remember(response: httpx2.Response) -> None:
        if "mcp-session-id" in response.headers:
            session["id"] = response.headers["mcp-session-id"]
            session["version"] = response.request.headers.get("mcp-protocol-version", "")

    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "pets__get_pet", "arguments": {"pet_id": f"hijack-{run}"}},
    }
    with _hub(tenancy, db_url, catalog) as base:
        async with (
            httpx2.AsyncClient(headers=keys["ada"].headers, event_hooks={"response": [remember]}) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http), mode="legacy") as client,
        ):
            await client.list_tools()
            async with httpx2.AsyncClient(headers=keys["bob"].headers) as bob:
                hijack = await bob.post(
                    f"{base}/mcp",
                    json=call,
                    headers={
                        "Accept": "application/json, text/event-stream",
                        "Mcp-Session-Id": session["id"],
                        "Mcp-Protocol-Version": session["version"] or "2025-11-25",
                    },
                )
                assert hijack.status_code == 404
                # The legacy SSE transport: Bob cannot post into Ada's stream either.
                async with (
                    httpx2.AsyncClient(headers=keys["ada"].headers, timeout=10) as ada_sse,
                    ada_sse.stream("GET", f"{base}/sse") as stream,
                ):
                    lines = stream.aiter_lines()  # held: a collected line iterator closes the stream
                    endpoint = await _sse_endpoint(lines)
                    refused = await bob.post(f"{base}{endpoint}", json=call)
                    assert refused.status_code == 404
                    accepted = await ada_sse.post(
                        f"{base}{endpoint}", json={"jsonrpc": "2.0", "method": "notifications/initialized"}
                    )
                    assert accepted.status_code == 202, (accepted.text, endpoint)
            # Ada's session is unharmed.
            assert (await client.call_tool("pets__get_text", {})).is_error is False
    assert not [r for r in upstream.requests if r.path == f"/pets/hijack-{run}"]


async def _sse_endpoint(lines: AsyncIterator[str]) -> str:
    """The `endpoint` event of a legacy SSE stream: where this session's messages are posted.

    Reads with `__anext__` rather than `async for`: leaving an `async for` early would close the stream,
    and with it the session.
    """
    event = None
    while True:
        line = await lines.__anext__()
        if line.startswith("event:"):
            event = line.partition(":")[2].strip()
        elif line.startswith("data:") and event == "endpoint":
            return line.partition(":")[2].strip()
