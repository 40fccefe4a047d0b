"""Hostile JSON-RPC bodies sent as raw HTTP to a real `mcphub serve`: a clean JSON-RPC error, no traceback.

A `method` that is not a string, an `id` of the wrong JSON type and nesting deeper than the SDK's parser takes
are answered with the error JSON-RPC names (-32600 invalid request, -32700 parse error, `id` null), in the
handshake era (on a live session, where the fast path would serve a well-formed call) and in the 2026-07-28
era alike; the hub keeps serving and its log shows no traceback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from runtime.support import Account, Upstream, initialize_request, serve
from support.hub_process import hub_env, hub_process

from faults.petstore_hub import petstore_hub

HANDSHAKE = "2025-11-25"
MODERN = "2026-07-28"
ACCEPT = "application/json, text/event-stream"
MODERN_META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
INVALID_REQUEST, PARSE_ERROR = -32600, -32700


def nested(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


def tool_call(era: str, arguments: dict[str, Any], **fields: Any) -> bytes:
    params: dict[str, Any] = {"name": "pets__get_pet", "arguments": arguments}
    if era == MODERN:
        params["_meta"] = MODERN_META
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params, **fields}).encode()


def hostile(era: str) -> dict[str, tuple[bytes, int]]:
    """name -> (body, the JSON-RPC error code it must get)."""
    pet = {"pet_id": "1"}
    return {
        "method is a list": (tool_call(era, pet, method=["tools/call"]), INVALID_REQUEST),
        "method is an object": (tool_call(era, pet, method={"a": 1}), INVALID_REQUEST),
        "method is a number": (tool_call(era, pet, method=7), INVALID_REQUEST),
        "id is a list": (tool_call(era, pet, id=[1]), INVALID_REQUEST),
        "id is true": (tool_call(era, pet, id=True), INVALID_REQUEST),
        "arguments nest 300 deep": (tool_call(era, {**pet, "x": nested(300)}), PARSE_ERROR),
        # Deeper than Python's json module writes: spliced in as text.
        "arguments nest 5000 deep": (
            tool_call(era, {**pet, "x": "HOLE"}).replace(b'"HOLE"', b"[" * 5000 + b"]" * 5000),
            PARSE_ERROR,
        ),
        "a bare 100000-deep array": (b"[" * 100_000 + b"]" * 100_000, PARSE_ERROR),
        "not JSON": (b'{"jsonrpc": "2.0", "id": 1, "method": ', PARSE_ERROR),
    }


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Account, Path]]:
    upstream = Upstream()
    root = tmp_path_factory.mktemp("hostile")
    with serve(upstream) as upstream_url:
        upstream.base_url = upstream_url
        setup = petstore_hub(root, upstream_url, enable=["pets"], credentials={"pets": {"token": "t"}})
        hub = asyncio.run(setup)
        with hub_process(hub_env(hub.db_url, hub.data_dir), hub.catalog) as base:
            [log] = root.glob("hub-*.log")  # where hub_process writes the hub's output
            yield base, hub.ada, log


async def post(
    http: httpx2.AsyncClient, url: str, body: bytes, headers: dict[str, str], *, chunked: bool = False
) -> httpx2.Response:
    """POST `body` with a Content-Length, or `chunked` (no length: the hub cannot know the size before reading)."""

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    content: Any = chunks() if chunked else body
    return await http.post(url, content=content, headers={"Content-Type": "application/json", **headers})


async def handshake_session(http: httpx2.AsyncClient, base: str, account: Account) -> dict[str, str]:
    """initialize + initialized + one ping through the SDK: a live session the fast path serves."""
    headers = {"Accept": ACCEPT, **account.headers}
    opened = await post(http, f"{base}/mcp", json.dumps(initialize_request(HANDSHAKE)).encode(), headers)
    assert opened.status_code == 200, opened.text
    session = {**headers, "Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": HANDSHAKE}
    for message in (
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "ping"},
    ):
        assert (await post(http, f"{base}/mcp", json.dumps(message).encode(), session)).status_code in (200, 202)
    return session


def modern_headers(account: Account) -> dict[str, str]:
    return {
        "Accept": ACCEPT,
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": "pets__get_pet",
        **account.headers,
    }


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("era", [HANDSHAKE, MODERN])
async def test_hostile_bodies_get_a_clean_json_rpc_error_and_no_traceback(
    hub: tuple[str, Account, Path], era: str, chunked: bool
) -> None:
    base, ada, log = hub
    async with httpx2.AsyncClient(timeout=60) as http:
        headers = await handshake_session(http, base, ada) if era == HANDSHAKE else modern_headers(ada)
        for name, (body, code) in hostile(era).items():
            answer = await post(http, f"{base}/mcp", body, headers, chunked=chunked)
            assert answer.status_code == 400, (name, answer.text)
            assert answer.headers["content-type"] == "application/json", name
            error = answer.json()
            assert error["jsonrpc"] == "2.0" and error["id"] is None, (name, error)
            assert error["error"]["code"] == code, (name, error)
            assert "validation error" not in error["error"]["message"].lower(), (name, error)  # no pydantic dump
        # The hub still serves a well-formed call on the same session / with the same headers.
        fine = await post(http, f"{base}/mcp", tool_call(era, {"pet_id": "1"}, id=9), headers)
    assert fine.status_code == 200, fine.text
    text = log.read_text()
    assert "Traceback" not in text, text
    assert "RecursionError" not in text and "unhashable" not in text, text
