"""The legacy HTTP+SSE transport (`GET /sse` + `POST /messages/?session_id=…`) on any replica, without affinity.

A legacy session is its `GET /sse` stream: the replica holding the stream runs the session, and every answer goes
out on that stream. The client POSTs each message to `/messages/`, and a balancer without affinity gives that POST
to any replica. So:

- the replica that opens a stream records the session in Redis (`SessionChannel.hold_sse`: who opened it, until
  the stream ends or the session TTL passes without a relayed message);
- a POST for a session this replica does not hold is checked as the SDK checks it (Host/Origin, body size, the
  session exists, the caller is the user who opened it: otherwise the same 400/404/413 answers), published on the
  session channel (`sse`) with what the holder needs to serve it as its own request — the JSON-RPC message, the
  query string and headers (never `Authorization`), and the caller's `KeyPrincipal` — and answered 202, as the SDK
  answers;
- the holder checks the owner again and hands the message to the session as if its own `/messages/` had received
  it: the request is served there (tools, logging/setLevel, subscriptions, relayed sampling), and the answer goes
  out on the stream.

Publishing before answering 202 keeps a client's messages in order (a client POSTs one message after another).
Replicas trust what they read on Redis as they trust the database: it must not be reachable by clients.
Without Redis (one process) every POST goes to the SDK's handler, exactly as before.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import anyio
import orjson
from mcp.server.sse import SseServerTransport
from mcp.server.transport_security import (
    DEFAULT_MAX_REQUEST_BODY_SIZE,
    RequestBodyLimitMiddleware,
    TransportSecurityMiddleware,
    TransportSecuritySettings,
)
from mcp.shared.message import ServerMessageMetadata, SessionMessage
from mcp_types import jsonrpc_message_adapter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mcphub.runtime.mcp import sdk
from mcphub.runtime.mcp.replicas import SessionChannel
from mcphub.runtime.tenancy.accounts import KeyPrincipal

if TYPE_CHECKING:
    from mcphub.runtime.mcp.hub import Hub

__all__ = ["MESSAGES_PATH", "LegacySse"]

logger = logging.getLogger(__name__)

MESSAGES_PATH = "/messages/"
_PRIVATE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_HAND_OVER_S = 10.0  # how long a relayed message may wait for its session to take it (the SDK's POST waits too)


class LegacySse:
    """`stream` serves `GET /sse`, `post` serves `POST /messages/`; `attach` joins the replicas' session channel."""

    def __init__(self, hub: Hub, security: TransportSecuritySettings | None) -> None:
        self.hub = hub
        self.transport = SseServerTransport(MESSAGES_PATH, security_settings=security)
        self._security = TransportSecurityMiddleware(security)
        self._relay_app = RequestBodyLimitMiddleware(self._relay, DEFAULT_MAX_REQUEST_BODY_SIZE)
        self.channel: SessionChannel | None = None

    def attach(self, channel: SessionChannel) -> None:
        self.channel = channel
        channel.handlers["sse"] = self._deliver

    def detach(self) -> None:
        if self.channel is not None:
            self.channel.handlers.pop("sse", None)
        self.channel = None

    async def stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One legacy SSE session, served here until the client goes away."""
        try:
            async with self.transport.connect_sse(scope, receive, send) as (read_stream, write_stream):
                channel = self.channel
                session_id = sdk.sse_session_of(self.transport, read_stream)
                shared = channel is not None and channel.shared and session_id is not None
                if shared:
                    assert channel is not None and session_id is not None
                    await channel.hold_sse(session_id.hex, sdk.scope_owner(scope))
                try:
                    server = self.hub.server
                    await server.run(read_stream, write_stream, server.create_initialization_options())
                finally:
                    if shared:
                        assert channel is not None and session_id is not None
                        with anyio.move_on_after(2, shield=True):  # also when the stream is cancelled (shutdown)
                            await channel.release_sse(session_id.hex)
        except ValueError:
            return  # the transport already answered (rejected Host/Origin)

    async def post(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A client message: the SDK's handler when the session is here (or there are no other replicas), else
        relayed to the replica holding the session's stream."""
        channel = self.channel
        session_id = _session_param(scope)
        if (
            channel is None
            or not channel.shared
            or scope["method"] != "POST"
            or session_id is None
            or sdk.sse_writer(self.transport, session_id) is not None
        ):
            await self.transport.handle_post_message(scope, receive, send)  # its own 400/404/405 otherwise
            return
        await self._relay_app(scope, receive, send)

    async def _relay(self, scope: Scope, receive: Receive, send: Send) -> None:
        channel = self.channel
        session_id = _session_param(scope)
        assert channel is not None and session_id is not None
        request = Request(scope, receive)
        refused = await self._security.validate_request(request, is_post=True)
        if refused is not None:
            await refused(scope, receive, send)
            return
        held, owner = await channel.sse_owner(session_id.hex)
        if not held or owner != sdk.scope_owner(scope):
            # Another user's session is answered exactly as one that does not exist (the SDK does the same).
            await Response("Could not find session", status_code=404)(scope, receive, send)
            return
        body = await request.body()
        try:
            jsonrpc_message_adapter.validate_json(body, by_name=False)
        except ValidationError:
            await Response("Could not parse message", status_code=400)(scope, receive, send)
            return
        principal = (scope.get("state") or {}).get("principal")
        envelope = {
            "body": body.decode(),
            "query": scope.get("query_string", b"").decode("latin-1"),
            "headers": [
                [k.decode("latin-1"), v.decode("latin-1")]
                for k, v in scope.get("headers", [])
                if k.decode("latin-1").lower() not in _PRIVATE_HEADERS
            ],
            "owner": owner,
            "principal": _principal_json(principal) if isinstance(principal, KeyPrincipal) else None,
        }
        await channel.sse_message(session_id.hex, orjson.dumps(envelope))
        await Response("Accepted", status_code=202)(scope, receive, send)

    async def _deliver(self, session_hex: str, payload: bytes) -> None:
        """A message relayed from another replica for a session whose stream may be here."""
        try:
            session_id = UUID(hex=session_hex)
        except ValueError:
            return
        writer = sdk.sse_writer(self.transport, session_id)
        if writer is None:
            return  # another replica holds it (every replica hears every message)
        try:
            envelope = orjson.loads(payload)
            owner = envelope["owner"]
            owner = tuple(owner) if isinstance(owner, list) else owner
            if owner != sdk.sse_session_owner(self.transport, session_id):
                logger.warning("dropping a relayed SSE message whose caller did not open session %s", session_hex[:8])
                return
            message = jsonrpc_message_adapter.validate_json(envelope["body"], by_name=False)
            principal = _principal_of(envelope["principal"])
            request = Request(_relayed_scope(envelope["query"], envelope["headers"], principal))
            with anyio.fail_after(_HAND_OVER_S):
                await writer.send(SessionMessage(message, metadata=ServerMessageMetadata(request_context=request)))
        except Exception:  # a stream that closed meanwhile, or a malformed envelope: that message is lost
            logger.warning("could not hand a relayed message to SSE session %s", session_hex[:8], exc_info=True)


def _session_param(scope: Scope) -> UUID | None:
    """The `session_id` query parameter as the SDK parses it (None: absent or malformed, the SDK answers 400)."""
    raw = Request(scope).query_params.get("session_id")
    if raw is None:
        return None
    try:
        return UUID(hex=raw)
    except ValueError:
        return None


def _relayed_scope(query: str, headers: list[list[str]], principal: KeyPrincipal | None) -> Scope:
    """The request a relayed message is served as on the holder: the original POST, as `KeyAuthMiddleware` left it
    (its principal in the state), minus the credentials it carried."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": MESSAGES_PATH,
        "raw_path": MESSAGES_PATH.encode(),
        "root_path": "",
        "query_string": query.encode("latin-1"),
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "server": None,
        "client": None,
        "path_params": {},
        "state": {"principal": principal} if principal is not None else {},
    }


def _principal_json(principal: KeyPrincipal) -> dict[str, Any]:
    return {
        "user_id": principal.user_id,
        "key_id": principal.key_id,
        "key_name": principal.key_name,
        "is_admin": principal.is_admin,
        "scope": sorted(principal.scope) if principal.scope is not None else None,
        "expires_at": principal.expires_at.isoformat() if principal.expires_at is not None else None,
        "view": principal.view,
    }


def _principal_of(raw: Any) -> KeyPrincipal | None:
    if raw is None:
        return None
    return KeyPrincipal(
        user_id=int(raw["user_id"]),
        key_id=int(raw["key_id"]),
        key_name=str(raw["key_name"]),
        is_admin=bool(raw["is_admin"]),
        scope=frozenset(raw["scope"]) if raw["scope"] is not None else None,
        expires_at=datetime.fromisoformat(raw["expires_at"]) if raw["expires_at"] is not None else None,
        view=str(raw["view"]),
    )
