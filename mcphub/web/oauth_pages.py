"""The hub's MCP authorization server over HTTP: metadata documents, /oauth/* endpoints, sign-in and consent pages.

Routes (mounted at the root of the app, next to /mcp):

- `/.well-known/oauth-protected-resource` and `…/mcp`: RFC 9728 metadata of the `/mcp` resource;
- `/.well-known/oauth-authorization-server`: RFC 8414 metadata (issuer = the hub's public origin);
- `/oauth/register` (RFC 7591), `/oauth/authorize`, `/oauth/token`, `/oauth/revoke` (RFC 7009):
  the MCP SDK's handlers over `runtime.oauth.authserver.AuthServer`. A `client_id` that is an https URL
  is a Client ID Metadata Document (`runtime/oauth/cimd.py`), fetched instead of registered; its host
  must be public unless `MCPHUB_CIMD_ALLOW_PRIVATE=1`. An unusable document is refused at /oauth/authorize
  with the reason (400 `invalid_client`), never redirected;
- `/oauth/consent`: server-rendered pages (no JavaScript). Without a web session it shows a sign-in form
  (its CSRF token is a double-submit cookie); signing in starts the same session cookie as the JSON API's
  sign-in. Then a consent page names the client, the scope and where the browser goes next; Allow/Deny
  posts back with the session's CSRF token. Every POST with a foreign `Origin` is refused, and the pages
  refuse to be framed (clickjacking).

Upstream OAuth's `/oauth/callback/{slug}` (web/api.py) is a different flow and does not collide.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from mcp.server.auth.handlers.authorize import AuthorizationHandler
from mcp.server.auth.handlers.metadata import MetadataHandler, ProtectedResourceMetadataHandler
from mcp.server.auth.handlers.register import RegistrationHandler
from mcp.server.auth.handlers.revoke import RevocationHandler
from mcp.server.auth.handlers.token import TokenHandler
from mcp.server.auth.routes import cors_middleware
from mcp.server.auth.settings import ClientRegistrationOptions
from mcp.shared.auth import OAuthMetadata, ProtectedResourceMetadata
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mcphub.runtime.oauth.authserver import SCOPE, AuthServer, HashedClientAuthenticator, PendingAuthorization
from mcphub.runtime.oauth.cimd import ClientMetadataError, ClientMetadataFetcher, is_client_id_url
from mcphub.runtime.tenancy.accounts import UserInfo
from mcphub.runtime.tenancy.policy import LimiterUnavailable, parse_rate
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.web.sessions import WebSessions

__all__ = ["CONSENT_PATH", "create_oauth_routes", "notice_page", "protected_resource_metadata_url"]

CONSENT_PATH = "/oauth/consent"
SIGNIN_CSRF_COOKIE = "mcphub_oauth_csrf"
TEMPLATES = Path(__file__).parent / "templates"
SCOPE_DESCRIPTIONS = {SCOPE: "Use the tools of your enabled integrations through this hub's /mcp endpoint"}
_SIGN_IN_RATE = parse_rate("10/min")
_REGISTER_RATE = parse_rate("30/min")
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
}

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined)


def protected_resource_metadata_url(issuer: str) -> str:
    """Where the `WWW-Authenticate` challenge of /mcp should point (RFC 9728 §3.1, path-suffixed form)."""
    return f"{issuer.rstrip('/')}/.well-known/oauth-protected-resource/mcp"


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_env.get_template(f"oauth/{template}").render(**context), status, headers=_PAGE_HEADERS)


def notice_page(
    status: int, title: str, message: str, *, next_url: str = "", next_label: str = "", detail: str = ""
) -> HTMLResponse:
    """The end of a browser flow in the hub's page style: what happened and what to do next.

    A status of 400 or more makes the message an alert. `next_url`/`next_label` offer a way forward;
    `detail` is a line for the application's developer (an OAuth error code and description).
    """
    return _page(
        "notice.html",
        status,
        title=title,
        message=message,
        failed=status >= 400,
        next_url=next_url,
        next_label=next_label,
        detail=detail,
    )


def _form_refused(token: str, step: str) -> HTMLResponse:
    """A form whose CSRF token is missing or wrong: nothing happened; link back to a fresh copy of the form.

    (Usually the form was opened in another tab, which replaced its token, or was left open too long.)
    """
    return notice_page(
        403,
        "This form could not be accepted",
        "Its security token is missing or wrong, which happens when the page was opened again in another tab "
        "or left open for too long. Nothing was signed in or shared: open the form again and resubmit it.",
        next_url=f"{CONSENT_PATH}?request={quote(token)}",
        next_label=f"Open the {step} page again",
    )


class _Consent:
    """Sign-in and consent pages; web sessions are the JSON API's (same cookie, same signing key)."""

    def __init__(self, tenancy: Tenancy, server: AuthServer, secure: bool) -> None:
        self.t = tenancy
        self.server = server
        self.secure = secure
        self.sessions = WebSessions(tenancy)

    async def session_user(self, request: Request) -> tuple[UserInfo, str] | None:
        """(user, session CSRF token) of a live web session; None without one."""
        return await self.sessions.read(request)

    async def start_session(self, response: Response, user: UserInfo) -> None:
        await self.sessions.start(response, user, secure=self.secure)

    # --- pages ---------------------------------------------------------------------------------------

    def _sign_in(
        self, token: str, pending: PendingAuthorization, *, error: str = "", email: str = "", status: int = 0
    ) -> Response:
        csrf = secrets.token_urlsafe(32)
        response = _page(
            "signin.html",
            status or (401 if error else 200),
            title="Sign in",
            client_name=pending.client_name,
            request_token=token,
            csrf=csrf,
            action=CONSENT_PATH,
            error=error,
            email=email,
        )
        response.set_cookie(
            SIGNIN_CSRF_COOKIE, csrf, max_age=1800, httponly=True, samesite="strict", secure=self.secure, path="/oauth"
        )
        return response

    @staticmethod
    def _consent(token: str, pending: PendingAuthorization, user: UserInfo, csrf: str) -> Response:
        target = urlsplit(pending.redirect_uri)
        # A metadata-document client names itself: the host that publishes the document is what the user
        # can check (the MCP spec asks consent pages to show it).
        published_by = urlsplit(pending.client_id).hostname if is_client_id_url(pending.client_id) else None
        return _page(
            "consent.html",
            title=f"Allow {pending.client_name}?",
            client_name=pending.client_name,
            client_id=pending.client_id,
            published_by=published_by,
            email=user.email,
            scopes=pending.scopes,
            scope_descriptions=SCOPE_DESCRIPTIONS,
            resource=pending.resource,
            redirect_to=f"{target.scheme}://{target.netloc}{target.path}",
            request_token=token,
            csrf=csrf,
            action=CONSENT_PATH,
        )

    async def _pending(self, token: str) -> PendingAuthorization | None:
        return await self.server.pending(token) if token else None

    @staticmethod
    def _expired() -> Response:
        return notice_page(
            400,
            "This request has expired",
            "The authorization request is invalid or too old. Go back to your application and connect again.",
        )

    async def show(self, request: Request) -> Response:
        token = request.query_params.get("request", "")
        pending = await self._pending(token)
        if pending is None:
            return self._expired()
        signed_in = await self.session_user(request)
        if signed_in is None:
            return self._sign_in(token, pending)
        return self._consent(token, pending, *signed_in)

    async def submit(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
            return notice_page(
                403,
                "This form could not be accepted",
                "It was sent from another site. If you meant to connect an application, go back to it and connect again.",
            )
        form = await request.form()
        fields = {name: value for name, value in form.items() if isinstance(value, str)}
        token = fields.get("request", "")
        pending = await self._pending(token)
        if pending is None:
            return self._expired()
        csrf = fields.get("csrf", "")
        action = fields.get("action", "")
        if action == "signin":
            return await self._submit_sign_in(request, token, pending, fields, csrf)
        signed_in = await self.session_user(request)
        if signed_in is None:
            return self._sign_in(token, pending)
        user, session_csrf = signed_in
        if not csrf or not hmac.compare_digest(csrf.encode(), session_csrf.encode()):
            return _form_refused(token, "consent")
        if action == "approve":
            target = await self.server.approve(user.id, pending)
        elif action == "deny":
            target = self.server.deny(pending)
        else:
            return notice_page(
                400,
                "Choose Allow or Deny",
                "The form did not say which button was pressed, so nothing was decided.",
                next_url=f"{CONSENT_PATH}?request={quote(token)}",
                next_label="Back to the consent page",
            )
        return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})

    async def _submit_sign_in(
        self, request: Request, token: str, pending: PendingAuthorization, fields: dict[str, str], csrf: str
    ) -> Response:
        cookie = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
        if not csrf or not cookie or not hmac.compare_digest(csrf.encode(), cookie.encode()):
            return _form_refused(token, "sign-in")
        email, password = fields.get("email", "").strip(), fields.get("password", "")
        client = request.client.host if request.client else "unknown"
        for bucket in (f"signin:ip:{client}", f"signin:email:{email.lower()}"):
            try:
                wait = await self.t.policy.limiter.acquire(bucket, _SIGN_IN_RATE)
            except LimiterUnavailable as exc:  # Redis down and MCPHUB_LIMITS_WITHOUT_REDIS=closed: as the JSON API
                return self._sign_in(token, pending, error=f"Sign-in is unavailable: {exc}.", email=email, status=503)
            if wait > 0:
                return self._sign_in(
                    token, pending, error=f"Too many sign-in attempts; retry in {wait:.0f} s.", email=email
                )
        user = await self.t.accounts.verify_password(email, password) if email and password else None
        if user is None:
            return self._sign_in(token, pending, error="Wrong email or password.", email=email)
        response = RedirectResponse(f"{CONSENT_PATH}?request={token}", status_code=303)
        await self.start_session(response, user)
        response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/oauth")
        return response


def _throttled(
    tenancy: Tenancy, handler: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """Unauthenticated registration writes rows: cap it per client address."""

    async def run(request: Request) -> Response:
        client = request.client.host if request.client else "unknown"
        try:
            wait = await tenancy.policy.limiter.acquire(f"oauth-register:{client}", _REGISTER_RATE)
        except LimiterUnavailable as exc:  # Redis down and MCPHUB_LIMITS_WITHOUT_REDIS=closed
            # RFC 7591 has no error code for this; OAuth's own for a passing outage (RFC 6749 4.1.2.1).
            return JSONResponse({"error": "temporarily_unavailable", "error_description": str(exc)}, status_code=503)
        if wait > 0:
            return JSONResponse(
                {
                    "error": "invalid_client_metadata",
                    "error_description": f"too many registrations; retry in {wait:.0f} s",
                },
                status_code=429,
                headers={"Retry-After": str(max(1, round(wait)))},
            )
        return await handler(request)

    return run


def authorization_server_metadata(server: AuthServer) -> OAuthMetadata:
    """The RFC 8414 document: endpoints under /oauth, code + PKCE S256, refresh, RFC 9207 `iss`."""
    base = server.issuer
    # Validated from strings, not built from AnyHttpUrl objects: the models keep an empty path empty, and
    # RFC 8414/9207 compare the issuer as an exact string ("https://hub" is not "https://hub/").
    return OAuthMetadata.model_validate(
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "registration_endpoint": f"{base}/oauth/register",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "scopes_supported": [SCOPE],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
            "client_id_metadata_document_supported": True,
        }
    )


def resource_metadata(server: AuthServer) -> ProtectedResourceMetadata:
    """The RFC 9728 document of /mcp: this hub is its own (only) authorization server."""
    return ProtectedResourceMetadata.model_validate(
        {
            "resource": server.resource,
            "authorization_servers": [server.issuer],
            "scopes_supported": [SCOPE],
            "bearer_methods_supported": ["header"],
            "resource_name": "MCP Hub",
        }
    )


def _wants_html(request: Request) -> bool:
    """A browser navigating (it asks for text/html); an HTTP client or SDK gets the JSON error instead."""
    return "text/html" in request.headers.get("accept", "")


async def _authorize_refusal_page(
    server: AuthServer, params: Mapping[str, Any], error: str, description: str
) -> HTMLResponse:
    """What a person sees when an authorization link cannot be used (it is not redirected: RFC 6749 §4.1.2.1).

    Says what is wrong in words, and what to do: usually, go back to the application and connect again.
    """
    client_id = params.get("client_id")
    redirect_uri = params.get("redirect_uri")
    detail = f"{error}: {description}"
    back = (
        "Nothing was shared. Go back to the application and connect again; if this keeps happening, tell its developer."
    )
    if not isinstance(client_id, str) or not client_id:
        return notice_page(
            400, "This link does not name an application", f"The sign-in link has no client_id. {back}", detail=detail
        )
    if error == "invalid_client" and is_client_id_url(client_id):
        return notice_page(
            400,
            "This application's description could not be used",
            f"The application describes itself at {client_id}, and the hub could not use that document. {back}",
            detail=detail,
        )
    client = await server.get_client(client_id)
    if client is None:
        return notice_page(
            400,
            "This application is not registered with the hub",
            f"The link names the application “{client_id}”, which this hub does not know: it may have been "
            f"removed, or the link was changed. {back}",
            detail=detail,
        )
    name = client.client_name or client_id
    if "redirect" in description.lower():
        if isinstance(redirect_uri, str) and redirect_uri:
            return notice_page(
                400,
                "This application asked to send you to an address it did not register",
                f"{name} asked the hub to send you back to {redirect_uri}, which is not one of the addresses it "
                f"registered, so the hub stopped here to keep your account safe. {back}",
                detail=detail,
            )
        return notice_page(
            400,
            "This application did not say where to send you back",
            f"{name} registered several addresses and the link names none of them. {back}",
            detail=detail,
        )
    return notice_page(
        400, "This sign-in link is not valid", f"The hub cannot use the request from {name}. {back}", detail=detail
    )


def _authorize_handler(server: AuthServer) -> Callable[[Request], Awaitable[Response]]:
    """The SDK's /oauth/authorize, after saying exactly why a metadata-document client cannot be used.

    (The SDK would only answer "Client ID not found"; the client's developer needs the reason.) A refusal the
    SDK answers directly (unknown client, unregistered redirect URI, malformed request) is JSON for HTTP
    clients and a page for a browser, which is where a person following the link ends up.
    """
    sdk = AuthorizationHandler(server).handle

    async def handle(request: Request) -> Response:
        params = request.query_params if request.method == "GET" else await request.form()
        client_id = params.get("client_id")
        if isinstance(client_id, str) and is_client_id_url(client_id):
            try:
                await server.client_metadata(client_id)
            except ClientMetadataError as exc:
                if _wants_html(request):
                    return await _authorize_refusal_page(server, params, "invalid_client", str(exc))
                return JSONResponse(
                    {"error": "invalid_client", "error_description": str(exc)},
                    status_code=400,
                    headers={"Cache-Control": "no-store"},
                )
        response = await sdk(request)
        if response.status_code == 400 and _wants_html(request):
            refusal = json.loads(bytes(response.body))
            return await _authorize_refusal_page(
                server, params, str(refusal.get("error", "")), str(refusal.get("error_description") or "")
            )
        return response

    return handle


def _allow_private_metadata() -> bool:
    return os.environ.get("MCPHUB_CIMD_ALLOW_PRIVATE", "").lower() in ("1", "true", "yes")


def create_oauth_routes(tenancy: Tenancy, *, issuer: str, secure_cookies: bool | None = None) -> list[BaseRoute]:
    """The authorization server's routes for a hub whose public origin is `issuer` (e.g. https://hub.example.com).

    Also sets `tenancy.authserver`, which `authenticate_bearer` uses to accept the access tokens it issues
    (an authorization server already set there for the same issuer is kept, e.g. one a test configured).
    """
    issuer = issuer.rstrip("/")
    server = tenancy.authserver
    if server is None or server.issuer != issuer:
        fetcher = ClientMetadataFetcher(allow_private=_allow_private_metadata())
        server = AuthServer(tenancy.db, tenancy.vault, issuer=issuer, client_metadata=fetcher)
        tenancy.authserver = server
    authenticator = HashedClientAuthenticator(server)
    registration = ClientRegistrationOptions(enabled=True, valid_scopes=[SCOPE], default_scopes=[SCOPE])
    consent = _Consent(tenancy, server, issuer.startswith("https://") if secure_cookies is None else secure_cookies)
    prm = ProtectedResourceMetadataHandler(resource_metadata(server)).handle
    asm = MetadataHandler(authorization_server_metadata(server)).handle
    read = ["GET", "OPTIONS"]
    write = ["POST", "OPTIONS"]
    return [
        Route("/.well-known/oauth-protected-resource", cors_middleware(prm, read), methods=read),
        Route("/.well-known/oauth-protected-resource/mcp", cors_middleware(prm, read), methods=read),
        Route("/.well-known/oauth-authorization-server", cors_middleware(asm, read), methods=read),
        Route(
            "/oauth/register",
            cors_middleware(_throttled(tenancy, RegistrationHandler(server, registration).handle), write),
            methods=write,
        ),
        Route("/oauth/authorize", _authorize_handler(server), methods=["GET", "POST"]),
        Route(CONSENT_PATH, consent.show, methods=["GET"]),
        Route(CONSENT_PATH, consent.submit, methods=["POST"]),
        Route("/oauth/token", cors_middleware(TokenHandler(server, authenticator).handle, write), methods=write),
        Route("/oauth/revoke", cors_middleware(RevocationHandler(server, authenticator).handle, write), methods=write),
    ]
