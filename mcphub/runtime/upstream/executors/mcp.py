"""Proxy tool calls to upstream MCP servers (source kind `mcp`) over one long-lived session each.

A session per upstream, not per call: the first call of an integration opens it (a stdio child
process, or a streamable-HTTP session), later calls share it, concurrently. Each session lives in
an owner task that holds the SDK client's context open, because anyio cancel scopes must be
entered and left by the same task; `McpSessions.aclose` (the catalog's, at shutdown) and
`McpExecutor.aclose` (when a mount is retired) end that task, which closes stdin, waits, then kills the child's process group, so no
orphan survives the hub.

Failure is per call, never the hub's: an upstream whose connection is found closed gives that
call a tool error and is marked dead; the next call reconnects. A reconnect that fails backs off
exponentially (0.5 s doubling to 30 s), and calls inside the backoff window fail fast with a tool
error that says when the next attempt is. A retried call is never re-sent automatically: the
upstream may have run it.

Handshake era on purpose (`mode="legacy"`): a long-lived session is that era's model, every
server in the field speaks it, and upstream notifications (`notifications/tools/list_changed`,
progress) arrive on the session, where this module forwards them:

- list listeners (`McpSessions.add_list_listener`, one per hub): awaited with the integration slug, the
  notification method and the mounted clients sharing that upstream session when an upstream says
  its tools, prompts or resources changed. The hub serves an upstream's prompts and resources live,
  so it tells its own clients; its tools are the ones compiled (and reviewed) at build time, so a
  changed upstream tool list only makes the compiled tools stale: recompile to pick them up.
- `downstream`: a context variable the hub sets around a tool call to that call's client (a
  `Downstream`). What the upstream does during the call is relayed to it: progress, log messages
  (`notifications/message`), and the server→client requests `sampling/createMessage`,
  `elicitation/create` and `roots/list`, whose answers go back upstream.

Relaying never crosses callers, although the session is shared by every user of the integration.
A message is relayed only to the call the transport ties it to: a streamable-HTTP upstream sends
what belongs to a call on that call's own POST response stream, and the SDK hands such messages to
our callbacks in the context of the task that sent the call, so `downstream` there names exactly
that call (the session's owner task runs in an empty context, so nothing else inherits a caller).
Stdio carries no such relation on the wire: there a message is relayed only while exactly one call
is in flight on the session. Anything not tied to a call in flight (a log line on the standalone
GET stream, a request after the call ended) is never broadcast: requests are refused with an error
to the upstream, log messages go to the hub's own log at debug level.
`notifications/resources/updated` goes to the downstream sessions that subscribed to that URI
through `McpExecutor.subscribe` (they asked for it), and to nobody else.

The sessions belong to the catalog's executor registry (`McpSessions`), not to one mount: a reload mounts a new
executor for the same source, and both share the session (and the child process) until the last is closed.

Stdio children get only the spec's `env` plus the SDK's safe basics (HOME, LOGNAME, PATH, SHELL,
TERM, USER): no hub secret is inherited. HTTP upstreams are reached under the integration's
egress policy (allowed hosts, private addresses refused unless allowed) and get the caller's
credential only when the integration declares an auth scheme it satisfies.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import hashlib
import json
import logging
import sys
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx2
import mcp_types as types
from mcp.client.client import Client
from mcp.client.session import ClientRequestContext, ClientSession, IncomingMessage
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ValidationError

from mcphub.compiler.ir import Integration, SourceInfo, Tool
from mcphub.runtime.package import ToolOutput
from mcphub.runtime.upstream.client import UpstreamClient
from mcphub.runtime.upstream.credentials import Credential
from mcphub.runtime.upstream.egress import EgressPolicy, PoolTransport
from mcphub.runtime.upstream.executors.base import Downstream, RelayedRequest, RelayedResult, UpstreamUnavailable
from mcphub.runtime.upstream.executors.http import HttpExecutor

__all__ = [
    "Downstream",
    "McpExecutor",
    "McpSessions",
    "RelayedRequest",
    "RelayedResult",
    "UpstreamUnavailable",
    "downstream",
]

logger = logging.getLogger(__name__)

ResultT = TypeVar("ResultT", bound=BaseModel)


class ListListener(Protocol):
    """What `McpSessions.add_list_listener` takes: an object (a hub) told which upstream changed which list."""

    async def on_upstream_list_changed(self, slug: str, method: str, clients: frozenset[UpstreamClient]) -> None:
        """`method` is the notification (`notifications/prompts/list_changed`, ...); `clients` the mounted
        clients sharing the upstream session that sent it, so a listener can tell whether it is its mount."""


_LIST_CHANGED = (
    types.ToolListChangedNotification,
    types.PromptListChangedNotification,
    types.ResourceListChangedNotification,
)
# Set by the hub around one tool call: the client of that call.
downstream: ContextVar[Downstream | None] = ContextVar("mcphub_downstream", default=None)

CONNECT_TIMEOUT_S = 30.0  # spawn (or connect) + initialize; python and npx servers take a few seconds
CLOSE_TIMEOUT_S = 10.0  # the SDK's stdio shutdown is bounded at ~6 s (stdin close, SIGTERM, SIGKILL)
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
_HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)  # a server may hold a response stream open


def _describe(exc: BaseException) -> str:
    """One line for a (possibly grouped) connection failure."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError):
        return exc.message
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename or exc}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _argv(source: SourceInfo) -> list[str]:
    """The command line of a stdio upstream, as compiled: `hub_python` runs it on the hub's own interpreter."""
    argv = list(source.command or [])
    if argv and source.hub_python and sys.executable:
        argv[0] = sys.executable
    return argv


def _sdk_client(source: SourceInfo, http_client: httpx2.AsyncClient | None, upstream: _Upstream) -> Client:
    """An (unentered) SDK client for `source`: its stdio command with only the declared env, or its URL."""
    if source.command:
        # The mcp source kind's reading of `command:` (`python` is the hub's own interpreter), as when it was compiled.
        command, *args = _argv(source)
        # The SDK merges `env` over its safe defaults (HOME, LOGNAME, PATH, SHELL, TERM, USER) and nothing else.
        params = StdioServerParameters(command=command, args=args, env=dict(source.env))
        transport: Any = stdio_client(params, errlog=sys.stderr)  # upstream logs join the hub's stderr
    elif source.url and http_client is not None:
        transport = streamable_http_client(source.url, http_client=http_client)
    else:
        raise ValueError("an mcp source needs command or url")
    # Declaring the callbacks advertises sampling, elicitation and roots upstream; each is answered by the client
    # of the call that caused it (or refused when there is none).
    return Client(
        transport,
        mode="legacy",
        cache=None,
        message_handler=upstream.on_message,
        sampling_callback=upstream.on_sampling,
        elicitation_callback=upstream.on_elicitation,
        list_roots_callback=upstream.on_list_roots,
        logging_callback=upstream.on_log,
    )


# --- one upstream ---------------------------------------------------------------------------------


@dataclass(eq=False)
class _Upstream:
    """One upstream server's session, its owner task, and its reconnect state."""

    key: str
    integration: Integration
    headers: dict[str, str]
    listeners: weakref.WeakSet[ListListener]  # the registry's: told when this upstream changes a list
    listener_tasks: set[asyncio.Task[None]]
    users: weakref.WeakSet[UpstreamClient] = field(default_factory=weakref.WeakSet)
    session: ClientSession | None = None
    _stop: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None
    _dying: set[asyncio.Task[None]] = field(default_factory=set)  # owners of dead sessions, still shutting down
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _failures: int = 0
    _retry_at: float = 0.0
    _last_error: str = ""
    _closed: bool = False
    # The clients of the calls in flight on this session, which upstream messages may be relayed to.
    inflight: set[Downstream] = field(default_factory=set)
    # URI -> subscriber key -> how to tell that subscriber the resource changed.
    subscribers: dict[str, dict[str, Callable[[str], Awaitable[None]]]] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        return self.integration.slug

    @property
    def where(self) -> str:
        source = self.integration.source
        return " ".join(source.command) if source.command else str(source.url)

    async def get(self) -> ClientSession:
        """The live session, connecting (or reconnecting) first when there is none."""
        session = self.session
        if session is not None:
            return session
        async with self._lock:
            if self.session is not None:
                return self.session
            if self._closed:
                raise UpstreamUnavailable(f"the upstream {self.where} was shut down with the hub")
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                raise UpstreamUnavailable(
                    f"the upstream {self.where} is unavailable ({self._last_error}); "
                    f"the next connection attempt is in {wait:.1f} s"
                )
            try:
                self.session = await self._connect()
            except Exception as exc:
                self._failures += 1
                delay = min(BACKOFF_FIRST_S * 2 ** (self._failures - 1), BACKOFF_MAX_S)
                self._retry_at = time.monotonic() + delay
                self._last_error = _describe(exc)
                logger.warning("upstream MCP server of %s (%s) failed to connect: %s", self.slug, self.where, exc)
                raise UpstreamUnavailable(
                    f"could not connect to the upstream {self.where}: {self._last_error}; retrying in {delay:.1f} s"
                ) from exc
            self._failures = 0
            await self._resubscribe(self.session)
            return self.session

    async def _resubscribe(self, session: ClientSession) -> None:
        """A new session knows no subscriptions: renew those downstream sessions still hold (best effort)."""
        for uri in [uri for uri, subscribers in self.subscribers.items() if subscribers]:
            request = types.SubscribeRequest(params=types.SubscribeRequestParams(uri=uri))
            try:
                await session.send_request(request, types.EmptyResult, request_read_timeout_seconds=10)
            except Exception as exc:
                logger.warning("could not renew the subscription of %s to %s: %s", self.slug, uri, _describe(exc))

    async def _connect(self) -> ClientSession:
        loop = asyncio.get_running_loop()
        started: asyncio.Future[ClientSession] = loop.create_future()
        stop = asyncio.Event()
        # An empty context: the owner reads every upstream message, so it must not inherit this caller's `downstream`.
        task = loop.create_task(
            self._own(started, stop), name=f"mcp-upstream:{self.slug}", context=contextvars.Context()
        )
        try:
            return await asyncio.wait_for(asyncio.shield(started), CONNECT_TIMEOUT_S)
        except BaseException as exc:
            # Timed out, failed or cancelled: unwind the owner, which stops the child process.
            task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, CLOSE_TIMEOUT_S)
            if isinstance(exc, TimeoutError):
                raise TimeoutError(f"no answer to initialize within {CONNECT_TIMEOUT_S:.0f} s") from None
            raise
        finally:
            if started.done():
                self._stop, self._task = stop, task

    async def _own(self, started: asyncio.Future[ClientSession], stop: asyncio.Event) -> None:
        """Hold the client open until told to stop; the context's exit shuts the transport down."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                http_client = None
                if self.integration.source.url:
                    http_client = await stack.enter_async_context(_egress_client(self.integration, self.headers))
                client = _sdk_client(self.integration.source, http_client, self)
                await stack.enter_async_context(client)
                started.set_result(client.session)
                await stop.wait()
        except asyncio.CancelledError:
            if not started.done():
                started.cancel()
            raise
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc if isinstance(exc, Exception) else RuntimeError(_describe(exc)))
            else:
                logger.warning("upstream MCP session of %s ended with an error: %s", self.slug, _describe(exc))

    async def on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, _LIST_CHANGED):
            method = message.method
            if isinstance(message, types.ToolListChangedNotification):
                logger.info("upstream MCP server of %s changed its tool list; recompile to pick it up", self.slug)
            clients = frozenset(self.users)
            loop = asyncio.get_running_loop()
            for listener in list(self.listeners):
                # Off the session's receive loop: telling a hub's clients may take time (a slow stream), and every
                # other call on this shared session waits for that loop.
                task = loop.create_task(_run_listener(listener, self.slug, method, clients))
                self.listener_tasks.add(task)
                task.add_done_callback(self.listener_tasks.discard)
        elif isinstance(message, types.ResourceUpdatedNotification):
            uri = str(message.params.uri)
            for key, notify in list(self.subscribers.get(uri, {}).items()):
                try:
                    await notify(uri)
                except Exception:  # a closed downstream stream: forget that subscriber
                    logger.debug("dropping subscriber %s of %s", key[:16], uri, exc_info=True)
                    self.subscribers.get(uri, {}).pop(key, None)
        elif isinstance(message, Exception):
            logger.debug("upstream MCP transport of %s reported: %s", self.slug, message)

    def _target(self) -> Downstream | None:
        """The client of the call this upstream message belongs to, or None when it belongs to no call in flight."""
        current = downstream.get()
        if current is not None:
            return current if current in self.inflight else None
        if not self.integration.source.url and len(self.inflight) == 1:
            return next(iter(self.inflight))  # stdio: no relation on the wire; unambiguous with one call in flight
        return None

    async def _relay(self, request: RelayedRequest) -> RelayedResult | types.ErrorData:
        target = self._target()
        if target is None:
            logger.info(
                "refused %s from the upstream of %s: it belongs to no call in flight", request.method, self.slug
            )
            return types.ErrorData(
                code=types.INVALID_REQUEST,
                message=f"{request.method} can only be relayed during a tool call that the hub can attribute it to",
            )
        try:
            return await target.request(request)
        except MCPError as exc:
            return exc.error
        except Exception as exc:  # the downstream went away mid-request: the upstream gets an error, not a hang
            logger.info("relaying %s for %s failed: %s", request.method, self.slug, exc)
            return types.ErrorData(code=types.INTERNAL_ERROR, message=f"the hub's client did not answer: {exc}")

    async def on_sampling(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData:
        result = await self._relay(types.CreateMessageRequest(params=params))
        assert isinstance(result, types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData)
        return result

    async def on_elicitation(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        result = await self._relay(types.ElicitRequest(params=params))
        assert isinstance(result, types.ElicitResult | types.ErrorData)
        return result

    async def on_list_roots(self, context: ClientRequestContext) -> types.ListRootsResult | types.ErrorData:
        result = await self._relay(types.ListRootsRequest())
        assert isinstance(result, types.ListRootsResult | types.ErrorData)
        return result

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        target = self._target()
        if target is None:
            logger.debug(
                "upstream %s logged outside any call (not relayed): %s %s", self.slug, params.level, params.data
            )
            return
        await target.log(params)

    def mark_dead(self, session: ClientSession, reason: str) -> None:
        """Forget `session` (if still current) and stop its owner; the next call reconnects."""
        if self.session is not session:
            return
        logger.warning("upstream MCP session of %s (%s) is gone: %s", self.slug, self.where, reason)
        self.session = None
        self._last_error = reason
        stop, task, self._stop, self._task = self._stop, self._task, None, None
        if task is not None:
            self._dying.add(task)
            task.add_done_callback(self._dying.discard)
        if stop is not None:
            stop.set()  # the owner unwinds on its own (stopping the child); close() waits for it

    async def close(self) -> None:
        self._closed = True
        async with self._lock:
            self.session = None
            stop, task, self._stop, self._task = self._stop, self._task, None, None
        if stop is not None:
            stop.set()
        tasks = [*self._dying, *([task] if task is not None else [])]
        await asyncio.gather(*(_finish(t) for t in tasks))


async def _finish(task: asyncio.Task[None]) -> None:
    """Wait for an owner task to shut its transport down; cancel it if that takes too long."""
    try:
        await asyncio.wait_for(asyncio.shield(task), CLOSE_TIMEOUT_S)
    except TimeoutError:
        task.cancel()  # the transport's own shutdown is shielded, so the child is still stopped
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _run_listener(listener: ListListener, slug: str, method: str, clients: frozenset[UpstreamClient]) -> None:
    try:
        await listener.on_upstream_list_changed(slug, method, clients)
    except Exception:  # a listener failing must not disturb the upstream session
        logger.exception("list-change listener failed for %s (%s)", slug, method)


def _egress_client(integration: Integration, headers: Mapping[str, str]) -> httpx2.AsyncClient:
    """An HTTP client for the upstream URL under the integration's egress policy."""
    host = urlsplit(integration.source.url or "").hostname or ""
    egress = EgressPolicy.from_integration(integration)
    if egress.hosts and not egress.host_allowed(host):
        raise UpstreamUnavailable(f"host {host!r} is not in policy.allowed_hosts of {integration.slug!r}")
    # The same connect-time check as tool HTTP calls: names resolving to private addresses are refused.
    transport = PoolTransport(
        limits=httpx2.Limits(max_connections=20, max_keepalive_connections=5),
        allow_private=egress.allow_private_network,
    )
    return httpx2.AsyncClient(
        timeout=_HTTP_TIMEOUT, headers=dict(headers), transport=transport, trust_env=False, follow_redirects=False
    )


def _auth_headers(integration: Integration, credential: Credential | None) -> dict[str, str]:
    """Headers carrying the caller's credential to an HTTP upstream, for the first scheme it satisfies."""
    if credential is None or not integration.source.url:
        return {}
    for scheme in integration.auth:
        if not credential.satisfies(scheme):
            continue
        if scheme.type in ("bearer", "oauth2", "openid_connect") and credential.token:
            return {"Authorization": f"{scheme.prefix} {credential.token}".strip()}
        if scheme.type == "api_key" and scheme.location == "header" and scheme.param_name:
            return {scheme.param_name: str(credential.api_key or credential.token)}
        if scheme.type == "basic" and credential.username is not None and credential.password is not None:
            pair = base64.b64encode(f"{credential.username}:{credential.password}".encode()).decode("ascii")
            return {"Authorization": f"Basic {pair}"}
    return {}


# --- the sessions -------------------------------------------------------------------------------------


def _key(integration: Integration, headers: Mapping[str, str]) -> str:
    """Same slug, source and credential -> same session; a credential is hashed, never kept in the key."""
    source = integration.source
    material = json.dumps(
        [integration.slug, source.command, source.url, source.env, sorted(headers.items())], sort_keys=True
    )
    return f"{integration.slug}:{hashlib.sha256(material.encode()).hexdigest()[:24]}"


# --- the public API --------------------------------------------------------------------------------


# What the SDK's streamable-HTTP transport reports for HTTP-level failures (rather than a JSON-RPC error of the
# server): a 404 on a known session, and any other status >= 400 without a JSON-RPC body, such as the 400 a
# restarted server answers for a session id it never issued. A false positive costs one reconnect; keeping a
# stale session would fail every later call.
_TRANSPORT_FAILURES = frozenset({"Session terminated", "Server returned an error response"})


def _is_connection_loss(exc: MCPError) -> bool:
    """Whether an error answer means the session is unusable (as opposed to one failed request)."""
    # -32000 is the SDK's "Connection closed", and what servers answer for an unknown session.
    return exc.code == types.CONNECTION_CLOSED or exc.message in _TRANSPORT_FAILURES


class McpSessions:
    """The upstream MCP sessions of one catalog, shared by the mounts (old and new) of one upstream.

    Owned by the catalog's executor registry: closed with the catalog (stopping every child process), never
    looked up as a module global. Sessions belong to the event loop that opened them.
    """

    def __init__(self) -> None:
        self._upstreams: dict[str, _Upstream] = {}
        # Weak, so a hub that is gone (tests run many in one process) is never called and never kept alive.
        self._listeners: weakref.WeakSet[ListListener] = weakref.WeakSet()
        self._listener_tasks: set[asyncio.Task[None]] = set()

    def add_list_listener(self, listener: ListListener) -> None:
        """Tell `listener` about upstream list changes for as long as it lives (it is held weakly)."""
        self._listeners.add(listener)

    def _upstream_for(self, client: UpstreamClient, credential: Credential | None) -> _Upstream:
        integration = client.integration
        headers = _auth_headers(integration, credential)
        key = _key(integration, headers)
        upstream = self._upstreams.get(key)
        if upstream is None or upstream._closed:
            upstream = self._upstreams[key] = _Upstream(
                key=key,
                integration=integration,
                headers=headers,
                listeners=self._listeners,
                listener_tasks=self._listener_tasks,
            )
        upstream.users.add(client)
        return upstream

    async def call_tool(
        self, tool: Tool, client: UpstreamClient, credential: Credential | None, arguments: Mapping[str, Any]
    ) -> ToolOutput:
        """Call `tool`'s upstream counterpart on the shared session; every failure is a tool error."""
        if tool.mcp is None:
            return ToolOutput(
                text=f"tool {tool.name!r} has no upstream MCP binding; recompile its package", is_error=True
            )
        upstream = self._upstream_for(client, credential)
        name = tool.mcp.upstream_name
        try:
            session = await upstream.get()
        except UpstreamUnavailable as exc:
            return ToolOutput(text=f"{tool.name}: {exc}", is_error=True)
        relay = downstream.get()
        request = types.CallToolRequest(params=types.CallToolRequestParams(name=name, arguments=dict(arguments)))
        if relay is not None:
            upstream.inflight.add(relay)
        try:
            result = await session.send_request(
                request,
                types.CallToolResult,
                request_read_timeout_seconds=client.policy.timeout_s,
                progress_callback=relay.progress if relay is not None else None,
            )
        except MCPError as exc:
            if exc.code == types.REQUEST_TIMEOUT:
                return ToolOutput(
                    text=f"{tool.name}: the upstream did not answer within {client.policy.timeout_s:g} s", is_error=True
                )
            if _is_connection_loss(exc):
                upstream.mark_dead(session, exc.message)
                return ToolOutput(
                    text=f"{tool.name}: the connection to the upstream {upstream.where} was lost ({exc.message}); "
                    "the next call reconnects",
                    is_error=True,
                )
            return ToolOutput(
                text=f"{tool.name}: the upstream answered with error {exc.code}: {exc.message}", is_error=True
            )
        except ValidationError as exc:
            return ToolOutput(
                text=f"{tool.name}: the upstream answered with a result that is not a valid CallToolResult: {exc}",
                is_error=True,
            )
        except Exception as exc:  # transport failures surface as anything from anyio, httpx2 or the SDK
            upstream.mark_dead(session, _describe(exc))
            return ToolOutput(
                text=f"{tool.name}: the connection to the upstream {upstream.where} failed ({_describe(exc)}); "
                "the next call reconnects",
                is_error=True,
            )
        finally:
            if relay is not None:
                upstream.inflight.discard(relay)
        return ToolOutput(
            content=[block.model_dump(by_alias=True, mode="json", exclude_none=True) for block in result.content],
            structured=result.structured_content,
            is_error=bool(result.is_error),
        )

    async def request(
        self,
        client: UpstreamClient,
        credential: Credential | None,
        request: types.ClientRequest,
        result_type: type[ResultT],
    ) -> ResultT:
        """Send one request (resources, prompts, completion) on the shared session and return its typed result.

        Raises `UpstreamUnavailable` when the upstream cannot be reached (or the connection is lost, which
        also marks the session dead for the next call to reconnect), and the upstream's own `MCPError`s as they are.
        """
        upstream = self._upstream_for(client, credential)
        session = await upstream.get()
        try:
            return await session.send_request(
                request, result_type, request_read_timeout_seconds=client.policy.timeout_s
            )
        except MCPError as exc:
            if exc.code == types.REQUEST_TIMEOUT:
                raise UpstreamUnavailable(f"the upstream did not answer within {client.policy.timeout_s:g} s") from exc
            if not _is_connection_loss(exc):
                raise
            upstream.mark_dead(session, exc.message)
            raise UpstreamUnavailable(
                f"the connection to the upstream {upstream.where} was lost ({exc.message})"
            ) from exc
        except ValidationError as exc:
            raise UpstreamUnavailable(f"the upstream answered {request.method} with an invalid result: {exc}") from exc
        except Exception as exc:  # transport failures surface as anything from anyio, httpx2 or the SDK
            upstream.mark_dead(session, _describe(exc))
            raise UpstreamUnavailable(
                f"the connection to the upstream {upstream.where} failed ({_describe(exc)})"
            ) from exc

    async def capabilities(self, client: UpstreamClient, credential: Credential | None) -> types.ServerCapabilities:
        """What the upstream declared at initialize (connecting first when needed); raises `UpstreamUnavailable`."""
        session = await self._upstream_for(client, credential).get()
        return session.server_capabilities or types.ServerCapabilities()

    async def subscribe(
        self,
        client: UpstreamClient,
        credential: Credential | None,
        uri: str,
        key: str,
        notify: Callable[[str], Awaitable[None]],
    ) -> None:
        """Subscribe `key` (a downstream session) to `uri`; the upstream is subscribed once, for its first subscriber."""
        upstream = self._upstream_for(client, credential)
        subscribers = upstream.subscribers.setdefault(uri, {})
        first = not subscribers
        subscribers[key] = notify
        if first:
            try:
                await self.request(
                    client,
                    credential,
                    types.SubscribeRequest(params=types.SubscribeRequestParams(uri=uri)),
                    types.EmptyResult,
                )
            except BaseException:
                subscribers.pop(key, None)
                raise

    async def unsubscribe(self, client: UpstreamClient, credential: Credential | None, uri: str, key: str) -> None:
        """Drop `key`'s subscription to `uri`; the upstream is unsubscribed when the last subscriber leaves."""
        upstream = self._upstream_for(client, credential)
        subscribers = upstream.subscribers.get(uri)
        if subscribers is None or subscribers.pop(key, None) is None or subscribers:
            return
        del upstream.subscribers[uri]
        request = types.UnsubscribeRequest(params=types.UnsubscribeRequestParams(uri=uri))
        await self.request(client, credential, request, types.EmptyResult)

    async def release(self, client: UpstreamClient) -> None:
        """A mount's client is retired: close the sessions no other mounted client still uses."""
        upstreams = self._upstreams
        for key, upstream in list(upstreams.items()):
            upstream.users.discard(client)
            if not upstream.users:
                upstreams.pop(key, None)
                await upstream.close()

    async def aclose(self) -> None:
        """Close every upstream session and wait for their child processes to exit."""
        upstreams = self._upstreams
        closing = list(upstreams.values())
        upstreams.clear()
        await asyncio.gather(*(upstream.close() for upstream in closing), return_exceptions=True)


class McpExecutor(HttpExecutor):
    """An `mcp` integration: its tools are called on the shared upstream session; it offers the live features."""

    def __init__(self, integration: Integration, sessions: McpSessions, client: UpstreamClient | None = None) -> None:
        super().__init__(integration, client)
        self.sessions = sessions
        self.live = self

    async def run(self, tool: Tool, credential: Credential | None, arguments: Mapping[str, Any]) -> ToolOutput:
        return await self.sessions.call_tool(tool, self.client, credential, arguments)

    async def capabilities(self, credential: Credential | None) -> types.ServerCapabilities:
        return await self.sessions.capabilities(self.client, credential)

    async def request(
        self, credential: Credential | None, request: types.ClientRequest, result_type: type[ResultT]
    ) -> ResultT:
        return await self.sessions.request(self.client, credential, request, result_type)

    async def subscribe(
        self, credential: Credential | None, uri: str, key: str, notify: Callable[[str], Awaitable[None]]
    ) -> None:
        await self.sessions.subscribe(self.client, credential, uri, key, notify)

    async def unsubscribe(self, credential: Credential | None, uri: str, key: str) -> None:
        await self.sessions.unsubscribe(self.client, credential, uri, key)

    @contextlib.contextmanager
    def relay_to(self, target: Downstream) -> Iterator[None]:
        token = downstream.set(target)
        try:
            yield
        finally:
            downstream.reset(token)

    async def aclose(self) -> None:
        """The mount is retired: close its HTTP pool and the sessions no other mounted client still uses."""
        try:
            await super().aclose()
        finally:
            await self.sessions.release(self.client)
