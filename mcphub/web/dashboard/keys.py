"""API keys: list, create (scope and expiry), rotate with a grace period, revoke.

A new or rotated secret is rendered into the POST's own response (no-store) with the client snippets
for it, once; the hub keeps only its hash, as `/api/v1/keys` and `mcphub keys` do (the same service).
"""

from __future__ import annotations

from datetime import timedelta

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from mcphub.runtime.store.db import utcnow
from mcphub.runtime.tenancy.accounts import AccountError, NewKey
from mcphub.web.dashboard.core import Dashboard, Visitor
from mcphub.web.dashboard.snippets import client_snippets

__all__ = ["EXPIRIES", "GRACES", "VIEW_CHOICES", "Keys"]

EXPIRIES = [("", "Never"), ("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year")]
# How /mcp lists tools for a key (README: choosing a view); /connect explains when to pick which.
VIEW_CHOICES = [
    ("flat", "Flat", "every tool in the list"),
    ("search", "Search", "three meta-tools: search_tools, call_tool, describe_tool"),
    ("auto", "Auto", "flat while the tools fit 8,000 tokens, search above"),
]
GRACES = [("0", "End the old secret now"), ("3600", "1 hour"), ("86400", "24 hours"), ("604800", "7 days")]


class Keys:
    def __init__(self, dash: Dashboard) -> None:
        self.d = dash

    async def page(self, request: Request, visitor: Visitor) -> Response:
        keys = await self.d.t.accounts.list_keys(visitor.user.id)
        states = await self.d.t.integrations.states(visitor.user.id)
        catalog = self.d.catalog(visitor.user.id)
        scopable = [catalog[slug] for slug, state in sorted(states.items()) if state.enabled and slug in catalog]
        return self.d.render(
            request,
            "keys.html",
            visitor=visitor,
            title="API keys",
            keys=sorted(keys, key=lambda k: (k.status != "active", -k.id)),
            scopable=scopable,
            expiries=EXPIRIES,
            graces=GRACES,
            views=VIEW_CHOICES,
        )

    def _shown_once(self, request: Request, visitor: Visitor, new: NewKey, *, rotated: bool) -> Response:
        return self.d.render(
            request,
            "key_created.html",
            visitor=visitor,
            title="Key rotated" if rotated else "Key created",
            key=new.info,
            secret=new.secret,
            rotated=rotated,
            snippets=client_snippets(self.d.mcp_url(request), new.secret, self.d.mcphub_command()),
        )

    async def create(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        name = str(form.get("name") or "").strip()
        scope = [str(entry) for entry in form.getlist("scope") if str(entry)]
        days = str(form.get("expires") or "")
        expires = utcnow() + timedelta(days=int(days)) if days.isdigit() else None
        limited = form.get("access") == "limited"
        view = str(form.get("view") or "flat")
        if limited and not scope:
            text = "No key was created: pick at least one integration or tool for a limited key."
            return await self.d.redirect(request, "/keys", text, kind="error")
        try:
            new = await self.d.t.accounts.create_key(
                visitor.user.id, name, expires_at=expires, scope=scope if limited else None, view=view
            )
        except AccountError as exc:
            return await self.d.redirect(request, "/keys", f"No key was created: {exc}.", kind="error")
        return self._shown_once(request, visitor, new, rotated=False)

    def _key_id(self, request: Request) -> int:
        raw = str(request.path_params["key_id"])
        return int(raw) if raw.isdigit() else -1

    async def rotate(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        grace = str(form.get("grace") or "86400")
        try:
            new = await self.d.t.accounts.rotate_key(
                visitor.user.id,
                self._key_id(request),
                grace=timedelta(seconds=int(grace) if grace.isdigit() else 86400),
            )
        except AccountError as exc:
            return await self.d.redirect(request, "/keys", f"Nothing was rotated: {exc}.", kind="error")
        return self._shown_once(request, visitor, new, rotated=True)

    async def set_view(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        try:
            info = await self.d.t.accounts.set_key_view(visitor.user.id, self._key_id(request), str(form.get("view")))
        except AccountError as exc:
            return await self.d.redirect(request, "/keys", f"The view was not changed: {exc}.", kind="error")
        label = next((label for value, label, _ in VIEW_CHOICES if value == info.view), info.view)
        return await self.d.redirect(
            request, "/keys", f"Key “{info.name}” now uses the {label.lower()} view: clients see it on their next list."
        )

    async def revoke(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        try:
            info = await self.d.t.accounts.revoke_key(visitor.user.id, self._key_id(request))
        except AccountError as exc:
            return await self.d.redirect(request, "/keys", f"Nothing was revoked: {exc}.", kind="error")
        return await self.d.redirect(request, "/keys", f"Key “{info.name}” is revoked: it stopped working everywhere.")
