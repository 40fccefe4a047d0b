"""Placeholder until this tool kind is implemented: every call is a clear tool error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcphub.compiler.ir import Tool
from mcphub.runtime.credentials import Credential
from mcphub.runtime.http import UpstreamClient
from mcphub.runtime.package import ToolOutput


async def call_upstream_tool(
    tool: Tool, client: UpstreamClient, credential: Credential | None, arguments: Mapping[str, Any]
) -> ToolOutput:
    return ToolOutput(
        text=f"tool {tool.name!r}: proxying upstream MCP servers is not supported by this runtime yet", is_error=True
    )
