"""Sign in, sign up (by the hub's sign-up policy) and sign out.

These forms are shown before a session exists, so their CSRF token is a double-submit cookie
(SameSite=Strict). Sign-up makes the account's first API key at once and shows it a single time,
with the configuration snippets that use it; only its hash is kept.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mcphub.runtime.tenancy.accounts import AccountError
from mcphub.runtime.tenancy.firstrun import enable_for_new_user
from mcphub.runtime.tenancy.policy import LimiterUnavailable
from mcphub.web import audit
from mcphub.web.api import sign_in_wait
from mcphub.web.dashboard.core import Dashboard, Visitor
from mcphub.web.dashboard.snippets import client_snippets

__all__ = ["Auth"]


def _next(value: str) -> str:
    """A local path to return to after signing in (never another site)."""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


async def _wait(dash: Dashboard, request: Request, email: str) -> str:
    """Why this attempt must wait ("" when it may go): too many attempts, or limits that cannot be checked."""
    try:
        wait = await sign_in_wait(dash.t, request, email)
    except LimiterUnavailable as exc:  # Redis down and MCPHUB_LIMITS_WITHOUT_REDIS=closed
        return f"Signing in is paused: {exc}."
    return f"Too many attempts; retry in {wait:.0f} s." if wait > 0 else ""


class Auth:
    def __init__(self, dash: Dashboard) -> None:
        self.d = dash

    # --- sign in ---------------------------------------------------------------------------------------

    async def signin_page(self, request: Request) -> Response:
        if await self.d.visitor(request) is not None:
            return RedirectResponse(_next(request.query_params.get("next", "/")), status_code=303)
        return await self._signin_form(request, next_url=_next(request.query_params.get("next", "/")))

    async def _signin_form(self, request: Request, *, next_url: str, error: str = "", email: str = "") -> Response:
        token = self.d.form_token(request)
        state = await self.d.signups.state()
        can_sign_up = state.policy == "open" or await self.d.signups.first_account()
        response = self.d.render(
            request,
            "signin.html",
            status=401 if error else 200,
            title="Sign in",
            csrf=token,
            error=error,
            email=email,
            next_url=next_url,
            can_sign_up=can_sign_up,
        )
        return self.d.keep_form_token(request, response, token)

    async def signin(self, request: Request) -> Response:
        form = await request.form()
        email, password = str(form.get("email") or "").strip(), str(form.get("password") or "")
        next_url = _next(str(form.get("next") or "/"))
        if self.d.foreign_origin(request) or not self.d.form_token_ok(request, form):
            return self.d.refused(request, None, "Its security token is missing or wrong.")
        wait = await _wait(self.d, request, email)
        if wait:
            return await self._signin_form(request, next_url=next_url, email=email, error=wait)
        user = await self.d.t.accounts.verify_password(email, password) if email and password else None
        if user is None:
            return await self._signin_form(request, next_url=next_url, email=email, error="Wrong email or password.")
        response = RedirectResponse(next_url, status_code=303)
        await self.d.start_session(request, response, user)
        await audit.record(self.d.t.db, "session.sign_in", actor_id=user.id, user_id=user.id)
        return response

    # --- sign up ---------------------------------------------------------------------------------------

    async def signup_page(self, request: Request) -> Response:
        if await self.d.visitor(request) is not None:
            return RedirectResponse("/", status_code=303)
        return await self._signup_form(request, invite=request.query_params.get("invite", ""))

    async def _signup_form(
        self, request: Request, *, invite: str, error: str = "", email: str = "", status: int = 200
    ) -> Response:
        first = await self.d.signups.first_account()
        policy = (await self.d.signups.state()).policy
        invited = await self.d.signups.invited_email(invite) if invite else None
        if first or policy == "open" or (invited and policy == "invite"):
            mode = "first" if first else "invited" if invited else "open"
        elif invite and policy == "invite":
            mode = "bad_invite"
        else:
            mode = policy  # "closed" or "invite": say so, no form
        token = self.d.form_token(request)
        response = self.d.render(
            request,
            "signup.html",
            status=status if mode in ("first", "invited", "open") else 403,
            title="Create your account",
            mode=mode,
            csrf=token,
            invite=invite,
            email=invited or email,
            error=error,
        )
        return self.d.keep_form_token(request, response, token)

    async def signup(self, request: Request) -> Response:
        form = await request.form()
        if self.d.foreign_origin(request) or not self.d.form_token_ok(request, form):
            return self.d.refused(request, None, "Its security token is missing or wrong.")
        return await self._create(request, form)

    async def _create(self, request: Request, form: FormData) -> Response:
        email, password = str(form.get("email") or "").strip(), str(form.get("password") or "")
        invite = str(form.get("invite") or "")
        wait = await _wait(self.d, request, email)
        if wait:
            return await self._signup_form(request, invite=invite, email=email, error=wait, status=429)
        try:
            user = await self.d.signups.sign_up(email, password, invite=invite or None)
        except AccountError as exc:
            message = str(exc)
            return await self._signup_form(
                request, invite=invite, email=email, error=message[:1].upper() + message[1:] + ".", status=400
            )
        # The integrations every new account starts with (MCPHUB_NEW_USER_INTEGRATIONS), as through the API.
        await enable_for_new_user(self.d.t, user.id, self.d.catalog(user.id).values())
        key = await self.d.t.accounts.create_key(user.id, "first key")
        await audit.record(self.d.t.db, "account.sign_up", actor_id=user.id, user_id=user.id, target=user.email)
        response = self.d.render(
            request,
            "signup_done.html",
            visitor=None,
            title="Your account is ready",
            user=user,
            secret=key.secret,
            snippets=client_snippets(self.d.mcp_url(request), key.secret, self.d.mcphub_command()),
        )
        await self.d.start_session(request, response, user)
        return response

    # --- sign out --------------------------------------------------------------------------------------

    async def signout(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        await self.d.t.accounts.end_sessions(visitor.user.id)
        response = RedirectResponse("/signin", status_code=303)
        self.d.end_session(response)
        return response
