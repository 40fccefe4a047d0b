"""A real OAuth 2.0 authorization server for tests, built with authlib and served over HTTP on 127.0.0.1.

Authorization code with PKCE (S256 required), refresh tokens (rotated), client_secret_basic/post, an RFC 7009
revocation endpoint and one protected resource (`GET /api/me`). The authorization endpoint approves at once
for the user named in `approve_as` (a test has no person to click "Allow") and records each request's query
(provider-specific parameters such as Atlassian's `audience` and `prompt` included).
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, OAuth2Request, TokenMixin, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # plain http, on loopback, in tests only

_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    auth_method: str = "client_secret_basic"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class Token(TokenMixin):  # type: ignore[misc]
    client_id: str
    user: str
    access_token: str
    refresh_token: str | None
    scope: str
    expires_in: int
    issued_at: float = field(default_factory=time.time)
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() > self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, method: str, url: str, headers: Any, args: dict[str, str], form: dict[str, str]) -> None:
        super().__init__(method, url, headers=headers)
        self._args, self._form = args, form
        self.payload = BasicOAuth2Payload({**args, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class OAuthTestServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, expires_in: int = 3600, scopes: tuple[str, ...] = ("repo", "read")) -> None:
        super().__init__(scopes_supported=list(scopes))
        self.clients: dict[str, Client] = {}
        self.authorize_requests: list[dict[str, str]] = []  # the query of each authorization request, as received
        # What `GET /oauth/token/accessible-resources` lists for a valid token (Atlassian's shape: id, name, url).
        self.resources: list[dict[str, Any]] = []
        self.codes: dict[str, Code] = {}
        self.tokens: list[Token] = []
        self.grants_seen: list[str] = []
        self.revoked: list[str] = []
        self.approve_as = "octocat"
        server = self

        class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = _AUTH_METHODS

            def save_authorization_code(self, code: str, request: Any) -> None:
                data = request.payload.data
                server.codes[code] = Code(
                    code,
                    request.client.client_id,
                    data.get("redirect_uri"),
                    data.get("scope", ""),
                    request.user,
                    data.get("code_challenge"),
                    data.get("code_challenge_method"),
                )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = server.codes.get(code)
                return found if found and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                server.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> str:
                return authorization_code.user

        class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS = _AUTH_METHODS
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
                for token in server.tokens:
                    if token.refresh_token == refresh_token and not token.revoked:
                        return token
                return None

            def authenticate_user(self, credential: Token) -> str:
                return credential.user

            def revoke_old_credential(self, credential: Token) -> None:
                credential.revoked = True

        self.register_grant(CodeGrant, [CodeChallenge(required=True)])
        self.register_grant(RefreshGrant)
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: "at-" + secrets.token_urlsafe(16),
                refresh_token_generator=lambda **_: "rt-" + secrets.token_urlsafe(16),
                expires_generator=lambda client, grant_type: expires_in,
            ),
        )

    def query_client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        self.grants_seen.append(request.payload.grant_type)
        self.tokens.append(
            Token(
                request.client.client_id,
                request.user,
                token["access_token"],
                token.get("refresh_token"),
                token.get("scope", ""),
                token["expires_in"],
            )
        )

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=dict(headers))
        return Response(body or "", status_code=status, headers=dict(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def token_for(self, access_token: str) -> Token | None:
        for token in self.tokens:
            if token.access_token == access_token:
                return token
        return None

    # --- HTTP ---------------------------------------------------------------------------------------

    async def _request(self, request: Request) -> _Request:
        form = dict(await request.form()) if request.method == "POST" else {}
        return _Request(request.method, str(request.url), request.headers, dict(request.query_params), form)  # type: ignore[arg-type]

    async def authorize(self, request: Request) -> Response:
        self.authorize_requests.append(dict(request.query_params))
        req = await self._request(request)
        grant = self.get_consent_grant(req, end_user=self.approve_as)
        response: Response = self.create_authorization_response(req, grant_user=self.approve_as, grant=grant)
        return response

    async def token(self, request: Request) -> Response:
        response: Response = self.create_token_response(await self._request(request))
        return response

    async def revoke(self, request: Request) -> Response:
        form = await request.form()
        value = str(form.get("token", ""))
        self.revoked.append(value)
        for token in self.tokens:
            if value in (token.access_token, token.refresh_token):
                token.revoked = True
        return Response(status_code=200)

    def valid(self, authorization: str) -> Token | None:
        """The live token an `Authorization: Bearer …` header carries, or None (unknown, revoked or expired)."""
        token = self.token_for(authorization.removeprefix("Bearer "))
        return None if token is None or token.revoked or token.is_expired() else token

    async def me(self, request: Request) -> Response:
        token = self.valid(request.headers.get("authorization", ""))
        if token is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"login": token.user})

    async def accessible_resources(self, request: Request) -> Response:
        if self.valid(request.headers.get("authorization", "")) is None:
            return JSONResponse({"code": 401, "message": "Unauthorized"}, status_code=401)
        return JSONResponse(self.resources)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/authorize", self.authorize, methods=["GET"]),
                Route("/token", self.token, methods=["POST"]),
                Route("/oauth/token", self.token, methods=["POST"]),  # Atlassian's path (auth.atlassian.com)
                Route("/revoke", self.revoke, methods=["POST"]),
                Route("/api/me", self.me, methods=["GET"]),
                Route("/oauth/token/accessible-resources", self.accessible_resources, methods=["GET"]),
            ]
        )


class Running:
    """The server on an ephemeral 127.0.0.1 port in a background thread; `url` once it is accepting."""

    def __init__(self, server: OAuthTestServer) -> None:
        self.oauth = server
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._uvicorn = uvicorn.Server(uvicorn.Config(server.app(), log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._uvicorn.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._uvicorn.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test OAuth server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._uvicorn.should_exit = True
        self._thread.join(timeout=10)
