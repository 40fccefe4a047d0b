"""The one MCP server: every mounted package behind one set of list/call handlers.

Tools, resources and prompts of all integrations are served aggregated (`<slug>__<tool>`) on
`/mcp` and `/sse`, and unprefixed on `/mcp/<slug>`; the handlers read which one from the HTTP
route of the request (`ctx.request.path_params["slug"]`). The handlers only read the catalog's
current `Snapshot`, whose MCP objects were built at mount time, so listing costs no per-request
construction. A tool call validates its arguments against the tool's JSON Schema before anything
leaves, runs the generated function with a `HubCall`, and turns its `ToolOutput` into a
`CallToolResult`; failures of the upstream or the package are tool errors, never protocol errors.

Change notifications after a reload reach clients of both protocol eras: handshake-era sessions
(streamable HTTP and SSE) get `notifications/*/list_changed` on their standalone stream, and
2026-07-28 clients get the events on their `subscriptions/listen` streams. So do an upstream MCP
server's own prompt and resource list changes (the hub lists those live), for the users who have that
integration enabled. An upstream's tool list change is not passed on: the hub serves the tools
compiled and reviewed at build time, so its list did not change (an upstream cannot add tools behind
the admin's back); recompiling picks the new tools up, and that reload notifies.
"""

from __future__ import annotations

import base64
import logging
import re
import time
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import mcp_types as types
import orjson
from mcp.server.connection import allowed_log_levels
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    PromptsListChanged,
    ResourcesListChanged,
    SubscriptionBus,
    ToolsListChanged,
)
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp_types import SERVER_INFO_META_KEY, methods
from mcp_types.jsonrpc import MISSING_REQUIRED_CLIENT_CAPABILITY
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, TypeAdapter

from mcphub.compiler.ir import Integration
from mcphub.runtime.catalog import SEPARATOR, Catalog, Mount, ReloadReport, Snapshot, ToolEntry
from mcphub.runtime.mcp.metrics import HubMetrics
from mcphub.runtime.package import ToolOutput
from mcphub.runtime.tenancy.accounts import KeyPrincipal
from mcphub.runtime.tenancy.policy import NotConnected, PolicyError
from mcphub.runtime.tenancy.usage import CallRecord, Status
from mcphub.runtime.upstream.credentials import Credential, CredentialProvider, EnvCredentialProvider
from mcphub.runtime.upstream.http import HubCall

if TYPE_CHECKING:
    from mcphub.runtime.upstream.executors.mcp import RelayedRequest, RelayedResult
    from mcphub.runtime.upstream.http import UpstreamClient

if TYPE_CHECKING:
    from mcphub.runtime.tenancy.services import Tenancy

__all__ = ["Hub", "SessionRegistry", "principal_of", "to_call_result"]

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
_RESOURCE_NOT_FOUND = -32002
_CONTENT_BLOCK: TypeAdapter[types.ContentBlock] = TypeAdapter(types.ContentBlock)
_MAX_LIVE_URIS = 50_000  # upstream resource URIs remembered for routing reads on the aggregated endpoint
_ResultT = TypeVar("_ResultT", bound=BaseModel)


def to_call_result(output: ToolOutput, *, fallback_uri: str) -> types.CallToolResult:
    """The MCP result for a tool's output: text, structured JSON, an image, audio, or other binary as a resource."""
    content: list[types.ContentBlock] = []
    if output.content is not None:
        content.extend(_CONTENT_BLOCK.validate_python(block) for block in output.content)
    if output.text:
        content.append(types.TextContent(text=output.text))
    if output.binary is not None:
        mime = output.mime_type or "application/octet-stream"
        data = base64.b64encode(output.binary).decode("ascii")
        # Images and audio as their own content types, so clients can show or play them.
        if mime.startswith("image/"):
            content.append(types.ImageContent(data=data, mime_type=mime))
        elif mime.startswith("audio/"):
            content.append(types.AudioContent(data=data, mime_type=mime))
        else:
            if not output.text:
                content.append(
                    types.TextContent(text=f"Binary response: {mime}, {len(output.binary)} bytes (embedded).")
                )
            uri = str(output.meta.get("url") or fallback_uri)
            content.append(
                types.EmbeddedResource(resource=types.BlobResourceContents(uri=uri, mime_type=mime, blob=data))
            )
    if not content:
        content.append(types.TextContent(text="(no content)"))
    structured: dict[str, Any] | None = None
    if output.structured is not None:
        # structuredContent is an object on the wire; other JSON values are wrapped, as FastMCP does.
        structured = output.structured if isinstance(output.structured, dict) else {"result": output.structured}
    return types.CallToolResult(content=content, structured_content=structured, is_error=output.is_error)


class SessionRegistry:
    """Handshake-era sessions seen recently, so a change can tell them the lists changed.

    Keyed by transport session id (`Mcp-Session-Id`, or the SSE `session_id`); holds the SDK's
    `ServerSession` of a request on that session, whose non-request-scoped notifications travel on
    the session's standalone stream, and the user whose key opened it (None without accounts), so a
    change of one user's integrations reaches that user's sessions only. Entries go when sending to
    them fails, when idle longer than `idle_s`, or oldest-first past `capacity`.
    """

    def __init__(self, *, capacity: int = 10_000, idle_s: float = 1800.0) -> None:
        self._entries: OrderedDict[str, tuple[ServerSession, float, int | None]] = OrderedDict()
        self._capacity = capacity
        self._idle_s = idle_s

    def __len__(self) -> int:
        return len(self._entries)

    def touch(self, key: str, session: ServerSession, user_id: int | None = None) -> None:
        now = time.monotonic()
        if key in self._entries:
            known, _, owner = self._entries[key]
            self._entries[key] = (known, now, owner)
            self._entries.move_to_end(key)
            return
        self._entries[key] = (session, now, user_id)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def _prune(self) -> None:
        horizon = time.monotonic() - self._idle_s
        for key in [k for k, (_, seen, _) in self._entries.items() if seen < horizon]:
            del self._entries[key]

    async def broadcast(self, methods: list[str], *, user_id: int | None = None) -> int:
        """Send each notification method to every live session (of `user_id` only, when given).

        Returns how many sessions were reached.
        """
        self._prune()
        reached = 0
        dead: list[str] = []

        async def send(key: str, session: ServerSession) -> None:
            nonlocal reached
            try:
                with anyio.fail_after(2):
                    for method in methods:
                        await session.send_notification(_NOTIFICATIONS[method])
                reached += 1
            except Exception:  # a closed or stuck stream: forget the session, never fail the caller
                logger.debug("dropping session %s from the notification registry", key[:16], exc_info=True)
                dead.append(key)

        async with anyio.create_task_group() as tg:
            for key, (session, _, owner) in list(self._entries.items()):
                if user_id is None or owner == user_id:
                    tg.start_soon(send, key, session)
        for key in dead:
            self._entries.pop(key, None)
        return reached


_NOTIFICATIONS: dict[str, types.ServerNotification] = {
    "notifications/tools/list_changed": types.ToolListChangedNotification(),
    "notifications/resources/list_changed": types.ResourceListChangedNotification(),
    "notifications/prompts/list_changed": types.PromptListChangedNotification(),
}


def _session_key(request: Any) -> str | None:
    """The transport session a request belongs to: streamable HTTP header or SSE query parameter."""
    headers = getattr(request, "headers", None)
    if headers is None:
        return None
    session_id = headers.get("mcp-session-id")
    if session_id:
        return f"http:{session_id}"
    sse_id = request.query_params.get("session_id")
    return f"sse:{sse_id}" if sse_id else None


def principal_of(ctx: ServerRequestContext[Any, Any]) -> KeyPrincipal | None:
    """The API key behind a request (set by `KeyAuthMiddleware` on the HTTP request that carried it)."""
    request = ctx.request
    scope = getattr(request, "scope", None)
    if not isinstance(scope, Mapping):
        return None
    principal = (scope.get("state") or {}).get("principal")
    return principal if isinstance(principal, KeyPrincipal) else None


def _scope(ctx: ServerRequestContext[Any, Any]) -> str | None:
    """The slug of a per-integration endpoint (`/mcp/<slug>`), or None for the aggregated one."""
    request = ctx.request
    if request is None:
        return None
    slug = request.path_params.get("slug")
    return slug if isinstance(slug, str) else None


class _HubServer(Server[Any]):
    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        # The catalog can change under a live session (hot reload), so say so in the handshake.
        options = notification_options or NotificationOptions(
            prompts_changed=True, resources_changed=True, tools_changed=True
        )
        return super().create_initialization_options(options, experimental_capabilities, extensions)


_LIST_CHANGED = list(_NOTIFICATIONS)
# The upstream list changes that change the hub's lists too (it lists upstream prompts and resources live).
_UPSTREAM_EVENTS: dict[str, type[PromptsListChanged | ResourcesListChanged]] = {
    "notifications/prompts/list_changed": PromptsListChanged,
    "notifications/resources/list_changed": ResourcesListChanged,
}
_MAX_CACHED_LISTS = 512  # distinct (endpoint, version, visible set, key scope) tool lists kept per snapshot
_EXCERPT = 4000  # characters of a result kept for the call log (usage redacts, then cuts further)

Visible = frozenset[str] | None  # slugs a caller may see; None: everything (a hub without accounts)

_LOG_LEVELS: tuple[types.LoggingLevel, ...] = (
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
)
_MAX_LOG_LEVELS = 10_000  # handshake-era sessions whose logging/setLevel the hub remembers
_NEEDS: dict[str, str] = {
    "sampling/createMessage": "sampling",
    "elicitation/create": "elicitation",
    "roots/list": "roots",
}


class _CallRelay:
    """The client of one proxied upstream-MCP tool call (`upstream_mcp.Downstream`).

    Everything goes out on this call's own request-scoped channel (its POST response stream), so a
    relayed request or log message reaches exactly the client that made the call.
    """

    __slots__ = ("_ctx", "_levels", "missing")

    def __init__(self, ctx: ServerRequestContext[Any, Any], levels: Mapping[str, int]) -> None:
        self._ctx = ctx
        self._levels = levels
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
        else:
            key = _session_key(ctx.request)
            floor = self._levels.get(key, 0) if key is not None else 0
            if _LOG_LEVELS.index(params.level) < floor:
                return
        await ctx.session.send_notification(types.LoggingMessageNotification(params=params), ctx.request_id)


@dataclass(slots=True)
class ToolListPage:
    """One cached tools/list result: the wire dict, and its JSON made on first use (the direct path sends bytes)."""

    result: dict[str, Any]
    _json: bytes | None = None

    @property
    def json(self) -> bytes:
        if self._json is None:
            self._json = orjson.dumps(self.result)
        return self._json


class Hub:
    """The MCP server over a `Catalog`, with metrics and change notifications.

    With a `Tenancy` attached (`attach`, as the app does at startup) every request acts as the API key
    `KeyAuthMiddleware` authenticated: lists show only the integrations the key's user has enabled and
    connected and the key's scope admits, calls pass the policy checks first, use that user's credential
    and are recorded as usage. Without one (in-process tests of the runtime) everything is served with
    the configured credential provider.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        credentials: CredentialProvider | None = None,
        metrics: HubMetrics | None = None,
        bus: SubscriptionBus | None = None,
        name: str = "mcphub",
        version: str = "0.1.0",
    ) -> None:
        self.catalog = catalog
        # Without accounts: everyone's credential. With accounts: the operator's fallback, for admins only.
        self.credentials = credentials if credentials is not None else EnvCredentialProvider()
        self.metrics = metrics if metrics is not None else HubMetrics()
        self.bus = bus if bus is not None else InMemorySubscriptionBus()
        self.tenancy: Tenancy | None = None
        self.sessions = SessionRegistry()
        self.listen = ListenHandler(self.bus)
        # 2026-07-28 listen streams per user, so one user's change reaches that user's streams only.
        self._user_buses: dict[int, InMemorySubscriptionBus] = {}
        self._user_listens: dict[int, ListenHandler] = {}
        # Log levels set by handshake-era sessions (logging/setLevel), applied to log messages relayed from upstreams.
        self._log_levels: OrderedDict[str, int] = OrderedDict()
        # Where aggregated-endpoint reads of upstream MCP resources go: URI -> slug, and slug -> URI templates.
        self._live_uris: dict[str, str] = {}
        self._live_templates: dict[str, list[re.Pattern[str]]] = {}
        with warnings.catch_warnings():
            # logging/setLevel is deprecated in 2026-07-28 (the SDK warns); handshake-era clients still use it.
            warnings.simplefilter("ignore")
            self.server = self._build_server(name, version)
        self.server.middleware.append(self._track_session)
        self.server.middleware.append(self._serve_tool_list)
        # tools/list answered from wire-ready dicts, built once per snapshot and
        # (endpoint, protocol version, visible integrations, key scope): per visible set, not per user.
        self._tool_lists: tuple[Snapshot, dict[tuple[Any, ...], ToolListPage]] = (Snapshot(), {})
        # Listening to upstream MCP list changes starts with the first upstream contact (upstream_mcp is imported
        # lazily: a hub without mcp-kind integrations never loads the MCP client).
        self._watching_upstreams = False

    def _build_server(self, name: str, version: str) -> _HubServer:
        return _HubServer(
            name,
            version=version,
            title="MCP Hub",
            instructions=(
                "MCP Hub serves many integrations behind one endpoint. Tool names are <integration>__<tool>; "
                "each tool's description says when to use it."
            ),
            get_tool_input_schema=self._input_schema,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_read_resource=self._read_resource,
            on_list_resource_templates=self._list_resource_templates,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
            on_completion=self._complete,
            on_subscribe_resource=self._subscribe,
            on_unsubscribe_resource=self._unsubscribe,
            on_set_logging_level=self._set_level,
            on_subscriptions_listen=self._listen,
        )

    # - tenancy -

    def attach(self, tenancy: Tenancy) -> None:
        """Serve every request as its API key's user; tell a user's sessions when their integrations change."""
        self.tenancy = tenancy
        tenancy.integrations.subscribe(self.notify_user)

    def detach(self) -> None:
        self.tenancy = None
        self._user_buses.clear()
        self._user_listens.clear()

    async def _fallback(self, principal: KeyPrincipal, integration: Integration) -> Credential | None:
        """The operator's credential (MCPHUB_CRED_*): admins only, never another user's fallback."""
        return await self.credentials.get(integration) if principal.is_admin else None

    async def visible(self, principal: KeyPrincipal | None) -> Visible:
        """The slugs this caller may see: enabled and connected for the user and in the key's scope."""
        tenancy = self.tenancy
        if tenancy is None:
            return None
        if principal is None:
            return frozenset()
        integrations = [mount.integration for mount in self.snapshot.mounts.values()]
        slugs = {integration.slug for integration in await tenancy.policy.visible(principal, integrations)}
        if principal.is_admin:
            states = await tenancy.integrations.states(principal.user_id)
            for integration in integrations:
                state = states.get(integration.slug)
                if (
                    integration.slug not in slugs
                    and state is not None
                    and state.enabled
                    and principal.allows(integration.slug)
                    and await self._fallback(principal, integration) is not None
                ):
                    slugs.add(integration.slug)
        return frozenset(slugs)

    async def notify_user(self, user_id: int) -> None:
        """A user's integrations changed: tell that user's open sessions and listen streams (both eras)."""
        await self.sessions.broadcast(_LIST_CHANGED, user_id=user_id)
        bus = self._user_buses.get(user_id)
        if bus is not None:
            for event in (ToolsListChanged(), ResourcesListChanged(), PromptsListChanged()):
                await bus.publish(event)

    async def _listen(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        principal = principal_of(ctx)
        if self.tenancy is None or principal is None:
            return await self.listen(ctx, params)
        user_id = principal.user_id
        handler = self._user_listens.get(user_id)
        if handler is None:
            bus = self._user_buses[user_id] = InMemorySubscriptionBus()
            handler = self._user_listens[user_id] = ListenHandler(bus)
        return await handler(ctx, params)

    # - catalog -

    @property
    def snapshot(self) -> Snapshot:
        return self.catalog.snapshot

    async def reload(self) -> ReloadReport:
        """Rescan the catalog; when anything changed, tell connected clients of both eras."""
        report = await self.catalog.reload()
        snapshot = self.catalog.snapshot
        self.metrics.packages.set(len(snapshot.mounts))
        self.metrics.tools.set(snapshot.tool_count())
        self.metrics.reloads.labels("partial" if report.errors else "ok").inc()
        if report.changed:
            await self.notify_lists_changed()
        return report

    async def notify_lists_changed(self) -> None:
        await self.sessions.broadcast(_LIST_CHANGED)
        for bus in [self.bus, *self._user_buses.values()]:
            for event in (ToolsListChanged(), ResourcesListChanged(), PromptsListChanged()):
                await bus.publish(event)

    # - upstream MCP servers' own list changes -

    def _watch_upstreams(self) -> None:
        """Hear from now on when an upstream MCP server changes a list (see `on_upstream_list_changed`)."""
        if not self._watching_upstreams:
            from mcphub.runtime.upstream.executors import mcp as upstream_mcp

            upstream_mcp.add_list_listener(self)
            self._watching_upstreams = True

    async def on_upstream_list_changed(self, slug: str, method: str, clients: frozenset[UpstreamClient]) -> None:
        """An upstream MCP server of `slug` changed a list: tell who sees it, when the hub's own list changed too.

        Prompts and resources of `mcp`-kind integrations are listed live, so their change is the hub's change.
        Tools are not: the hub serves the compiled ones, and its tool list stays what it was.
        """
        mount = self.snapshot.mounts.get(slug)
        if mount is None or mount.client not in clients or method not in _UPSTREAM_EVENTS:
            return  # another hub's upstream, a retired mount, or the tool list (unchanged here)
        event = _UPSTREAM_EVENTS[method]()
        tenancy = self.tenancy
        if tenancy is None:
            await self.sessions.broadcast([method])
            await self.bus.publish(event)
            return
        # Only the users who have the integration enabled: nobody learns of another user's integrations.
        users = {owner for _, _, owner in self.sessions._entries.values() if owner is not None}
        users.update(self._user_buses)
        for user_id in sorted(users):
            state = (await tenancy.integrations.states(user_id)).get(slug)
            if state is None or not state.enabled:
                continue
            await self.sessions.broadcast([method], user_id=user_id)
            bus = self._user_buses.get(user_id)
            if bus is not None:
                await bus.publish(event)

    async def _track_session(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            key = _session_key(ctx.request)
            if key is not None:
                principal = principal_of(ctx)
                self.sessions.touch(key, ctx.session, principal.user_id if principal else None)
        return await call_next(ctx)

    # - tools -

    async def _serve_tool_list(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Answer an unpaginated tools/list from the cached page (see `tool_list_page`).

        A middleware result is sent as is, so the page is exactly what `_serialize` would produce: the
        per-version sieved result, plus the 2026-07-28 `serverInfo` stamp.
        """
        if ctx.method != "tools/list" or ctx.request_id is None or (ctx.params or {}).get("cursor") is not None:
            return await call_next(ctx)
        version = ctx.protocol_version
        if version not in MODERN_PROTOCOL_VERSIONS and ctx.session.client_params is None:
            return await call_next(ctx)  # before the handshake: the SDK owns the error
        page = await self.tool_list_page(_scope(ctx), version, principal_of(ctx))
        return dict(page.result)

    async def tool_list_page(self, slug: str | None, version: str, principal: KeyPrincipal | None) -> ToolListPage:
        """The tools/list result of an endpoint (`/mcp` or `/mcp/<slug>`) for a caller, as a dict and as JSON.

        The SDK would validate and re-serialise the whole result per request (~15 ms for 500 tools); the catalog
        only changes on reload, and every key with the same visible integrations and scope sees the same list, so
        the page is built once per snapshot and (endpoint, protocol version, visible set, key scope).
        """
        snapshot = self.snapshot
        cached_for, pages = self._tool_lists
        if cached_for is not snapshot:
            pages = {}
            self._tool_lists = (snapshot, pages)
        visible = await self.visible(principal)
        key_scope = principal.scope if principal is not None and visible is not None else None
        key = (slug, version, visible, key_scope)
        page = pages.get(key)
        if page is None:
            listing = types.ListToolsResult(tools=self._tools_for(snapshot, slug, visible, key_scope))
            result = methods.serialize_server_result(
                "tools/list", version, listing.model_dump(by_alias=True, mode="json", exclude_none=True)
            )
            if version in MODERN_PROTOCOL_VERSIONS:
                result["_meta"] = {SERVER_INFO_META_KEY: self.server.server_info_stamp}
            page = ToolListPage(result)
            if len(pages) >= _MAX_CACHED_LISTS:
                pages.clear()
            pages[key] = page
        return page

    @staticmethod
    def _tools_for(
        snapshot: Snapshot, slug: str | None, visible: Visible, key_scope: frozenset[str] | None
    ) -> list[types.Tool]:
        """The tools of an endpoint (all, or `/mcp/<slug>`) limited to the visible integrations and key scope."""
        if slug is not None:
            mount = snapshot.mounts.get(slug)
            if mount is None or (visible is not None and slug not in visible):
                return []
            if key_scope is None or slug in key_scope:
                return mount.plain_tools
            return [e.plain for name, e in mount.tools.items() if f"{slug}{SEPARATOR}{name}" in key_scope]
        if visible is None:
            return snapshot.tools
        tools: list[types.Tool] = []
        for mount in snapshot.mounts.values():
            if mount.slug not in visible:
                continue
            whole = key_scope is None or mount.slug in key_scope
            tools.extend(
                e.prefixed for e in mount.tools.values() if whole or (key_scope and e.prefixed.name in key_scope)
            )
        return tools

    def _input_schema(self, name: str) -> Mapping[str, Any] | None:
        found = self.snapshot.tool_index.get(name)
        return found[1].tool.input_schema if found else None

    def _resolve_tool(self, snapshot: Snapshot, slug: str | None, name: str) -> tuple[Mount, ToolEntry] | None:
        if slug is None:
            return snapshot.tool_index.get(name)
        mount = snapshot.mounts.get(slug)
        if mount is None:
            return None
        entry = mount.tools.get(name)
        return (mount, entry) if entry is not None else None

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        principal = principal_of(ctx)
        visible = await self.visible(principal)
        key_scope = principal.scope if principal is not None and visible is not None else None
        return types.ListToolsResult(tools=self._tools_for(self.snapshot, _scope(ctx), visible, key_scope))

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        found = self._resolve_tool(self.snapshot, _scope(ctx), params.name)
        if found is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        mount, entry = found
        arguments = params.arguments or {}
        if mount.integration.source.kind != "mcp":
            return await self._dispatch(ctx, mount, entry, arguments)
        # Proxied upstream MCP tools relay what the upstream does during the call to this call's client only.
        from mcphub.runtime.upstream.executors import mcp as upstream_mcp

        relay = _CallRelay(ctx, self._log_levels)
        token = upstream_mcp.downstream.set(relay)
        try:
            result = await self._dispatch(ctx, mount, entry, arguments)
        finally:
            upstream_mcp.downstream.reset(token)
        if relay.missing is not None:
            raise MCPError(
                MISSING_REQUIRED_CLIENT_CAPABILITY,
                f"{params.name} needs the client capability {relay.missing!r}, which this request did not declare",
                {"requiredCapabilities": {relay.missing: {}}},
            )
        return result

    async def _dispatch(
        self, ctx: ServerRequestContext[Any, Any], mount: Mount, entry: ToolEntry, arguments: Mapping[str, Any]
    ) -> types.CallToolResult:
        if self.tenancy is None:
            return await self.call(mount, entry, arguments)
        principal = principal_of(ctx)
        if principal is None:
            raise MCPError(types.INVALID_REQUEST, "an API key is required (Authorization: Bearer mcp_sk_…)")
        return await self.call_as(self.tenancy, principal, mount, entry, arguments)

    async def call(self, mount: Mount, entry: ToolEntry, arguments: Mapping[str, Any]) -> types.CallToolResult:
        """Validate and run one tool of `mount` with the hub's credential provider; every outcome is a result."""
        started = time.perf_counter()
        async with mount.use():
            invalid = _invalid_arguments(entry, arguments)
            if invalid is not None:
                output, outcome = invalid, "invalid_arguments"
            else:
                credential = await self.credentials.get(mount.integration)
                output, outcome = await self._invoke(mount, entry, arguments, credential)
        self.metrics.observe_call(mount.slug, entry.tool.name, outcome, time.perf_counter() - started)
        return to_call_result(output, fallback_uri=f"mcphub://{mount.slug}/{entry.tool.name}")

    async def call_as(
        self, tenancy: Tenancy, principal: KeyPrincipal, mount: Mount, entry: ToolEntry, arguments: Mapping[str, Any]
    ) -> types.CallToolResult:
        """One call by an API key: policy first, then the key's user's credential, then usage."""
        started = time.perf_counter()
        integration, tool = mount.integration, entry.tool
        async with mount.use():
            try:
                await self._check(tenancy, principal, integration, tool.name)
            except PolicyError as exc:
                status: Status = "rate_limited" if exc.status == "rate_limited" else "denied"
                output, outcome = ToolOutput(text=str(exc), is_error=True), str(status)
            else:
                output, outcome = await self._invoke_as(tenancy, principal, mount, entry, arguments)
                status = _status(outcome, output)
        seconds = time.perf_counter() - started
        self.metrics.observe_call(mount.slug, tool.name, outcome, seconds)
        tenancy.usage.record(
            CallRecord(
                user_id=principal.user_id,
                key_id=principal.key_id,
                integration=mount.slug,
                tool=tool.name,
                status=status,
                latency_ms=seconds * 1000,
                upstream_status=output.upstream_status,
                request_bytes=len(orjson.dumps(arguments, default=str)),
                response_bytes=len(output.text.encode()) + len(output.binary or b""),
                arguments=arguments,
                result=None if output.is_error else output.text[:_EXCERPT],
                error=output.text[:_EXCERPT] if output.is_error else None,
            )
        )
        return to_call_result(output, fallback_uri=f"mcphub://{mount.slug}/{tool.name}")

    async def _check(self, tenancy: Tenancy, principal: KeyPrincipal, integration: Integration, tool: str) -> None:
        try:
            await tenancy.policy.check(principal, integration, tool)
        except NotConnected:
            # An admin may run on the operator's MCPHUB_CRED_* credential instead of a stored one.
            if await self._fallback(principal, integration) is None:
                raise
            await tenancy.policy.take(principal, integration)

    async def _invoke_as(
        self, tenancy: Tenancy, principal: KeyPrincipal, mount: Mount, entry: ToolEntry, arguments: Mapping[str, Any]
    ) -> tuple[ToolOutput, str]:
        """Run with the user's credential (the vault's, else an admin's operator fallback); refresh OAuth on 401."""
        integration = mount.integration
        invalid = _invalid_arguments(entry, arguments)
        if invalid is not None:
            return invalid, "invalid_arguments"  # never reaches the upstream, needs no credential
        if not integration.auth:
            return await self._invoke(mount, entry, arguments, None)
        user = tenancy.provider.for_user(principal.user_id)
        try:
            credential = await user.get(integration)
        except Exception as exc:  # an OAuth refresh that failed: the user must reconnect
            logger.warning("credential of user %s for %s unavailable: %s", principal.user_id, mount.slug, exc)
            return ToolOutput(text=f"{integration.name} credential unavailable: {exc}", is_error=True), "upstream_error"
        stored = credential is not None
        if credential is None:
            credential = await self._fallback(principal, integration)
        output, outcome = await self._invoke(mount, entry, arguments, credential)
        if output.upstream_status == 401 and stored and credential is not None and _is_oauth(integration, credential):
            try:
                fresh = await tenancy.oauth.refresh(principal.user_id, integration, failed_token=credential.token)
            except Exception as exc:
                logger.warning("refreshing %s for user %s failed: %s", mount.slug, principal.user_id, exc)
                return output, outcome
            if fresh is not None and fresh.token != credential.token:
                output, outcome = await self._invoke(mount, entry, arguments, fresh)
        return output, outcome

    async def _invoke(
        self, mount: Mount, entry: ToolEntry, arguments: Mapping[str, Any], credential: Credential | None
    ) -> tuple[ToolOutput, str]:
        """Run the package's function on validated arguments; a failing package fails its own call, never the hub."""
        tool = entry.tool
        if mount.integration.source.kind == "mcp":
            self._watch_upstreams()
        try:
            call = HubCall(tool, mount.client, credential)
            output = await mount.package.invoke(call, tool.name, _known_arguments(tool.input_schema, arguments))
        except Exception as exc:
            logger.exception("tool %s__%s raised", mount.slug, tool.name)
            text = f"{tool.name} failed inside the hub: {type(exc).__name__}: {exc}"
            return ToolOutput(text=text, is_error=True), "internal_error"
        return output, "tool_error" if output.is_error else "ok"

    # - upstream MCP servers: resources, prompts and completion proxied live -

    def _live_mounts(self, ctx: ServerRequestContext[Any, Any], visible: Visible) -> list[Mount]:
        """The visible `mcp`-kind mounts of this endpoint, whose resources and prompts come from the upstream."""
        snapshot = self.snapshot
        slug = _scope(ctx)
        mounts = [snapshot.mounts[slug]] if slug is not None and slug in snapshot.mounts else []
        if slug is None:
            mounts = list(snapshot.mounts.values())
        return [m for m in mounts if m.integration.source.kind == "mcp" and (visible is None or m.slug in visible)]

    async def _upstream_credential(self, ctx: ServerRequestContext[Any, Any], mount: Mount) -> Credential | None:
        """The caller's credential for an upstream MCP server (only HTTP upstreams with auth schemes take one)."""
        integration = mount.integration
        if not integration.auth or not integration.source.url:
            return None
        if self.tenancy is None:
            return await self.credentials.get(integration)
        principal = principal_of(ctx)
        if principal is None:
            return None
        credential = await self.tenancy.provider.for_user(principal.user_id).get(integration)
        return credential if credential is not None else await self._fallback(principal, integration)

    async def _ask(
        self,
        ctx: ServerRequestContext[Any, Any],
        mount: Mount,
        capability: str,
        request: types.ClientRequest,
        result_type: type[_ResultT],
    ) -> _ResultT | None:
        """One request to `mount`'s upstream; None when it lacks `capability`. Unreachable -> an MCPError."""
        from mcphub.runtime.upstream.executors import mcp as upstream_mcp

        self._watch_upstreams()
        credential = await self._upstream_credential(ctx, mount)
        try:
            declared = await upstream_mcp.server_capabilities(mount.client, credential)
            if getattr(declared, capability, None) is None:
                return None
            async with mount.use():
                return await upstream_mcp.upstream_request(mount.client, credential, request, result_type)
        except upstream_mcp.UpstreamUnavailable as exc:
            raise MCPError(types.INTERNAL_ERROR, f"{mount.integration.name}: {exc}") from exc

    async def _gather(
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
                result = await self._ask(ctx, mount, capability, request, result_type)
            except MCPError as exc:
                logger.warning("listing %s of %s failed: %s", request.method, mount.slug, exc.message)
                continue
            if result is not None:
                found.append((mount, result))
        return found

    def _owner_of(self, uri: str, mounts: list[Mount]) -> Mount | None:
        """The upstream mount serving `uri` on the aggregated endpoint, from what its lists showed."""
        by_slug = {m.slug: m for m in mounts}
        slug = self._live_uris.get(uri)
        if slug in by_slug:
            return by_slug[slug]
        for mount in mounts:
            if any(pattern.fullmatch(uri) for pattern in self._live_templates.get(mount.slug, [])):
                return mount
        return mounts[0] if len(mounts) == 1 else None

    async def _find_owner(self, ctx: ServerRequestContext[Any, Any], uri: str, mounts: list[Mount]) -> Mount | None:
        owner = self._owner_of(uri, mounts)
        if owner is None and mounts:
            # Not seen in a listing yet: list once (which records URIs and templates), then look again.
            await self._list_live_resources(ctx, mounts, None)
            await self._list_live_templates(ctx, mounts, None)
            owner = self._owner_of(uri, mounts)
        return owner

    async def _list_live_resources(
        self, ctx: ServerRequestContext[Any, Any], mounts: list[Mount], cursor: str | None
    ) -> tuple[list[types.Resource], str | None]:
        request = types.ListResourcesRequest(params=types.PaginatedRequestParams(cursor=cursor))
        resources: list[types.Resource] = []
        next_cursor = None
        prefixed = _scope(ctx) is None
        for mount, page in await self._gather(ctx, mounts, "resources", request, types.ListResourcesResult):
            if len(self._live_uris) > _MAX_LIVE_URIS:
                self._live_uris.clear()
            for resource in page.resources:
                self._live_uris[str(resource.uri)] = mount.slug
                if prefixed:
                    resource = resource.model_copy(update={"name": f"{mount.slug}{SEPARATOR}{resource.name}"})
                resources.append(resource)
            next_cursor = page.next_cursor if len(mounts) == 1 else None
        return resources, next_cursor

    async def _list_live_templates(
        self, ctx: ServerRequestContext[Any, Any], mounts: list[Mount], cursor: str | None
    ) -> tuple[list[types.ResourceTemplate], str | None]:
        request = types.ListResourceTemplatesRequest(params=types.PaginatedRequestParams(cursor=cursor))
        templates: list[types.ResourceTemplate] = []
        next_cursor = None
        prefixed = _scope(ctx) is None
        for mount, page in await self._gather(ctx, mounts, "resources", request, types.ListResourceTemplatesResult):
            self._live_templates[mount.slug] = [_template_pattern(t.uri_template) for t in page.resource_templates]
            for template in page.resource_templates:
                if prefixed:
                    template = template.model_copy(update={"name": f"{mount.slug}{SEPARATOR}{template.name}"})
                templates.append(template)
            next_cursor = page.next_cursor if len(mounts) == 1 else None
        return templates, next_cursor

    # - resources -

    async def _list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        snapshot = self.snapshot
        slug = _scope(ctx)
        visible = await self.visible(principal_of(ctx))
        live = self._live_mounts(ctx, visible)
        cursor = params.cursor if params is not None else None
        if slug is None:
            resources = snapshot.resources
            if visible is not None:
                resources = [r for r in resources if snapshot.resource_index[str(r.uri)][0].slug in visible]
            if not live:
                return types.ListResourcesResult(resources=resources)
            upstream, _ = await self._list_live_resources(ctx, live, None)
            return types.ListResourcesResult(resources=[*resources, *upstream])
        if live:
            upstream, next_cursor = await self._list_live_resources(ctx, live, cursor)
            return types.ListResourcesResult(resources=upstream, next_cursor=next_cursor)
        mount = snapshot.mounts.get(slug)
        shown = mount is not None and (visible is None or slug in visible)
        return types.ListResourcesResult(resources=mount.plain_resources if mount and shown else [])

    async def _list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        # Compiled packages have static resources only; upstream MCP servers' templates are listed live.
        live = self._live_mounts(ctx, await self.visible(principal_of(ctx)))
        if not live:
            return types.ListResourceTemplatesResult(resource_templates=[])
        cursor = params.cursor if params is not None and _scope(ctx) is not None else None
        templates, next_cursor = await self._list_live_templates(ctx, live, cursor)
        return types.ListResourceTemplatesResult(resource_templates=templates, next_cursor=next_cursor)

    def _not_found(self, ctx: ServerRequestContext[Any, Any], uri: str) -> MCPError:
        # -32002 is the handshake era's convention; 2026-07-28 (SEP-2164) says invalid params.
        code = types.INVALID_PARAMS if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS else _RESOURCE_NOT_FOUND
        return MCPError(code, f"Resource not found: {uri}", {"uri": uri})

    async def _read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        snapshot = self.snapshot
        slug = _scope(ctx)
        uri = str(params.uri)
        visible = await self.visible(principal_of(ctx))
        resource = None
        if slug is None:
            found = snapshot.resource_index.get(uri)
            if found is not None and (visible is None or found[0].slug in visible):
                resource = found[1]
        elif visible is None or slug in visible:
            mount = snapshot.mounts.get(slug)
            resource = mount.resources.get(uri) if mount else None
        if resource is None:
            live = self._live_mounts(ctx, visible)
            owner = await self._find_owner(ctx, uri, live) if live else None
            if owner is None:
                raise self._not_found(ctx, uri)
            request = types.ReadResourceRequest(params=types.ReadResourceRequestParams(uri=uri))
            try:
                result = await self._ask(ctx, owner, "resources", request, types.ReadResourceResult)
            except MCPError as exc:
                if exc.code in (_RESOURCE_NOT_FOUND, types.INVALID_PARAMS):
                    raise self._not_found(ctx, uri) from exc
                raise
            if result is None:
                raise self._not_found(ctx, uri)
            return types.ReadResourceResult(contents=result.contents)
        if resource.text is None:
            raise MCPError(types.INVALID_PARAMS, f"Resource {uri} has no static content to read")
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type=resource.mime_type, text=resource.text)]
        )

    async def _subscription_target(self, ctx: ServerRequestContext[Any, Any], uri: str) -> tuple[Mount, str] | None:
        """The upstream mount a subscription to `uri` goes to and the subscriber key; None for static resources."""
        visible = await self.visible(principal_of(ctx))
        snapshot = self.snapshot
        slug = _scope(ctx)
        static = snapshot.resource_index.get(uri)
        if (
            static is not None
            and (slug is None or static[0].slug == slug)
            and static[0].integration.source.kind != "mcp"
        ):
            return None  # a compiled package's resources are static: they never change, so there is nothing to send
        live = self._live_mounts(ctx, visible)
        owner = await self._find_owner(ctx, uri, live) if live else None
        if owner is None:
            raise self._not_found(ctx, uri)
        principal = principal_of(ctx)
        # One subscriber per transport session (and user): notifications go to the sessions that subscribed, only.
        key = f"{principal.user_id if principal else '-'}:{_session_key(ctx.request) or id(ctx.session)}"
        return owner, key

    async def _subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        from mcphub.runtime.upstream.executors import mcp as upstream_mcp

        session = ctx.session

        async def subscribe(mount: Mount, credential: Credential | None, uri: str, key: str) -> None:
            self._watch_upstreams()
            await upstream_mcp.subscribe(mount.client, credential, uri, key, session.send_resource_updated)

        return await self._relay_subscription(ctx, str(params.uri), subscribe)

    async def _unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        from mcphub.runtime.upstream.executors import mcp as upstream_mcp

        async def unsubscribe(mount: Mount, credential: Credential | None, uri: str, key: str) -> None:
            await upstream_mcp.unsubscribe(mount.client, credential, uri, key)

        return await self._relay_subscription(ctx, str(params.uri), unsubscribe)

    async def _relay_subscription(
        self,
        ctx: ServerRequestContext[Any, Any],
        uri: str,
        relay: Callable[[Mount, Credential | None, str, str], Awaitable[None]],
    ) -> types.EmptyResult:
        """(Un)subscribe `uri` at the upstream MCP server that owns it, as this caller's session."""
        from mcphub.runtime.upstream.executors import mcp as upstream_mcp

        target = await self._subscription_target(ctx, uri)
        if target is None:
            return types.EmptyResult()
        mount, key = target
        try:
            await relay(mount, await self._upstream_credential(ctx, mount), uri, key)
        except upstream_mcp.UpstreamUnavailable as exc:
            raise MCPError(types.INTERNAL_ERROR, f"{mount.integration.name}: {exc}") from exc
        return types.EmptyResult()

    # - logging -

    async def _set_level(
        self, ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        """logging/setLevel: the least severe level of upstream log messages relayed to this session."""
        key = _session_key(ctx.request)
        if key is not None:
            self._log_levels[key] = _LOG_LEVELS.index(params.level)
            self._log_levels.move_to_end(key)
            while len(self._log_levels) > _MAX_LOG_LEVELS:
                self._log_levels.popitem(last=False)
        return types.EmptyResult()

    # - prompts -

    def _live_prompt(
        self, ctx: ServerRequestContext[Any, Any], name: str, visible: Visible
    ) -> tuple[Mount, str] | None:
        """The upstream mount and upstream name of a prompt that no compiled package declares."""
        slug = _scope(ctx)
        if slug is None:
            slug, sep, name = name.partition(SEPARATOR)
            if not sep:
                return None
        mount = self.snapshot.mounts.get(slug)
        if mount is None or mount.integration.source.kind != "mcp" or (visible is not None and slug not in visible):
            return None
        return mount, name

    async def _complete(
        self, ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        """Argument completion: upstream MCP servers answer for theirs; compiled prompts have no value lists."""
        visible = await self.visible(principal_of(ctx))
        ref = params.ref
        target: Mount | None = None
        if isinstance(ref, types.PromptReference):
            found = self._live_prompt(ctx, ref.name, visible)
            if found is not None:
                target, name = found
                ref = ref.model_copy(update={"name": name})
        else:
            live = self._live_mounts(ctx, visible)
            target = await self._find_owner(ctx, str(ref.uri), live) if live else None
        if target is not None:
            request = types.CompleteRequest(params=params.model_copy(update={"ref": ref}))
            result = await self._ask(ctx, target, "completions", request, types.CompleteResult)
            if result is not None:
                return types.CompleteResult(completion=result.completion)
        return types.CompleteResult(completion=types.Completion(values=[], total=0, has_more=False))

    async def _list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        snapshot = self.snapshot
        slug = _scope(ctx)
        visible = await self.visible(principal_of(ctx))
        live = self._live_mounts(ctx, visible)
        upstream: list[types.Prompt] = []
        next_cursor = None
        if live:
            cursor = params.cursor if params is not None and slug is not None else None
            request = types.ListPromptsRequest(params=types.PaginatedRequestParams(cursor=cursor))
            for owner, page in await self._gather(ctx, live, "prompts", request, types.ListPromptsResult):
                for prompt in page.prompts:
                    name = prompt.name if slug is not None else f"{owner.slug}{SEPARATOR}{prompt.name}"
                    upstream.append(prompt.model_copy(update={"name": name}))
                next_cursor = page.next_cursor if slug is not None else None
        if slug is None:
            prompts = snapshot.prompts
            if visible is not None:
                prompts = [p for p in prompts if snapshot.prompt_index[p.name][0].slug in visible]
            return types.ListPromptsResult(prompts=[*prompts, *upstream])
        if live:
            return types.ListPromptsResult(prompts=upstream, next_cursor=next_cursor)
        mount = snapshot.mounts.get(slug)
        shown = mount is not None and (visible is None or slug in visible)
        return types.ListPromptsResult(prompts=mount.plain_prompts if mount and shown else [])

    async def _get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        snapshot = self.snapshot
        slug = _scope(ctx)
        visible = await self.visible(principal_of(ctx))
        prompt = None
        if slug is None:
            found = snapshot.prompt_index.get(params.name)
            if found is not None and (visible is None or found[0].slug in visible):
                prompt = found[1]
        elif visible is None or slug in visible:
            mount = snapshot.mounts.get(slug)
            prompt = mount.prompts.get(params.name) if mount else None
        if prompt is None:
            live = self._live_prompt(ctx, params.name, visible)
            if live is not None:
                # Proxied live: the upstream's messages (images, embedded resources, ...) pass through as they are.
                mount, name = live
                request = types.GetPromptRequest(
                    params=types.GetPromptRequestParams(name=name, arguments=params.arguments)
                )
                result = await self._ask(ctx, mount, "prompts", request, types.GetPromptResult)
                if result is not None:
                    return types.GetPromptResult(description=result.description, messages=result.messages)
            raise MCPError(types.INVALID_PARAMS, f"Unknown prompt: {params.name}")
        values = dict(params.arguments or {})
        missing = [a.name for a in prompt.arguments if a.required and a.name not in values]
        if missing:
            raise MCPError(types.INVALID_PARAMS, f"Prompt {params.name} needs the argument(s): {', '.join(missing)}")
        # Only declared {placeholders} are replaced; nothing in an argument value is interpreted.
        text = _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), prompt.template)
        return types.GetPromptResult(
            description=prompt.description or None,
            messages=[types.PromptMessage(role="user", content=types.TextContent(text=text))],
        )


def _template_pattern(template: str) -> re.Pattern[str]:
    """A URI template (RFC 6570, simple `{var}` expansions) as a pattern matching the URIs it expands to."""
    parts = re.split(r"(\{[^}]*\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p))


def _invalid_arguments(entry: ToolEntry, arguments: Mapping[str, Any]) -> ToolOutput | None:
    """The tool error for arguments that do not match the tool's schema (nothing is sent), or None."""
    problems = entry.validate(arguments)
    if not problems:
        return None
    text = f"Invalid arguments for {entry.tool.name}: " + "; ".join(problems) + ". Nothing was sent."
    return ToolOutput(text=text, is_error=True)


def _status(outcome: str, output: ToolOutput) -> Status:
    """The usage status of a call that reached the package: the upstream failing is not the caller's error."""
    if outcome == "ok":
        return "ok"
    if outcome == "internal_error" or (
        outcome == "tool_error" and (output.upstream_status is None or output.upstream_status >= 500)
    ):
        return "upstream_error"
    return "tool_error"


def _is_oauth(integration: Integration, credential: Credential) -> bool:
    schemes = [s for s in integration.auth if credential.scheme is None or s.id == credential.scheme]
    return bool(credential.token) and any(s.type in ("oauth2", "openid_connect") for s in schemes)


def _known_arguments(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> Mapping[str, Any]:
    """Drop keys the schema doesn't declare: generated functions take declared keywords only."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or all(key in properties for key in arguments):
        return arguments
    return {key: value for key, value in arguments.items() if key in properties}
