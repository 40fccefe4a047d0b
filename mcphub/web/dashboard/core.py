"""What every dashboard page shares: templates, the security headers, the web session, CSRF, flash messages.

Pages are server-rendered Jinja2 with htmx for partial updates; no inline script anywhere, so the
Content-Security-Policy allows scripts from this origin only. A page needs a web session (the JSON API's
signed cookie); an anonymous visitor is sent to /signin. Every state-changing action is a POST whose form
carries the session's CSRF token (or htmx sends it as `X-CSRF-Token`) and whose `Origin`, when sent, is
this hub; a refused form changes nothing and says how to retry. After an action the browser is redirected
(POST/redirect/GET) with a one-shot flash message in a signed cookie, except where a secret is shown once
(a new API key), which is rendered straight into the response and never stored.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import shutil
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mcphub.compiler.ir import Integration
from mcphub.runtime.mcp.hub import Hub
from mcphub.runtime.tenancy.accounts import UserInfo
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.runtime.tenancy.signup import Signups
from mcphub.web import audit
from mcphub.web.dashboard.assets import assets
from mcphub.web.sessions import SESSION_COOKIE, WebSessions

__all__ = ["CSP", "Dashboard", "Visitor"]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)  # no form-action: "Connect with …" posts here and is redirected to the provider's consent page
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
FLASH_COOKIE = "mcphub_flash"
FORM_COOKIE = "mcphub_form"  # double-submit CSRF token of the forms shown before a session exists
NAV = [
    ("/", "Home"),
    ("/integrations", "Integrations"),
    ("/keys", "API keys"),
    ("/connect", "Connect"),
    ("/logs", "Logs"),
    ("/usage", "Usage"),
    ("/build", "Build"),
    ("/settings", "Settings"),
]


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.globals["asset"] = assets.url
    env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M") if value else "—"
    env.filters["tojson_pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return env


@dataclass(frozen=True, slots=True)
class Visitor:
    """The signed-in person and their session's CSRF token."""

    user: UserInfo
    csrf: str


Page = Callable[[Request, Visitor], Awaitable[Response]]
Action = Callable[[Request, Visitor, FormData], Awaitable[Response]]


class Dashboard:
    """The services the pages read and change: the same tenancy and hub the JSON API and /mcp use."""

    def __init__(self, tenancy: Tenancy, hub: Hub, *, public_mcp_url: str) -> None:
        self.t = tenancy
        self.hub = hub
        self.public_mcp_url = public_mcp_url
        self.sessions = WebSessions(tenancy)
        self.signups = Signups(tenancy.accounts)
        self.env = _env()
        self._flash: URLSafeTimedSerializer | None = None

    # --- catalog ---------------------------------------------------------------------------------------

    def catalog(self, user_id: int) -> dict[str, Integration]:
        """The mounted integrations `user_id` may see: never another user's private built integration."""
        builds = self.t.builds
        return {
            slug: mount.integration for slug, mount in self.hub.snapshot.mounts.items() if builds.may_see(user_id, slug)
        }

    def mcp_url(self, request: Request) -> str:
        """This hub's MCP endpoint as clients reach it (MCPHUB_PUBLIC_URL behind a proxy)."""
        if os.environ.get("MCPHUB_PUBLIC_URL"):
            return self.public_mcp_url
        return str(request.base_url).rstrip("/") + "/mcp"

    @staticmethod
    def mcphub_command() -> str:
        """The `mcphub` executable of this installation (for the Claude Desktop bridge)."""
        beside = Path(sys.executable).parent / "mcphub"
        return str(beside) if beside.exists() else shutil.which("mcphub") or "mcphub"

    def secure(self, request: Request) -> bool:
        """Cookies are `Secure` when the hub is reached over https (directly or per MCPHUB_PUBLIC_URL)."""
        return request.url.scheme == "https" or os.environ.get("MCPHUB_PUBLIC_URL", "").startswith("https://")

    # --- rendering -------------------------------------------------------------------------------------

    def render(
        self,
        request: Request,
        template: str,
        *,
        visitor: Visitor | None = None,
        status: int = 200,
        title: str,
        **context: Any,
    ) -> HTMLResponse:
        flash = self._read_flash(request)
        html = self.env.get_template(f"dashboard/{template}").render(
            title=title,
            visitor=visitor,
            nav=NAV,
            path=request.url.path,
            flash=flash,
            status=status,
            **context,
        )
        response = HTMLResponse(html, status_code=status, headers=HEADERS)
        if flash is not None:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    def notice(
        self,
        request: Request,
        status: int,
        title: str,
        message: str,
        *,
        visitor: Visitor | None = None,
        next_url: str = "/",
        next_label: str = "Back to the dashboard",
    ) -> HTMLResponse:
        return self.render(
            request,
            "notice.html",
            visitor=visitor,
            status=status,
            title=title,
            message=message,
            next_url=next_url,
            next_label=next_label,
        )

    # --- flash messages --------------------------------------------------------------------------------

    async def _serializer(self) -> URLSafeTimedSerializer:
        if self._flash is None:
            self._flash = URLSafeTimedSerializer((await self.sessions.serializer()).secret_key, salt="mcphub-flash")
        return self._flash

    def _read_flash(self, request: Request) -> dict[str, str] | None:
        raw = request.cookies.get(FLASH_COOKIE)
        if not raw or self._flash is None:
            return None
        try:
            data = self._flash.loads(raw, max_age=120)
        except BadSignature:
            return None
        return {"kind": str(data.get("kind", "ok")), "text": str(data.get("text", ""))}

    async def redirect(self, request: Request, url: str, text: str = "", *, kind: str = "ok") -> Response:
        """303 to `url` with a one-shot message shown on the next page."""
        response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
        if text:
            cookie = (await self._serializer()).dumps({"kind": kind, "text": text})
            response.set_cookie(
                FLASH_COOKIE, cookie, max_age=120, httponly=True, samesite="lax", secure=self.secure(request), path="/"
            )
        return response

    # --- sessions and CSRF -----------------------------------------------------------------------------

    async def visitor(self, request: Request) -> Visitor | None:
        await self._serializer()  # flash messages are signed with the session key: load it once
        live = await self.sessions.read(request)
        return Visitor(*live) if live else None

    def page(self, handler: Page) -> Callable[[Request], Awaitable[Response]]:
        """A GET page for signed-in users; anyone else goes to /signin and comes back after."""

        async def run(request: Request) -> Response:
            visitor = await self.visitor(request)
            if visitor is None:
                here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/signin?next={quote(here)}", status_code=303)
            return await handler(request, visitor)

        return run

    def admin_only(self, handler: Action) -> Action:
        """An action for admins; anyone else gets a page saying so (nothing changes)."""

        async def run(request: Request, visitor: Visitor, form: FormData) -> Response:
            if not visitor.user.is_admin:
                return self.notice(
                    request, 403, "Admins only", "Only an admin of this hub can do this.", visitor=visitor
                )
            return await handler(request, visitor, form)

        return run

    def foreign_origin(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        return bool(origin) and origin != "null" and urlsplit(origin).netloc != request.headers.get("host")

    def refused(self, request: Request, visitor: Visitor | None, why: str) -> HTMLResponse:
        back = request.headers.get("referer") or request.url.path
        same_site = urlsplit(back).netloc in ("", request.headers.get("host"))
        return self.notice(
            request,
            403,
            "This form could not be accepted",
            f"{why} Nothing was changed: open the page again and resubmit the form.",
            visitor=visitor,
            next_url=urlsplit(back).path if same_site else "/",
            next_label="Open the page again",
        )

    def action(self, handler: Action, *, name: str) -> Callable[[Request], Awaitable[Response]]:
        """A POST by a signed-in user: same origin, the session's CSRF token, then `handler`; audited."""

        async def run(request: Request) -> Response:
            visitor = await self.visitor(request)
            if visitor is None:
                return RedirectResponse("/signin", status_code=303)
            if self.foreign_origin(request):
                return self.refused(request, visitor, "It was sent from another site.")
            form = await request.form()
            sent = request.headers.get("x-csrf-token") or str(form.get("csrf") or "")
            if not sent or not hmac.compare_digest(sent.encode(), visitor.csrf.encode()):
                return self.refused(request, visitor, "Its security token is missing or wrong.")
            response = await handler(request, visitor, form)
            if response.status_code < 400:
                target = ",".join(f"{k}={v}" for k, v in request.path_params.items())
                await audit.record(self.t.db, name, actor_id=visitor.user.id, user_id=visitor.user.id, target=target)
            return response

        return run

    # --- forms before sign-in (double-submit cookie) ---------------------------------------------------

    def form_token(self, request: Request) -> str:
        return request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)

    def keep_form_token(self, request: Request, response: Response, token: str) -> Response:
        response.set_cookie(
            FORM_COOKIE, token, max_age=3600, httponly=True, samesite="strict", secure=self.secure(request), path="/"
        )
        return response

    def form_token_ok(self, request: Request, form: Mapping[str, Any]) -> bool:
        cookie = request.cookies.get(FORM_COOKIE, "")
        sent = str(form.get("csrf") or "")
        return bool(cookie and sent) and hmac.compare_digest(cookie.encode(), sent.encode())

    async def start_session(self, request: Request, response: Response, user: UserInfo) -> None:
        await self.sessions.start(response, user, secure=self.secure(request))
        response.delete_cookie(FORM_COOKIE, path="/")

    @staticmethod
    def end_session(response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/")
