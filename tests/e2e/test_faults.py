"""Upstream faults and bad arguments become clear tool errors, and the hub keeps serving."""

from __future__ import annotations

import httpx2
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from e2e.conftest import RunningHub


def _text(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))


@pytest.mark.parametrize(
    ("tool", "expected"),
    [
        ("pets__slow", "did not answer within 1.5s (timeout)"),
        ("pets__fail", "upstream returned HTTP 500 Internal Server Error: database on fire"),
        ("pets__missing", "upstream returned HTTP 404 Not Found: no such thing"),
        ("down__get_text", "could not connect to the upstream"),
        ("pets__huge", "exceeded this integration's limit of 10000000 bytes"),
        ("pets__bad_json", "the upstream sent malformed JSON"),
        ("pets__redirect_out", "refused by policy: host 'evil.example.com' is not in the allowed hosts of 'pets'"),
    ],
)
async def test_upstream_fault_is_a_tool_error(hub: RunningHub, tool: str, expected: str) -> None:
    async with hub.client(mode="legacy") as client:
        result = await client.call_tool(tool, {})
        assert result.is_error is True
        assert expected in _text(result)
        # ...and the hub is still serving.
        ok = await client.call_tool("pets__get_text", {})
        assert ok.is_error is False


async def test_upstream_error_body_is_kept_as_structured_content(hub: RunningHub) -> None:
    async with hub.client(mode="2026-07-28") as client:
        result = await client.call_tool("pets__fail", {})
    assert result.is_error is True
    assert result.structured_content == {"error": {"message": "database on fire"}}


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, "'pet_id' is a required property"),
        ({"pet_id": 5}, "pet_id: 5 is not of type 'string'"),
        ({"pet_id": "1", "verbose": "yes"}, "verbose: 'yes' is not of type 'boolean'"),
        ({"pet_id": "1", "colour": "red"}, "Additional properties are not allowed ('colour' was unexpected)"),
    ],
)
async def test_invalid_arguments_are_refused_before_any_request(
    hub: RunningHub, arguments: dict[str, object], expected: str
) -> None:
    before = len(hub.upstream.requests)
    async with hub.client(mode="2026-07-28") as client:
        result = await client.call_tool("pets__get_pet", arguments)
    assert result.is_error is True
    text = _text(result)
    assert text.startswith("Invalid arguments for get_pet: ")
    assert expected in text
    assert text.endswith("Nothing was sent.")
    assert len(hub.upstream.requests) == before


async def test_undeclared_arguments_are_named(hub: RunningHub) -> None:
    async with hub.client(mode="legacy") as client:
        result = await client.call_tool("pets__create_pet", {"name": "Rex", "body": {"name": "Rex"}})
    assert result.is_error is True
    assert "'body' is not an argument of this tool (it takes: age, name, tags)" in _text(result)


async def test_nested_argument_errors_name_the_path(hub: RunningHub) -> None:
    async with hub.client(mode="legacy") as client:
        result = await client.call_tool("pets__create_pet", {"name": "", "age": -1, "tags": ["ok", 3]})
    text = _text(result)
    assert "age: -1 is less than the minimum of 0" in text
    assert "name: '' should be non-empty" in text
    assert "tags.1: 3 is not of type 'string'" in text


@pytest.mark.parametrize("name", ["pets__nope", "pets__secret_admin", "nope__get_pet"])
async def test_unknown_and_disabled_tools_are_not_callable(hub: RunningHub, name: str) -> None:
    async with hub.client(mode="legacy") as client:
        with pytest.raises(MCPError, match=f"Unknown tool: {name}"):
            await client.call_tool(name, {})


async def test_healthz_and_metrics(hub: RunningHub) -> None:
    async with hub.client(mode="legacy") as client:
        await client.call_tool("pets__get_text", {})
        await client.call_tool("pets__fail", {})
        await client.call_tool("pets__get_pet", {})
    async with httpx2.AsyncClient(base_url=hub.url) as http:
        health = await http.get("/healthz")
        anonymous = await http.get("/metrics")
        metrics = await http.get("/metrics", headers=hub.headers)  # the admin's key (the first user is admin)
    assert anonymous.status_code == 401
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "packages": ["down", "pets"],
        "tools": 38,
        "database": "ok",
        "errors": {},
        "search": "idle",  # no search view asked yet: the index is built on the first search
    }
    assert metrics.status_code == 200
    body = metrics.text
    assert 'mcphub_tool_calls_total{integration="pets",outcome="ok",tool="get_text"}' in body
    assert 'mcphub_tool_calls_total{integration="pets",outcome="tool_error",tool="fail"}' in body
    assert 'mcphub_tool_calls_total{integration="pets",outcome="invalid_arguments",tool="get_pet"}' in body
    assert 'mcphub_tool_errors_total{integration="pets",tool="fail"}' in body
    assert 'mcphub_tool_call_duration_seconds_bucket{integration="pets",le="0.5",tool="get_text"}' in body
    assert "mcphub_packages_loaded 2.0" in body
