"""Placeholder until this tool kind is implemented: every call is a clear tool error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcphub.compiler.ir import Tool
from mcphub.runtime.credentials import Credential
from mcphub.runtime.http import UpstreamClient
from mcphub.runtime.package import ToolOutput


async def execute_graphql(
    tool: Tool, client: UpstreamClient, credential: Credential | None, variables: Mapping[str, Any]
) -> ToolOutput:
    return ToolOutput(
        text=f"tool {tool.name!r}: GraphQL integrations are not supported by this runtime yet", is_error=True
    )
