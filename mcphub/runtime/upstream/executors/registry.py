"""The executor registry: which executor runs an integration, by its source kind, and what kinds share.

The only place the runtime tells source kinds apart. Each kind's module is imported when its first integration is
mounted, so a hub without SQL or MCP integrations never loads asyncpg or the MCP client. The registry belongs to a
catalog and holds what executors of different mounts share (upstream MCP sessions, which outlive a reload of
their package); `aclose` at shutdown closes it, after the catalog has closed its mounts' executors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcphub.compiler.ir import Integration
from mcphub.runtime.upstream.executors.base import Executor

if TYPE_CHECKING:
    from mcphub.runtime.upstream.executors.mcp import ListListener, McpSessions

__all__ = ["Executors"]


class Executors:
    """Builds one executor per mounted integration; owns what they share."""

    def __init__(self) -> None:
        self._mcp: McpSessions | None = None
        self._listeners: list[ListListener] = []

    def build(self, integration: Integration) -> Executor:
        kind = integration.source.kind
        if kind == "mcp":
            from mcphub.runtime.upstream.executors.mcp import McpExecutor

            return McpExecutor(integration, self._mcp_sessions())
        if kind == "sql":
            from mcphub.runtime.upstream.executors.sql import SqlExecutor

            return SqlExecutor(integration)
        if kind == "graphql":
            from mcphub.runtime.upstream.executors.graphql import GraphQLExecutor

            return GraphQLExecutor(integration)
        from mcphub.runtime.upstream.executors.http import HttpExecutor

        return HttpExecutor(integration)

    def add_list_listener(self, listener: ListListener) -> None:
        """Tell `listener` (a hub) when an upstream MCP server of this catalog changes a list; held weakly."""
        if self._mcp is not None:
            self._mcp.add_list_listener(listener)
        else:
            self._listeners.append(listener)  # handed over when the first mcp integration is mounted

    def _mcp_sessions(self) -> McpSessions:
        if self._mcp is None:
            from mcphub.runtime.upstream.executors.mcp import McpSessions

            self._mcp = McpSessions()
            for listener in self._listeners:
                self._mcp.add_list_listener(listener)
            self._listeners.clear()
        return self._mcp

    async def aclose(self) -> None:
        """Close what executors share (upstream MCP sessions and their child processes)."""
        if self._mcp is not None:
            await self._mcp.aclose()
