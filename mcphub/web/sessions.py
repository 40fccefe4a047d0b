"""Signed web-session cookies, shared by the JSON API and the OAuth sign-in/consent pages.

A cookie holds the user id, the user's session epoch (bumped on sign-out everywhere or a password change,
which voids every older cookie) and the session's CSRF token, signed with the hub's session key.
"""

from __future__ import annotations

import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from mcphub.runtime.tenancy.accounts import UserInfo
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.runtime.tenancy.vault import hub_secret

__all__ = ["SESSION_COOKIE", "SESSION_MAX_AGE", "WebSessions"]

SESSION_COOKIE = "mcphub_session"
SESSION_MAX_AGE = 14 * 24 * 3600


class WebSessions:
    """Reads and starts web sessions for one tenancy (the signing key is loaded once, on first use)."""

    def __init__(self, tenancy: Tenancy) -> None:
        self.t = tenancy
        self._serializer: URLSafeTimedSerializer | None = None

    async def serializer(self) -> URLSafeTimedSerializer:
        if self._serializer is None:
            key = await hub_secret(self.t.db, self.t.vault, "session-signing")
            self._serializer = URLSafeTimedSerializer(key, salt="mcphub-session")
        return self._serializer

    async def read(self, request: Request) -> tuple[UserInfo, str] | None:
        """(user, session CSRF token) of a live session; None without one, or when it was signed out since."""
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data = (await self.serializer()).loads(raw, max_age=SESSION_MAX_AGE)
            uid, epoch, csrf = int(data["uid"]), int(data["ep"]), str(data["csrf"])
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        if await self.t.accounts.session_epoch(uid) != epoch:
            return None  # signed out (everywhere) or password changed since
        user = await self.t.accounts.get_user(uid)
        return (user, csrf) if user else None

    async def start(self, response: Response, user: UserInfo, *, secure: bool, csrf: str | None = None) -> str:
        """Set a new session cookie for `user` on `response`; returns its CSRF token (made here unless given)."""
        epoch = await self.t.accounts.session_epoch(user.id)
        csrf = csrf or secrets.token_urlsafe(32)
        cookie = (await self.serializer()).dumps({"uid": user.id, "ep": epoch, "csrf": csrf})
        response.set_cookie(
            SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE, httponly=True, samesite="lax", secure=secure, path="/"
        )
        return csrf
