"""The runtime's `Call`: what a generated tool function is handed for one invocation.

It binds the tool to its mount's executor and the caller's credential. HTTP tools build their request from the
tool's binding and send it through the executor's `UpstreamClient`; GraphQL, SQL and MCP tools hand their
arguments to the executor whole. Either way generated code reaches the network only through the runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcphub.compiler.ir import Tool
from mcphub.runtime.package import ToolOutput
from mcphub.runtime.upstream.credentials import Credential
from mcphub.runtime.upstream.executors.base import Executor

__all__ = ["HubCall"]


class HubCall:
    """One tool invocation, bound to its integration's executor and the caller's credential."""

    __slots__ = ("_credential", "_executor", "tool")

    def __init__(self, tool: Tool, executor: Executor, credential: Credential | None) -> None:
        self.tool = tool
        self._executor = executor
        self._credential = credential

    async def http(
        self,
        *,
        path: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        cookies: Mapping[str, Any] | None = None,
        body: Any = None,
        form: Mapping[str, Any] | None = None,
        multipart: Mapping[str, Any] | None = None,
        full: bool = False,
    ) -> ToolOutput:
        return await self._executor.client.send(
            self.tool,
            self._credential,
            full=full,
            path=path,
            query=query,
            headers=headers,
            cookies=cookies,
            body=body,
            form=form,
            multipart=multipart,
        )

    async def graphql(self, variables: Mapping[str, Any]) -> ToolOutput:
        if self.tool.graphql is None:
            return self._unbound("GraphQL binding")
        return await self._run(variables)

    async def sql(self, arguments: Mapping[str, Any]) -> ToolOutput:
        if self.tool.sql is None:
            return self._unbound("SQL binding")
        return await self._run(arguments)

    async def mcp(self, arguments: Mapping[str, Any]) -> ToolOutput:
        if self.tool.mcp is None:
            return self._unbound("upstream MCP binding; recompile its package")
        return await self._run(arguments)

    def _unbound(self, what: str) -> ToolOutput:
        # Generated code calls the method of its tool's binding; anything else is a package out of step.
        return ToolOutput(text=f"tool {self.tool.name!r} has no {what}", is_error=True)

    async def _run(self, arguments: Mapping[str, Any]) -> ToolOutput:
        # The spec's defaults for arguments the caller left out (HTTP tools get theirs in `UpstreamClient.prepare`).
        defaults = self.tool.defaults
        merged = {**defaults, **arguments} if defaults else arguments
        return await self._executor.run(self.tool, self._credential, merged)
