"""What an executor is: how the tools of one mounted integration run, and what it holds open while mounted.

A `Mount` builds one executor for its integration (`registry.Executors.build`, by source kind) and closes it when
the mount is retired, after its last call. Every executor owns the integration's `UpstreamClient` (the egress
policy and, for HTTP-based kinds, the connection pool); kinds that hold more (SQL connection pools, upstream MCP
sessions) hold it in the executor, or in the registry when mounts of one integration share it across a reload.

An executor may also offer live capabilities (`live`): an upstream MCP server's resources, prompts, completion
and subscriptions, which the hub relays as they are instead of serving compiled ones.

This module imports nothing heavy, so the hub can name these types without loading any executor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import mcp_types as types

from mcphub.runtime.errors import HubError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from mcphub.compiler.ir import Tool
    from mcphub.runtime.package import ToolOutput
    from mcphub.runtime.upstream.client import UpstreamClient
    from mcphub.runtime.upstream.credentials import Credential

__all__ = ["Downstream", "Executor", "LiveUpstream", "RelayedRequest", "RelayedResult", "UpstreamUnavailable"]

ResultT = TypeVar("ResultT", bound="BaseModel")
# The server->client requests an upstream MCP server may send during a call, relayed to that call's client.
RelayedRequest = types.CreateMessageRequest | types.ElicitRequest | types.ListRootsRequest
RelayedResult = (
    types.CreateMessageResult | types.CreateMessageResultWithTools | types.ElicitResult | types.ListRootsResult
)


class UpstreamUnavailable(HubError):
    """The upstream cannot be reached now; the message says why and what happens next."""


class Downstream(Protocol):
    """The client of one hub call: what the upstream does during that call is relayed to it."""

    async def progress(self, progress: float, total: float | None, message: str | None) -> None: ...

    async def request(self, request: RelayedRequest) -> RelayedResult | types.ErrorData: ...

    async def log(self, params: types.LoggingMessageNotificationParams) -> None: ...


class LiveUpstream(Protocol):
    """What an upstream MCP server offers besides its compiled tools, asked live on its shared session.

    Methods raise `UpstreamUnavailable` when the upstream cannot be reached, and the upstream's own MCP errors as
    they are.
    """

    async def capabilities(self, credential: Credential | None) -> types.ServerCapabilities: ...

    async def request(
        self, credential: Credential | None, request: types.ClientRequest, result_type: type[ResultT]
    ) -> ResultT: ...

    async def subscribe(
        self, credential: Credential | None, uri: str, key: str, notify: Callable[[str], Awaitable[None]]
    ) -> None: ...

    async def unsubscribe(self, credential: Credential | None, uri: str, key: str) -> None: ...

    def relay_to(self, downstream: Downstream) -> AbstractContextManager[None]:
        """Within this block, what the upstream does during a call (progress, sampling, ...) goes to `downstream`."""
        ...


class Executor(Protocol):
    """Runs the tools of one mounted integration; closed when its mount is retired."""

    client: UpstreamClient
    live: LiveUpstream | None  # an upstream MCP server's live features; None for every other kind

    async def run(self, tool: Tool, credential: Credential | None, arguments: Mapping[str, Any]) -> ToolOutput:
        """Run a whole tool call (GraphQL, SQL, MCP); HTTP tools send their request through `client` instead."""
        ...

    async def aclose(self) -> None: ...
