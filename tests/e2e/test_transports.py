"""The hub over every transport real clients use, driven by the official Python SDK client."""

from __future__ import annotations

import base64

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from runtime.support import sse_transport

from e2e.conftest import TOKEN, RunningHub

EXPECTED_TOOLS = [
    "pets__get_pet",
    "pets__create_pet",
    "pets__list_pets",
    "pets__charge",
    "pets__upload",
    "pets__get_text",
    "pets__get_image",
    "pets__get_pdf",
    "pets__get_empty",
    "pets__fail",
    "pets__missing",
    "pets__bad_json",
    "pets__slow",
    "pets__slowish",
    "pets__huge",
    "pets__redirect_out",
    "pets__redirect_in",
    "pets__redirect_host",
    "pets__set_cookie",
]


async def _get_pet_round_trip(client: Client, hub: RunningHub, name: str = "pets__get_pet") -> None:
    before = len(hub.upstream.requests)
    result = await client.call_tool(
        name,
        {
            "pet_id": "a b/c",
            "verbose": True,
            "fields": ["x", "y,z"],
            "filter": {"color": "red"},
            "trace_id": "t-1",
            "session": "s 1",
        },
    )
    assert len(hub.upstream.requests) == before + 1
    sent = hub.upstream.last()
    assert sent.method == "GET"
    assert sent.raw_path == "/pets/a%20b%2Fc"
    assert sent.raw_query == "api-version=2&verbose=true&fields=x,y%2Cz&filter[color]=red"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["x-trace-id"] == "t-1"
    assert sent.headers["cookie"] == "sid=s%201"
    assert sent.body == b""
    assert result.is_error is False
    assert result.structured_content == {"id": "a b/c", "name": "Rex", "tags": ["good"]}
    assert isinstance(result.content[0], types.TextContent)
    assert result.content[0].text == '{"id":"a b/c","name":"Rex","tags":["good"]}'


async def test_handshake_era_over_streamable_http(hub: RunningHub) -> None:
    async with hub.client(mode="legacy") as client:
        assert client.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS
        assert client.server_capabilities.tools is not None
        assert client.server_capabilities.tools.list_changed is True
        tools = await client.list_tools()
        names = [t.name for t in tools.tools]
        assert [n for n in names if n.startswith("pets__")] == EXPECTED_TOOLS
        assert "pets__secret_admin" not in names  # disabled tools are neither listed nor callable
        get_pet = next(t for t in tools.tools if t.name == "pets__get_pet")
        assert get_pet.title == "Get a pet"
        assert get_pet.annotations is not None and get_pet.annotations.read_only_hint is True
        assert get_pet.input_schema["required"] == ["pet_id"]
        await _get_pet_round_trip(client, hub)


async def test_stateless_era_with_discover(hub: RunningHub) -> None:
    async with hub.client(mode="2026-07-28") as client:
        assert client.protocol_version == "2026-07-28"
        assert len((await client.list_tools()).tools) == 2 * len(EXPECTED_TOOLS)
        result = await client.call_tool("pets__create_pet", {"name": "Rex", "age": 3, "tags": ["a"]})
        sent = hub.upstream.last()
        assert (sent.method, sent.path, sent.raw_query) == ("POST", "/pets", "")
        assert sent.headers["content-type"] == "application/json"
        assert sent.json() == {"name": "Rex", "age": 3, "tags": ["a"]}
        assert result.structured_content == {"created": {"name": "Rex", "age": 3, "tags": ["a"]}}
        await _get_pet_round_trip(client, hub)


async def test_auto_mode_negotiates_the_stateless_era(hub: RunningHub) -> None:
    async with hub.client() as client:
        assert client.protocol_version == "2026-07-28"
        assert client.server_capabilities.tools is not None


async def test_raw_stateless_request_needs_no_session(hub: RunningHub) -> None:
    """One POST, no initialize, no Mcp-Session-Id: the 2026-07-28 wire as any client sends it."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    async with httpx2.AsyncClient(headers=hub.headers) as http:
        response = await http.post(
            hub.mcp,
            json={"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta}},
            headers={
                "Accept": "application/json, text/event-stream",
                "Mcp-Protocol-Version": "2026-07-28",
                "Mcp-Method": "server/discover",
            },
        )
    assert response.status_code == 200, response.text
    assert "mcp-session-id" not in response.headers
    assert "2026-07-28" in response.json()["result"]["supportedVersions"]


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_per_integration_endpoint_serves_unprefixed_names(hub: RunningHub, mode: str) -> None:
    async with hub.client(path="/mcp/pets", mode=mode) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert names == [name.removeprefix("pets__") for name in EXPECTED_TOOLS]
        await _get_pet_round_trip(client, hub, name="get_pet")
        prompts = await client.list_prompts()
        assert [p.name for p in prompts.prompts] == ["adopt"]


async def test_unknown_integration_endpoint_is_404(hub: RunningHub) -> None:
    async with httpx2.AsyncClient(headers=hub.headers) as http:
        response = await http.post(f"{hub.url}/mcp/nope", json={}, headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json()["error"] == "no integration 'nope' is mounted"


async def test_legacy_sse_transport(hub: RunningHub) -> None:
    async with Client(sse_transport(f"{hub.url}/sse", hub.key), mode="legacy") as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert [n for n in names if n.startswith("pets__")] == EXPECTED_TOOLS
        await _get_pet_round_trip(client, hub)


async def test_custom_http_client_headers_pass_through(hub: RunningHub) -> None:
    async with (
        httpx2.AsyncClient(headers={"X-Client": "custom", **hub.headers}) as http,
        Client(streamable_http_client(hub.mcp, http_client=http), mode="legacy") as client,
    ):
        assert (await client.call_tool("pets__list_pets", {"ids": ["1", "2"]})).is_error is False
        assert hub.upstream.last().raw_query == "ids=1%7C2"  # pipeDelimited, as the OpenAPI examples encode it


async def test_resources_and_prompts_are_aggregated(hub: RunningHub) -> None:
    async with hub.client(mode="legacy") as client:
        resources = (await client.list_resources()).resources
        assert [(r.name, r.uri) for r in resources] == [("down__guide", "pets://guide")]
        read = await client.read_resource("pets://guide")
        assert isinstance(read.contents[0], types.TextResourceContents)
        assert read.contents[0].text == "# Pets"
        prompts = (await client.list_prompts()).prompts
        assert [p.name for p in prompts] == ["down__adopt", "pets__adopt"]
        prompt = await client.get_prompt("pets__adopt", {"pet": "Rex {pet}"})
        assert isinstance(prompt.messages[0].content, types.TextContent)
        assert prompt.messages[0].content.text == "Help me adopt Rex {pet}."
        with pytest.raises(MCPError, match="pet"):
            await client.get_prompt("pets__adopt", {})


async def test_response_shapes(hub: RunningHub) -> None:
    async with hub.client(mode="2026-07-28") as client:
        listed = await client.call_tool("pets__list_pets", {})
        assert listed.structured_content == {"result": [{"id": "1"}, {"id": "2"}]}

        text = await client.call_tool("pets__get_text", {})
        assert text.structured_content is None
        assert [c.text for c in text.content if isinstance(c, types.TextContent)] == ["plain words"]

        image = await client.call_tool("pets__get_image", {})
        [picture] = image.content
        assert isinstance(picture, types.ImageContent)
        assert picture.mime_type == "image/png"
        assert base64.b64decode(picture.data) == b"\x89PNG\r\n\x1a\n\x00\x00binary"

        pdf = await client.call_tool("pets__get_pdf", {})
        blobs = [c for c in pdf.content if isinstance(c, types.EmbeddedResource)]
        assert len(blobs) == 1 and isinstance(blobs[0].resource, types.BlobResourceContents)
        assert blobs[0].resource.mime_type == "application/pdf"
        assert blobs[0].resource.uri.endswith("/pdf")
        assert base64.b64decode(blobs[0].resource.blob) == b"%PDF-1.7\x00\xff"

        empty = await client.call_tool("pets__get_empty", {})
        assert empty.is_error is False
        assert "204" in empty.content[0].text  # type: ignore[union-attr]

        redirected = await client.call_tool("pets__redirect_in", {})
        assert redirected.structured_content == {"id": "7", "name": "Rex", "tags": ["good"]}
        assert hub.upstream.last().headers["authorization"] == f"Bearer {TOKEN}"  # same host keeps credentials


async def test_stripe_style_form_body(hub: RunningHub) -> None:
    async with hub.client(mode="legacy") as client:
        result = await client.call_tool(
            "pets__charge",
            {"amount": 2000, "metadata": {"order_id": "6735", "note": "a&b=c"}, "expand": ["customer", "invoice"]},
        )
    sent = hub.upstream.last()
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.body == (
        b"amount=2000&metadata[order_id]=6735&metadata[note]=a%26b%3Dc&expand[]=customer&expand[]=invoice"
    )
    assert result.structured_content == {
        "form": [
            ["amount", "2000"],
            ["metadata[order_id]", "6735"],
            ["metadata[note]", "a&b=c"],
            ["expand[]", "customer"],
            ["expand[]", "invoice"],
        ]
    }


async def test_multipart_body(hub: RunningHub) -> None:
    async with hub.client(mode="legacy") as client:
        result = await client.call_tool("pets__upload", {"file": "hello file", "note": "n1"})
    sent = hub.upstream.last()
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="file"' in sent.body
    assert b"Content-Type: text/plain\r\n\r\nhello file" in sent.body
    assert b'name="note"\r\n\r\nn1' in sent.body
    assert result.is_error is False


async def test_credentials_do_not_follow_a_redirect_to_another_host(hub: RunningHub) -> None:
    async with hub.client(mode="legacy") as client:
        result = await client.call_tool("pets__redirect_host", {})
    assert result.structured_content == {"id": "9", "name": "Rex", "tags": ["good"]}
    first, second = hub.upstream.requests[-2:]
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert second.headers["host"].startswith("localhost:")
    assert "authorization" not in second.headers


async def test_cookies_set_by_an_upstream_are_not_replayed(hub: RunningHub) -> None:
    async with hub.client(mode="legacy") as client:
        await client.call_tool("pets__set_cookie", {})
        await client.call_tool("pets__get_text", {})
    assert "cookie" not in hub.upstream.last().headers
