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
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

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

from mcphub.runtime.catalog import Catalog, Mount, ReloadReport, Snapshot, ToolEntry
from mcphub.runtime.credentials import CredentialProvider, EnvCredentialProvider
from mcphub.runtime.http import HubCall
from mcphub.runtime.metrics import HubMetrics
from mcphub.runtime.package import ToolOutput

__all__ = ["Hub", "SessionRegistry", "to_call_result"]

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
    """Handshake-era sessions seen recently, so a reload can tell them the lists changed.

    Keyed by transport session id (`Mcp-Session-Id`, or the SSE `session_id`); holds the SDK's
    `ServerSession` of a request on that session, whose non-request-scoped notifications travel on
    the session's standalone stream. Entries go when sending to them fails, when idle longer than
    `idle_s`, or oldest-first past `capacity`.
    """

    def __init__(self, *, capacity: int = 10_000, idle_s: float = 1800.0) -> None:
        self._entries: OrderedDict[str, tuple[ServerSession, float]] = OrderedDict()
        self._capacity = capacity
        self._idle_s = idle_s

    def __len__(self) -> int:
        return len(self._entries)

    def touch(self, key: str, session: ServerSession) -> None:
        now = time.monotonic()
        if key in self._entries:
            self._entries[key] = (self._entries[key][0], now)
            self._entries.move_to_end(key)
            return
        self._entries[key] = (session, now)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def _prune(self) -> None:
        horizon = time.monotonic() - self._idle_s
        for key in [k for k, (_, seen) in self._entries.items() if seen < horizon]:
            del self._entries[key]

    async def broadcast(self, methods: list[str]) -> int:
        """Send each notification method to every live session; returns how many sessions were reached."""
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
            except Exception:  # a closed or stuck stream: forget the session, never fail the reload
                logger.debug("dropping session %s from the notification registry", key[:16], exc_info=True)
                dead.append(key)

        async with anyio.create_task_group() as tg:
            for key, (session, _) in list(self._entries.items()):
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


class Hub:
    """The MCP server over a `Catalog`, with metrics and change notifications."""

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
        self.credentials = credentials if credentials is not None else EnvCredentialProvider()
        self.metrics = metrics if metrics is not None else HubMetrics()
        self.bus = bus if bus is not None else InMemorySubscriptionBus()
        self.sessions = SessionRegistry()
        self.listen = ListenHandler(self.bus)
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
            on_subscriptions_listen=self.listen,
        )
        self.server.middleware.append(self._track_session)
        self.server.middleware.append(self._serve_tool_list)
        # tools/list answered from wire-ready dicts, built once per (snapshot, endpoint, protocol version).
        self._tool_lists: tuple[Snapshot, dict[tuple[str | None, str], dict[str, Any]]] = (Snapshot(), {})

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
        await self.sessions.broadcast(list(_NOTIFICATIONS))
        for event in (ToolsListChanged(), ResourcesListChanged(), PromptsListChanged()):
            await self.bus.publish(event)

    async def _track_session(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            key = _session_key(ctx.request)
            if key is not None:
                self.sessions.touch(key, ctx.session)
        return await call_next(ctx)

    # - tools -

    async def _serve_tool_list(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Answer an unpaginated tools/list from a cached wire dict.

        The SDK would validate and re-serialise the whole result per request (~15 ms for 500 tools);
        the catalog only changes on reload, so that work is done once per snapshot. A middleware
        result is sent as is, so it must be exactly what `_serialize` would produce: the per-version
        sieved result, plus the 2026-07-28 `serverInfo` stamp.
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
        key = (_scope(ctx), version)
        page = pages.get(key)
        if page is None:
            listing = await self._list_tools(ctx, None)
            page = methods.serialize_server_result(
                "tools/list", version, listing.model_dump(by_alias=True, mode="json", exclude_none=True)
            )
            pages[key] = page
        if version in MODERN_PROTOCOL_VERSIONS:
            return {**page, "_meta": {SERVER_INFO_META_KEY: self.server.server_info_stamp}}
        return dict(page)

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
        snapshot = self.snapshot
        slug = _scope(ctx)
        if slug is None:
            return types.ListToolsResult(tools=snapshot.tools)
        mount = snapshot.mounts.get(slug)
        return types.ListToolsResult(tools=mount.plain_tools if mount else [])

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        found = self._resolve_tool(self.snapshot, _scope(ctx), params.name)
        if found is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        mount, entry = found
        return await self.call(mount, entry, params.arguments or {})

    async def call(self, mount: Mount, entry: ToolEntry, arguments: Mapping[str, Any]) -> types.CallToolResult:
        """Validate and run one tool of `mount`; every outcome is a CallToolResult."""
        started = time.perf_counter()
        tool = entry.tool
        outcome = "ok"
        async with mount.use():
            problems = entry.validate(arguments)
            if problems:
                outcome = "invalid_arguments"
                output = ToolOutput(
                    text=f"Invalid arguments for {tool.name}: " + "; ".join(problems) + ". Nothing was sent.",
                    is_error=True,
                )
            else:
                try:
                    credential = await self.credentials.get(mount.integration)
                    call = HubCall(tool, mount.client, credential)
                    output = await mount.package.invoke(call, tool.name, _known_arguments(tool.input_schema, arguments))
                except Exception as exc:  # a broken package fails its own call, never the hub
                    logger.exception("tool %s__%s raised", mount.slug, tool.name)
                    outcome = "internal_error"
                    output = ToolOutput(
                        text=f"{tool.name} failed inside the hub: {type(exc).__name__}: {exc}", is_error=True
                    )
                else:
                    if output.is_error:
                        outcome = "tool_error"
        self.metrics.observe_call(mount.slug, tool.name, outcome, time.perf_counter() - started)
        return to_call_result(output, fallback_uri=f"mcphub://{mount.slug}/{tool.name}")

    # - resources -

    async def _list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        snapshot = self.snapshot
        slug = _scope(ctx)
        if slug is None:
            return types.ListResourcesResult(resources=snapshot.resources)
        mount = snapshot.mounts.get(slug)
        return types.ListResourcesResult(resources=mount.plain_resources if mount else [])

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
        if slug is None:
            found = snapshot.resource_index.get(uri)
            resource = found[1] if found else None
        else:
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
        if slug is None:
            return types.ListPromptsResult(prompts=snapshot.prompts)
        mount = snapshot.mounts.get(slug)
        return types.ListPromptsResult(prompts=mount.plain_prompts if mount else [])

    async def _get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        snapshot = self.snapshot
        slug = _scope(ctx)
        if slug is None:
            found = snapshot.prompt_index.get(params.name)
            prompt = found[1] if found else None
        else:
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


def _known_arguments(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> Mapping[str, Any]:
    """Drop keys the schema doesn't declare: generated functions take declared keywords only."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or all(key in properties for key in arguments):
        return arguments
    return {key: value for key, value in arguments.items() if key in properties}
