"""The direct path for tools/call and tools/list (`runtime/mcp/fastpath.py`) answers exactly what the SDK would.

Every request here is a raw HTTP POST to the real hub, so the test sees the wire a client sees. A request
sent with a chunked body (no Content-Length) always goes through the SDK's transport, which gives the
reference answer to compare the direct path's with; the handshake era's SDK replies are SSE, the direct
path's plain JSON, which is how the tests tell which path answered.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from runtime.support import Account, Upstream, initialize_request, petstore, provision, serve, write_package

from mcphub.app import Settings, create_app
from mcphub.runtime.store.db import DB_FILENAME

HANDSHAKE = "2025-11-25"
MODERN = "2026-07-28"
ACCEPT = "application/json, text/event-stream"
TOKEN = "sk_fast_path"


@dataclass
class Hub:
    url: str
    data_dir: Path
    alice: Account
    bob: Account


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    upstream = Upstream()
    with serve(upstream) as upstream_url:
        upstream.base_url = upstream_url
        catalog = tmp_path_factory.mktemp("fast-catalog")
        write_package(petstore(upstream_url), catalog)
        data_dir = catalog.with_name("fast-data")
        setup = {"enable": ["pets"], "credentials": {"pets": {"token": TOKEN}}}
        alice, bob = provision(data_dir, ("alice@example.com", setup), ("bob@example.com", setup))
        app = create_app(Settings(port=0, catalog_dirs=[catalog], admin_token="admin", data_dir=data_dir))
        with serve(app, health_path="/healthz") as url:
            yield Hub(url, data_dir, alice, bob)


def _chunked(body: bytes) -> AsyncIterator[bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        yield body

    return chunks()


async def post(
    http: httpx2.AsyncClient,
    url: str,
    message: dict[str, Any],
    headers: dict[str, str],
    *,
    through_sdk: bool = False,
) -> httpx2.Response:
    body = json.dumps(message).encode()
    content: Any = _chunked(body) if through_sdk else body
    return await http.post(url, content=content, headers={"Content-Type": "application/json", **headers})


def answer(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC message of a reply, JSON or SSE."""
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        messages = [json.loads(d) for d in data if d]
        [reply] = [m for m in messages if "id" in m and ("result" in m or "error" in m)]
        return reply
    parsed: dict[str, Any] = response.json()
    return parsed


async def open_session(http: httpx2.AsyncClient, hub: Hub, account: Account) -> dict[str, str]:
    """The handshake: initialize + initialized; returns the headers of the session."""
    headers = {"Accept": ACCEPT, **account.headers}
    response = await post(http, f"{hub.url}/mcp", initialize_request(HANDSHAKE), headers)
    assert response.status_code == 200, response.text
    session = {**headers, "Mcp-Session-Id": response.headers["mcp-session-id"], "MCP-Protocol-Version": HANDSHAKE}
    done = await post(http, f"{hub.url}/mcp", {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    assert done.status_code == 202
    # The SDK processes `initialized` after answering 202; the hub learns of the session from its first request
    # through the SDK (a ping here), and until then the direct path leaves the session's requests to the SDK.
    ping = await post(http, f"{hub.url}/mcp", {"jsonrpc": "2.0", "id": "ping", "method": "ping"}, session)
    assert answer(ping) == {"jsonrpc": "2.0", "id": "ping", "result": {}}
    return session


def call(
    name: str, arguments: dict[str, Any], request_id: int = 1, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    if meta is not None:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def modern_headers(account: Account, method: str, name: str | None = None) -> dict[str, str]:
    headers = {"Accept": ACCEPT, "MCP-Protocol-Version": MODERN, "Mcp-Method": method, **account.headers}
    if name is not None:
        headers["Mcp-Name"] = name
    return headers


MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("pets__get_pet", {"pet_id": "7", "verbose": True}),  # ok, structured
        ("pets__get_pet", {"pet_id": 7}),  # invalid arguments: a tool error, nothing sent
        ("pets__no_such_tool", {}),  # unknown tool: the SDK's protocol error
    ],
)
async def test_handshake_call_answers_like_the_sdk(hub: Hub, tool: str, arguments: dict[str, Any]) -> None:
    async with httpx2.AsyncClient(timeout=30) as http:
        session = await open_session(http, hub, hub.alice)
        direct = await post(http, f"{hub.url}/mcp", call(tool, arguments), session)
        reference = await post(http, f"{hub.url}/mcp", call(tool, arguments), session, through_sdk=True)
    assert direct.status_code == reference.status_code == 200
    assert reference.headers["content-type"].startswith("text/event-stream")
    if tool.endswith("no_such_tool"):
        assert direct.headers["content-type"].startswith("text/event-stream")  # the SDK's error, not ours
    else:
        assert direct.headers["content-type"] == "application/json"
        assert direct.headers["mcp-session-id"] == session["Mcp-Session-Id"]
    assert answer(direct) == answer(reference)


async def test_handshake_tool_list_answers_like_the_sdk(hub: Hub) -> None:
    listing = {"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {}}
    async with httpx2.AsyncClient(timeout=30) as http:
        session = await open_session(http, hub, hub.alice)
        direct = await post(http, f"{hub.url}/mcp", listing, session)
        reference = await post(http, f"{hub.url}/mcp", listing, session, through_sdk=True)
        per_integration = await post(http, f"{hub.url}/mcp/pets", listing, session)
    assert direct.headers["content-type"] == "application/json"
    assert answer(direct) == answer(reference)
    names = {tool["name"] for tool in answer(direct)["result"]["tools"]}
    assert "pets__get_pet" in names
    assert {tool["name"] for tool in answer(per_integration)["result"]["tools"]} == {n[6:] for n in names}


@pytest.mark.parametrize("method", ["tools/call", "tools/list"])
async def test_modern_request_answers_like_the_sdk(hub: Hub, method: str) -> None:
    if method == "tools/call":
        message = call("pets__get_pet", {"pet_id": "9"}, meta=MODERN_META)
        headers = modern_headers(hub.alice, method, "pets__get_pet")
    else:
        message = {"jsonrpc": "2.0", "id": 2, "method": method, "params": {"_meta": MODERN_META}}
        headers = modern_headers(hub.alice, method)
    async with httpx2.AsyncClient(timeout=30) as http:
        direct = await post(http, f"{hub.url}/mcp", message, headers)
        reference = await post(http, f"{hub.url}/mcp", message, headers, through_sdk=True)
    assert direct.status_code == reference.status_code == 200
    direct_answer, reference_answer = answer(direct), answer(reference)
    assert direct_answer["result"]["resultType"] == "complete"
    assert direct_answer["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "mcphub"
    assert direct_answer == reference_answer


async def test_modern_header_mismatch_is_the_sdks_rejection(hub: Hub) -> None:
    message = call("pets__get_pet", {"pet_id": "9"}, meta=MODERN_META)
    headers = modern_headers(hub.alice, "tools/call", "pets__list_pets")  # Mcp-Name disagrees with the body
    async with httpx2.AsyncClient(timeout=30) as http:
        direct = await post(http, f"{hub.url}/mcp", message, headers)
        reference = await post(http, f"{hub.url}/mcp", message, headers, through_sdk=True)
    assert direct.status_code == reference.status_code == 400
    assert direct.json() == reference.json()
    assert "mcp-name" in direct.json()["error"]["message"].lower()


async def test_a_session_answers_only_its_own_user(hub: Hub) -> None:
    """Bob presenting Alice's session id is told the session does not exist, on either path."""
    async with httpx2.AsyncClient(timeout=30) as http:
        alice = await open_session(http, hub, hub.alice)
        as_bob = {**alice, **hub.bob.headers}
        stolen = await post(http, f"{hub.url}/mcp", call("pets__get_pet", {"pet_id": "1"}), as_bob)
        unknown = await post(
            http, f"{hub.url}/mcp", call("pets__get_pet", {"pet_id": "1"}), {**alice, "Mcp-Session-Id": "f" * 32}
        )
        missing = {k: v for k, v in alice.items() if k != "Mcp-Session-Id"}
        without = await post(http, f"{hub.url}/mcp", call("pets__get_pet", {"pet_id": "1"}), missing)
    assert stolen.status_code == 404
    assert unknown.status_code == 404
    assert without.status_code == 400
    assert "session" in without.text.lower()


async def test_a_foreign_host_header_is_refused(hub: Hub) -> None:
    """DNS-rebinding protection holds on the direct path: the SDK's 421 for a Host that is not the hub's."""
    async with httpx2.AsyncClient(timeout=30) as http:
        session = await open_session(http, hub, hub.alice)
        response = await post(
            http, f"{hub.url}/mcp", call("pets__get_pet", {"pet_id": "1"}), {**session, "Host": "evil.example"}
        )
    assert response.status_code == 421


async def test_calls_are_recorded_as_usage_on_the_direct_path(hub: Hub) -> None:
    """Each direct call is a usage event of its user (written in batches off the request path)."""
    async with httpx2.AsyncClient(timeout=30) as http:
        session = await open_session(http, hub, hub.bob)
        for n in range(3):
            message = call("pets__get_pet", {"pet_id": str(n)}, request_id=n + 10)
            response = await post(http, f"{hub.url}/mcp", message, session)
            assert response.headers["content-type"] == "application/json"
    database = hub.data_dir / DB_FILENAME
    give_up = time.monotonic() + 10
    while True:
        with sqlite3.connect(database) as connection:
            rows = connection.execute(
                "SELECT integration, tool, status FROM usage_events WHERE user_id = ?", (hub.bob.user_id,)
            ).fetchall()
        if len(rows) >= 3 or time.monotonic() > give_up:
            break
        time.sleep(0.05)
    assert rows == [("pets", "get_pet", "ok")] * 3


async def _hybrid_search_ready(http: httpx2.AsyncClient, hub: Hub, url: str, session: dict[str, str]) -> None:
    """Search once (which starts embedding the catalog), then wait until the hub searches with embeddings: the
    first answers of a cold vector cache are lexical, and the comparisons below need one index throughout."""
    await post(http, url, call("search_tools", {"query": "pet"}), session)
    give_up = time.monotonic() + 300
    while (await http.get(f"{hub.url}/healthz")).json()["search"] != "hybrid":
        assert time.monotonic() < give_up, "the search index never got its embeddings"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("search_tools", {"query": "fetch one pet by its id", "limit": 3}),
        ("describe_tool", {"name": "pets__get_pet"}),
        ("call_tool", {"name": "pets__get_pet", "arguments": {"pet_id": "11"}}),
        ("call_tool", {"name": "pets__get_pet", "arguments": {"pet_id": 11}}),  # invalid: the tool's own error
    ],
)
async def test_the_search_view_answers_like_the_sdk(hub: Hub, name: str, arguments: dict[str, Any]) -> None:
    listing = {"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {}}
    url = f"{hub.url}/mcp/search"
    async with httpx2.AsyncClient(timeout=30) as http:
        session = await open_session(http, hub, hub.alice)
        await _hybrid_search_ready(http, hub, url, session)
        direct_list = await post(http, url, listing, session)
        reference_list = await post(http, url, listing, session, through_sdk=True)
        direct = await post(http, url, call(name, arguments), session)
        reference = await post(http, url, call(name, arguments), session, through_sdk=True)
        modern = await post(
            http, url, call(name, arguments, meta=MODERN_META), modern_headers(hub.alice, "tools/call", name)
        )
    assert direct_list.headers["content-type"] == direct.headers["content-type"] == "application/json"
    assert answer(direct_list) == answer(reference_list)
    assert {tool["name"] for tool in answer(direct_list)["result"]["tools"]} == {
        "search_tools",
        "call_tool",
        "describe_tool",
    }
    assert answer(direct) == answer(reference)
    assert modern.headers["content-type"] == "application/json"
    assert answer(modern)["result"]["content"] == answer(direct)["result"]["content"]
