"""Users and API keys: sign-up with argon2id passwords, `mcp_sk_…` keys, and the cached key check.

Keys are stored as HMAC-SHA256(pepper, key), not with argon2. argon2 is deliberately slow so that
a stolen hash of a *guessable* password is expensive to crack; an API key is 256 random bits, so
no amount of guessing finds it and a slow hash would only make every `/mcp` request slower. The
HMAC pepper (a hub secret sealed by the vault, see `vault.hub_secret`) means a database dump alone
cannot even check a candidate key. Lookups go by the hash through a unique index and the stored
hash is compared with `hmac.compare_digest`.

Revocation on every replica: `authenticate_key` caches results for `cache_ttl` seconds (default 30)
per process. `revoke_key`/`rotate_key` drop the entries locally and publish the key id on
`<namespace>:keys:invalidate` (Redis pub/sub when configured, else the database's change feed, which
reaches a hub running next to the CLI within about a second); every process drops its entries.
A replica whose subscription is down does not use its cache at all until it is back (correct, then
fast), and clears it on resubscribing (messages may have been missed). A generation counter stops
a lookup that raced with an invalidation from putting a stale principal back into the cache.

Rotation: a new secret is issued for the same key (same id, name and scope); the old secret keeps
working for a grace period (default `ROTATION_GRACE`, 24 hours; 0 ends it at once) so deployed
agents can be updated without an outage. Revocation ends every secret of the key immediately.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import difflib
import hashlib
import hmac
import logging
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from mcphub.runtime.errors import HubError
from mcphub.runtime.store.db import Database, utcnow
from mcphub.runtime.store.models import ApiKey, ApiKeySecret, CallLogEntry, User
from mcphub.runtime.tenancy.fanout import ChangeFeed, Fanout
from mcphub.runtime.tenancy.vault import Vault, hub_secret

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from mcphub.compiler.ir import Integration  # only with MCPHUB_REDIS_URL: redis costs ~0.1 s to import

__all__ = [
    "KEY_PREFIX",
    "ROTATION_GRACE",
    "VIEWS",
    "AccountError",
    "Accounts",
    "ApiKeyInfo",
    "KeyPrincipal",
    "NewKey",
    "NotFound",
    "UserInfo",
    "scope_allows",
]

logger = logging.getLogger(__name__)

KEY_PREFIX = "mcp_sk_"
ROTATION_GRACE = timedelta(hours=24)
_DISPLAY_CHARS = 8  # of the random part shown in listings: "mcp_sk_AbCdEfGh…"
_KEY_RE = re.compile(r"^mcp_sk_[A-Za-z0-9_-]{43}$")
# How a key's /mcp lists tools: every tool, the search meta-tools, or flat while the tools fit a token budget.
VIEWS = ("flat", "search", "auto")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
_MIN_PASSWORD = 8
_NEGATIVE_TTL = 5.0
_MAX_CACHE = 50_000
_TOUCH_EVERY = 60.0  # seconds between last_used_at writes per key and process
_SIGNUP_LOCK = 0x6D63_7068_7562  # "mcphub": the advisory lock id of user creation


class AccountError(HubError):
    """A request about users or keys that cannot be done; the message says why and what to do."""


class NotFound(AccountError):
    """No such user or key (for this owner: another user's key is 'not found', never 'forbidden')."""


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: int
    email: str
    is_admin: bool
    created_at: datetime

    @classmethod
    def of(cls, row: User) -> UserInfo:
        return cls(row.id, row.email, row.is_admin, row.created_at)


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """What may be shown about a key after creation: never the secret."""

    id: int
    user_id: int
    name: str
    prefix: str
    scope: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    view: str = "flat"

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= utcnow():
            return "expired"
        return "active"

    @classmethod
    def of(cls, row: ApiKey) -> ApiKeyInfo:
        return cls(
            row.id,
            row.user_id,
            row.name,
            row.prefix,
            row.scope,
            row.created_at,
            row.expires_at,
            row.last_used_at,
            row.revoked_at,
            row.view or "flat",
        )


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just created or rotated: `secret` is shown to the user once and never stored."""

    info: ApiKeyInfo
    secret: str

    def __repr__(self) -> str:
        return f"NewKey(info={self.info!r}, secret='{self.info.prefix}…')"


def scope_allows(scope: frozenset[str] | None, slug: str, tool: str | None = None) -> bool:
    """Whether a key scope admits an integration (tool None) or one of its tools.

    A scope entry is a slug (the whole integration) or `slug__tool` (one tool); None admits everything.
    """
    if scope is None or slug in scope:
        return True
    if tool is None:
        return any(entry.startswith(f"{slug}__") for entry in scope)
    return f"{slug}__{tool}" in scope


@dataclass(frozen=True, slots=True)
class KeyPrincipal:
    """Who a valid API key speaks for, and what it may reach."""

    user_id: int
    key_id: int
    key_name: str
    is_admin: bool
    scope: frozenset[str] | None
    expires_at: datetime | None  # the earlier of the key's expiry and the end of this secret's grace period
    view: str = "flat"  # one of VIEWS: how /mcp lists tools for this key

    def allows(self, slug: str, tool: str | None = None) -> bool:
        return scope_allows(self.scope, slug, tool)

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and (now or utcnow()) >= self.expires_at


@dataclass(slots=True)
class _Cached:
    principal: KeyPrincipal | None
    at: float


def _normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL_RE.match(email) or len(email) > 320:
        raise AccountError(f"{email!r} is not an email address")
    return email


def _normalise_scope(scope: Iterable[str] | None) -> list[str] | None:
    if scope is None:
        return None
    entries = sorted({entry.strip() for entry in scope if entry.strip()})
    for entry in entries:
        if not re.fullmatch(r"[a-z0-9-]+(__[A-Za-z0-9_-]+)?", entry):
            raise AccountError(f"scope entry {entry!r} is neither an integration slug nor `slug__tool`")
    return entries or None


def _check_scope(entries: list[str], catalog: Iterable[Integration]) -> None:
    """Each scope entry must name a mounted integration or one of its tools (a typo would give a useless key)."""
    tools = {i.slug: {t.name for t in i.tools if t.enabled} for i in catalog}
    for entry in entries:
        slug, _, tool = entry.partition("__")
        if slug not in tools:
            hint = _close(slug, tools) or f"; the catalog has {', '.join(sorted(tools)) or 'no integrations'}"
            raise AccountError(f"scope {entry!r}: no integration {slug!r} in the catalog{hint}")
        if tool and tool not in tools[slug]:
            hint = _close(tool, tools[slug], prefix=f"{slug}__")
            raise AccountError(f"scope {entry!r}: {slug} has no tool {tool!r}{hint}")


def _close(value: str, candidates: Iterable[str], *, prefix: str = "") -> str:
    matches = difflib.get_close_matches(value, sorted(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{prefix}{matches[0]}'?" if matches else ""


class Accounts:
    """Users, passwords, API keys and the per-process key cache (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        vault: Vault,
        *,
        redis: Redis | None = None,
        namespace: str = "mcphub",
        cache_ttl: float = 30.0,
        password_hasher: PasswordHasher | None = None,
        feed: ChangeFeed | None = None,
    ) -> None:
        self.db = db
        self.vault = vault
        self.redis = redis
        self.cache_ttl = cache_ttl
        self._hasher = password_hasher or PasswordHasher()  # argon2id with the library's (RFC 9106) defaults
        self._dummy_hash: str | None = None
        self._pepper: bytes | None = None
        self._cache: dict[str, _Cached] = {}
        self._generation = 0
        # Anything published while not subscribed is lost: start from an empty cache on every (re)subscribe.
        self._fanout = Fanout(
            redis, f"{namespace}:keys:invalidate", self._on_invalidate, on_resubscribe=self._clear_cache, feed=feed
        )
        self._touched: dict[int, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    # --- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the key pepper and, with Redis, subscribe to invalidations (returns once subscribed)."""
        await self._key_pepper()
        await self._fanout.start()

    async def aclose(self) -> None:
        self._closed = True
        await self._fanout.aclose()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- users -----------------------------------------------------------------------------------------

    async def _hash_password(self, password: str) -> str:
        if len(password) < _MIN_PASSWORD:
            raise AccountError(f"password too short: use at least {_MIN_PASSWORD} characters")
        # argon2 takes tens of milliseconds of CPU by design: keep it off the event loop.
        return await asyncio.to_thread(self._hasher.hash, password)

    async def create_user(self, email: str, password: str) -> UserInfo:
        """Create a user; the first user of the hub becomes its admin."""
        email = _normalise_email(email)
        password_hash = await self._hash_password(password)
        try:
            async with self.db.session() as session:
                # Exactly one admin even when the first sign-ups race: creation is serialised (PostgreSQL: an
                # advisory lock; SQLite: the insert takes the database's write lock) and the admin check follows.
                if self.db.dialect == "postgresql":
                    await session.execute(select(func.pg_advisory_xact_lock(_SIGNUP_LOCK)))
                user = User(
                    email=email, password_hash=password_hash, is_admin=False, session_epoch=0, created_at=utcnow()
                )
                session.add(user)
                await session.flush()
                if not await session.scalar(select(func.count()).select_from(User).where(User.is_admin)):
                    user.is_admin = True
                return UserInfo.of(user)
        except IntegrityError as exc:
            raise AccountError(f"a user with email {email} already exists; sign in instead") from exc

    async def verify_password(self, email: str, password: str) -> UserInfo | None:
        """The user if the password matches; None otherwise (same work whether or not the user exists)."""
        try:
            email = _normalise_email(email)
        except AccountError:
            return None
        async with self.db.session() as session:
            user = await session.scalar(select(User).where(User.email == email))
        if user is None:
            if self._dummy_hash is None:
                self._dummy_hash = await asyncio.to_thread(self._hasher.hash, os.urandom(16).hex())
            with contextlib.suppress(VerificationError, InvalidHashError):
                await asyncio.to_thread(self._hasher.verify, self._dummy_hash, password)
            return None
        try:
            await asyncio.to_thread(self._hasher.verify, user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if self._hasher.check_needs_rehash(user.password_hash):
            new_hash = await asyncio.to_thread(self._hasher.hash, password)
            async with self.db.session() as session:
                await session.execute(update(User).where(User.id == user.id).values(password_hash=new_hash))
        return UserInfo.of(user)

    async def set_password(self, user_id: int, password: str) -> None:
        """Change a password; every web session of the user ends."""
        password_hash = await self._hash_password(password)
        async with self.db.session() as session:
            result = await session.execute(
                update(User)
                .where(User.id == user_id)
                .values(password_hash=password_hash, session_epoch=User.session_epoch + 1)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound(f"no user {user_id}")

    async def get_user(self, user_id: int) -> UserInfo | None:
        async with self.db.session() as session:
            user = await session.get(User, user_id)
            return UserInfo.of(user) if user else None

    async def find_user(self, email: str) -> UserInfo | None:
        async with self.db.session() as session:
            user = await session.scalar(select(User).where(User.email == email.strip().lower()))
            return UserInfo.of(user) if user else None

    async def list_users(self) -> list[UserInfo]:
        async with self.db.session() as session:
            return [UserInfo.of(user) for user in await session.scalars(select(User).order_by(User.id))]

    async def session_epoch(self, user_id: int) -> int | None:
        """The current web-session epoch of a user (None: no such user)."""
        async with self.db.session() as session:
            return await session.scalar(select(User.session_epoch).where(User.id == user_id))

    async def end_sessions(self, user_id: int) -> None:
        """Void every web session cookie of a user (sign-out)."""
        async with self.db.session() as session:
            await session.execute(update(User).where(User.id == user_id).values(session_epoch=User.session_epoch + 1))

    async def set_admin(self, user_id: int, is_admin: bool) -> UserInfo:
        """Make a user an admin or take it back; the hub always keeps at least one admin."""
        async with self.db.session() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise NotFound(f"no user {user_id}")
            if not is_admin and user.is_admin and await self._admins(session) <= 1:
                raise AccountError(f"{user.email} is the only admin; make another user admin first")
            user.is_admin = is_admin
            return UserInfo.of(user)

    @staticmethod
    async def _admins(session: Any) -> int:
        return int(await session.scalar(select(func.count()).select_from(User).where(User.is_admin)) or 0)

    async def delete_user(self, user_id: int) -> None:
        """Delete a user with their keys, credentials, enablements, grants and call log; keys stop everywhere now.

        Usage events and monthly meters stay (they name no content and billing needs them); the last
        admin cannot be deleted.
        """
        keys = await self.list_keys(user_id)
        async with self.db.session() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise NotFound(f"no user {user_id}")
            if user.is_admin and await self._admins(session) <= 1:
                raise AccountError(f"{user.email} is the only admin; make another user admin first")
            await session.execute(delete(CallLogEntry).where(CallLogEntry.user_id == user_id))
            await session.delete(user)  # the database cascades to keys, secrets, credentials, grants
        for key in keys:
            await self._invalidate(key.id)

    # --- keys ------------------------------------------------------------------------------------------

    async def _key_pepper(self) -> bytes:
        if self._pepper is None:
            self._pepper = await hub_secret(self.db, self.vault, "api-key-hmac")
        return self._pepper

    async def _new_secret(self) -> tuple[str, str, str]:
        """(raw key, its hash, display prefix)."""
        body = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
        raw = KEY_PREFIX + body
        return raw, self._hash(await self._key_pepper(), raw), KEY_PREFIX + body[:_DISPLAY_CHARS]

    @staticmethod
    def _hash(pepper: bytes, raw: str) -> str:
        return hmac.new(pepper, raw.encode(), hashlib.sha256).hexdigest()

    async def create_key(
        self,
        user_id: int,
        name: str,
        *,
        expires_at: datetime | None = None,
        scope: Iterable[str] | None = None,
        catalog: Iterable[Integration] | None = None,
        view: str = "flat",
    ) -> NewKey:
        """Create a key for a user; the returned secret is the only copy there will ever be.

        With `catalog` (the mounted integrations), every scope entry must name one of them or one of their
        enabled tools; a near miss is suggested.
        """
        name = name.strip()
        if not name:
            raise AccountError("a key needs a name (what uses it: 'laptop', 'ci', …)")
        if expires_at is not None and expires_at <= utcnow():
            raise AccountError("expiry is in the past")
        if view not in VIEWS:
            raise AccountError(f"view {view!r} is not one of {', '.join(VIEWS)} (see README: choosing a view)")
        scope = _normalise_scope(scope)
        if scope and catalog is not None:
            _check_scope(scope, catalog)
        raw, secret_hash, prefix = await self._new_secret()
        now = utcnow()
        async with self.db.session() as session:
            if await session.get(User, user_id) is None:
                raise NotFound(f"no user {user_id}")
            key = ApiKey(
                user_id=user_id,
                name=name,
                prefix=prefix,
                scope=scope,
                view=view,
                created_at=now,
                expires_at=expires_at,
                last_used_at=None,
                revoked_at=None,
            )
            session.add(key)
            await session.flush()
            session.add(
                ApiKeySecret(key_id=key.id, secret_hash=secret_hash, prefix=prefix, created_at=now, valid_until=None)
            )
            return NewKey(ApiKeyInfo.of(key), raw)

    async def list_keys(self, user_id: int) -> list[ApiKeyInfo]:
        async with self.db.session() as session:
            rows = await session.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id))
            return [ApiKeyInfo.of(row) for row in rows]

    async def _owned_key(self, session: Any, user_id: int, key_id: int) -> ApiKey:
        key: ApiKey | None = await session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id))
        if key is None:
            raise NotFound(f"no key {key_id} for this user; `mcphub keys list` shows yours")
        return key

    async def rotate_key(self, user_id: int, key_id: int, *, grace: timedelta = ROTATION_GRACE) -> NewKey:
        """Issue a new secret for a key; the current secret(s) stay valid for `grace`, then stop."""
        if grace < timedelta(0):
            raise AccountError("grace period cannot be negative")
        raw, secret_hash, prefix = await self._new_secret()
        now = utcnow()
        async with self.db.session() as session:
            key = await self._owned_key(session, user_id, key_id)
            if key.revoked_at is not None:
                raise AccountError(f"key {key_id} is revoked; create a new key instead")
            end = now + grace
            await session.execute(
                update(ApiKeySecret)
                .where(
                    ApiKeySecret.key_id == key_id,
                    (ApiKeySecret.valid_until.is_(None)) | (ApiKeySecret.valid_until > end),
                )
                .values(valid_until=end)
            )
            session.add(
                ApiKeySecret(key_id=key_id, secret_hash=secret_hash, prefix=prefix, created_at=now, valid_until=None)
            )
            key.prefix = prefix
            info = ApiKeyInfo.of(key)
        await self._invalidate(key_id)
        return NewKey(info, raw)

    async def set_key_view(self, user_id: int, key_id: int, view: str) -> ApiKeyInfo:
        """Change how /mcp lists tools for a key (flat, search, auto); its clients see it on their next list."""
        if view not in VIEWS:
            raise AccountError(f"view {view!r} is not one of {', '.join(VIEWS)} (see README: choosing a view)")
        async with self.db.session() as session:
            key = await self._owned_key(session, user_id, key_id)
            if key.revoked_at is not None:
                raise AccountError(f"key {key_id} is revoked; create a new key instead")
            key.view = view
            info = ApiKeyInfo.of(key)
        await self._invalidate(key_id)
        return info

    async def revoke_key(self, user_id: int, key_id: int) -> ApiKeyInfo:
        """Revoke a key: every secret of it stops working now, on every replica."""
        async with self.db.session() as session:
            key = await self._owned_key(session, user_id, key_id)
            if key.revoked_at is None:
                key.revoked_at = utcnow()
            info = ApiKeyInfo.of(key)
        await self._invalidate(key_id)
        return info

    async def authenticate_key(self, raw: str) -> KeyPrincipal | None:
        """The principal of a valid, unexpired, unrevoked key; None for anything else."""
        if not _KEY_RE.match(raw):
            return None
        secret_hash = self._hash(await self._key_pepper(), raw)
        use_cache = self._fanout.healthy
        now_mono = time.monotonic()
        cached = self._cache.get(secret_hash) if use_cache else None
        if cached is not None:
            ttl = self.cache_ttl if cached.principal is not None else min(self.cache_ttl, _NEGATIVE_TTL)
            if now_mono - cached.at < ttl:
                principal = cached.principal
                if principal is None or principal.expired():
                    return None
                self._touch(principal.key_id)
                return principal
        generation = self._generation
        principal = await self._lookup(secret_hash)
        if use_cache and generation == self._generation:
            if len(self._cache) >= _MAX_CACHE:
                self._cache.clear()
            self._cache[secret_hash] = _Cached(principal, now_mono)
        if principal is not None:
            self._touch(principal.key_id)
        return principal

    async def _lookup(self, secret_hash: str) -> KeyPrincipal | None:
        now = utcnow()
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(ApiKeySecret, ApiKey, User.is_admin)
                    .join(ApiKey, ApiKey.id == ApiKeySecret.key_id)
                    .join(User, User.id == ApiKey.user_id)
                    .where(ApiKeySecret.secret_hash == secret_hash)
                )
            ).first()
        if row is None:
            return None
        secret, key, is_admin = row
        if not hmac.compare_digest(secret.secret_hash, secret_hash) or key.revoked_at is not None:
            return None
        ends = [when for when in (key.expires_at, secret.valid_until) if when is not None]
        principal = KeyPrincipal(
            user_id=key.user_id,
            key_id=key.id,
            key_name=key.name,
            is_admin=bool(is_admin),
            scope=frozenset(key.scope) if key.scope is not None else None,
            expires_at=min(ends) if ends else None,
            view=key.view or "flat",
        )
        return None if principal.expired(now) else principal

    def _clear_cache(self) -> None:
        self._generation += 1
        self._cache.clear()

    def _invalidate_local(self, key_id: int) -> None:
        self._generation += 1
        for secret_hash, entry in list(self._cache.items()):
            if entry.principal is not None and entry.principal.key_id == key_id:
                del self._cache[secret_hash]

    def _on_invalidate(self, message: str) -> None:
        self._invalidate_local(int(message))

    async def _invalidate(self, key_id: int) -> None:
        self._invalidate_local(key_id)  # this replica at once, even before Redis echoes the message back
        await self._fanout.publish(str(key_id))

    def _touch(self, key_id: int) -> None:
        """Record last use at most once a minute per key, off the request path."""
        now = time.monotonic()
        if now - self._touched.get(key_id, -_TOUCH_EVERY) < _TOUCH_EVERY or self._closed:
            return
        self._touched[key_id] = now
        task = asyncio.create_task(self._write_last_used(key_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write_last_used(self, key_id: int) -> None:
        try:
            async with self.db.session() as session:
                await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))
        except Exception:
            logger.exception("could not record last use of key %s", key_id)
