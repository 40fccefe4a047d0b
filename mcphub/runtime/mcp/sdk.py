"""Everything the hub takes from the MCP SDK's internals, in one place, for the pinned SDK (`mcp==2.3.0`).

The fast path (`fastpath.py`) applies the same session lookup, owner check and idle countdown as the SDK's
streamable-HTTP session manager, which keeps them in private members. Reading them here, and only here, means an
SDK upgrade that moves them breaks one module, and `tests/runtime/test_sdk_adapter.py` says so by name (with the
SDK version) instead of the fast path silently stepping aside or, worse, skipping a check.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from uuid import UUID

import anyio
import orjson
from anyio.abc import TaskStatus
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, AuthorizationContext, authorization_context
from mcp.server.connection import Connection
from mcp.server.lowlevel.server import Server
from mcp.server.runner import serve_connection
from mcp.server.session import ServerSession
from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared._context_streams import ContextSendStream
from mcp.shared.exceptions import NoBackChannelError
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.shared.message import SessionMessage
from mcp.shared.transport_context import TransportContext
from mcp_types import InitializeRequestParams, jsonrpc_message_adapter
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from mcphub.runtime.mcp.replicas import Owner, SessionChannel, SessionFacts, SessionSeal

__all__ = [
    "MESSAGE_SCOPE_KEY",
    "OPENING_SCOPE_KEY",
    "PINNED_SDK",
    "HubSessionManager",
    "close_standalone_streams",
    "live_transport",
    "restart_idle_countdown",
    "scope_owner",
    "session_owner",
    "sse_session_of",
    "sse_session_owner",
    "sse_writer",
]

logger = logging.getLogger(__name__)

PINNED_SDK = "mcp==2.3.0"  # the version whose internals this module reads (pyproject.toml pins it)


def live_transport(manager: StreamableHTTPSessionManager, session_id: str) -> StreamableHTTPServerTransport | None:
    """The transport of a session the manager holds and has not terminated, or None."""
    transport: StreamableHTTPServerTransport | None = manager._server_instances.get(session_id)
    if transport is None or transport.is_terminated:
        return None
    return transport


def session_owner(manager: StreamableHTTPSessionManager, session_id: str) -> Any:
    """Who opened the session (the SDK's `authorization_context` of that request), compared on every request."""
    return manager._session_owners.get(session_id)


def close_standalone_streams(manager: StreamableHTTPSessionManager) -> None:
    """End the GET stream of every session the manager holds (the sessions themselves stay)."""
    for transport in list(manager._server_instances.values()):
        transport.close_standalone_sse_stream()


def restart_idle_countdown(transport: StreamableHTTPServerTransport) -> None:
    """What the SDK does for every request it serves on a session: start its idle timeout again."""
    idle = transport.idle_scope
    timeout = transport._idle_timeout
    if idle is not None and timeout is not None:
        idle.deadline = anyio.current_time() + timeout


# - legacy HTTP+SSE sessions (`legacysse.py`): which this process holds, whose they are, where their messages go -


def sse_writer(transport: SseServerTransport, session_id: UUID) -> ContextSendStream[SessionMessage | Exception] | None:
    """Where the messages of an SSE session held here go (the SDK's POST handler writes there), or None."""
    return transport._read_stream_writers.get(session_id)


def sse_session_owner(transport: SseServerTransport, session_id: UUID) -> Owner | None:
    """Who opened an SSE session held here (None: nobody authenticated, or not held here)."""
    return _owner(transport._session_owners.get(session_id))


def sse_session_of(transport: SseServerTransport, read_stream: object) -> UUID | None:
    """The id of the SSE session whose read stream `connect_sse` just yielded (the SDK makes the id inside and
    tells only the client): the writer registered for it feeds that very memory stream."""
    state = getattr(getattr(read_stream, "_inner", None), "_state", None)
    for session_id, writer in list(transport._read_stream_writers.items()):
        if state is not None and getattr(writer._inner, "_state", None) is state:
            return session_id
    return None


def scope_owner(scope: Scope) -> Owner | None:
    """The SDK's identity of the request's caller (what it binds sessions to), as a sealable tuple."""
    user = scope.get("user")
    return _owner(authorization_context(user) if isinstance(user, AuthenticatedUser) else None)


# - sessions any replica can serve (see replicas.py): the SDK's session manager, with sealed ids and rebuilt sessions -

_opening: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar("mcphub_opening", default=None)

Restored = Callable[[str, ServerSession, "Owner | None"], None]  # session id, its SDK session, its owner


class _StandaloneOnly:
    """The request channel of a session registered outside a request: it has none (notifications go standalone)."""

    can_send_request = False
    request_id = None

    async def send_raw_request(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise NoBackChannelError("no request in flight")

    async def notify(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def progress(self, *args: Any, **kwargs: Any) -> None:
        return None


class HubSessionManager(StreamableHTTPSessionManager):
    """The SDK's streamable-HTTP session manager whose handshake sessions live in their ids, not in this process.

    A new session gets a sealed id (`replicas.SessionSeal`) carrying what its `initialize` request declares (the
    caller puts the parsed params in `OPENING_SCOPE_KEY`); a request for a session this process does not hold is
    served by rebuilding the session from its id — owner checked, not ended (`replicas.SessionChannel`), born
    initialized with the sealed version, capabilities and client info. Everything else is the SDK's code path.
    """

    def __init__(
        self,
        app: Server[Any],
        *,
        seal: SessionSeal,
        channel: SessionChannel,
        on_restored: Restored,
        on_notify: Callable[[str, bytes], Awaitable[None]],
        **kwargs: Any,
    ) -> None:
        super().__init__(app, **kwargs)
        self.seal = seal
        self.channel = channel
        self._on_restored = on_restored
        self._on_notify = on_notify
        channel.on_ended = self.end_here
        channel.handlers["reply"] = self._deliver_reply
        channel.handlers["notify"] = self._deliver_notify

    # The SDK's path, with a sealed id for new sessions and rebuilt ones for ids sealed elsewhere.
    async def _handle_stateful_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        session_id = Headers(scope=scope).get(MCP_SESSION_ID_HEADER)
        if session_id is None:
            token = _opening.set(scope.get(OPENING_SCOPE_KEY))
            try:
                await super()._handle_stateful_request(scope, receive, send)
            finally:
                _opening.reset(token)
            return
        transport = self._server_instances.get(session_id)
        facts: SessionFacts | None = None
        if transport is None or (self.channel.shared and _is_reply(scope.get(MESSAGE_SCOPE_KEY))):
            facts = await self._admissible(scope, session_id)
            if facts is None:
                await super()._handle_stateful_request(scope, receive, send)  # the SDK's 404
                return
        message = scope.get(MESSAGE_SCOPE_KEY)
        if self.channel.shared and _is_reply(message):
            # An answer to a server-to-client request: the replica waiting for it may be another one.
            await self.channel.reply(session_id, orjson.dumps(message))
            await _accepted(send)
            return
        if transport is None and facts is not None:
            await self._restore(session_id, facts)
        await super()._handle_stateful_request(scope, receive, send)
        transport = self._server_instances.get(session_id)
        if scope["method"] == "DELETE" and (transport is None or transport.is_terminated):
            opened = facts or self.seal.open(session_id)
            if opened is not None:
                await self.channel.ended(session_id, opened.expires)

    def _admit_session(self, requestor: AuthorizationContext | None) -> StreamableHTTPServerTransport | None:
        opening = _opening.get()
        transport = super()._admit_session(requestor)
        if transport is None or not isinstance(opening, Mapping):
            return transport
        # The SDK minted a random id; the session gets its sealed one instead (nothing has seen the first yet).
        random_id = transport.mcp_session_id
        assert random_id is not None
        sealed = self.seal.seal(SessionFacts.from_initialize(opening, _owner(requestor), self.seal.ttl_s))
        transport.mcp_session_id = sealed
        self._server_instances[sealed] = self._server_instances.pop(random_id)
        if random_id in self._session_owners:
            self._session_owners[sealed] = self._session_owners.pop(random_id)
        return transport

    async def _admissible(self, scope: Scope, session_id: str) -> SessionFacts | None:
        """The facts of a session id this hub sealed, for its owner, and not ended; else None (the SDK's 404)."""
        facts = self.seal.open(session_id)
        if facts is None:
            return None
        user = scope.get("user")
        requestor = authorization_context(user) if isinstance(user, AuthenticatedUser) else None
        if _owner(requestor) != facts.owner or await self.channel.is_ended(session_id):
            return None
        return facts

    async def _restore(self, session_id: str, facts: SessionFacts) -> None:
        """Hold `session_id` here from now on, as it was after its handshake (on whichever replica that was)."""
        async with self._session_creation_lock:
            if session_id in self._server_instances or self._task_group is None:
                return
            if self.max_sessions is not None and len(self._server_instances) >= self.max_sessions:
                logger.warning("not rebuilding a session here: %d sessions are already open", self.max_sessions)
                return  # the SDK answers 404: the client opens a new session (refused with 503 while full)
            transport = StreamableHTTPServerTransport(
                mcp_session_id=session_id,
                is_json_response_enabled=self.json_response,
                event_store=self.event_store,
                security_settings=self.security_settings,
                retry_interval=self.retry_interval,
                idle_timeout=self.session_idle_timeout,
            )
            params = InitializeRequestParams.model_validate(facts.initialize_params(), by_name=False)

            async def run_server(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
                async with transport.connect() as (read_stream, write_stream):
                    task_status.started()
                    try:
                        idle_scope = transport.idle_scope
                        if idle_scope is None:
                            idle_scope = anyio.CancelScope()
                        with idle_scope:
                            dispatcher: JSONRPCDispatcher[TransportContext] = JSONRPCDispatcher(
                                read_stream, write_stream, inline_methods=frozenset({"initialize"})
                            )
                            connection = Connection.for_loop(dispatcher, session_id=session_id)
                            connection.client_params = params
                            connection.protocol_version = facts.version
                            connection.initialized.set()
                            session = ServerSession(_StandaloneOnly(), connection)
                            self._on_restored(session_id, session, facts.owner)
                            await serve_connection(
                                self.app, dispatcher, connection=connection, lifespan_state=self._lifespan_state
                            )
                    except Exception:
                        logger.exception("restored session %s crashed", session_id[:16])
                    finally:
                        await self._discard_session(session_id, transport)

            try:
                await self._task_group.start(run_server)
            except BaseException:
                await self._discard_session(session_id, transport)
                raise
            # Registered only now that `connect()` has run: a request for this session that arrives meanwhile (the
            # client's GET stream and its next POST often reach a replica together) finds no transport, waits for
            # the lock above, and then uses this one. Registered before, it went straight to a transport without a
            # read stream, and the SDK answered 500 "No read stream writer available" (one failed call in the
            # rolling-restart test, tests/deploy).
            if transport.is_terminated:
                return  # it ended already (it crashed; logged above): the SDK answers 404, the client starts over
            if facts.owner is not None:
                client_id, issuer, subject = facts.owner
                self._session_owners[session_id] = AuthorizationContext(
                    client_id=client_id, issuer=issuer, subject=subject
                )
            self._server_instances[session_id] = transport

    async def end_here(self, session_id: str) -> None:
        """The session was closed (on some replica): close what this process holds of it (its GET stream too)."""
        transport = self._server_instances.get(session_id)
        if transport is not None:
            await self._discard_session(session_id, transport)

    async def _deliver_reply(self, session_id: str, payload: bytes) -> None:
        transport = self._server_instances.get(session_id)
        if transport is None or transport.is_terminated:
            return
        writer = transport._read_stream_writer
        if writer is None:
            return
        try:
            message = jsonrpc_message_adapter.validate_json(payload, by_name=False)
            await writer.send(SessionMessage(message))
        except Exception:
            logger.debug("could not hand a relayed reply to session %s", session_id[:16], exc_info=True)

    async def _deliver_notify(self, session_id: str, payload: bytes) -> None:
        transport = self._server_instances.get(session_id)
        if transport is not None and not transport.is_terminated:
            await self._on_notify(session_id, payload)


OPENING_SCOPE_KEY = "mcphub.initialize"  # the parsed params of an `initialize` POST without a session id
MESSAGE_SCOPE_KEY = "mcphub.message"  # the parsed JSON body of a POST, when the fast path read it


def _owner(requestor: AuthorizationContext | None) -> Owner | None:
    if requestor is None:
        return None
    return (requestor["client_id"], requestor["issuer"], requestor["subject"])


def _is_reply(message: object) -> bool:
    """A JSON-RPC response (to a server-to-client request): an id, a result or an error, no method."""
    return (
        isinstance(message, dict)
        and message.get("jsonrpc") == "2.0"
        and "method" not in message
        and "id" in message
        and ("result" in message or "error" in message)
    )


async def _accepted(send: Send) -> None:
    await send({"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
