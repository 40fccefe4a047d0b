"""ASGI middleware for `/mcp`: a valid `mcp_sk_…` Bearer key or HTTP 401 pointing at the resource metadata.

On success the key's `KeyPrincipal` is in `scope["state"]["principal"]` (Starlette: `request.state.principal`)
and bound to the context (`tenancy_credentials.current_principal`) for the rest of the request.
The 401 carries `WWW-Authenticate: Bearer resource_metadata="<origin>/.well-known/oauth-protected-resource"`
(RFC 9728), which is how OAuth-only MCP clients discover where to authorize.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from mcphub.runtime.accounts import Accounts
from mcphub.runtime.tenancy_credentials import acting_as

__all__ = ["KeyAuthMiddleware", "bearer_token", "resource_metadata_url"]

METADATA_PATH = "/.well-known/oauth-protected-resource"


def bearer_token(headers: Headers) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def resource_metadata_url(scope: Scope) -> str:
    headers = Headers(scope=scope)
    host = headers.get("host") or "localhost"
    return f"{scope.get('scheme', 'http')}://{host}{METADATA_PATH}"


class KeyAuthMiddleware:
    def __init__(self, app: ASGIApp, accounts: Accounts) -> None:
        self.app = app
        self.accounts = accounts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = bearer_token(Headers(scope=scope))
        principal = await self.accounts.authenticate_key(token) if token else None
        if principal is None:
            error = "invalid_token" if token else "invalid_request"
            description = (
                "the API key is invalid, expired or revoked" if token else "an API key (Bearer mcp_sk_…) is required"
            )
            body = json.dumps({"error": error, "error_description": description}).encode()
            challenge = f'Bearer resource_metadata="{resource_metadata_url(scope)}"'
            if token:
                challenge += f', error="{error}", error_description="{description}"'
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", challenge.encode()),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["principal"] = principal
        with acting_as(principal):
            await self.app(scope, receive, send)
