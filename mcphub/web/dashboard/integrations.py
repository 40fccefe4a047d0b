"""Home, the integrations catalog and one integration's page: enable, connect, test, disconnect.

Every change goes through the tenancy services the JSON API and `/mcp` use (enablement, the credential
store, upstream OAuth), so connected clients hear `notifications/tools/list_changed` at once, as they do
after the CLI or the API. "Test connection" is a real tool call (the first read-only tool that needs no
arguments) through the hub's call pipeline, as the user, recorded in their logs like any other call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from mcp import types
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mcphub.compiler.ir import AuthScheme, Integration, Tool
from mcphub.runtime.oauth.upstream import OAuthError
from mcphub.runtime.store.db import utcnow
from mcphub.runtime.tenancy.accounts import KeyPrincipal
from mcphub.runtime.tenancy.credentials import CredentialError
from mcphub.runtime.tenancy.rollups import call_counts, roll_up
from mcphub.web.api import public_base
from mcphub.web.dashboard.core import Action, Dashboard, Visitor

__all__ = ["Card", "Integrations", "cards_for"]

OAUTH_TYPES = ("oauth2", "openid_connect")
IntegrationAction = Callable[[Request, Visitor, FormData, Integration], Awaitable[Response]]
_RESULT_CHARS = 1200


@dataclass(frozen=True, slots=True)
class Card:
    """One integration as this user sees it."""

    integration: Integration
    enabled: bool
    connected: bool
    scheme: str | None
    calls: int  # last 24 hours
    errors: int

    @property
    def needs_auth(self) -> bool:
        return bool(self.integration.auth)

    @property
    def status(self) -> str:
        if not self.enabled:
            return "off"
        if self.needs_auth and not self.connected:
            return "needs_credential"
        if self.calls and self.errors * 2 >= self.calls:
            return "failing"
        return "ready"

    @property
    def status_label(self) -> str:
        return {
            "off": "Off",
            "needs_credential": "Needs a credential",
            "failing": "Failing",
            "ready": "Ready",
        }[self.status]

    @property
    def tools(self) -> list[Tool]:
        return [tool for tool in self.integration.tools if tool.enabled]

    @property
    def auth_kinds(self) -> list[str]:
        return sorted({_kind(scheme) for scheme in self.integration.auth})


def _kind(scheme: AuthScheme) -> str:
    return {"oauth2": "OAuth", "openid_connect": "OAuth", "bearer": "Token", "api_key": "API key"}.get(
        scheme.type, "Password"
    )


async def cards_for(dash: Dashboard, user_id: int, since: datetime) -> list[Card]:
    """Every integration of the catalog with the user's state and their calls/errors since `since`."""
    states = await dash.t.integrations.states(user_id)
    await roll_up(dash.t.db)
    per = await call_counts(dash.t.db, user_id, since)
    cards = []
    for slug, integration in sorted(dash.catalog(user_id).items(), key=lambda item: item[1].name.lower()):
        state, (calls, errors) = states.get(slug), per.get(slug, (0, 0))
        cards.append(
            Card(
                integration,
                enabled=bool(state and state.enabled),
                connected=bool(state and state.connected),
                scheme=state.scheme if state else None,
                calls=calls,
                errors=errors,
            )
        )
    return cards


def _probe(integration: Integration) -> Tool | None:
    """The cheapest honest check of a credential: a read-only tool that needs no arguments."""
    for tool in integration.tools:
        if tool.enabled and tool.annotations.read_only_hint and not tool.input_schema.get("required"):
            return tool
    return None


def _text(result: types.CallToolResult) -> str:
    parts = [block.text for block in result.content if isinstance(block, types.TextContent)]
    text = "\n".join(parts) or "(no text in the answer)"
    return text if len(text) <= _RESULT_CHARS else text[:_RESULT_CHARS] + "…"


class Integrations:
    def __init__(self, dash: Dashboard) -> None:
        self.d = dash

    # --- pages -----------------------------------------------------------------------------------------

    async def home(self, request: Request, visitor: Visitor) -> Response:
        now = utcnow()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        cards = await cards_for(self.d, visitor.user.id, since=now - timedelta(hours=24))
        today = (await call_counts(self.d.t.db, visitor.user.id, midnight)).values()
        keys = [k for k in await self.d.t.accounts.list_keys(visitor.user.id) if k.status == "active"]
        return self.d.render(
            request,
            "home.html",
            visitor=visitor,
            title="Home",
            cards=[c for c in cards if c.enabled],
            available=len(cards),
            calls_today=sum(calls for calls, _ in today),
            errors_today=sum(errors for _, errors in today),
            active_keys=len(keys),
            mcp_url=self.d.mcp_url(request),
        )

    async def catalog(self, request: Request, visitor: Visitor) -> Response:
        query = request.query_params.get("q", "").strip()
        category = request.query_params.get("category", "")
        cards = await cards_for(self.d, visitor.user.id, since=utcnow() - timedelta(hours=24))
        categories = sorted({c.integration.category for c in cards})
        needle = query.lower()
        shown = [
            c
            for c in cards
            if (not category or c.integration.category == category)
            and (
                not needle
                or needle in c.integration.name.lower()
                or needle in c.integration.slug
                or needle in c.integration.description.lower()
            )
        ]
        return self.d.render(
            request,
            "integrations.html",
            visitor=visitor,
            title="Integrations",
            cards=shown,
            total=len(cards),
            categories=categories,
            q=query,
            category=category,
        )

    async def detail(self, request: Request, visitor: Visitor, *, test: dict[str, str] | None = None) -> Response:
        slug = str(request.path_params["slug"])
        integration = self.d.catalog(visitor.user.id).get(slug)
        if integration is None:
            return self._unknown(request, visitor, slug)
        [card] = [
            c
            for c in await cards_for(self.d, visitor.user.id, utcnow() - timedelta(hours=24))
            if c.integration.slug == slug
        ]
        infos = {info.slug: info for info in await self.d.t.credentials.infos(visitor.user.id)}
        return self.d.render(
            request,
            "integration.html",
            visitor=visitor,
            title=integration.name,
            card=card,
            integration=integration,
            credential=infos.get(slug),
            oauth_types=OAUTH_TYPES,
            probe=_probe(integration),
            test=test,
            status=200,
        )

    def _unknown(self, request: Request, visitor: Visitor, slug: str) -> Response:
        return self.d.notice(
            request,
            404,
            "No such integration",
            f"This hub has no integration “{slug}”.",
            visitor=visitor,
            next_url="/integrations",
            next_label="Browse integrations",
        )

    # --- actions ---------------------------------------------------------------------------------------

    def on_integration(self, handler: IntegrationAction) -> Action:
        """An action on `/integrations/{slug}/…`: the catalog's integration, or a "no such integration" page."""

        async def run(request: Request, visitor: Visitor, form: FormData) -> Response:
            slug = str(request.path_params["slug"])
            integration = self.d.catalog(visitor.user.id).get(slug)
            if integration is None:
                return self._unknown(request, visitor, slug)
            return await handler(request, visitor, form, integration)

        return run

    async def enable(self, request: Request, visitor: Visitor, form: FormData, integration: Integration) -> Response:
        return await self._toggle(request, visitor, integration, True)

    async def disable(self, request: Request, visitor: Visitor, form: FormData, integration: Integration) -> Response:
        return await self._toggle(request, visitor, integration, False)

    async def _toggle(self, request: Request, visitor: Visitor, integration: Integration, enabled: bool) -> Response:
        await self.d.t.integrations.set_enabled(visitor.user.id, integration.slug, enabled)
        back = f"/integrations/{integration.slug}"
        if enabled:
            return await self.d.redirect(request, back, f"{integration.name} is on.")
        return await self.d.redirect(request, back, f"{integration.name} is off: its tools left your clients.")

    async def store(self, request: Request, visitor: Visitor, form: FormData, integration: Integration) -> Response:
        back = f"/integrations/{integration.slug}"
        schemes = {scheme.id: scheme for scheme in integration.auth}
        scheme = schemes.get(str(form.get("scheme") or ""))
        if scheme is None or scheme.type in OAUTH_TYPES:
            return await self.d.redirect(request, back, "Choose how to connect, then fill in the form.", kind="error")
        names = {"bearer": ["token"], "api_key": ["api_key"], "basic": ["username", "password"]}[scheme.type]
        fields: dict[str, object] = {name: str(form.get(name) or "").strip() for name in names}
        missing = [name for name in names if not fields[name]]
        if missing:
            label = {"token": "the token", "api_key": "the API key", "username": "the username"}
            what = " and ".join(label.get(name, "the password") for name in missing)
            return await self.d.redirect(request, back, f"Nothing was saved: fill in {what}.", kind="error")
        variables = {
            name: str(form.get(f"var_{name}") or "").strip() or variable.default
            for name, variable in integration.server_variables.items()
        }
        if variables:
            fields["server_variables"] = variables
        try:
            await self.d.t.credentials.set(visitor.user.id, integration.slug, fields, scheme=scheme.id)
        except CredentialError as exc:
            return await self.d.redirect(request, back, f"Nothing was saved: {exc}.", kind="error")
        note = (
            ""
            if (await self.d.t.integrations.states(visitor.user.id))[integration.slug].enabled
            else " Turn it on to use its tools."
        )
        return await self.d.redirect(request, back, f"{integration.name} is connected.{note}")

    async def oauth(self, request: Request, visitor: Visitor, form: FormData, integration: Integration) -> Response:
        redirect_uri = f"{public_base(request)}/oauth/callback/{integration.slug}"
        try:
            url = await self.d.t.oauth.authorization_url(
                visitor.user.id, integration, redirect_uri, scheme_id=str(form.get("scheme") or "") or None
            )
        except OAuthError as exc:
            return await self.d.redirect(request, f"/integrations/{integration.slug}", str(exc), kind="error")
        return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})

    async def disconnect(
        self, request: Request, visitor: Visitor, form: FormData, integration: Integration
    ) -> Response:
        deleted = await self.d.t.oauth.disconnect(visitor.user.id, integration)
        text = f"{integration.name} is disconnected: its credential is deleted." if deleted else "Nothing was stored."
        return await self.d.redirect(request, f"/integrations/{integration.slug}", text)

    async def test(self, request: Request, visitor: Visitor, form: FormData, integration: Integration) -> Response:
        probe = _probe(integration)
        mount = self.d.hub.snapshot.mounts.get(integration.slug)
        entry = mount.tools.get(probe.name) if mount is not None and probe is not None else None
        if mount is None or probe is None or entry is None:
            test = {"ok": "", "tool": "", "text": f"{integration.name} has no read-only tool without arguments to try."}
            return await self.detail(request, visitor, test=test)
        # The dashboard acts as the user through the same pipeline as a key (policy, credential, usage).
        principal = KeyPrincipal(visitor.user.id, 0, "dashboard", visitor.user.is_admin, None, None)
        result = await self.d.hub.call(principal, mount, entry, {})
        test = {"ok": "" if result.is_error else "yes", "tool": probe.name, "text": _text(result)}
        return await self.detail(request, visitor, test=test)
