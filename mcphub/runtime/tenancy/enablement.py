"""Which catalog integrations each user has enabled and connected, and who to tell when that changes.

`states(user_id)` is what the request path reads: cached per user for `cache_ttl` seconds, and dropped
on every replica when it changes. Enabling, disabling and setting or deleting a credential call
`changed(user_id)`: every replica drops that user's cached state and runs its subscribers (the hub,
to send `notifications/tools/list_changed` to that user's open sessions), through Redis pub/sub when it
is configured, else through the database's change feed (`fanout.ChangeFeed`), so a change made by the CLI
reaches a running hub within about a second. While the subscription is down the cache is not used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from mcphub.runtime.store.db import Database, utcnow
from mcphub.runtime.store.models import Credential, UserIntegration
from mcphub.runtime.tenancy.fanout import ChangeFeed, Fanout

if TYPE_CHECKING:
    from redis.asyncio import Redis  # only with MCPHUB_REDIS_URL: redis costs ~0.1 s to import

__all__ = ["IntegrationState", "UserIntegrations"]

logger = logging.getLogger(__name__)

ChangeListener = Callable[[int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class IntegrationState:
    slug: str
    enabled: bool
    connected: bool  # a credential is stored
    scheme: str | None  # the AuthScheme id of that credential
    updated_at: datetime | None


class UserIntegrations:
    def __init__(
        self,
        db: Database,
        *,
        redis: Redis | None = None,
        namespace: str = "mcphub",
        cache_ttl: float = 30.0,
        feed: ChangeFeed | None = None,
    ) -> None:
        self.db = db
        self.cache_ttl = cache_ttl
        self._listeners: list[ChangeListener] = []
        self._cache: dict[int, tuple[float, dict[str, IntegrationState]]] = {}
        self._generation = 0
        self._fanout = Fanout(
            redis, f"{namespace}:integrations:changed", self._dispatch, on_resubscribe=self._clear_cache, feed=feed
        )

    def _clear_cache(self) -> None:
        self._generation += 1
        self._cache.clear()

    def _forget(self, user_id: int) -> None:
        self._generation += 1
        self._cache.pop(user_id, None)

    async def start(self) -> None:
        await self._fanout.start()

    async def aclose(self) -> None:
        await self._fanout.aclose()

    @property
    def cache_usable(self) -> bool:
        """Whether per-user caches may be trusted now: changes elsewhere reach this process (the fan-out is up)."""
        return self._fanout.healthy

    def subscribe(self, listener: ChangeListener) -> None:
        """Call `listener(user_id)` whenever a user's enabled or connected integrations change (any replica)."""
        self._listeners.append(listener)

    async def _dispatch(self, message: str) -> None:
        user_id = int(message)
        self._forget(user_id)
        for listener in self._listeners:
            try:
                await listener(user_id)
            except Exception:
                logger.exception("integration change listener failed for user %s", user_id)

    async def changed(self, user_id: int) -> None:
        self._forget(user_id)  # this replica at once, before Redis echoes the message back
        await self._fanout.publish(str(user_id))

    async def states(self, user_id: int) -> dict[str, IntegrationState]:
        """Every integration the user has enabled, disabled or connected, by slug."""
        use_cache = self._fanout.healthy and self.cache_ttl > 0
        now = time.monotonic()
        cached = self._cache.get(user_id) if use_cache else None
        if cached is not None and now - cached[0] < self.cache_ttl:
            return cached[1]
        generation = self._generation
        result = await self._read(user_id)
        if use_cache and generation == self._generation:
            if len(self._cache) >= 10_000:
                self._cache.clear()
            self._cache[user_id] = (now, result)
        return result

    async def _read(self, user_id: int) -> dict[str, IntegrationState]:
        async with self.db.session() as session:
            toggles = (
                await session.execute(
                    select(UserIntegration.slug, UserIntegration.enabled, UserIntegration.updated_at).where(
                        UserIntegration.user_id == user_id
                    )
                )
            ).all()
            creds = (
                await session.execute(
                    select(Credential.slug, Credential.scheme, Credential.updated_at).where(
                        Credential.user_id == user_id
                    )
                )
            ).all()
        connected = {slug: (scheme, updated) for slug, scheme, updated in creds}
        result: dict[str, IntegrationState] = {}
        for slug, enabled, updated in toggles:
            scheme, _ = connected.get(slug, (None, None))
            result[slug] = IntegrationState(slug, bool(enabled), slug in connected, scheme, updated)
        for slug, (scheme, updated) in connected.items():
            result.setdefault(slug, IntegrationState(slug, False, True, scheme, updated))
        return result

    async def set_enabled(self, user_id: int, slug: str, enabled: bool) -> None:
        async with self.db.session() as session:
            row = await session.get(UserIntegration, (user_id, slug))
            if row is None:
                session.add(UserIntegration(user_id=user_id, slug=slug, enabled=enabled, updated_at=utcnow()))
            elif row.enabled != enabled:
                row.enabled = enabled
                row.updated_at = utcnow()
            else:
                return
        await self.changed(user_id)

    async def enable(self, user_id: int, slug: str) -> None:
        await self.set_enabled(user_id, slug, True)

    async def disable(self, user_id: int, slug: str) -> None:
        await self.set_enabled(user_id, slug, False)
