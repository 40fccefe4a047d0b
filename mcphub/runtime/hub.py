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
2026-07-28 clients get the events on their `subscriptions/listen` streams.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
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
from mcp_types import SERVER_INFO_META_KEY, methods
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import TypeAdapter

from mcphub.compiler.ir import Integration
from mcphub.runtime.accounts import KeyPrincipal
from mcphub.runtime.catalog import SEPARATOR, Catalog, Mount, ReloadReport, Snapshot, ToolEntry
from mcphub.runtime.credentials import Credential, CredentialProvider, EnvCredentialProvider
from mcphub.runtime.http import HubCall
from mcphub.runtime.metrics import HubMetrics
from mcphub.runtime.package import ToolOutput
from mcphub.runtime.policy import NotConnected, PolicyError
from mcphub.runtime.usage import CallRecord, Status

if TYPE_CHECKING:
    from mcphub.runtime.tenancy import Tenancy

__all__ = ["Hub", "SessionRegistry", "principal_of", "to_call_result"]

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
_RESOURCE_NOT_FOUND = -32002
_CONTENT_BLOCK: TypeAdapter[types.ContentBlock] = TypeAdapter(types.ContentBlock)


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
_MAX_CACHED_LISTS = 512  # distinct (endpoint, version, visible set, key scope) tool lists kept per snapshot
_EXCERPT = 4000  # characters of a result kept for the call log (usage redacts, then cuts further)

Visible = frozenset[str] | None  # slugs a caller may see; None: everything (a hub without accounts)


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
        self.server = _HubServer(
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
            on_subscriptions_listen=self._listen,
        )
        self.server.middleware.append(self._track_session)
        self.server.middleware.append(self._serve_tool_list)
        # tools/list answered from wire-ready dicts, built once per snapshot and
        # (endpoint, protocol version, visible integrations, key scope): per visible set, not per user.
        self._tool_lists: tuple[Snapshot, dict[tuple[Any, ...], dict[str, Any]]] = (Snapshot(), {})

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

    async def _track_session(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            key = _session_key(ctx.request)
            if key is not None:
                principal = principal_of(ctx)
                self.sessions.touch(key, ctx.session, principal.user_id if principal else None)
        return await call_next(ctx)

    # - tools -

    async def _serve_tool_list(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Answer an unpaginated tools/list from a cached wire dict.

        The SDK would validate and re-serialise the whole result per request (~15 ms for 500 tools);
        the catalog only changes on reload, and every key with the same visible integrations and scope
        sees the same list, so that work is done once per snapshot and visible set. A middleware result
        is sent as is, so it must be exactly what `_serialize` would produce: the per-version sieved
        result, plus the 2026-07-28 `serverInfo` stamp.
        """
        if ctx.method != "tools/list" or ctx.request_id is None or (ctx.params or {}).get("cursor") is not None:
            return await call_next(ctx)
        version = ctx.protocol_version
        if version not in MODERN_PROTOCOL_VERSIONS and ctx.session.client_params is None:
            return await call_next(ctx)  # before the handshake: the SDK owns the error
        snapshot = self.snapshot
        cached_for, pages = self._tool_lists
        if cached_for is not snapshot:
            pages = {}
            self._tool_lists = (snapshot, pages)
        principal = principal_of(ctx)
        visible = await self.visible(principal)
        key_scope = principal.scope if principal is not None and visible is not None else None
        slug = _scope(ctx)
        key = (slug, version, visible, key_scope)
        page = pages.get(key)
        if page is None:
            listing = types.ListToolsResult(tools=self._tools_for(snapshot, slug, visible, key_scope))
            page = methods.serialize_server_result(
                "tools/list", version, listing.model_dump(by_alias=True, mode="json", exclude_none=True)
            )
            if len(pages) >= _MAX_CACHED_LISTS:
                pages.clear()
            pages[key] = page
        if version in MODERN_PROTOCOL_VERSIONS:
            return {**page, "_meta": {SERVER_INFO_META_KEY: self.server.server_info_stamp}}
        return dict(page)

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
        # Proxied upstream MCP tools relay their progress to this call's client.
        from mcphub.runtime import upstream_mcp

        token = upstream_mcp.progress_forwarder.set(ctx.session.report_progress)
        try:
            return await self._dispatch(ctx, mount, entry, arguments)
        finally:
            upstream_mcp.progress_forwarder.reset(token)

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
            credential = None
            if not entry.validate(arguments):
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
                request_bytes=len(json.dumps(arguments, default=str)),
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
        if entry.validate(arguments) or not integration.auth:
            # Invalid arguments never reach the upstream; an integration without auth schemes has no credential:
            # neither needs the vault read (a database query) that every other call pays.
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
        """Validate, then run the package's function; a failing package fails its own call, never the hub."""
        tool = entry.tool
        problems = entry.validate(arguments)
        if problems:
            text = f"Invalid arguments for {tool.name}: " + "; ".join(problems) + ". Nothing was sent."
            return ToolOutput(text=text, is_error=True), "invalid_arguments"
        try:
            call = HubCall(tool, mount.client, credential)
            output = await mount.package.invoke(call, tool.name, _known_arguments(tool.input_schema, arguments))
        except Exception as exc:
            logger.exception("tool %s__%s raised", mount.slug, tool.name)
            text = f"{tool.name} failed inside the hub: {type(exc).__name__}: {exc}"
            return ToolOutput(text=text, is_error=True), "internal_error"
        return output, "tool_error" if output.is_error else "ok"

    # - resources -

    async def _list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        snapshot = self.snapshot
        slug = _scope(ctx)
        visible = await self.visible(principal_of(ctx))
        if slug is None:
            resources = snapshot.resources
            if visible is not None:
                resources = [r for r in resources if snapshot.resource_index[str(r.uri)][0].slug in visible]
            return types.ListResourcesResult(resources=resources)
        mount = snapshot.mounts.get(slug)
        shown = mount is not None and (visible is None or slug in visible)
        return types.ListResourcesResult(resources=mount.plain_resources if mount and shown else [])

    async def _list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[])  # the IR has static resources only

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
            # -32002 is the handshake era's convention; 2026-07-28 (SEP-2164) says invalid params.
            code = types.INVALID_PARAMS if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS else _RESOURCE_NOT_FOUND
            raise MCPError(code, f"Resource not found: {uri}", {"uri": uri})
        if resource.text is None:
            raise MCPError(types.INVALID_PARAMS, f"Resource {uri} has no static content to read")
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type=resource.mime_type, text=resource.text)]
        )

    # - prompts -

    async def _complete(
        self, ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        """Argument completion: prompts declare no value lists, so every suggestion list is empty."""
        return types.CompleteResult(completion=types.Completion(values=[], total=0, has_more=False))

    async def _list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        snapshot = self.snapshot
        slug = _scope(ctx)
        visible = await self.visible(principal_of(ctx))
        if slug is None:
            prompts = snapshot.prompts
            if visible is not None:
                prompts = [p for p in prompts if snapshot.prompt_index[p.name][0].slug in visible]
            return types.ListPromptsResult(prompts=prompts)
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
