"""Real Node MCP clients against a real hub process: list tools, call one, check what the upstream saw.

One `mcphub serve` per module mounts a package compiled from `node_support.PETSTORE`, whose upstream is a
recording HTTP server on 127.0.0.1. Each test uses its own pet id or name, so no test reads another's requests.
The clients are the pinned ones from tools/js/package-lock.json (installed by `make node-tools`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from e2e.node_support import (
    CLIENT_TIMEOUT_S,
    SLUG,
    Completed,
    Hub,
    NodeTools,
    argument_name,
    find_tool,
    node_env,
    node_home,
    node_hub,
    node_tools,
    node_upstream,
    pet,
    run_client_script,
    run_node,
    text_of,
)
from mcphub.compiler.ir import ArgLocation, Tool

__all__ = ["node_home", "node_hub", "node_tools", "node_upstream"]  # fixtures, used by name

MODERN = "2026-07-28"


def get_pet(node_hub: Hub) -> Tool:
    return find_tool(node_hub.integration, "GET", "/pets/{petId}")


def create_pet(node_hub: Hub) -> Tool:
    return find_tool(node_hub.integration, "POST", "/pets")


def get_pet_arguments(node_hub: Hub, pet_id: int, fields: str | None = None) -> dict[str, Any]:
    tool = get_pet(node_hub)
    arguments: dict[str, Any] = {argument_name(tool, ArgLocation.PATH, "petId"): pet_id}
    if fields is not None:
        arguments[argument_name(tool, ArgLocation.QUERY, "fields")] = fields
    return arguments


def assert_lists_package(tools: list[dict[str, Any]], node_hub: Hub, *, prefixed: bool = True) -> None:
    """Every enabled tool of the package is listed with its compiled input schema."""
    listed = {tool["name"]: tool for tool in tools}
    for tool in node_hub.integration.tools:
        name = node_hub.tool_name(tool) if prefixed else tool.name
        assert name in listed, f"{name} not in tools/list: {sorted(listed)}"
        assert listed[name]["inputSchema"] == tool.input_schema, name
    assert len(listed) == len(node_hub.integration.tools), sorted(listed)


def assert_pet_result(result: dict[str, Any], pet_id: int) -> None:
    assert result.get("isError") is False, result
    assert result.get("structuredContent") == pet(pet_id), result
    assert json.loads(text_of(result)) == pet(pet_id), result


def assert_upstream_get(node_hub: Hub, pet_id: int, query: dict[str, str]) -> None:
    seen = node_hub.upstream.only("GET", f"/pets/{pet_id}")
    assert seen.query == query
    assert seen.body is None
    # The client's key is for the node_hub only: it must never travel upstream.
    assert "authorization" not in seen.headers, seen.headers


# ---------------------------------------------------------------------------------------------------
# @modelcontextprotocol/sdk 1.x


def test_sdk1_streamable_http_lists_and_calls(node_hub: Hub, node_tools: NodeTools, node_home: Path) -> None:
    report = run_client_script(
        node_tools,
        node_home,
        "sdk1.mjs",
        node_hub.mcp_url,
        auth_header=node_hub.auth_header,
        call=node_hub.tool_name(get_pet(node_hub)),
        arguments=get_pet_arguments(node_hub, 101, fields="name,tag"),
    )
    assert report["protocolVersion"] == "2025-11-25"
    assert report["sessionId"], "the handshake era needs an Mcp-Session-Id"
    assert_lists_package(report["tools"], node_hub)
    assert_pet_result(report["call"], 101)
    assert_upstream_get(node_hub, 101, {"fields": "name,tag"})


def test_sdk1_per_integration_endpoint_uses_plain_names(node_hub: Hub, node_tools: NodeTools, node_home: Path) -> None:
    report = run_client_script(
        node_tools,
        node_home,
        "sdk1.mjs",
        f"{node_hub.mcp_url}/{SLUG}",
        auth_header=node_hub.auth_header,
        call=get_pet(node_hub).name,
        arguments=get_pet_arguments(node_hub, 111),
    )
    assert_lists_package(report["tools"], node_hub, prefixed=False)
    assert_pet_result(report["call"], 111)
    assert_upstream_get(node_hub, 111, {})


def test_sdk1_legacy_sse_lists_and_calls(node_hub: Hub, node_tools: NodeTools, node_home: Path) -> None:
    report = run_client_script(
        node_tools,
        node_home,
        "sdk1.mjs",
        f"{node_hub.base_url}/sse",
        auth_header=node_hub.auth_header,
        call=node_hub.tool_name(get_pet(node_hub)),
        arguments=get_pet_arguments(node_hub, 606, fields="id"),
        extra=["--transport", "sse"],
    )
    assert_lists_package(report["tools"], node_hub)
    assert_pet_result(report["call"], 606)
    assert_upstream_get(node_hub, 606, {"fields": "id"})


def test_sdk1_invalid_arguments_are_a_tool_error(node_hub: Hub, node_tools: NodeTools, node_home: Path) -> None:
    tool = get_pet(node_hub)
    path_arg = argument_name(tool, ArgLocation.PATH, "petId")
    report = run_client_script(
        node_tools,
        node_home,
        "sdk1.mjs",
        node_hub.mcp_url,
        auth_header=node_hub.auth_header,
        call=node_hub.tool_name(tool),
        arguments={path_arg: "not-an-id"},
    )
    assert report["call"]["isError"] is True, report["call"]
    assert path_arg in text_of(report["call"]), report["call"]
    assert node_hub.upstream.seen("GET", "/pets/not-an-id") == []


# ---------------------------------------------------------------------------------------------------
# @modelcontextprotocol/client 2.x


@pytest.mark.parametrize(
    ("era", "pet_id", "expected_era", "expected_version"),
    [("auto", 202, "modern", MODERN), ("modern", 212, "modern", MODERN), ("legacy", 222, "legacy", "2025-11-25")],
)
def test_client2_lists_and_calls(
    node_hub: Hub,
    node_tools: NodeTools,
    node_home: Path,
    era: str,
    pet_id: int,
    expected_era: str,
    expected_version: str,
) -> None:
    report = run_client_script(
        node_tools,
        node_home,
        "client2.mjs",
        node_hub.mcp_url,
        auth_header=node_hub.auth_header,
        call=node_hub.tool_name(get_pet(node_hub)),
        arguments=get_pet_arguments(node_hub, pet_id, fields="tag"),
        extra=["--era", era],
    )
    assert (report["era"], report["protocolVersion"]) == (expected_era, expected_version)
    assert_lists_package(report["tools"], node_hub)
    assert_pet_result(report["call"], pet_id)
    assert_upstream_get(node_hub, pet_id, {"fields": "tag"})


def test_client2_sends_json_body(node_hub: Hub, node_tools: NodeTools, node_home: Path) -> None:
    tool = create_pet(node_hub)
    arguments = {
        argument_name(tool, ArgLocation.BODY, "name"): "Nemo-232",
        argument_name(tool, ArgLocation.BODY, "tag"): "fish",
    }
    report = run_client_script(
        node_tools,
        node_home,
        "client2.mjs",
        node_hub.mcp_url,
        auth_header=node_hub.auth_header,
        call=node_hub.tool_name(tool),
        arguments=arguments,
    )
    expected = {"id": 9000, "name": "Nemo-232", "tag": "fish"}
    assert report["call"]["isError"] is False, report["call"]
    assert report["call"]["structuredContent"] == expected
    assert json.loads(text_of(report["call"])) == expected
    seen = node_hub.upstream.only("POST", "/pets", body={"name": "Nemo-232", "tag": "fish"})
    assert seen.headers.get("content-type", "").startswith("application/json"), seen.headers
    assert seen.query == {}


# ---------------------------------------------------------------------------------------------------
# Inspector CLI


def inspector(node_hub: Hub, node_tools: NodeTools, node_home: Path, *args: str, expect_ok: bool = True) -> Completed:
    """Run the Inspector CLI against the hub's /mcp with JSON output."""
    launcher = node_tools.package_bin("@modelcontextprotocol/inspector", "clients/launcher/build/index.js")
    result = run_node(
        node_tools,
        node_home,
        [launcher, "--cli", node_hub.mcp_url, *args, "--format", "json", "--header", node_hub.auth_header],
        expect_ok=expect_ok,
    )
    return result


def test_inspector_cli_lists_tools(node_hub: Hub, node_tools: NodeTools, node_home: Path) -> None:
    listed = inspector(node_hub, node_tools, node_home, "--method", "tools/list").json()
    assert_lists_package(listed["result"]["tools"], node_hub)


@pytest.mark.parametrize(("era", "pet_id"), [("legacy", 404), ("auto", 414)])
def test_inspector_cli_calls_tool(node_hub: Hub, node_tools: NodeTools, node_home: Path, era: str, pet_id: int) -> None:
    arguments = get_pet_arguments(node_hub, pet_id, fields="name")
    pairs = [f"{key}={value}" for key, value in arguments.items()]
    result = inspector(
        node_hub,
        node_tools,
        node_home,
        "--protocol-era",
        era,
        "--method",
        "tools/call",
        "--tool-name",
        node_hub.tool_name(get_pet(node_hub)),
        "--tool-arg",
        *pairs,
    ).json()
    assert_pet_result(result["result"], pet_id)
    assert_upstream_get(node_hub, pet_id, {"fields": "name"})


def test_inspector_cli_exits_5_on_tool_error(node_hub: Hub, node_tools: NodeTools, node_home: Path) -> None:
    tool = get_pet(node_hub)
    path_arg = argument_name(tool, ArgLocation.PATH, "petId")
    result = inspector(
        node_hub,
        node_tools,
        node_home,
        "--method",
        "tools/call",
        "--tool-name",
        node_hub.tool_name(tool),
        "--tool-args-json",
        json.dumps({path_arg: "not-an-id"}),
        expect_ok=False,
    )
    assert result.returncode == 5, result.describe()


# ---------------------------------------------------------------------------------------------------
# mcp-remote (stdio bridge, as Claude Desktop runs it) driven by the official Python SDK stdio client


async def test_mcp_remote_bridge_lists_and_calls(node_hub: Hub, node_tools: NodeTools, node_home: Path) -> None:
    proxy = node_tools.package_bin("mcp-remote", "dist/proxy.js")
    params = StdioServerParameters(
        command=str(node_tools.node),
        args=[str(proxy), node_hub.mcp_url, "--header", node_hub.auth_header, "--transport", "http-only", "--silent"],
        env=node_env(node_home, node_tools),
    )
    stderr_path = node_home / "mcp-remote.stderr"
    name = node_hub.tool_name(get_pet(node_hub))
    with stderr_path.open("w") as errlog, anyio.fail_after(CLIENT_TIMEOUT_S):
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            listed = await session.list_tools()
            result = await session.call_tool(name, get_pet_arguments(node_hub, 505, fields="name"))
    wire_tools = [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in listed.tools]
    assert_lists_package(wire_tools, node_hub)
    assert_pet_result(result.model_dump(mode="json", by_alias=True, exclude_none=True), 505)
    assert_upstream_get(node_hub, 505, {"fields": "name"})


# ---------------------------------------------------------------------------------------------------
# the search view (`/mcp/search`): the three meta-tools, and call_tool answering as the tool itself


@pytest.mark.parametrize(
    ("script", "extra", "pet_id"), [("sdk1.mjs", [], 501), ("client2.mjs", ["--era", "auto"], 502)]
)
def test_search_view_lists_the_meta_tools_and_calls_through_call_tool(
    node_hub: Hub, node_tools: NodeTools, node_home: Path, script: str, extra: list[str], pet_id: int
) -> None:
    report = run_client_script(
        node_tools,
        node_home,
        script,
        f"{node_hub.mcp_url}/search",
        auth_header=node_hub.auth_header,
        call="call_tool",
        arguments={"name": node_hub.tool_name(get_pet(node_hub)), "arguments": get_pet_arguments(node_hub, pet_id)},
        extra=extra,
    )
    assert {tool["name"] for tool in report["tools"]} == {"search_tools", "call_tool", "describe_tool"}
    assert_pet_result(report["call"], pet_id)
    assert_upstream_get(node_hub, pet_id, {})
