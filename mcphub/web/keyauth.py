"""ASGI middleware for `/mcp`: a valid `mcp_sk_…` Bearer key or HTTP 401 pointing at the resource metadata.

On success the key's `KeyPrincipal` is in `scope["state"]["principal"]` (Starlette: `request.state.principal`)
for the rest of the request (the hub reads it from there). `scope["user"]`
identifies the key's *user* to the MCP SDK's transports, which bind a session to the identity that opened
it: a session id presented with another user's key is answered 404, as if it did not exist.
The 401 carries `WWW-Authenticate: Bearer resource_metadata="<origin>/.well-known/oauth-protected-resource"`
(RFC 9728), which is how OAuth-only MCP clients discover where to authorize.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from mcphub.runtime.tenancy.accounts import Accounts, KeyPrincipal

__all__ = ["KeyAuthMiddleware", "bearer_token", "resource_metadata_url", "sdk_user"]

METADATA_PATH = "/.well-known/oauth-protected-resource"


def bearer_token(headers: Headers) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def resource_metadata_url(scope: Scope) -> str:
    headers = Headers(scope=scope)
    host = headers.get("host") or "localhost"
    return f"{scope.get('scheme', 'http')}://{host}{METADATA_PATH}"


ISSUER = "mcphub"


@functools.lru_cache(maxsize=4096)
def sdk_user(principal: KeyPrincipal) -> AuthenticatedUser:
    """The SDK's view of a key: one identity per hub user (the SDK binds sessions to it), no secret inside.

    Cached per principal (an immutable value): building the SDK's pydantic token objects on every request
    was a measurable share of a tool call's CPU.
    """
    return AuthenticatedUser(
        AccessToken(
            token=f"key:{principal.key_id}",
            client_id=f"user:{principal.user_id}",
            scopes=sorted(principal.scope or ()),
            subject=str(principal.user_id),
            claims={"iss": ISSUER},
        )
    )


Authenticator = Callable[[str], Awaitable[KeyPrincipal | None]]


class KeyAuthMiddleware:
    """`accounts` may be a callable, for apps whose accounts open at startup (None until then: 503).

    `authenticate` replaces the plain API-key lookup, e.g. to accept the hub's own OAuth access tokens too.
    """

    def __init__(
        self,
        app: ASGIApp,
        accounts: Accounts | Callable[[], Accounts | None],
        *,
        authenticate: Authenticator | None = None,
        metadata_url: Callable[[Scope], str] | None = None,
    ) -> None:
        self.app = app
        self._accounts = accounts
        self._authenticate = authenticate
        self._metadata_url = metadata_url or resource_metadata_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accounts = self._accounts if isinstance(self._accounts, Accounts) else self._accounts()
        if accounts is None:
            await _send_json(send, 503, {"error": "unavailable", "error_description": "the hub is starting"}, [])
            return
        token = bearer_token(Headers(scope=scope))
        lookup = self._authenticate or accounts.authenticate_key
        principal = await lookup(token) if token else None
        if principal is None:
            error = "invalid_token" if token else "invalid_request"
            description = (
                "the API key or access token is invalid, expired or revoked"
                if token
                else "an API key (Bearer mcp_sk_…) or OAuth access token is required"
            )
            challenge = f'Bearer resource_metadata="{self._metadata_url(scope)}"'
            if token:
                challenge += f', error="{error}", error_description="{description}"'
            body = {"error": error, "error_description": description}
            await _send_json(send, 401, body, [(b"www-authenticate", challenge.encode())])
            return
        scope.setdefault("state", {})["principal"] = principal
        scope["user"] = sdk_user(principal)
        await self.app(scope, receive, send)


async def _send_json(send: Send, status: int, payload: dict[str, str], headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps(payload).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
