"""The JSON API under /api/v1: accounts, keys, integrations, credentials, usage and logs.

Authentication: a web session (signed cookie `mcphub_session`, set by sign-up/sign-in) or an admin's API
key (`Authorization: Bearer mcp_sk_…`). Session requests that change state must send the session's CSRF
token in `X-CSRF-Token` (returned by sign-in, sign-up and GET /me); every request body must be JSON, which
a cross-site HTML form cannot send, and a foreign `Origin` is refused. Sign-out (and a password change)
ends every session of the user: the cookie carries the user's session epoch, which sign-out bumps.

Errors are `{"error": {"code": …, "message": …}}` with a message the user can act on. The OpenAPI
description is served at /api/v1/openapi.json.

Upstream OAuth: `POST /api/v1/integrations/{slug}/oauth/start` returns the provider's consent URL; the
provider sends the browser back to `GET /oauth/callback/{slug}` (outside /api/v1, the redirect URI to
register; `MCPHUB_PUBLIC_URL` sets its origin behind a proxy), which finishes with the session's user
(flows started by `mcphub oauth connect` are bound to their user by the state alone).
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import Receive, Scope, Send

from mcphub.compiler.ir import Integration
from mcphub.runtime.oauth.authserver import GrantInfo, list_grants, revoke_grant
from mcphub.runtime.oauth.upstream import NotSignedIn, OAuthError
from mcphub.runtime.store.db import utcnow
from mcphub.runtime.tenancy.accounts import AccountError, KeyPrincipal, NotFound, UserInfo
from mcphub.runtime.tenancy.credentials import CredentialError
from mcphub.runtime.tenancy.firstrun import enable_for_new_user
from mcphub.runtime.tenancy.policy import LimiterUnavailable, parse_rate
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.runtime.tenancy.signup import SignupClosed, Signups
from mcphub.runtime.tenancy.usage import call_log, monthly, summary
from mcphub.web import audit
from mcphub.web.keyauth import bearer_token
from mcphub.web.oauth_pages import notice_page
from mcphub.web.sessions import SESSION_COOKIE, WebSessions

__all__ = [
    "API_PREFIX",
    "SESSION_COOKIE",
    "ApiBody",
    "ApiError",
    "ApiExtension",
    "api_json",
    "create_api_routes",
    "invite_url",
    "json_ok",
    "openapi_document",
    "public_base",
    "sign_in_wait",
]

API_PREFIX = "/api/v1"
CSRF_HEADER = "x-csrf-token"
_SIGN_IN_RATE = parse_rate("10/min")  # per client address and per email: slows password guessing
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

CatalogSource = Callable[[], Iterable[Integration]]
_Model = TypeVar("_Model", bound=BaseModel)


# --- request bodies (pydantic: validation errors name the field) -------------------------------------------


class ApiBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Credentials(ApiBody):
    email: str = Field(max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class SignUp(Credentials):
    invite: str | None = Field(default=None, max_length=200)  # the token of an invite link (policy `invite`)


class SignupPolicySet(ApiBody):
    policy: Literal["closed", "invite", "open"]


class InviteCreate(ApiBody):
    email: str = Field(max_length=320)
    expires_in_days: float = Field(default=7, gt=0, le=90)


class KeyCreate(ApiBody):
    name: str = Field(min_length=1, max_length=200)
    expires_in_days: float | None = Field(default=None, gt=0, le=36_500)  # beyond a century: no expiry at all
    scope: list[str] | None = None
    view: Literal["flat", "search", "auto"] = "flat"  # how /mcp lists tools for this key (README: choosing a view)


class KeyRotate(ApiBody):
    grace_seconds: int = Field(default=24 * 3600, ge=0, le=30 * 24 * 3600)


class IntegrationToggle(ApiBody):
    enabled: bool


class CredentialSet(ApiBody):
    scheme: str | None = None
    fields: dict[str, Any]


class OAuthStart(ApiBody):
    scheme: str | None = None
    # Which of the granted resources to use for variables the scheme discovers, e.g. Jira {"cloudId": "acme"}.
    server_variables: dict[str, str] | None = None


class OAuthClientSet(ApiBody):
    client_id: str = Field(min_length=1, max_length=500)
    client_secret: str | None = Field(default=None, max_length=2000)
    token_auth: Literal["client_secret_basic", "client_secret_post", "none"] = "client_secret_basic"
    revocation_url: str | None = Field(default=None, max_length=2000)


_BODIES: dict[str, type[BaseModel]] = {
    "Credentials": Credentials,
    "SignUp": SignUp,
    "SignupPolicySet": SignupPolicySet,
    "InviteCreate": InviteCreate,
    "KeyCreate": KeyCreate,
    "KeyRotate": KeyRotate,
    "IntegrationToggle": IntegrationToggle,
    "CredentialSet": CredentialSet,
    "OAuthStart": OAuthStart,
    "OAuthClientSet": OAuthClientSet,
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class ApiExtension:
    """More routes under /api/v1 from another module (e.g. `web/servers_api.py`), with the same authentication,
    CSRF, errors and audit (`routes` gets the API object: `caller`, `body`, `endpoint`), documented in the same
    OpenAPI document (`paths(prefix, error_response)` and request `bodies` by schema name)."""

    routes: Callable[[Any], Sequence[BaseRoute]]
    paths: Callable[[str, dict[str, Any]], dict[str, dict[str, Any]]]
    bodies: dict[str, type[BaseModel]]


def api_json(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return api_json(asdict(value))
    if isinstance(value, dict):
        return {k: api_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [api_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def json_ok(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(api_json(value), status_code=status)


def _user(user: UserInfo) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "is_admin": user.is_admin, "created_at": user.created_at}


@dataclass(frozen=True, slots=True)
class Caller:
    user: UserInfo
    via: Literal["session", "key"]
    csrf: str | None = None


class _Api:
    def __init__(
        self,
        tenancy: Tenancy,
        catalog: CatalogSource | None,
        secure_cookies: bool | None,
        extensions: Sequence[ApiExtension] = (),
    ) -> None:
        self.extensions = tuple(extensions)
        self.t = tenancy
        self.catalog = catalog
        self.secure_cookies = secure_cookies
        self.sessions = WebSessions(tenancy)
        self.signups = Signups(tenancy.accounts)

    # --- sessions ------------------------------------------------------------------------------------

    async def signed_in(self, request: Request, user: UserInfo, status: int = 200) -> Response:
        """The response of sign-up/sign-in: the user and CSRF token, with the session cookie set."""
        csrf = secrets.token_urlsafe(32)
        secure = self.secure_cookies
        if secure is None:  # behind a TLS-terminating proxy the request itself says http: trust the public URL
            secure = request.url.scheme == "https" or os.environ.get("MCPHUB_PUBLIC_URL", "").startswith("https://")
        response = json_ok({"user": _user(user), "csrf_token": csrf}, status)
        await self.sessions.start(response, user, secure=secure, csrf=csrf)
        return response

    async def session_caller(self, request: Request) -> Caller | None:
        live = await self.sessions.read(request)
        return Caller(live[0], "session", live[1]) if live else None

    async def caller(self, request: Request) -> Caller:
        """Who is calling: a session (CSRF-checked on writes) or an admin key; else 401/403."""
        token = bearer_token(request.headers)
        if token is not None:
            principal: KeyPrincipal | None = await self.t.accounts.authenticate_key(token)
            if principal is None:
                raise ApiError(401, "invalid_key", "the API key is invalid, expired or revoked")
            if not principal.is_admin:
                raise ApiError(
                    403, "admin_key_required", "the JSON API takes admin keys only; sign in for your own account"
                )
            user = await self.t.accounts.get_user(principal.user_id)
            if user is None:
                raise ApiError(401, "invalid_key", "the key's user no longer exists")
            request.state.actor = user.id
            return Caller(user, "key")
        caller = await self.session_caller(request)
        if caller is None:
            raise ApiError(401, "not_signed_in", "sign in first (POST /api/v1/auth/sign-in) or send an admin API key")
        if request.method not in _SAFE:
            sent = request.headers.get(CSRF_HEADER, "")
            if not (caller.csrf and hmac.compare_digest(sent.encode(), caller.csrf.encode())):
                raise ApiError(403, "csrf", f"missing or wrong {CSRF_HEADER} header (GET /api/v1/me returns the token)")
        request.state.actor = caller.user.id
        return caller

    def target_user(self, request: Request, caller: Caller) -> int | None:
        """The user whose data to read: yourself; an admin may pass ?user_id= or ?all=true (None)."""
        wanted = request.query_params.get("user_id")
        everyone = request.query_params.get("all") in ("1", "true", "yes")
        if (wanted is not None and wanted != str(caller.user.id)) or everyone:
            if not caller.user.is_admin:
                raise ApiError(403, "admin_only", "only admins can read other users' usage and logs")
            if everyone:
                return None
            try:
                return int(wanted or "")
            except ValueError:
                raise ApiError(400, "bad_request", "user_id must be an integer") from None
        return caller.user.id

    # --- plumbing ------------------------------------------------------------------------------------

    @staticmethod
    async def body(request: Request, model: type[_Model]) -> _Model:
        if "application/json" not in request.headers.get("content-type", ""):
            raise ApiError(415, "json_required", "send the body as JSON (Content-Type: application/json)")
        try:
            return model.model_validate_json(await request.body())
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            raise ApiError(422, "invalid_body", problems) from None

    def endpoint(self, handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                origin = request.headers.get("origin")
                if request.method not in _SAFE and origin and origin.split("://", 1)[-1] != request.headers.get("host"):
                    raise ApiError(403, "cross_origin", f"requests from {origin} are not accepted")
                response = await handler(request)
                if request.method not in _SAFE and response.status_code < 400:
                    actor = getattr(request.state, "actor", None)
                    await audit.record(
                        self.t.db,
                        f"api {request.method} {request.url.path.removeprefix(API_PREFIX)}",
                        actor_id=actor,
                        user_id=actor,
                    )
                return response
            except ApiError as exc:
                return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status)
            except NotFound as exc:
                return JSONResponse({"error": {"code": "not_found", "message": str(exc)}}, status_code=404)
            except SignupClosed as exc:
                return JSONResponse({"error": {"code": "signup_closed", "message": str(exc)}}, status_code=403)
            except (AccountError, CredentialError) as exc:
                return JSONResponse({"error": {"code": "invalid", "message": str(exc)}}, status_code=400)
            except OAuthError as exc:
                return JSONResponse({"error": {"code": "oauth", "message": str(exc)}}, status_code=400)

        return run

    async def throttle(self, request: Request, email: str) -> None:
        try:
            wait = await sign_in_wait(self.t, request, email)
        except LimiterUnavailable as exc:  # Redis down and MCPHUB_LIMITS_WITHOUT_REDIS=closed
            raise ApiError(503, "limits_unavailable", str(exc)) from None
        if wait > 0:
            raise ApiError(429, "rate_limited", f"too many sign-in attempts; retry in {wait:.0f} s")

    # --- auth ----------------------------------------------------------------------------------------

    async def sign_up(self, request: Request) -> Response:
        body = await self.body(request, SignUp)
        await self.throttle(request, body.email)
        user = await self.signups.sign_up(body.email, body.password, invite=body.invite)
        await self.welcome(user)
        request.state.actor = user.id
        return await self.signed_in(request, user, 201)

    async def new_user(self, email: str, password: str) -> UserInfo:
        """Create an account (admin API) with the integrations every new user starts with."""
        user = await self.t.accounts.create_user(email, password)
        await self.welcome(user)
        return user

    async def welcome(self, user: UserInfo) -> None:
        """What MCPHUB_NEW_USER_INTEGRATIONS gives a new account (credential-free integrations by default)."""
        await enable_for_new_user(self.t, user.id, self._catalog(user.id).values())

    async def signup_policy(self, request: Request) -> Response:
        """GET: the policy (anyone: the sign-up page needs it); PUT: change it (admins)."""
        if request.method == "PUT":
            await self.admin(request)
            body = await self.body(request, SignupPolicySet)
            state = await self.signups.set_policy(body.policy)
        else:
            state = await self.signups.state()
        return json_ok({"policy": state.policy, "source": state.source, "locked": state.locked})

    async def invites(self, request: Request) -> Response:
        caller = await self.admin(request)
        if request.method == "GET":
            found = await self.signups.invites()
            return json_ok({"invites": [api_json(i) | {"token": None, "status": i.status} for i in found]})
        body = await self.body(request, InviteCreate)
        invite = await self.signups.invite(
            body.email, created_by=caller.user.id, ttl=timedelta(days=body.expires_in_days)
        )
        return json_ok(
            {"invite": api_json(invite) | {"status": invite.status}, "url": invite_url(request, invite.token)}, 201
        )

    async def admin(self, request: Request) -> Caller:
        caller = await self.caller(request)
        if not caller.user.is_admin:
            raise ApiError(403, "admin_only", "only admins can do this")
        return caller

    async def sign_in(self, request: Request) -> Response:
        body = await self.body(request, Credentials)
        await self.throttle(request, body.email)
        user = await self.t.accounts.verify_password(body.email, body.password)
        if user is None:
            raise ApiError(401, "bad_credentials", "wrong email or password")
        return await self.signed_in(request, user)

    async def sign_out(self, request: Request) -> Response:
        caller = await self.caller(request)
        if caller.via == "session":
            await self.t.accounts.end_sessions(caller.user.id)
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def me(self, request: Request) -> Response:
        caller = await self.caller(request)
        return json_ok({"user": _user(caller.user), "csrf_token": caller.csrf, "via": caller.via})

    async def users(self, request: Request) -> Response:
        caller = await self.caller(request)
        if not caller.user.is_admin:
            raise ApiError(403, "admin_only", "only admins can list or create users")
        if request.method == "POST":
            body = await self.body(request, Credentials)
            return json_ok({"user": _user(await self.new_user(body.email, body.password))}, 201)
        return json_ok({"users": [_user(u) for u in await self.t.accounts.list_users()]})

    # --- keys ----------------------------------------------------------------------------------------

    @staticmethod
    def _key(info: Any) -> dict[str, Any]:
        data: dict[str, Any] = api_json(info)
        data["status"] = info.status
        return data

    async def keys(self, request: Request) -> Response:
        caller = await self.caller(request)
        if request.method == "GET":
            return json_ok({"keys": [self._key(k) for k in await self.t.accounts.list_keys(caller.user.id)]})
        body = await self.body(request, KeyCreate)
        expires = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
        catalog = self.catalog() if self.catalog else None
        new = await self.t.accounts.create_key(
            caller.user.id, body.name, expires_at=expires, scope=body.scope, catalog=catalog, view=body.view
        )
        return json_ok({"key": self._key(new.info), "secret": new.secret}, 201)

    def _key_id(self, request: Request) -> int:
        return _row_id(request, "key_id", "no such key")

    async def key(self, request: Request) -> Response:
        caller = await self.caller(request)
        info = await self.t.accounts.revoke_key(caller.user.id, self._key_id(request))
        return json_ok({"key": self._key(info)})

    async def rotate(self, request: Request) -> Response:
        caller = await self.caller(request)
        body = await self.body(request, KeyRotate) if await request.body() else KeyRotate()
        new = await self.t.accounts.rotate_key(
            caller.user.id, self._key_id(request), grace=timedelta(seconds=body.grace_seconds)
        )
        return json_ok({"key": self._key(new.info), "secret": new.secret, "previous_valid_seconds": body.grace_seconds})

    # --- integrations and credentials ----------------------------------------------------------------

    def _catalog(self, user_id: int | None) -> dict[str, Integration]:
        """The catalog as `user_id` sees it (never another user's private built integration); None: all of it."""
        catalog = self.catalog() if self.catalog else []
        return {i.slug: i for i in catalog if user_id is None or self.t.builds.may_see(user_id, i.slug)}

    async def integrations(self, request: Request) -> Response:
        caller = await self.caller(request)
        states = await self.t.integrations.states(caller.user.id)
        catalog = self._catalog(caller.user.id)
        items = []
        for slug in sorted(set(catalog) | set(states)):
            integration, state = catalog.get(slug), states.get(slug)
            items.append(
                {
                    "slug": slug,
                    "name": integration.name if integration else slug,
                    "description": integration.description if integration else "",
                    "in_catalog": integration is not None,
                    "auth": [{"id": a.id, "type": a.type, "label": a.label} for a in integration.auth]
                    if integration
                    else [],
                    "enabled": bool(state and state.enabled),
                    "connected": bool(state and state.connected),
                    "credential_scheme": state.scheme if state else None,
                }
            )
        return json_ok({"integrations": items})

    def _slug(self, request: Request, user_id: int | None) -> str:
        slug = str(request.path_params["slug"])
        catalog = self._catalog(user_id)
        if self.catalog is not None and slug not in catalog:
            raise ApiError(
                404, "not_found", f"no integration {slug!r} in the catalog; GET /api/v1/integrations lists them"
            )
        return slug

    async def integration(self, request: Request) -> Response:
        caller = await self.caller(request)
        slug = self._slug(request, caller.user.id)
        body = await self.body(request, IntegrationToggle)
        await self.t.integrations.set_enabled(caller.user.id, slug, body.enabled)
        state = (await self.t.integrations.states(caller.user.id))[slug]
        return json_ok({"slug": slug, "enabled": state.enabled, "connected": state.connected})

    async def credentials(self, request: Request) -> Response:
        caller = await self.caller(request)
        return json_ok({"credentials": await self.t.credentials.infos(caller.user.id)})

    async def credential(self, request: Request) -> Response:
        caller = await self.caller(request)
        slug = self._slug(request, caller.user.id)
        if request.method == "DELETE":
            integration = self._catalog(caller.user.id).get(slug)
            if integration is not None:  # revokes OAuth tokens at the upstream when it can
                deleted = await self.t.oauth.disconnect(caller.user.id, integration)
            else:
                deleted = await self.t.credentials.delete(caller.user.id, slug)
            if not deleted:
                raise ApiError(404, "not_found", f"no credential stored for {slug}")
            return Response(status_code=204)
        body = await self.body(request, CredentialSet)
        integration = self._catalog(caller.user.id).get(slug)
        if integration and body.scheme and body.scheme not in {a.id for a in integration.auth}:
            choices = ", ".join(a.id for a in integration.auth) or "none"
            raise ApiError(
                422, "invalid_body", f"scheme: {slug} has no auth scheme {body.scheme!r} (choices: {choices})"
            )
        await self.t.credentials.set(caller.user.id, slug, body.fields, scheme=body.scheme)
        return Response(status_code=204)  # never echo a secret back

    # --- usage and logs ------------------------------------------------------------------------------

    @staticmethod
    def _time(request: Request, name: str, default: datetime) -> datetime:
        raw = request.query_params.get(name)
        if not raw:
            return default
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise ApiError(400, "bad_request", f"{name} must be an ISO 8601 time, e.g. 2026-11-01T00:00:00Z") from None
        if value.tzinfo is None:
            raise ApiError(400, "bad_request", f"{name} needs a time zone (…Z or +00:00)")
        return value

    async def usage(self, request: Request) -> Response:
        caller = await self.caller(request)
        user_id = self.target_user(request, caller)
        until = self._time(request, "until", utcnow())
        since = self._time(request, "since", until - timedelta(days=30))
        by_tool = request.query_params.get("by", "tool") != "integration"
        stats = await summary(self.t.db, user_id=user_id, since=since, until=until, by_tool=by_tool)
        return json_ok({"since": since, "until": until, "user_id": user_id, "stats": stats})

    async def usage_monthly(self, request: Request) -> Response:
        caller = await self.caller(request)
        user_id = self.target_user(request, caller)
        meters = await monthly(self.t.db, user_id=user_id, month=request.query_params.get("month"))
        return json_ok({"meters": meters})

    async def logs(self, request: Request) -> Response:
        caller = await self.caller(request)
        user_id = self.target_user(request, caller)
        if user_id is None:
            raise ApiError(400, "bad_request", "logs are per user: pass user_id")
        try:
            limit = int(request.query_params.get("limit", "50"))
            before = request.query_params.get("before_id")
            before_id = int(before) if before else None
        except ValueError:
            raise ApiError(400, "bad_request", "limit and before_id must be integers") from None
        entries = await call_log(
            self.t.db,
            user_id=user_id,
            limit=limit,
            integration=request.query_params.get("integration"),
            before_id=before_id,
        )
        return json_ok({"entries": entries})

    # --- upstream OAuth ------------------------------------------------------------------------------

    def _integration(self, request: Request, user_id: int) -> Integration:
        slug = self._slug(request, user_id)
        integration = self._catalog(user_id).get(slug)
        if integration is None:
            raise ApiError(404, "not_found", f"no integration {slug!r} in the catalog")
        return integration

    def redirect_uri(self, request: Request, slug: str) -> str:
        return f"{public_base(request)}/oauth/callback/{slug}"

    async def oauth_start(self, request: Request) -> Response:
        caller = await self.caller(request)
        integration = self._integration(request, caller.user.id)
        body = await self.body(request, OAuthStart) if await request.body() else OAuthStart()
        url = await self.t.oauth.authorization_url(
            caller.user.id,
            integration,
            self.redirect_uri(request, integration.slug),
            scheme_id=body.scheme,
            server_variables=body.server_variables,
        )
        return json_ok({"authorization_url": url})

    async def oauth_callback(self, request: Request) -> Response:
        """Where the upstream sends the browser back: finish connecting and say so on a small page."""
        slug = str(request.path_params["slug"])
        integration = self._catalog(None).get(slug)  # whose flow it is shows below; oauth_start checked visibility
        caller = await self.session_caller(request)
        params = request.query_params
        if integration is None:
            return _page(404, "Unknown integration", f"There is no integration {slug!r} in this hub's catalog.")
        if "error" in params:
            detail = params.get("error_description") or params["error"]
            return _page(400, f"{integration.name} was not connected", f"The provider said: {detail}")
        code, state = params.get("code"), params.get("state")
        if not code or not state:
            return _page(400, "Incomplete callback", "The provider's redirect carried no code or state; connect again.")
        try:
            # Web-started flows need this browser's session to be the starter's; `mcphub oauth connect` ones do not.
            await self.t.oauth.complete(caller.user.id if caller else None, integration, code=code, state=state)
        except NotSignedIn as exc:
            return _page(401, "Not signed in", str(exc).capitalize() + ".")
        except OAuthError as exc:
            return _page(400, f"{integration.name} was not connected", str(exc))
        if caller is None:  # started by `mcphub oauth connect`: the terminal says "connected" too
            return _page(200, f"{integration.name} connected", "You can close this window and go back to your agent.")
        return notice_page(
            200,
            f"{integration.name} connected",
            "Its tools reach your MCP clients as soon as the integration is on.",
            next_url=f"/integrations/{slug}",
            next_label=f"Back to {integration.name}",
        )

    async def oauth_clients(self, request: Request) -> Response:
        caller = await self.caller(request)
        if not caller.user.is_admin:
            raise ApiError(403, "admin_only", "only admins manage OAuth clients")
        if request.method == "GET":
            return json_ok({"clients": await self.t.oauth.list_clients()})
        raise ApiError(405, "method", "use PUT or DELETE /api/v1/oauth-clients/{slug}")

    async def oauth_client(self, request: Request) -> Response:
        caller = await self.caller(request)
        if not caller.user.is_admin:
            raise ApiError(403, "admin_only", "only admins manage OAuth clients")
        slug = self._slug(request, None)  # an operator setting, for any integration of the hub
        if request.method == "DELETE":
            if not await self.t.oauth.delete_client(slug):
                raise ApiError(404, "not_found", f"no OAuth client configured for {slug}")
            return Response(status_code=204)
        body = await self.body(request, OAuthClientSet)
        await self.t.oauth.set_client(
            slug, body.client_id, body.client_secret, token_auth=body.token_auth, revocation_url=body.revocation_url
        )
        return Response(status_code=204)

    # --- OAuth grants the hub issued to MCP clients -------------------------------------------------

    @staticmethod
    def _grant(grant: GrantInfo) -> dict[str, Any]:
        data: dict[str, Any] = api_json(grant)
        data["status"] = grant.status
        return data

    async def grants(self, request: Request) -> Response:
        caller = await self.caller(request)
        user_id = self.target_user(request, caller)
        revoked = request.query_params.get("include_revoked") in ("1", "true", "yes")
        found = await list_grants(self.t.db, user_id=user_id, include_revoked=revoked)
        return json_ok({"grants": [self._grant(g) for g in found]})

    async def grant(self, request: Request) -> Response:
        caller = await self.caller(request)
        grant_id = _row_id(request, "grant_id", "no such grant")
        owner = None if caller.user.is_admin else caller.user.id  # admins may end anyone's grant
        return json_ok({"grant": self._grant(await revoke_grant(self.t.db, grant_id, user_id=owner))})

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document(self.extensions))


async def sign_in_wait(tenancy: Tenancy, request: Request, email: str) -> float:
    """Seconds to wait before another sign-in/sign-up attempt from this address or for this email (0: go).

    Raises `LimiterUnavailable` when the limits cannot be checked and the operator chose to fail closed.
    """
    client = request.client.host if request.client else "unknown"
    for bucket in (f"signin:ip:{client}", f"signin:email:{email.strip().lower()}"):
        wait = await tenancy.policy.limiter.acquire(bucket, _SIGN_IN_RATE)
        if wait > 0:
            return wait
    return 0.0


def public_base(request: Request) -> str:
    """The hub's public origin: MCPHUB_PUBLIC_URL behind a proxy, else the request's own."""
    return (os.environ.get("MCPHUB_PUBLIC_URL") or str(request.base_url)).rstrip("/")


def invite_url(request: Request, token: str | None) -> str:
    return f"{public_base(request)}/signup?invite={token}"


_MAX_ID = 2**63 - 1  # the largest row id either database stores (a bigger one would overflow the query)


def _row_id(request: Request, name: str, missing: str) -> int:
    """A row id from the path; 404 for what cannot be one (not a number, or beyond what a database stores)."""
    try:
        value = int(request.path_params[name])
    except ValueError:
        value = 0
    if not 0 < value <= _MAX_ID:
        raise ApiError(404, "not_found", missing)
    return value


def _page(status: int, title: str, message: str) -> HTMLResponse:
    """The end of a browser flow (an upstream OAuth callback), in the hub's page style."""
    return notice_page(status, title, message)


def create_api_routes(
    services: Tenancy,
    *,
    catalog: CatalogSource | None = None,
    secure_cookies: bool | None = None,
    extensions: Sequence[ApiExtension] = (),
) -> list[BaseRoute]:
    """The /api/v1 routes and /oauth/callback/{slug} over the tenancy services.

    `catalog` lists the mounted integrations (names, auth schemes, validation of slugs). Sign-up follows the
    hub's sign-up policy (`runtime/tenancy/signup.py`): the first account always, then closed / invite / open.
    `secure_cookies` None: Secure when the request or MCPHUB_PUBLIC_URL is https.
    """
    api = _Api(services, catalog, secure_cookies, extensions)
    e = api.endpoint
    routes: list[BaseRoute] = [
        Route("/openapi.json", api.openapi, methods=["GET"]),
        Route("/auth/sign-up", e(api.sign_up), methods=["POST"]),
        Route("/auth/sign-in", e(api.sign_in), methods=["POST"]),
        Route("/auth/sign-out", e(api.sign_out), methods=["POST"]),
        Route("/me", e(api.me), methods=["GET"]),
        Route("/users", e(api.users), methods=["GET", "POST"]),
        Route("/signup-policy", e(api.signup_policy), methods=["GET", "PUT"]),
        Route("/invites", e(api.invites), methods=["GET", "POST"]),
        Route("/keys", e(api.keys), methods=["GET", "POST"]),
        Route("/keys/{key_id}", e(api.key), methods=["DELETE"]),
        Route("/keys/{key_id}/rotate", e(api.rotate), methods=["POST"]),
        Route("/integrations", e(api.integrations), methods=["GET"]),
        Route("/integrations/{slug}", e(api.integration), methods=["PUT"]),
        Route("/credentials", e(api.credentials), methods=["GET"]),
        Route("/credentials/{slug}", e(api.credential), methods=["PUT", "DELETE"]),
        Route("/usage", e(api.usage), methods=["GET"]),
        Route("/usage/monthly", e(api.usage_monthly), methods=["GET"]),
        Route("/logs", e(api.logs), methods=["GET"]),
        Route("/integrations/{slug}/oauth/start", e(api.oauth_start), methods=["POST"]),
        Route("/oauth/grants", e(api.grants), methods=["GET"]),
        Route("/oauth/grants/{grant_id}", e(api.grant), methods=["DELETE"]),
        Route("/oauth-clients", e(api.oauth_clients), methods=["GET"]),
        Route("/oauth-clients/{slug}", e(api.oauth_client), methods=["PUT", "DELETE"]),
    ]
    for extension in api.extensions:
        routes += extension.routes(api)
    return [
        Mount(API_PREFIX, app=Router(routes, default=_no_such_path)),
        Route("/oauth/callback/{slug}", api.oauth_callback, methods=["GET"]),
        _ApiFallback(),
    ]


async def _no_such_path(scope: Scope, receive: Receive, send: Send) -> None:
    """The API's 404 is JSON like all its errors (Starlette's own is text)."""
    response = JSONResponse({"error": {"code": "not_found", "message": "no such API path"}}, status_code=404)
    await response(scope, receive, send)


class _ApiFallback(BaseRoute):
    """/api/v1 paths the Mount cannot even match (a control character such as %0A in a path parameter: Starlette's
    patterns stop at a newline), answered as `_no_such_path`. A partial match, so a real route's 405 still wins."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        under = scope["type"] == "http" and str(scope.get("path", "")).startswith(API_PREFIX + "/")
        return (Match.PARTIAL if under else Match.NONE), {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _no_such_path(scope, receive, send)


# --- OpenAPI ---------------------------------------------------------------------------------------------

_ERROR = {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_ADMIN_QUERY = [
    {"name": "user_id", "in": "query", "schema": {"type": "integer"}, "description": "admins: another user's data"},
    {"name": "all", "in": "query", "schema": {"type": "boolean"}, "description": "admins: every user"},
]
# path, method, summary, request body schema name, success status, extra parameters
_OPERATIONS: list[tuple[str, str, str, str | None, int, list[dict[str, Any]]]] = [
    ("/auth/sign-up", "post", "Create an account if the sign-up policy allows; start a session", "SignUp", 201, []),
    ("/auth/sign-in", "post", "Start a web session; returns the CSRF token", "Credentials", 200, []),
    ("/auth/sign-out", "post", "End every web session of the user", None, 204, []),
    ("/me", "get", "The signed-in user and the session's CSRF token", None, 200, []),
    ("/users", "get", "All users (admins)", None, 200, []),
    ("/users", "post", "Create a user (admins)", "Credentials", 201, []),
    ("/signup-policy", "get", "The sign-up policy: closed, invite or open", None, 200, []),
    (
        "/signup-policy",
        "put",
        "Change the sign-up policy (admins; not when MCPHUB_SIGNUP fixes it)",
        "SignupPolicySet",
        200,
        [],
    ),
    ("/invites", "get", "Sign-up invitations (admins; never their links)", None, 200, []),
    ("/invites", "post", "Invite an email address; the link is returned once (admins)", "InviteCreate", 201, []),
    ("/keys", "get", "Your API keys (never their secrets)", None, 200, []),
    ("/keys", "post", "Create an API key; the secret is returned once", "KeyCreate", 201, []),
    ("/keys/{key_id}", "delete", "Revoke a key, effective immediately on every replica", None, 200, []),
    ("/keys/{key_id}/rotate", "post", "New secret; the old one stays valid for grace_seconds", "KeyRotate", 200, []),
    ("/integrations", "get", "Catalog integrations with your enabled/connected state", None, 200, []),
    ("/integrations/{slug}", "put", "Enable or disable an integration for yourself", "IntegrationToggle", 200, []),
    ("/credentials", "get", "Your stored credentials (field names only)", None, 200, []),
    ("/credentials/{slug}", "put", "Store your credential for an integration (encrypted)", "CredentialSet", 204, []),
    ("/credentials/{slug}", "delete", "Delete your credential for an integration", None, 204, []),
    (
        "/integrations/{slug}/oauth/start",
        "post",
        "Begin connecting with OAuth; returns the URL to open",
        "OAuthStart",
        200,
        [],
    ),
    (
        "/oauth/grants",
        "get",
        "OAuth grants MCP clients hold for you (admins: ?all=true or ?user_id=)",
        None,
        200,
        [{"name": "include_revoked", "in": "query", "schema": {"type": "boolean"}}, *_ADMIN_QUERY],
    ),
    (
        "/oauth/grants/{grant_id}",
        "delete",
        "Revoke an OAuth grant (yours; admins: anyone's); its tokens stop working at once",
        None,
        200,
        [],
    ),
    ("/oauth-clients", "get", "OAuth clients per integration (admins; no secrets)", None, 200, []),
    ("/oauth-clients/{slug}", "put", "Set an integration's OAuth client (admins)", "OAuthClientSet", 204, []),
    ("/oauth-clients/{slug}", "delete", "Remove an integration's OAuth client (admins)", None, 204, []),
    (
        "/usage",
        "get",
        "Calls, errors, p50/p95 latency per integration and tool",
        None,
        200,
        [
            {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
            {"name": "until", "in": "query", "schema": {"type": "string", "format": "date-time"}},
            {"name": "by", "in": "query", "schema": {"type": "string", "enum": ["tool", "integration"]}},
            *_ADMIN_QUERY,
        ],
    ),
    (
        "/usage/monthly",
        "get",
        "Monthly meters",
        None,
        200,
        [{"name": "month", "in": "query", "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}$"}}, *_ADMIN_QUERY],
    ),
    (
        "/logs",
        "get",
        "Your recent calls, secrets redacted",
        None,
        200,
        [
            {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 1000}},
            {"name": "integration", "in": "query", "schema": {"type": "string"}},
            {"name": "before_id", "in": "query", "schema": {"type": "integer"}},
            _ADMIN_QUERY[0],
        ],
    ),
]


def openapi_document(extensions: Sequence[ApiExtension] = ()) -> dict[str, Any]:
    """The OpenAPI 3.1 description of this API (with the routes of its extensions)."""
    paths: dict[str, dict[str, Any]] = {}
    for path, method, summary_text, body, status, params in _OPERATIONS:
        operation: dict[str, Any] = {
            "summary": summary_text,
            "operationId": f"{method}_{path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
            "responses": {str(status): {"description": "OK"}, "4XX": _ERROR},
        }
        path_params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
        parameters = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": _MAX_ID}
                if name in ("key_id", "grant_id")
                else {"type": "string"},
            }
            for name in path_params
        ] + params
        if parameters:
            operation["parameters"] = parameters
        if body:
            operation["requestBody"] = {
                "required": body not in ("KeyRotate", "OAuthStart"),
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
            }
        if not path.startswith("/auth/sign-") and (path, method) != ("/signup-policy", "get"):
            operation["security"] = [{"session": [], "csrf": []}, {"adminKey": []}]
        paths.setdefault(API_PREFIX + path, {})[method] = operation
    bodies = dict(_BODIES)
    for extension in extensions:
        paths.update(extension.paths(API_PREFIX, _ERROR))
        bodies.update(extension.bodies)
    schemas: dict[str, Any] = {}
    for name, model in bodies.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))  # nested models become components of their own
        schemas[name] = schema
    schemas["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                "required": ["code", "message"],
            }
        },
        "required": ["error"],
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "MCP Hub API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
                "adminKey": {"type": "http", "scheme": "bearer", "bearerFormat": "mcp_sk_…"},
            },
        },
    }
