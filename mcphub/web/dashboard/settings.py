"""/settings: password, sessions, OAuth grants, deleting the account; for admins also users, the sign-up
policy with invite links, the audit trail and the instance's status.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mcphub import __version__
from mcphub.runtime.oauth.authserver import list_grants, revoke_grant
from mcphub.runtime.tenancy.accounts import AccountError
from mcphub.runtime.tenancy.signup import POLICIES
from mcphub.web import audit
from mcphub.web.api import invite_url
from mcphub.web.dashboard.core import Dashboard, Visitor

__all__ = ["Settings"]


class Settings:
    def __init__(self, dash: Dashboard) -> None:
        self.d = dash

    async def page(self, request: Request, visitor: Visitor, *, invite: dict[str, str] | None = None) -> Response:
        grants = await list_grants(self.d.t.db, user_id=visitor.user.id)
        admin: dict[str, object] = {}
        if visitor.user.is_admin:
            admin = {
                "users": await self.d.t.accounts.list_users(),
                "policy": await self.d.signups.state(),
                "policies": POLICIES,
                "invites": await self.d.signups.invites(),
                "status": await self._status(),
                "trail": await audit.recent(self.d.t.db, limit=50),
            }
        return self.d.render(
            request,
            "settings.html",
            visitor=visitor,
            title="Settings",
            grants=grants,
            admin=admin,
            invite=invite,
        )

    async def _status(self) -> dict[str, object]:
        snapshot = self.d.hub.snapshot
        database = "reachable"
        try:
            async with self.d.t.db.session() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:  # the page says why instead of failing
            database = f"unreachable: {type(exc).__name__}"
        redis = "not configured (one process: limits and change fan-out in this process and the database)"
        if self.d.t.redis is not None:
            try:
                await self.d.t.redis.ping()
                redis = "reachable"
            except Exception as exc:
                redis = f"unreachable: {type(exc).__name__}"
        return {
            "version": __version__,
            "database": database,
            "dialect": self.d.t.db.dialect,
            "redis": redis,
            "packages": sorted(snapshot.mounts),
            "tools": snapshot.tool_count(),
            "errors": dict(snapshot.errors),
        }

    # --- your account ----------------------------------------------------------------------------------

    async def password(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        current, new = str(form.get("current") or ""), str(form.get("new") or "")
        if await self.d.t.accounts.verify_password(visitor.user.email, current) is None:
            return await self.d.redirect(
                request, "/settings", "The current password is wrong; nothing changed.", kind="error"
            )
        try:
            await self.d.t.accounts.set_password(visitor.user.id, new)
        except AccountError as exc:
            return await self.d.redirect(request, "/settings", f"Nothing changed: {exc}.", kind="error")
        # Changing the password ends every session, this one too: start a fresh one here.
        response = await self.d.redirect(request, "/settings", "Password changed; other sessions are signed out.")
        await self.d.start_session(request, response, visitor.user)
        return response

    async def sign_out_others(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        await self.d.t.accounts.end_sessions(visitor.user.id)
        response = await self.d.redirect(request, "/settings", "Every other session is signed out.")
        await self.d.start_session(request, response, visitor.user)
        return response

    async def revoke_grant(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        raw = str(request.path_params["grant_id"])
        try:
            grant = await revoke_grant(self.d.t.db, int(raw) if raw.isdigit() else -1, user_id=visitor.user.id)
        except AccountError as exc:
            return await self.d.redirect(request, "/settings", str(exc), kind="error")
        return await self.d.redirect(request, "/settings", f"{grant.client_name} no longer has access.")

    async def delete_account(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        if str(form.get("confirm") or "").strip().lower() != visitor.user.email:
            return await self.d.redirect(
                request, "/settings", "Type your email address to confirm; nothing was deleted.", kind="error"
            )
        try:
            await self.d.t.accounts.delete_user(visitor.user.id)
        except AccountError as exc:
            return await self.d.redirect(request, "/settings", f"Nothing was deleted: {exc}.", kind="error")
        response = RedirectResponse("/signin", status_code=303)
        self.d.end_session(response)
        return response

    # --- admins ----------------------------------------------------------------------------------------

    async def set_policy(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        try:
            state = await self.d.signups.set_policy(str(form.get("policy") or ""))
        except AccountError as exc:
            return await self.d.redirect(request, "/settings#signup", f"Nothing changed: {exc}.", kind="error")
        return await self.d.redirect(request, "/settings#signup", f"Sign-up is now {state.policy}.")

    async def invite(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        days = str(form.get("days") or "7")
        try:
            made = await self.d.signups.invite(
                str(form.get("email") or ""),
                created_by=visitor.user.id,
                ttl=timedelta(days=int(days) if days.isdigit() and 0 < int(days) <= 90 else 7),
            )
        except AccountError as exc:
            return await self.d.redirect(request, "/settings#signup", f"No invitation was made: {exc}.", kind="error")
        shown = {
            "email": made.email,
            "url": invite_url(request, made.token),
            "expires": made.expires_at.strftime("%Y-%m-%d %H:%M"),
        }
        return await self.page(request, visitor, invite=shown)

    async def create_user(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        try:
            user = await self.d.t.accounts.create_user(str(form.get("email") or ""), str(form.get("password") or ""))
        except AccountError as exc:
            return await self.d.redirect(request, "/settings#users", f"No user was created: {exc}.", kind="error")
        return await self.d.redirect(request, "/settings#users", f"{user.email} can sign in now.")

    async def set_admin(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        raw = str(request.path_params["user_id"])
        try:
            user = await self.d.t.accounts.set_admin(int(raw) if raw.isdigit() else -1, form.get("admin") == "yes")
        except AccountError as exc:
            return await self.d.redirect(request, "/settings#users", f"Nothing changed: {exc}.", kind="error")
        role = "an admin" if user.is_admin else "a regular user"
        return await self.d.redirect(request, "/settings#users", f"{user.email} is now {role}.")
