"""The direct path for the two requests that make up nearly all MCP traffic: `tools/call` and `tools/list`.

The SDK's streamable-HTTP transport serves every POST through memory streams, a dispatcher task, an SSE
response and a full pydantic validate/serialise round trip per message: about 2.5 ms of CPU per call on this
hardware, which is most of what a gateway adds. For a well-formed `tools/call` or `tools/list` POST on a live
session (handshake era) or with a valid 2026-07-28 envelope, this module answers directly from the hub with an
`application/json` reply (which the streamable-HTTP spec allows for any request) and the same result shape the
SDK would produce. Everything else — `initialize`, notifications, GET streams, DELETE, other methods, upstream
MCP tools (which relay progress and server-to-client requests through the SDK session), and any request the
SDK would reject or treat specially — goes to the SDK unchanged, with the body replayed. The rule is that the
fast path either gives exactly the SDK's answer or steps aside; it never invents its own error — with one
exception, hostile bodies (`refusal`): a `method` or `id` of the wrong JSON type, or nesting deeper than the
SDK's own parser accepts, is answered here, in both protocol eras alike, with the JSON-RPC error the
specification names (-32600 invalid request, -32700 parse error), before anything can trip over it. A handshake-era
session is recognised once the hub has seen one request of it through the SDK (the SDK reports `initialized`
after answering it), so a session's very first request after the handshake may still take the SDK's path.

It applies the same session lookup, owner check and idle countdown the SDK applies, whose state the SDK keeps in
private members: those are read in `sdk.py` only, for the pinned SDK, and `tests/runtime/test_sdk_adapter.py`
fails naming the SDK version when they move; the transport tests cover both paths.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import mcp_types as types
import orjson
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
from mcp.server.streamable_http import check_accept_headers
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.inbound import (
    MCP_PARAM_HEADER_PREFIX,
    InboundModernRoute,
    classify_inbound_request,
    find_duplicated_routing_header,
    validate_mcp_param_headers,
)
from mcp_types import PROTOCOL_VERSION_META_KEY, SERVER_INFO_META_KEY, methods
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from mcphub.runtime.mcp import sdk
from mcphub.runtime.mcp.context import route_view
from mcphub.runtime.tenancy.accounts import KeyPrincipal

if TYPE_CHECKING:
    from mcphub.runtime.mcp.hub import Hub

__all__ = ["FastPath"]

logger = logging.getLogger(__name__)

_FAST_METHODS = frozenset({"tools/call", "tools/list"})
_CALL_PARAMS = frozenset({"name", "arguments", "_meta"})
_LIST_PARAMS = frozenset({"_meta"})
# Bodies above this go to the SDK (it owns the size limit and its error): unread when their Content-Length says so.
_MAX_FAST_BODY = 1 << 20
_MCP_PARAM_PREFIX = MCP_PARAM_HEADER_PREFIX.lower()
_JSON_HEADERS = [(b"content-type", b"application/json")]
# pydantic-core's JSON parser (the SDK's) refuses nesting deeper than this; refusing it here for every body keeps
# both eras and both paths on one rule, and keeps deep values away from recursive code (schemas, serialisers).
MAX_NESTING = 200
INVALID_REQUEST = -32600
PARSE_ERROR = -32700


def _replay(body: bytes, receive: Receive, *, complete: bool = True) -> Receive:
    """A `receive` that yields the already-read body once, then defers to the connection (the rest of a body
    that was not read to its end, or disconnects)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replayed


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The body, and whether that is all of it (False: the client went away, or it is over `_MAX_FAST_BODY`)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False  # the client went away
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > _MAX_FAST_BODY:
            return b"".join(chunks), False


class FastPath:
    """Answers well-formed `tools/call` and `tools/list` POSTs from the hub; hands everything else to `fallback`."""

    def __init__(self, hub: Hub, security: TransportSecuritySettings | None) -> None:
        self.hub = hub
        self._security = TransportSecurityMiddleware(security)

    async def handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        manager: StreamableHTTPSessionManager,
        fallback: Callable[[Scope, Receive, Send], Awaitable[None]],
    ) -> None:
        if scope["method"] != "POST":
            await fallback(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > _MAX_FAST_BODY):
            await fallback(scope, receive, send)
            return
        # A chunked body (no Content-Length) is read too, for `refusal` only: the SDK answers it otherwise.
        body, complete = await _read_body(receive)
        if not complete:
            await fallback(scope, _replay(body, receive, complete=False), send)
            return
        message = _json_body(headers, body)
        scope[sdk.MESSAGE_SCOPE_KEY] = message
        if type(message) is dict and message.get("method") == "initialize" and type(message.get("params")) is dict:
            scope[sdk.OPENING_SCOPE_KEY] = message["params"]  # what the session's sealed id will carry
        refused = refusal(message)
        if refused is not None:
            await _send_json(send, 400, refused)
            return
        try:
            answered = (
                length is not None
                and message is not _NOT_JSON
                and await self._answer(scope, headers, message, manager, send)
            )
        except Exception:
            # Never a reason to fail the request: the SDK path serves it (and reports what is wrong).
            logger.exception("fast path failed; serving through the SDK")
            answered = False
        if not answered:
            await fallback(scope, _replay(body, receive), send)

    async def _answer(
        self, scope: Scope, headers: Headers, message: object, manager: StreamableHTTPSessionManager, send: Send
    ) -> bool:
        """Send the answer and return True, or return False having sent nothing."""
        if (
            not isinstance(message, dict)
            or message.get("jsonrpc") != "2.0"
            or message.get("method") not in _FAST_METHODS
        ):
            return False
        request_id = message.get("id")
        if isinstance(request_id, bool) or not isinstance(request_id, str | int):
            return False
        params = message.get("params", {})
        if not isinstance(params, dict) or not set(params) <= (
            _CALL_PARAMS if message["method"] == "tools/call" else _LIST_PARAMS
        ):
            return False
        request = Request(scope)
        if await self._security.validate_request(request, is_post=True) is not None:
            return False
        has_json, has_sse = check_accept_headers(request)
        version = headers.get("mcp-protocol-version")
        session_id: str | None = None
        if version is None or version in HANDSHAKE_PROTOCOL_VERSIONS:
            if not (has_json and has_sse) or _modern_envelope(params):
                return False
            session_id = headers.get("mcp-session-id")
            version = self._live_session_version(scope, session_id, manager)
            if version is None:
                return False
        elif version in MODERN_PROTOCOL_VERSIONS:
            if not has_json or not self._modern_request_ok(scope, headers, message):
                return False
        else:
            return False

        result = (
            await self._tool_list(scope, version)
            if message["method"] == "tools/list"
            else await self._tool_call(scope, params, version)
        )
        if result is None:
            return False
        payload = b'{"jsonrpc":"2.0","id":' + orjson.dumps(request_id) + b',"result":' + result + b"}"
        extra = [(b"mcp-session-id", session_id.encode())] if session_id is not None else []
        await _send_json(send, 200, payload, extra)
        return True

    def _live_session_version(
        self, scope: Scope, session_id: str | None, manager: StreamableHTTPSessionManager
    ) -> str | None:
        """The negotiated version of an initialized session this caller owns; None when the SDK must decide."""
        if not session_id:
            return None
        transport = sdk.live_transport(manager, session_id)
        if transport is None:
            return None
        user = scope.get("user")
        requestor = authorization_context(user) if isinstance(user, AuthenticatedUser) else None
        if requestor != sdk.session_owner(manager, session_id):
            return None
        # The SDK session object the hub recorded on this session's first request through the SDK; seeing it
        # again keeps it in the registry that list_changed goes to.
        key = f"http:{session_id}"
        known = self.hub.sessions.get(key)
        if known is None or known.client_params is None:
            return None  # not initialized yet (or not seen by the hub): the SDK owns the gate
        self.hub.sessions.touch(key, known)
        # The SDK restarts a session's idle countdown on every request it serves; so must we.
        sdk.restart_idle_countdown(transport)
        return str(known.protocol_version)

    def _modern_request_ok(self, scope: Scope, headers: Headers, message: dict[str, Any]) -> bool:
        """The 2026-07-28 checks of the SDK's modern entry, all passing (else the SDK answers the rejection)."""
        if find_duplicated_routing_header(headers.items()) is not None:
            return False
        verdict = classify_inbound_request(message, headers=dict(headers))
        if not isinstance(verdict, InboundModernRoute):
            return False
        if message["method"] != "tools/call":
            return True
        params = message.get("params") or {}
        arguments = params.get("arguments") or {}
        if not isinstance(arguments, Mapping):
            return False
        if arguments or any(key.startswith(_MCP_PARAM_PREFIX) for key in headers):
            found = self._resolve(scope, params.get("name"))
            schema = found[1].tool.input_schema if found is not None else None
            if schema is not None and validate_mcp_param_headers(schema, arguments, headers) is not None:
                return False
        return True

    def _resolve(self, scope: Scope, name: object) -> Any:
        if not isinstance(name, str):
            return None
        slug = scope.get("path_params", {}).get("slug")
        return self.hub.resolve_tool(self.hub.snapshot, slug, name)

    async def _tool_call(self, scope: Scope, params: dict[str, Any], version: str) -> bytes | None:
        name = params.get("name")
        arguments = params.get("arguments")
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict) or not isinstance(name, str):
            return None
        principal = _principal(scope)
        if not self.hub.access.admits(principal):
            return None  # the SDK path answers that a key is required
        slug = scope.get("path_params", {}).get("slug")
        meta = await self.hub.meta_call(principal, slug, version, route_view(scope), name, arguments)
        if isinstance(meta, types.CallToolResult):
            result = meta
        else:
            found = meta[:2] if meta is not None else self._resolve(scope, name)
            if found is None:
                return None  # the SDK's unknown-tool error
            mount, entry = found
            if meta is not None:
                arguments = meta[2]
            if mount.executor.live is not None:
                return None  # upstream MCP tools relay through the SDK session
            result = await self.hub.call(principal, mount, entry, arguments)
        dumped = methods.serialize_server_result(
            "tools/call", version, result.model_dump(by_alias=True, mode="json", exclude_none=True)
        )
        return orjson.dumps(self._stamped(dumped, version))

    async def _tool_list(self, scope: Scope, version: str) -> bytes:
        """The serialised tools/list result, cached by the hub per snapshot and visible set (500 tools: ~0.5 MB)."""
        slug = scope.get("path_params", {}).get("slug")
        page = await self.hub.tool_list_page(slug, version, _principal(scope), route_view(scope))
        return page.json

    def _stamped(self, result: dict[str, Any], version: str) -> dict[str, Any]:
        """2026-07-28 results carry `resultType` and the `serverInfo` stamp, as the SDK's serialiser adds."""
        if version in MODERN_PROTOCOL_VERSIONS:
            result.setdefault("resultType", "complete")
            result["_meta"] = {**(result.get("_meta") or {}), SERVER_INFO_META_KEY: self.hub.server.server_info_stamp}
        return result


async def _send_json(send: Send, status: int, payload: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


_NOT_JSON = object()


def _json_body(headers: Headers, body: bytes) -> object:
    """The parsed body of an `application/json` POST, else `_NOT_JSON` (the SDK judges it, parse errors included)."""
    if headers.get("content-type", "").split(";", 1)[0].strip().lower() != "application/json":
        return _NOT_JSON
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _NOT_JSON  # the SDK answers -32700 in both eras


def refusal(message: object) -> bytes | None:
    """The JSON-RPC error for a hostile message, or None when it is for the fast path or the SDK to judge.

    The `id` of the answer is null: JSON-RPC's rule when the request's id could not be determined.
    """
    if message is _NOT_JSON:
        return None
    problem: tuple[int, str] | None = None
    if _deeper_than(message, MAX_NESTING):
        problem = (PARSE_ERROR, f"Parse error: the JSON nests deeper than {MAX_NESTING} levels")
    elif isinstance(message, dict):
        if "method" in message and not isinstance(message["method"], str):
            problem = (INVALID_REQUEST, 'Invalid Request: "method" must be a string')
        elif "id" in message and (isinstance(message["id"], bool) or not isinstance(message["id"], str | int | None)):
            problem = (INVALID_REQUEST, 'Invalid Request: "id" must be a string, a number or null')
    if problem is None:
        return None
    code, text = problem
    return orjson.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": text}})


def _deeper_than(value: object, limit: int) -> bool:
    """Whether containers nest more than `limit` levels; level by level, so a hostile depth cannot exhaust the
    stack (parsed JSON holds exact dicts and lists, hence `type() is`, which is what keeps this cheap)."""
    level: list[Any] = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for item in level:
            for child in item.values() if type(item) is dict else item:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
    return False


def _modern_envelope(params: Mapping[str, Any]) -> bool:
    meta = params.get("_meta")
    return isinstance(meta, Mapping) and PROTOCOL_VERSION_META_KEY in meta


def _principal(scope: Scope) -> KeyPrincipal | None:
    principal = (scope.get("state") or {}).get("principal")
    return principal if isinstance(principal, KeyPrincipal) else None
