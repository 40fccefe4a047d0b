"""The executor of HTTP-based integrations (OpenAPI, Postman, docs, ...): generated code sends each request itself.

A generated function builds its request from the tool's binding through `call.http(...)`, which goes to this
executor's `UpstreamClient` (egress policy, credential, pool, response shaping). Nothing runs a whole HTTP tool
from outside, so `run` only answers a package that asks for something its integration is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcphub.compiler.ir import Integration, Tool
from mcphub.runtime.package import ToolOutput
from mcphub.runtime.upstream.client import UpstreamClient
from mcphub.runtime.upstream.credentials import Credential
from mcphub.runtime.upstream.executors.base import LiveUpstream

__all__ = ["HttpExecutor"]


class HttpExecutor:
    """Owns the integration's `UpstreamClient`; closing the executor closes its connection pool."""

    live: LiveUpstream | None = None

    def __init__(self, integration: Integration, client: UpstreamClient | None = None) -> None:
        self.client = client if client is not None else UpstreamClient(integration)

    async def run(self, tool: Tool, credential: Credential | None, arguments: Mapping[str, Any]) -> ToolOutput:
        kind = self.client.integration.source.kind
        return ToolOutput(
            text=f"tool {tool.name!r} is not an HTTP call of this {kind} integration; recompile its package",
            is_error=True,
        )

    async def aclose(self) -> None:
        await self.client.aclose()
