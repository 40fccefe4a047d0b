"""The live relay of upstream MCP servers' features: what happens during a proxied call, and what is asked live.

`CallRelay` is the client of one proxied tool call: progress, log messages and the server->client requests
(sampling, elicitation, roots) the upstream sends during that call go to that call's client only. `LiveRelay`
asks an upstream's resources, resource templates, prompts and completions on its shared session, as the caller,
and remembers which upstream serves which resource URI on the aggregated endpoint.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

import mcp_types as types
from mcp.server.connection import allowed_log_levels
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel

from mcphub.runtime.catalog import SEPARATOR, Mount, Snapshot
from mcphub.runtime.mcp.access import Access, Visible
from mcphub.runtime.mcp.context import endpoint_slug, principal_of
from mcphub.runtime.upstream.credentials import Credential
from mcphub.runtime.upstream.executors.base import LiveUpstream, RelayedRequest, RelayedResult, UpstreamUnavailable

__all__ = ["LOG_LEVELS", "CallRelay", "LiveRelay", "live_of"]

logger = logging.getLogger(__name__)

_ResultT = TypeVar("_ResultT", bound=BaseModel)
_MAX_LIVE_URIS = 50_000  # upstream resource URIs remembered for routing reads on the aggregated endpoint
LOG_LEVELS: tuple[types.LoggingLevel, ...] = (
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
)
_NEEDS: dict[str, str] = {
    "sampling/createMessage": "sampling",
    "elicitation/create": "elicitation",
    "roots/list": "roots",
}


class CallRelay:
    """The client of one proxied upstream-MCP tool call (an executor's `Downstream`).

    Everything goes out on this call's own request-scoped channel (its POST response stream), so a
    relayed request or log message reaches exactly the client that made the call.
    """

    __slots__ = ("_ctx", "_floor", "missing")

    def __init__(self, ctx: ServerRequestContext[Any, Any], floor: int = 0) -> None:
        self._ctx = ctx
        # Handshake era: the least severe level (index in LOG_LEVELS) the session set with logging/setLevel,
        # read once for the call (`Hub._log_floor`: on any replica).
        self._floor = floor
        # A capability the upstream asked this (2026-07-28) client for that it did not declare: the call then
        # fails with -32021, as that revision requires, instead of returning the upstream's tool error.
        self.missing: str | None = None

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        await self._ctx.session.report_progress(progress, total, message)

    async def request(self, request: RelayedRequest) -> RelayedResult | types.ErrorData:
        session = self._ctx.session
        capability = _NEEDS[request.method]
        declared = session.client_capabilities
        if declared is None or getattr(declared, capability, None) is None:
            if self._ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
                self.missing = capability
            return types.ErrorData(
                code=types.INVALID_REQUEST,
                message=f"the client of this call did not declare the {capability} capability",
            )
        if not session.can_send_request:
            # 2026-07-28 clients take no server->client requests (their tools return input_required results instead).
            return types.ErrorData(
                code=types.INVALID_REQUEST,
                message=f"the client of this call cannot be sent {request.method} on its connection",
            )
        result_type: type[RelayedResult]
        if isinstance(request, types.CreateMessageRequest):
            result_type = types.CreateMessageResultWithTools if request.params.tools else types.CreateMessageResult
        elif isinstance(request, types.ElicitRequest):
            result_type = types.ElicitResult
        else:
            result_type = types.ListRootsResult
        related = ServerMessageMetadata(related_request_id=self._ctx.request_id)
        return await session.send_request(request, result_type, metadata=related)

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        ctx = self._ctx
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            # 2026-07-28: only what this request opted into with its _meta log level.
            if params.level not in allowed_log_levels(ctx.protocol_version, ctx.meta):
                return
        elif LOG_LEVELS.index(params.level) < self._floor:
            return
        await ctx.session.send_notification(types.LoggingMessageNotification(params=params), ctx.request_id)


class LiveRelay:
    """Asks upstream MCP servers live, as the caller; one per hub."""

    def __init__(self, snapshot: Callable[[], Snapshot], access: Callable[[], Access]) -> None:
        self._snapshot = snapshot
        self._access = access
        # Where aggregated-endpoint reads of upstream MCP resources go: URI -> slug, and slug -> URI templates.
        self._live_uris: dict[str, str] = {}
        self._live_templates: dict[str, list[re.Pattern[str]]] = {}

    def mounts(self, ctx: ServerRequestContext[Any, Any], visible: Visible) -> list[Mount]:
        """The visible `mcp`-kind mounts of this endpoint, whose resources and prompts come from the upstream."""
        snapshot = self._snapshot()
        slug = endpoint_slug(ctx)
        mounts = [snapshot.mounts[slug]] if slug is not None and slug in snapshot.mounts else []
        if slug is None:
            mounts = list(snapshot.mounts.values())
        return [m for m in mounts if m.executor.live is not None and (visible is None or m.slug in visible)]

    async def credential(self, ctx: ServerRequestContext[Any, Any], mount: Mount) -> Credential | None:
        """The caller's credential for an upstream MCP server (only HTTP upstreams with auth schemes take one)."""
        integration = mount.integration
        if not integration.auth or not integration.source.url:
            return None
        credential, _ = await self._access().credential(principal_of(ctx), integration)
        return credential

    async def ask(
        self,
        ctx: ServerRequestContext[Any, Any],
        mount: Mount,
        capability: str,
        request: types.ClientRequest,
        result_type: type[_ResultT],
    ) -> _ResultT | None:
        """One request to `mount`'s upstream; None when it lacks `capability`. Unreachable -> an MCPError."""
        live = live_of(mount)
        credential = await self.credential(ctx, mount)
        try:
            declared = await live.capabilities(credential)
            if getattr(declared, capability, None) is None:
                return None
            async with mount.use():
                return await live.request(credential, request, result_type)
        except UpstreamUnavailable as exc:
            raise MCPError(types.INTERNAL_ERROR, f"{mount.integration.name}: {exc}") from exc

    async def gather(
        self,
        ctx: ServerRequestContext[Any, Any],
        mounts: list[Mount],
        capability: str,
        request: types.ClientRequest,
        result_type: type[_ResultT],
    ) -> list[tuple[Mount, _ResultT]]:
        """The same list request to several upstreams; one that fails is left out of the aggregate, not fatal."""
        found: list[tuple[Mount, _ResultT]] = []
        for mount in mounts:
            try:
                result = await self.ask(ctx, mount, capability, request, result_type)
            except MCPError as exc:
                logger.warning("listing %s of %s failed: %s", request.method, mount.slug, exc.message)
                continue
            if result is not None:
                found.append((mount, result))
        return found

    def owner_of(self, uri: str, mounts: list[Mount]) -> Mount | None:
        """The upstream mount serving `uri` on the aggregated endpoint, from what its lists showed."""
        by_slug = {m.slug: m for m in mounts}
        slug = self._live_uris.get(uri)
        if slug in by_slug:
            return by_slug[slug]
        for mount in mounts:
            if any(pattern.fullmatch(uri) for pattern in self._live_templates.get(mount.slug, [])):
                return mount
        return mounts[0] if len(mounts) == 1 else None

    async def find_owner(self, ctx: ServerRequestContext[Any, Any], uri: str, mounts: list[Mount]) -> Mount | None:
        owner = self.owner_of(uri, mounts)
        if owner is None and mounts:
            # Not seen in a listing yet: list once (which records URIs and templates), then look again.
            await self.list_resources(ctx, mounts, None)
            await self.list_templates(ctx, mounts, None)
            owner = self.owner_of(uri, mounts)
        return owner

    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], mounts: list[Mount], cursor: str | None
    ) -> tuple[list[types.Resource], str | None]:
        request = types.ListResourcesRequest(params=types.PaginatedRequestParams(cursor=cursor))
        resources: list[types.Resource] = []
        next_cursor = None
        prefixed = endpoint_slug(ctx) is None
        for mount, page in await self.gather(ctx, mounts, "resources", request, types.ListResourcesResult):
            if len(self._live_uris) > _MAX_LIVE_URIS:
                self._live_uris.clear()
            for resource in page.resources:
                self._live_uris[str(resource.uri)] = mount.slug
                if prefixed:
                    resource = resource.model_copy(update={"name": f"{mount.slug}{SEPARATOR}{resource.name}"})
                resources.append(resource)
            next_cursor = page.next_cursor if len(mounts) == 1 else None
        return resources, next_cursor

    async def list_templates(
        self, ctx: ServerRequestContext[Any, Any], mounts: list[Mount], cursor: str | None
    ) -> tuple[list[types.ResourceTemplate], str | None]:
        request = types.ListResourceTemplatesRequest(params=types.PaginatedRequestParams(cursor=cursor))
        templates: list[types.ResourceTemplate] = []
        next_cursor = None
        prefixed = endpoint_slug(ctx) is None
        for mount, page in await self.gather(ctx, mounts, "resources", request, types.ListResourceTemplatesResult):
            self._live_templates[mount.slug] = [_template_pattern(t.uri_template) for t in page.resource_templates]
            for template in page.resource_templates:
                if prefixed:
                    template = template.model_copy(update={"name": f"{mount.slug}{SEPARATOR}{template.name}"})
                templates.append(template)
            next_cursor = page.next_cursor if len(mounts) == 1 else None
        return templates, next_cursor

    def prompt(self, ctx: ServerRequestContext[Any, Any], name: str, visible: Visible) -> tuple[Mount, str] | None:
        """The upstream mount and upstream name of a prompt that no compiled package declares."""
        slug = endpoint_slug(ctx)
        if slug is None:
            slug, sep, name = name.partition(SEPARATOR)
            if not sep:
                return None
        mount = self._snapshot().mounts.get(slug)
        if mount is None or mount.executor.live is None or (visible is not None and slug not in visible):
            return None
        return mount, name


def live_of(mount: Mount) -> LiveUpstream:
    """The live features of a mount the hub found to have them (`_live_mounts`, `_live_prompt`)."""
    live = mount.executor.live
    if live is None:
        raise MCPError(types.INTERNAL_ERROR, f"{mount.integration.name} has no live upstream features")
    return live


def _template_pattern(template: str) -> re.Pattern[str]:
    """A URI template (RFC 6570, simple `{var}` expansions) as a pattern matching the URIs it expands to."""
    parts = re.split(r"(\{[^}]*\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p))
