"""Everything the tenancy layer needs, built once from the environment: `await Tenancy.open()`.

MCPHUB_DATABASE_URL   postgresql+asyncpg://… (default: SQLite file in the data dir)
MCPHUB_REDIS_URL      redis://… : shared rate limits, key revocation and change fan-out across replicas
MCPHUB_SECRET_KEY     master key of the vault (default: <data dir>/secret.key, mode 0600)
MCPHUB_KEY_RATE_LIMIT per-key rate limit for tool calls, e.g. "600/min" (default: none)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from argon2 import PasswordHasher
from redis.asyncio import Redis

from mcphub.runtime.accounts import Accounts
from mcphub.runtime.enablement import UserIntegrations
from mcphub.runtime.oauth.authserver import AuthServer
from mcphub.runtime.oauth.upstream import UpstreamOAuth
from mcphub.runtime.policy import MemoryRateLimiter, PolicyEngine, RateLimiter, RedisRateLimiter
from mcphub.runtime.store.db import Database, database_url, default_data_dir
from mcphub.runtime.store.migrations import upgrade
from mcphub.runtime.tenancy_credentials import CredentialStore, TenancyCredentialProvider
from mcphub.runtime.usage import UsageRecorder
from mcphub.runtime.vault import Vault, load_vault

__all__ = ["Tenancy"]


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
    # The hub's own authorization server; set by `web.oauth_pages.create_oauth_routes` (it needs the issuer URL).
    authserver: AuthServer | None = None

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
    ) -> Tenancy:
        """Build from arguments, falling back to the environment; migrates the database unless told not to."""
        data_dir = data_dir or default_data_dir()
        url = url or database_url(data_dir)
        if migrate:
            await upgrade(url)
        redis_url = redis_url if redis_url is not None else os.environ.get("MCPHUB_REDIS_URL") or None
        redis = Redis.from_url(redis_url) if redis_url else None
        db = Database(url)
        vault = load_vault(data_dir)
        integrations = UserIntegrations(db, redis=redis, namespace=namespace)
        credentials = CredentialStore(db, vault, integrations)
        limiter: RateLimiter = RedisRateLimiter(redis, namespace) if redis else MemoryRateLimiter()
        oauth = UpstreamOAuth(db, vault, credentials)
        tenancy = cls(
            data_dir=data_dir,
            db=db,
            vault=vault,
            redis=redis,
            accounts=Accounts(
                db, vault, redis=redis, namespace=namespace, cache_ttl=cache_ttl, password_hasher=password_hasher
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
            ),
            oauth=oauth,
        )
        if start:
            await tenancy.start()
        return tenancy

    async def start(self) -> None:
        await self.accounts.start()
        await self.integrations.start()
        await self.usage.start()

    async def aclose(self) -> None:
        """Flush usage, stop subscriptions, close connections (graceful shutdown)."""
        try:
            await self.usage.aclose()
        finally:
            await self.accounts.aclose()
            await self.integrations.aclose()
            await self.oauth.aclose()
            if self.redis is not None:
                await self.redis.aclose()
            await self.db.aclose()
