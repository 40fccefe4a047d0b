"""Who may create an account: the hub's sign-up policy and single-use invitations.

Policies: `closed` (admins create accounts), `invite` (an admin's invitation link for one email address,
single use, expiring), `open` (anyone who reaches the hub). The first account of a hub can always be
created (it becomes the admin); after that the default is `closed`. The operator may fix the policy with
`MCPHUB_SIGNUP=closed|invite|open` (then admins see it but cannot change it); otherwise an admin's choice
is stored in the database (`hub_settings`), shared by every replica.

An invitation's token is 256 random bits; only its SHA-256 is stored (a database dump cannot be turned
into working links), and it is marked used in the same transaction that creates the account.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from mcphub.runtime.store.db import utcnow
from mcphub.runtime.store.models import HubSetting, SignupInvite, User
from mcphub.runtime.tenancy.accounts import AccountError, Accounts, UserInfo

__all__ = [
    "INVITE_TTL",
    "POLICIES",
    "Invite",
    "Policy",
    "PolicyState",
    "SignupClosed",
    "Signups",
    "env_policy",
]

Policy = Literal["closed", "invite", "open"]
POLICIES: tuple[Policy, ...] = get_args(Policy)
INVITE_TTL = timedelta(days=7)
_SETTING = "signup"
ENV = "MCPHUB_SIGNUP"


class SignupClosed(AccountError):
    """Sign-up refused by the policy; the message says what the person can do instead."""


@dataclass(frozen=True, slots=True)
class PolicyState:
    policy: Policy
    source: Literal["environment", "admin", "default"]

    @property
    def locked(self) -> bool:
        """Set by the operator's environment: the dashboard cannot change it."""
        return self.source == "environment"


@dataclass(frozen=True, slots=True)
class Invite:
    id: int
    email: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    token: str | None = None  # only when just created: the link is shown once

    @property
    def status(self) -> str:
        if self.used_at is not None:
            return "used"
        return "expired" if self.expires_at <= utcnow() else "pending"


def env_policy() -> Policy | None:
    """The operator's MCPHUB_SIGNUP, or None; a wrong value is an error naming the variable and the choices."""
    raw = os.environ.get(ENV, "").strip().lower()
    if not raw:
        return None
    if raw not in POLICIES:
        raise ValueError(f"{ENV}={raw!r} is not a sign-up policy; use one of: {', '.join(POLICIES)}")
    return raw


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Signups:
    """The sign-up policy and invitations over the accounts' database."""

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self.db = accounts.db

    async def state(self) -> PolicyState:
        fixed = env_policy()
        if fixed is not None:
            return PolicyState(fixed, "environment")
        async with self.db.session() as session:
            stored = await session.scalar(select(HubSetting.value).where(HubSetting.name == _SETTING))
        if stored in POLICIES:
            return PolicyState(stored, "admin")
        return PolicyState("closed", "default")

    async def set_policy(self, policy: str) -> PolicyState:
        if policy not in POLICIES:
            raise AccountError(f"{policy!r} is not a sign-up policy; use one of: {', '.join(POLICIES)}")
        if env_policy() is not None:
            raise AccountError(f"the sign-up policy is fixed by {ENV} in the hub's environment; change it there")
        async with self.db.session() as session:
            row = await session.get(HubSetting, _SETTING)
            if row is None:
                session.add(HubSetting(name=_SETTING, value=policy, updated_at=utcnow()))
            else:
                row.value, row.updated_at = policy, utcnow()
        return await self.state()

    async def first_account(self) -> bool:
        """No account exists yet: the next sign-up makes the admin, whatever the policy."""
        async with self.db.session() as session:
            return not await session.scalar(select(func.count()).select_from(User))

    async def invite(self, email: str, *, created_by: int | None, ttl: timedelta = INVITE_TTL) -> Invite:
        """A new invitation for `email`; its token (for the link) is returned this once."""
        email = email.strip().lower()
        if "@" not in email or len(email) > 320:
            raise AccountError(f"{email!r} is not an email address")
        if await self.accounts.find_user(email) is not None:
            raise AccountError(f"{email} already has an account")
        token = secrets.token_urlsafe(32)
        now = utcnow()
        row = SignupInvite(
            token_hash=_hash(token), email=email, created_by=created_by, created_at=now, expires_at=now + ttl
        )
        async with self.db.session() as session:
            session.add(row)
            await session.flush()
            return Invite(row.id, email, now, row.expires_at, None, token)

    async def invites(self) -> list[Invite]:
        async with self.db.session() as session:
            rows = await session.scalars(select(SignupInvite).order_by(SignupInvite.id.desc()).limit(100))
            return [Invite(r.id, r.email, r.created_at, r.expires_at, r.used_at) for r in rows]

    async def invited_email(self, token: str) -> str | None:
        """The email an unused, unexpired invitation token is for; None otherwise."""
        if not token:
            return None
        async with self.db.session() as session:
            row = await session.scalar(select(SignupInvite).where(SignupInvite.token_hash == _hash(token)))
        if row is None or row.used_at is not None or row.expires_at <= utcnow():
            return None
        return row.email

    async def sign_up(self, email: str, password: str, *, invite: str | None = None) -> UserInfo:
        """Create an account if the policy allows it (the first account always; it becomes the admin)."""
        if await self.first_account():
            return await self.accounts.create_user(email, password)
        policy = (await self.state()).policy
        if policy == "open":
            return await self.accounts.create_user(email, password)
        if policy == "closed" or not invite:
            raise SignupClosed(
                "sign-up is closed on this hub; ask an admin for an account"
                if policy == "closed"
                else "this hub takes new accounts by invitation only; ask an admin for an invite link"
            )
        invited = await self.invited_email(invite)
        if invited is None:
            raise SignupClosed("this invite link is unknown, used or expired; ask an admin for a new one")
        if invited != email.strip().lower():
            raise SignupClosed(f"this invitation is for {invited}; sign up with that address")
        # Claim the invitation first (one winner when the link is used twice at once), then create the account;
        # if that fails (a taken email, a short password) the invitation is released again.
        async with self.db.session() as session:
            claimed = await session.execute(
                update(SignupInvite)
                .where(SignupInvite.token_hash == _hash(invite), SignupInvite.used_at.is_(None))
                .values(used_at=utcnow())
            )
            if not claimed.rowcount:  # type: ignore[attr-defined]
                raise SignupClosed("this invite link was just used; ask an admin for a new one")
        try:
            user = await self.accounts.create_user(email, password)
        except (AccountError, IntegrityError):
            async with self.db.session() as session:
                await session.execute(
                    update(SignupInvite).where(SignupInvite.token_hash == _hash(invite)).values(used_at=None)
                )
            raise
        async with self.db.session() as session:
            await session.execute(
                update(SignupInvite).where(SignupInvite.token_hash == _hash(invite)).values(used_by=user.id)
            )
        return user
