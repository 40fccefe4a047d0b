"""The one MCP server: every mounted package behind one set of list/call handlers.

Tools, resources and prompts of all integrations are served aggregated (`<slug>__<tool>`) on
`/mcp` and `/sse`, and unprefixed on `/mcp/<slug>`; the handlers read which one from the HTTP
route of the request (`ctx.request.path_params["slug"]`). The handlers only read the catalog's
current `Snapshot`, whose MCP objects were built at mount time, so listing costs no per-request
construction. A tool call goes through the one `CallPipeline` (`pipeline.py`) under the hub's `Access`
(`access.py`); failures of the upstream or the package are tool errors, never protocol errors.

This module is the server surface: it registers the handlers and answers with what its parts give it —
`sessions.ListChanges` (sessions and list-changed fan-out), `toollist.ToolLists` (the tools/list cache),
`pipeline.CallPipeline`, `relay.LiveRelay`/`relay.CallRelay` (upstream MCP servers' features, live).

Change notifications after a reload reach clients of both protocol eras: handshake-era sessions
(streamable HTTP and SSE) get `notifications/*/list_changed` on their standalone stream, and
2026-07-28 clients get the events on their `subscriptions/listen` streams. So do an upstream MCP
server's own prompt and resource list changes (the hub lists those live), for the users who have that
integration enabled. An upstream's tool list change is not passed on: the hub serves the tools
compiled and reviewed at build time, so its list did not change (an upstream cannot add tools behind
the admin's back); recompiling picks the new tools up, and that reload notifies.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import mcp_types as types
import orjson
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    PromptsListChanged,
    ResourcesListChanged,
    SubscriptionBus,
)
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import MISSING_REQUIRED_CLIENT_CAPABILITY
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel

from mcphub.runtime.catalog import SEPARATOR, Catalog, Mount, ReloadReport, Snapshot, ToolEntry
from mcphub.runtime.mcp.access import Access, SingleUserAccess, TenancyAccess, Visible
from mcphub.runtime.mcp.context import endpoint_slug, principal_of, route_view, session_key
from mcphub.runtime.mcp.metrics import HubMetrics
from mcphub.runtime.mcp.pipeline import CallPipeline
from mcphub.runtime.mcp.relay import LOG_LEVELS, CallRelay, LiveRelay, live_of
from mcphub.runtime.mcp.replicas import Owner, SessionChannel
from mcphub.runtime.mcp.searchview import AUTO_BUDGET_TOKENS, META_NAMES, META_TOOL_OBJECTS, SearchView, call_target
from mcphub.runtime.mcp.sessions import ListChanges
from mcphub.runtime.mcp.toollist import ToolListPage, ToolLists, tools_for
from mcphub.runtime.tenancy.accounts import KeyPrincipal
from mcphub.runtime.upstream.credentials import Credential, CredentialProvider, EnvCredentialProvider
from mcphub.runtime.upstream.executors.base import UpstreamUnavailable

if TYPE_CHECKING:
    from mcphub.runtime.upstream.client import UpstreamClient

if TYPE_CHECKING:
    from mcphub.runtime.tenancy.services import Tenancy

__all__ = ["Hub"]

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
_RESOURCE_NOT_FOUND = -32002
_ResultT = TypeVar("_ResultT", bound=BaseModel)


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


# The upstream list changes that change the hub's lists too (it lists upstream prompts and resources live).
_UPSTREAM_EVENTS: dict[str, type[PromptsListChanged | ResourcesListChanged]] = {
    "notifications/prompts/list_changed": PromptsListChanged,
    "notifications/resources/list_changed": ResourcesListChanged,
}


class Hub:
    """The MCP server over a `Catalog`, with metrics and change notifications.

    Every request is served through an `Access`. With a `Tenancy` attached (`attach`, as the app does at
    startup) that is `TenancyAccess`: every request acts as the API key `KeyAuthMiddleware` authenticated, lists
    show only the integrations the key's user has enabled and connected and the key's scope admits, calls pass
    the policy checks first, use that user's credential and are recorded as usage. Until then (embedding,
    in-process tests of the runtime) it is `SingleUserAccess`: everything, with the configured credential provider.
    Tool calls of both the SDK path and the fast path run through one `CallPipeline`.
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
        search_cache: Path | None = None,
    ) -> None:
        self.catalog = catalog
        # Without accounts: everyone's credential. With accounts: the operator's fallback, for admins only.
        self.credentials = credentials if credentials is not None else EnvCredentialProvider()
        self.metrics = metrics if metrics is not None else HubMetrics()
        self.access: Access = SingleUserAccess(self.credentials)
        self.pipeline = CallPipeline(self.metrics)
        self.changes = ListChanges(bus if bus is not None else InMemorySubscriptionBus())
        self.sessions = self.changes.sessions
        # Log levels set by handshake-era sessions (logging/setLevel) are kept by the session channel (shared by
        # every replica through Redis); before the app attaches one (embedding, in-process tests), by this one.
        self._local_channel = SessionChannel(None, "mcphub")
        # Upstream MCP servers' resources, prompts and completion, asked live.
        self.live = LiveRelay(lambda: self.catalog.snapshot, lambda: self.access)
        with warnings.catch_warnings():
            # logging/setLevel is deprecated in 2026-07-28 (the SDK warns); handshake-era clients still use it.
            warnings.simplefilter("ignore")
            self.server = self._build_server(name, version)
        self.server.middleware.append(self._track_session)
        self.server.middleware.append(self._serve_tool_list)
        # tools/list answered from wire-ready dicts, built once per snapshot and
        # (endpoint, protocol version, visible integrations, key scope): per visible set, not per user.
        self.tool_lists = ToolLists()
        # The search view's index (one per snapshot, built on its first search; vectors cached in `search_cache`).
        self.search = SearchView(cache_dir=search_cache)
        # Upstream MCP servers' own list changes (`on_upstream_list_changed`), from the catalog's executors.
        catalog.executors.add_list_listener(self)
        # Messages about one handshake-era session that every replica must see (set by the app while it runs).
        self.session_channel: SessionChannel | None = None

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
        self.access = TenancyAccess(tenancy, self.credentials)
        tenancy.integrations.subscribe(self.notify_user)

    def detach(self) -> None:
        self.access = SingleUserAccess(self.credentials)
        self.changes.forget_users()

    async def visible(self, principal: KeyPrincipal | None) -> Visible:
        """The slugs this caller may see (None: everything)."""
        return await self.access.visible(principal, (mount.integration for mount in self.snapshot.mounts.values()))

    async def notify_user(self, user_id: int) -> None:
        """A user's integrations changed: tell that user's open sessions and listen streams (both eras)."""
        await self.changes.to_user(user_id)

    async def _listen(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscriptionsListenRequestParams
    ) -> types.SubscriptionsListenResult:
        return await self.changes.listen_as(ctx, params, self.access.per_user(principal_of(ctx)))

    # - catalog -

    @property
    def snapshot(self) -> Snapshot:
        return self.catalog.snapshot

    async def reload(self, *, audience: Callable[[ReloadReport], set[int] | None] | None = None) -> ReloadReport:
        """Rescan the catalog; when anything changed, tell connected clients of both eras.

        `audience(report)` may narrow who hears it to some users (None: everyone), e.g. the owner of a private
        built integration that was deployed."""
        report = await self.catalog.reload()
        snapshot = self.catalog.snapshot
        self.metrics.packages.set(len(snapshot.mounts))
        self.metrics.tools.set(snapshot.tool_count())
        self.metrics.reloads.labels("partial" if report.errors else "ok").inc()
        if report.changed:
            users = audience(report) if audience is not None else None
            if users is None:
                await self.notify_lists_changed()
            else:
                for user_id in sorted(users):
                    await self.notify_user(user_id)
        return report

    async def notify_lists_changed(self) -> None:
        await self.changes.to_everyone()

    # - upstream MCP servers' own list changes -

    async def on_upstream_list_changed(self, slug: str, method: str, clients: frozenset[UpstreamClient]) -> None:
        """An upstream MCP server of `slug` changed a list: tell who sees it, when the hub's own list changed too.

        Prompts and resources of `mcp`-kind integrations are listed live, so their change is the hub's change.
        Tools are not: the hub serves the compiled ones, and its tool list stays what it was.
        """
        mount = self.snapshot.mounts.get(slug)
        if mount is None or mount.client not in clients or method not in _UPSTREAM_EVENTS:
            return  # another hub's upstream, a retired mount, or the tool list (unchanged here)
        channel = self.session_channel
        if channel is not None and channel.shared:
            # Each replica has its own session with the upstream, and an upstream may announce a change to the
            # session that caused it only: every replica tells the streams it holds (this one included).
            await channel.lists_changed(slug, method)
            return
        await self.upstream_list_changed(slug, method)

    async def upstream_list_changed(self, slug: str, method: str) -> None:
        """Tell the sessions and listen streams held here that `slug`'s upstream changed a list (`method`)."""
        if slug not in self.snapshot.mounts or method not in _UPSTREAM_EVENTS:
            return
        # Only the users who may see the integration: nobody learns of another user's integrations.
        audience = await self.access.audience(slug, self.changes.users())
        await self.changes.one_list(method, _UPSTREAM_EVENTS[method](), audience)

    async def _relayed_list_change(self, slug: str, payload: bytes) -> None:
        await self.upstream_list_changed(slug, payload.decode())

    def attach_channel(self, channel: SessionChannel | None) -> None:
        """The replicas' session channel of the running app (None: detached)."""
        if self.session_channel is not None:
            self.session_channel.handlers.pop("lists", None)
        self.session_channel = channel
        if channel is not None:
            channel.handlers["lists"] = self._relayed_list_change

    def session_restored(self, session_id: str, session: ServerSession, owner: Owner | None) -> None:
        """A session sealed elsewhere (another replica, or before a restart) is held here now: register it, so
        list changes reach its GET stream if that is here."""
        subject = owner[2] if owner is not None else None
        user_id = int(subject) if subject is not None and subject.isdigit() else None
        self.sessions.touch(f"http:{session_id}", session, user_id)

    async def session_notified(self, session_id: str, payload: bytes) -> None:
        """A standalone-stream notification for a session this replica holds (from any replica)."""
        session = self.sessions.get(f"http:{session_id}")
        message = orjson.loads(payload)
        if session is None or message.get("method") != "notifications/resources/updated":
            return
        try:
            await session.send_resource_updated(str(message["params"]["uri"]))
        except Exception:  # a closed stream: the registry forgets it on the next broadcast
            logger.debug("could not pass a resource update on to session %s", session_id[:16], exc_info=True)

    async def _track_session(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            key = session_key(ctx.request)
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
        page = await self.tool_list_page(endpoint_slug(ctx), version, principal_of(ctx), route_view(ctx.request))
        return dict(page.result)

    async def tool_list_page(
        self, slug: str | None, version: str, principal: KeyPrincipal | None, route: str | None = None
    ) -> ToolListPage:
        """The tools/list result of an endpoint (`/mcp`, `/mcp/search` or `/mcp/<slug>`) for a caller, as a dict
        and as JSON: the caller's tools, or the search view's meta-tools (`route`: the view the route imposes)."""
        flat, search = await self._lists(slug, version, principal, route)
        return self.tool_lists.search_page(self.snapshot, version, self.server.server_info_stamp) if search else flat

    async def _lists(
        self, slug: str | None, version: str, principal: KeyPrincipal | None, route: str | None
    ) -> tuple[ToolListPage, bool]:
        """The caller's own (flat) tool list, and whether this request is served the search view instead."""
        return self._view(slug, version, principal, route, await self.visible(principal))

    def _view(
        self,
        slug: str | None,
        version: str,
        principal: KeyPrincipal | None,
        route: str | None,
        visible: Visible,
    ) -> tuple[ToolListPage, bool]:
        key_scope = principal.scope if principal is not None and visible is not None else None
        flat = self.tool_lists.page(self.snapshot, slug, version, visible, key_scope, self.server.server_info_stamp)
        if slug is not None:
            return flat, False  # /mcp/<slug> is one integration, asked for by name: always its tools
        view = route or (principal.view if principal is not None else "flat")
        if view == "auto":
            return flat, len(flat.json) / 4 > AUTO_BUDGET_TOKENS
        return flat, view == "search"

    async def meta_call(
        self,
        principal: KeyPrincipal | None,
        slug: str | None,
        version: str,
        route: str | None,
        name: str,
        arguments: Mapping[str, Any],
    ) -> types.CallToolResult | tuple[Mount, ToolEntry, Mapping[str, Any]] | None:
        """A search-view meta-tool call: its answer, or for call_tool the real tool to run (through `call`, so
        policy, validation, credential, usage and logs are a direct call's). None: not a meta-tool call here."""
        if slug is not None or name not in META_NAMES:
            return None
        flat, search = await self._lists(slug, version, principal, route)
        if not search:
            return None
        snapshot = self.snapshot
        # The caller's own tools (its list, and its integrations' `search: all` operations): search and describe
        # never reveal a tool the caller cannot call.
        answer = await self.search.answer(snapshot, name, arguments, flat.searchable)
        return call_target(snapshot, answer, arguments) if isinstance(answer, str) else answer

    def _input_schema(self, name: str) -> Mapping[str, Any] | None:
        found = self.snapshot.tool_index.get(name)
        return found[1].tool.input_schema if found else None

    def resolve_tool(self, snapshot: Snapshot, slug: str | None, name: str) -> tuple[Mount, ToolEntry] | None:
        """The mount and tool an endpoint (`/mcp`: prefixed names, `/mcp/<slug>`: the integration's) calls `name`."""
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
        slug = endpoint_slug(ctx)
        visible = await self.visible(principal)
        _, search = self._view(slug, ctx.protocol_version, principal, route_view(ctx.request), visible)
        if search:
            return types.ListToolsResult(tools=list(META_TOOL_OBJECTS))
        key_scope = principal.scope if principal is not None and visible is not None else None
        return types.ListToolsResult(tools=tools_for(self.snapshot, slug, visible, key_scope))

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        slug = endpoint_slug(ctx)
        arguments: Mapping[str, Any] = params.arguments or {}
        meta = None
        if slug is None and params.name in META_NAMES:
            if not self.access.admits(principal_of(ctx)):
                raise MCPError(types.INVALID_REQUEST, "an API key is required (Authorization: Bearer mcp_sk_…)")
            route = route_view(ctx.request)
            meta = await self.meta_call(principal_of(ctx), slug, ctx.protocol_version, route, params.name, arguments)
        if isinstance(meta, types.CallToolResult):
            return meta
        if meta is not None:
            mount, entry, arguments = meta
        else:
            found = self.resolve_tool(self.snapshot, slug, params.name)
            if found is None:
                raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
            mount, entry = found
        live = mount.executor.live
        if live is None:
            return await self._dispatch(ctx, mount, entry, arguments)
        # Proxied upstream MCP tools relay what the upstream does during the call to this call's client only.
        relay = CallRelay(ctx, await self._log_floor(ctx))
        with live.relay_to(relay):
            result = await self._dispatch(ctx, mount, entry, arguments)
        if relay.missing is not None:
            raise MCPError(
                MISSING_REQUIRED_CLIENT_CAPABILITY,
                f"{params.name if meta is None else entry.prefixed.name} needs the client capability {relay.missing!r}, which this request did not declare",
                {"requiredCapabilities": {relay.missing: {}}},
            )
        return result

    async def _dispatch(
        self, ctx: ServerRequestContext[Any, Any], mount: Mount, entry: ToolEntry, arguments: Mapping[str, Any]
    ) -> types.CallToolResult:
        principal = principal_of(ctx)
        if not self.access.admits(principal):
            raise MCPError(types.INVALID_REQUEST, "an API key is required (Authorization: Bearer mcp_sk_…)")
        return await self.call(principal, mount, entry, arguments)

    async def call(
        self, principal: KeyPrincipal | None, mount: Mount, entry: ToolEntry, arguments: Mapping[str, Any]
    ) -> types.CallToolResult:
        """One tool call by a caller the access admits (the SDK path and the fast path both come here)."""
        return await self.pipeline.call(self.access, principal, mount, entry, arguments)

    # - upstream MCP servers: resources, prompts and completion proxied live -

    # - resources -

    async def _list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        snapshot = self.snapshot
        slug = endpoint_slug(ctx)
        visible = await self.visible(principal_of(ctx))
        live = self.live.mounts(ctx, visible)
        cursor = params.cursor if params is not None else None
        if slug is None:
            resources = snapshot.resources
            if visible is not None:
                resources = [r for r in resources if snapshot.resource_index[str(r.uri)][0].slug in visible]
            if not live:
                return types.ListResourcesResult(resources=resources)
            upstream, _ = await self.live.list_resources(ctx, live, None)
            return types.ListResourcesResult(resources=[*resources, *upstream])
        if live:
            upstream, next_cursor = await self.live.list_resources(ctx, live, cursor)
            return types.ListResourcesResult(resources=upstream, next_cursor=next_cursor)
        mount = snapshot.mounts.get(slug)
        shown = mount is not None and (visible is None or slug in visible)
        return types.ListResourcesResult(resources=mount.plain_resources if mount and shown else [])

    async def _list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        # Compiled packages have static resources only; upstream MCP servers' templates are listed live.
        live = self.live.mounts(ctx, await self.visible(principal_of(ctx)))
        if not live:
            return types.ListResourceTemplatesResult(resource_templates=[])
        cursor = params.cursor if params is not None and endpoint_slug(ctx) is not None else None
        templates, next_cursor = await self.live.list_templates(ctx, live, cursor)
        return types.ListResourceTemplatesResult(resource_templates=templates, next_cursor=next_cursor)

    def _not_found(self, ctx: ServerRequestContext[Any, Any], uri: str) -> MCPError:
        # -32002 is the handshake era's convention; 2026-07-28 (SEP-2164) says invalid params.
        code = types.INVALID_PARAMS if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS else _RESOURCE_NOT_FOUND
        return MCPError(code, f"Resource not found: {uri}", {"uri": uri})

    async def _read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        snapshot = self.snapshot
        slug = endpoint_slug(ctx)
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
            live = self.live.mounts(ctx, visible)
            owner = await self.live.find_owner(ctx, uri, live) if live else None
            if owner is None:
                raise self._not_found(ctx, uri)
            request = types.ReadResourceRequest(params=types.ReadResourceRequestParams(uri=uri))
            try:
                result = await self.live.ask(ctx, owner, "resources", request, types.ReadResourceResult)
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
        slug = endpoint_slug(ctx)
        static = snapshot.resource_index.get(uri)
        if static is not None and (slug is None or static[0].slug == slug) and static[0].executor.live is None:
            return None  # a compiled package's resources are static: they never change, so there is nothing to send
        live = self.live.mounts(ctx, visible)
        owner = await self.live.find_owner(ctx, uri, live) if live else None
        if owner is None:
            raise self._not_found(ctx, uri)
        principal = principal_of(ctx)
        # One subscriber per transport session (and user): notifications go to the sessions that subscribed, only.
        key = f"{principal.user_id if principal else '-'}:{session_key(ctx.request) or id(ctx.session)}"
        return owner, key

    async def _subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        session = ctx.session
        updated: Callable[[str], Awaitable[None]] = session.send_resource_updated
        channel = self.session_channel
        session_id = ctx.request.headers.get("mcp-session-id") if ctx.request is not None else None
        if channel is not None and channel.shared and session_id:
            # The session's GET stream may be on another replica: the update goes to whichever holds it.
            def updated_anywhere(sid: str, on: SessionChannel) -> Callable[[str], Awaitable[None]]:
                async def send(uri: str) -> None:
                    # The executor forgets a subscriber whose notify fails: a closed session, or one that
                    # unsubscribed (or subscribed again) through another replica since.
                    if on.known_ended(sid) or not await on.passes_updates(sid, uri):
                        raise LookupError("the session no longer takes this resource's updates from this replica")
                    message = {"method": "notifications/resources/updated", "params": {"uri": uri}}
                    await on.notify(sid, orjson.dumps(message))

                return send

            updated = updated_anywhere(session_id, channel)
            await channel.subscribed_here(session_id, str(params.uri))

        async def subscribe(mount: Mount, credential: Credential | None, uri: str, key: str) -> None:
            await live_of(mount).subscribe(credential, uri, key, updated)

        return await self._relay_subscription(ctx, str(params.uri), subscribe)

    async def _unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        async def unsubscribe(mount: Mount, credential: Credential | None, uri: str, key: str) -> None:
            await live_of(mount).unsubscribe(credential, uri, key)

        channel = self.session_channel
        session_id = ctx.request.headers.get("mcp-session-id") if ctx.request is not None else None
        if channel is not None and channel.shared and session_id:
            # The subscribe may have gone through another replica: it stops passing the updates on.
            await channel.unsubscribed(session_id, str(params.uri))

        return await self._relay_subscription(ctx, str(params.uri), unsubscribe)

    async def _relay_subscription(
        self,
        ctx: ServerRequestContext[Any, Any],
        uri: str,
        relay: Callable[[Mount, Credential | None, str, str], Awaitable[None]],
    ) -> types.EmptyResult:
        """(Un)subscribe `uri` at the upstream MCP server that owns it, as this caller's session."""
        target = await self._subscription_target(ctx, uri)
        if target is None:
            return types.EmptyResult()
        mount, key = target
        try:
            await relay(mount, await self.live.credential(ctx, mount), uri, key)
        except UpstreamUnavailable as exc:
            raise MCPError(types.INTERNAL_ERROR, f"{mount.integration.name}: {exc}") from exc
        return types.EmptyResult()

    # - logging -

    async def _set_level(
        self, ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        """logging/setLevel: the least severe level of upstream log messages relayed to this session."""
        key = session_key(ctx.request)
        if key is not None:
            # Any replica may serve the session's next call: the level is kept where all of them read it.
            await self._levels().set_level(key, LOG_LEVELS.index(params.level))
        return types.EmptyResult()

    def _levels(self) -> SessionChannel:
        return self.session_channel if self.session_channel is not None else self._local_channel

    async def _log_floor(self, ctx: ServerRequestContext[Any, Any]) -> int:
        """The least severe level (index in LOG_LEVELS) of upstream log messages this call's session wants relayed:
        what it set with logging/setLevel, on whichever replica; 0 (everything) if it set none. 2026-07-28 requests
        say it in their own _meta instead (`CallRelay.log`)."""
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return 0
        key = session_key(ctx.request)
        level = await self._levels().level(key) if key is not None else None
        return level if level is not None else 0

    # - prompts -

    async def _complete(
        self, ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        """Argument completion: upstream MCP servers answer for theirs; compiled prompts have no value lists."""
        visible = await self.visible(principal_of(ctx))
        ref = params.ref
        target: Mount | None = None
        if isinstance(ref, types.PromptReference):
            found = self.live.prompt(ctx, ref.name, visible)
            if found is not None:
                target, name = found
                ref = ref.model_copy(update={"name": name})
        else:
            live = self.live.mounts(ctx, visible)
            target = await self.live.find_owner(ctx, str(ref.uri), live) if live else None
        if target is not None:
            request = types.CompleteRequest(params=params.model_copy(update={"ref": ref}))
            result = await self.live.ask(ctx, target, "completions", request, types.CompleteResult)
            if result is not None:
                return types.CompleteResult(completion=result.completion)
        return types.CompleteResult(completion=types.Completion(values=[], total=0, has_more=False))

    async def _list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        snapshot = self.snapshot
        slug = endpoint_slug(ctx)
        visible = await self.visible(principal_of(ctx))
        live = self.live.mounts(ctx, visible)
        upstream: list[types.Prompt] = []
        next_cursor = None
        if live:
            cursor = params.cursor if params is not None and slug is not None else None
            request = types.ListPromptsRequest(params=types.PaginatedRequestParams(cursor=cursor))
            for owner, page in await self.live.gather(ctx, live, "prompts", request, types.ListPromptsResult):
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
        slug = endpoint_slug(ctx)
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
            live = self.live.prompt(ctx, params.name, visible)
            if live is not None:
                # Proxied live: the upstream's messages (images, embedded resources, ...) pass through as they are.
                mount, name = live
                request = types.GetPromptRequest(
                    params=types.GetPromptRequestParams(name=name, arguments=params.arguments)
                )
                result = await self.live.ask(ctx, mount, "prompts", request, types.GetPromptResult)
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
