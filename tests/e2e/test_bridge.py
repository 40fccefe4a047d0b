"""`mcphub connect`: a stdio client reaches the hub through the bridge, in both protocol eras."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from runtime.support import closed_port

from e2e.conftest import TOKEN, RunningHub


def _bridge_process(url: str, token: str) -> StdioServerParameters:
    code = f"from mcphub.runtime.mcp.bridge import run_bridge; run_bridge({url!r}, {token!r})"
    return StdioServerParameters(command=sys.executable, args=["-c", code])


@pytest.mark.parametrize("mode", ["legacy", "auto", "2026-07-28"])
async def test_stdio_client_through_the_bridge(hub: RunningHub, mode: str) -> None:
    async with Client(_bridge_process(hub.mcp, hub.key), mode=mode) as client:
        if mode == "legacy":
            assert client.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS
        else:
            assert client.protocol_version == "2026-07-28"
        names = [t.name for t in (await client.list_tools()).tools]
        assert "pets__get_pet" in names
        result = await client.call_tool("pets__get_pet", {"pet_id": "7"})
    assert result.is_error is False
    assert result.structured_content == {"id": "7", "name": "Rex", "tags": ["good"]}
    sent = hub.upstream.last()
    assert (sent.method, sent.raw_path) == ("GET", "/pets/7")
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"  # the hub's upstream credential, not the client's


def test_unreachable_hub_is_a_one_line_error() -> None:
    url = f"http://127.0.0.1:{closed_port()}/mcp"
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    code = f"from mcphub.runtime.mcp.bridge import run_bridge; run_bridge({url!r}, None)"
    done = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(initialize) + "\n", capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert done.stderr.strip() == f"mcphub connect: cannot reach the hub at {url}: All connection attempts failed"
