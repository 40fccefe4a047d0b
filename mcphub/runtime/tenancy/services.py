"""Everything the tenancy layer needs, built once from the environment: `await Tenancy.open()`.

MCPHUB_DATABASE_URL   postgresql+asyncpg://… (default: SQLite file in the data dir)
MCPHUB_REDIS_URL      redis://… : shared rate limits, key revocation and change fan-out across replicas
MCPHUB_SECRET_KEY     master key of the vault (default: <data dir>/secret.key, mode 0600)
MCPHUB_KEY_RATE_LIMIT per-key rate limit for tool calls, e.g. "600/min" (default: none)
MCPHUB_LIMITS_WITHOUT_REDIS  local|open|closed: rate limits while Redis is down (policy.py; default local)
MCPHUB_USAGE_SPOOL    folder of the usage spool (usage.py; default <data dir>/usage-spool), or "off"

Without Redis, processes on one database (the hub, the CLI) tell each other about changes through the
database's change feed (`fanout.ChangeFeed`), polled once a second. While running, the tenancy also
does housekeeping every `housekeeping_every` seconds: expired OAuth codes and tokens of the hub's
authorization server, old change-feed rows.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from argon2 import PasswordHasher

from mcphub.runtime import tasks
from mcphub.runtime.oauth.upstream import UpstreamOAuth
from mcphub.runtime.store.db import Database, database_url, default_data_dir
from mcphub.runtime.store.migrations import upgrade
from mcphub.runtime.tenancy.accounts import Accounts
from mcphub.runtime.tenancy.builds import Builds
from mcphub.runtime.tenancy.credentials import CredentialStore, TenancyCredentialProvider
from mcphub.runtime.tenancy.enablement import UserIntegrations
from mcphub.runtime.tenancy.fanout import ChangeFeed
from mcphub.runtime.tenancy.policy import (
    MemoryRateLimiter,
    PolicyEngine,
    RateLimiter,
    RedisRateLimiter,
    limits_without_redis,
)
from mcphub.runtime.tenancy.usage import UsageRecorder, UsageSpool
from mcphub.runtime.tenancy.vault import Vault, load_vault

if TYPE_CHECKING:
    from redis.asyncio import Redis

    # A type only: the authorization server (and the MCP SDK it imports) loads with the web routes that build it,
    # so a CLI command that opens the tenancy does not import the SDK.
    from mcphub.runtime.oauth.authserver import AuthServer

__all__ = ["HOUSEKEEPING_EVERY", "Tenancy"]

logger = logging.getLogger(__name__)

HOUSEKEEPING_EVERY = 600.0  # seconds between purges of expired OAuth codes/tokens and old change-feed rows


def _usage_spool(data_dir: Path) -> UsageSpool | None:
    folder = os.environ.get("MCPHUB_USAGE_SPOOL") or str(data_dir / "usage-spool")
    return None if folder.strip().lower() == "off" else UsageSpool(Path(folder))


@dataclass(slots=True)
class Tenancy:
    """The services of the tenancy layer; `start()` before serving, `aclose()` on shutdown (flushes usage)."""

    data_dir: Path
    db: Database
    vault: Vault
    redis: Redis | None
    accounts: Accounts
    integrations: UserIntegrations
    credentials: CredentialStore
    provider: TenancyCredentialProvider
    policy: PolicyEngine
    usage: UsageRecorder
    oauth: UpstreamOAuth
    builds: Builds  # built integrations: owners, versions, the deployed packages every replica mounts
    # The hub's own authorization server; set by `web.oauth_pages.create_oauth_routes` (it needs the issuer URL).
    authserver: AuthServer | None = None
    # Without Redis: the database-backed change feed shared by accounts and integrations.
    feed: ChangeFeed | None = None
    housekeeping_every: float = HOUSEKEEPING_EVERY
    _housekeeping: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    async def open(
        cls,
        data_dir: Path | None = None,
        *,
        url: str | None = None,
        redis_url: str | None = None,
        namespace: str = "mcphub",
        migrate: bool = True,
        start: bool = True,
        key_rate: str | None = None,
        cache_ttl: float = 30.0,
        password_hasher: PasswordHasher | None = None,
        feed_interval: float = 1.0,
        housekeeping_every: float = HOUSEKEEPING_EVERY,
    ) -> Tenancy:
        """Build from arguments, falling back to the environment; migrates the database unless told not to."""
        data_dir = data_dir or default_data_dir()
        url = url or database_url(data_dir)
        if migrate:
            await upgrade(url)
        redis_url = redis_url if redis_url is not None else os.environ.get("MCPHUB_REDIS_URL") or None
        redis = None
        if redis_url:
            from redis.asyncio import Redis  # imported only when configured: it costs ~0.1 s of every start

            # A connect timeout: an unreachable (not refusing) Redis must not hold calls for the OS's ~2 min.
            redis = Redis.from_url(redis_url, socket_connect_timeout=2.0)
        db = Database(url)
        vault = load_vault(data_dir)
        feed = ChangeFeed(db, interval=feed_interval) if redis is None else None
        integrations = UserIntegrations(db, redis=redis, namespace=namespace, feed=feed)
        credentials = CredentialStore(db, vault, integrations)
        limiter: RateLimiter = MemoryRateLimiter()
        if redis is not None:
            without = limits_without_redis(os.environ.get("MCPHUB_LIMITS_WITHOUT_REDIS"))
            limiter = RedisRateLimiter(redis, namespace, without_redis=without)
        oauth = UpstreamOAuth(db, vault, credentials)
        tenancy = cls(
            data_dir=data_dir,
            db=db,
            vault=vault,
            redis=redis,
            accounts=Accounts(
                db,
                vault,
                redis=redis,
                namespace=namespace,
                cache_ttl=cache_ttl,
                password_hasher=password_hasher,
                feed=feed,
            ),
            integrations=integrations,
            credentials=credentials,
            provider=TenancyCredentialProvider(credentials, refresh=oauth.credential),
            policy=PolicyEngine(
                integrations, limiter, key_rate=key_rate or os.environ.get("MCPHUB_KEY_RATE_LIMIT") or None
            ),
            usage=UsageRecorder(
                db,
                secrets=credentials.secret_values,
                log_keep_per_user=int(os.environ.get("MCPHUB_LOG_KEEP") or 1000),
                log_retention=timedelta(days=float(os.environ.get("MCPHUB_LOG_DAYS") or 30)),
                spool=_usage_spool(data_dir),
            ),
            oauth=oauth,
            builds=Builds(db, data_dir, redis=redis, namespace=namespace, feed=feed),
            feed=feed,
            housekeeping_every=housekeeping_every,
        )
        if start:
            await tenancy.start()
        return tenancy

    async def start(self) -> None:
        await self.accounts.start()
        await self.integrations.start()
        await self.builds.start()
        if self.feed is not None:
            await self.feed.start()
        await self.usage.start()
        if self._housekeeping is None:
            self._housekeeping = asyncio.create_task(self._housekeep(), name="tenancy-housekeeping")

    async def housekeep(self) -> None:
        """Delete what has expired: OAuth codes and tokens of the authorization server, old change-feed rows."""
        if self.authserver is not None:
            await self.authserver.purge()
        if self.feed is not None:
            await self.feed.purge()

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(self.housekeeping_every)
            try:
                await self.housekeep()
            except asyncio.CancelledError:
                raise
            except Exception:  # housekeeping never decides correctness: log and try again next round
                logger.exception("tenancy housekeeping failed")

    async def aclose(self) -> None:
        """Flush usage, stop subscriptions, close connections (graceful shutdown)."""
        await tasks.stop(self._housekeeping)
        self._housekeeping = None
        try:
            await self.usage.aclose()
        finally:
            if self.feed is not None:
                await self.feed.aclose()
            await self.accounts.aclose()
            if self.authserver is not None:
                await self.authserver.aclose()
            await self.integrations.aclose()
            await self.builds.aclose()
            await self.oauth.aclose()
            if self.redis is not None:
                await self.redis.aclose()
            await self.db.aclose()
