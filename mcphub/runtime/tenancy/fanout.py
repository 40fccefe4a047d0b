"""Tell every process about an event (key revoked, a user's integrations changed): Redis pub/sub or the database.

With Redis, the handler of every replica, this one included, runs for each message. `healthy` is False
while the subscription is down: anything published meanwhile is lost, so users of a fan-out must not
trust their caches then; `on_resubscribe` runs after each (re)subscription so they can drop what they cached.

Without Redis, `publish` calls the local handler directly and, given a `ChangeFeed`, also writes the
message to the database's `change_events` table, which every hub process on that database polls
(`ChangeFeed.interval`, 1 s by default: one indexed query per process, never on a request's path).
That is how `mcphub keys revoke` or `mcphub integrations disable`, run in another process, reach a
running single-node hub within about a second instead of the 30 s of its caches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, or_, select

from mcphub.runtime import tasks
from mcphub.runtime.store.db import Database, utcnow
from mcphub.runtime.store.models import ChangeEvent

if TYPE_CHECKING:
    from redis.asyncio import Redis  # only with MCPHUB_REDIS_URL: redis costs ~0.1 s to import

__all__ = ["ChangeFeed", "Fanout"]

logger = logging.getLogger(__name__)

Handler = Callable[[str], Awaitable[None] | None]


class ChangeFeed:
    """Messages through the database for processes that share it without Redis (see the module docstring).

    Rows are read by id, with a look-back of `lookback` by time: on PostgreSQL ids are taken at insert
    but become visible at commit, so a row may appear behind one already seen; ids seen recently are
    remembered so nothing is delivered twice. A process skips the rows it wrote itself (`origin`).
    """

    def __init__(
        self,
        db: Database,
        *,
        interval: float = 1.0,
        lookback: timedelta = timedelta(seconds=30),
        retention: timedelta = timedelta(hours=1),
    ) -> None:
        self.db = db
        self.interval = interval
        self.lookback = lookback
        self.retention = retention
        self.origin = secrets.token_hex(8)
        self.healthy = False
        self._handlers: dict[str, list[Callable[[str], Awaitable[None]]]] = {}
        self._on_gap: list[Callable[[], None]] = []
        self._last_id = 0
        self._seen: dict[int, float] = {}
        self._task: asyncio.Task[None] | None = None

    def subscribe(
        self, channel: str, handler: Callable[[str], Awaitable[None]], on_gap: Callable[[], None] | None = None
    ) -> None:
        """Run `handler(message)` for each message of `channel` another process writes; `on_gap` after an outage."""
        self._handlers.setdefault(channel, []).append(handler)
        if on_gap is not None:
            self._on_gap.append(on_gap)

    async def start(self) -> None:
        """Start polling from now: changes written before this process started are not replayed."""
        if self._task is not None:
            return
        await self._skip_existing()
        self.healthy = True
        self._task = asyncio.create_task(self._run(), name="change-feed")

    async def aclose(self) -> None:
        await tasks.stop(self._task)
        self._task = None
        self.healthy = False

    async def publish(self, channel: str, message: str) -> None:
        async with self.db.session() as session:
            session.add(ChangeEvent(channel=channel, message=message, origin=self.origin, created_at=utcnow()))

    async def _skip_existing(self) -> None:
        since = utcnow() - self.lookback
        async with self.db.session() as session:
            self._last_id = int(await session.scalar(select(func.max(ChangeEvent.id))) or 0)
            recent = await session.scalars(select(ChangeEvent.id).where(ChangeEvent.created_at > since))
            now = time.monotonic()
            self._seen = {int(row_id): now for row_id in recent}

    async def poll(self) -> int:
        """Deliver what other processes wrote since the last poll; returns how many messages were delivered."""
        since = utcnow() - self.lookback
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(ChangeEvent.id, ChangeEvent.channel, ChangeEvent.message, ChangeEvent.origin)
                    .where(or_(ChangeEvent.id > self._last_id, ChangeEvent.created_at > since))
                    .order_by(ChangeEvent.id)
                )
            ).all()
        now = time.monotonic()
        keep = self.lookback.total_seconds() * 2
        self._seen = {row_id: at for row_id, at in self._seen.items() if now - at < keep}
        delivered = 0
        for row_id, channel, message, origin in rows:
            self._last_id = max(self._last_id, row_id)
            if row_id in self._seen:
                continue
            self._seen[row_id] = now
            if origin == self.origin:
                continue
            for handler in self._handlers.get(channel, ()):
                delivered += 1
                try:
                    await handler(message)
                except Exception:
                    logger.exception("handler of %s failed on %r", channel, message)
        return delivered

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                if self.healthy:
                    logger.exception("reading the change feed failed; caches are bypassed until it works again")
                self.healthy = False
                continue
            if not self.healthy:  # messages of the outage may be lost: start over from empty caches
                for clear in self._on_gap:
                    clear()
                self.healthy = True

    async def purge(self) -> int:
        """Delete rows older than `retention` (housekeeping); returns how many."""
        async with self.db.session() as session:
            result = await session.execute(
                delete(ChangeEvent).where(ChangeEvent.created_at < utcnow() - self.retention)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]


class Fanout:
    def __init__(
        self,
        redis: Redis | None,
        channel: str,
        handler: Handler,
        *,
        on_resubscribe: Callable[[], None] | None = None,
        retry_delay: float = 1.0,
        feed: ChangeFeed | None = None,
    ) -> None:
        self.redis = redis
        self.channel = channel
        self._handler = handler
        self._on_resubscribe = on_resubscribe
        self._retry_delay = retry_delay
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._redis_healthy = False
        # Redis carries every message to every replica; the feed is the fallback without it.
        self.feed = feed if redis is None else None
        if self.feed is not None:
            self.feed.subscribe(channel, self._dispatch, on_resubscribe)

    @property
    def healthy(self) -> bool:
        """Whether messages from other processes reach this one now (caches may be trusted)."""
        if self.redis is not None:
            return self._redis_healthy
        return self.feed is None or self.feed.healthy

    async def start(self) -> None:
        """Subscribe (returns once the subscription is live)."""
        if self.redis is None or self._task is not None:
            return
        self._task = asyncio.create_task(self._listen(), name=f"fanout:{self.channel}")
        await asyncio.wait_for(self._subscribed.wait(), timeout=10)

    async def aclose(self) -> None:
        await tasks.stop(self._task)
        self._task = None

    async def publish(self, message: str) -> None:
        if self.redis is not None:
            await self.redis.publish(self.channel, message)
            return
        await self._dispatch(message)
        if self.feed is not None:
            try:
                await self.feed.publish(self.channel, message)
            except Exception:  # the change itself is saved; other processes see it when their caches expire
                logger.exception("could not write %r on %s to the change feed", message, self.channel)

    async def _dispatch(self, message: str) -> None:
        try:
            result = self._handler(message)
            if result is not None:
                await result
        except Exception:
            logger.exception("handler of %s failed on %r", self.channel, message)

    async def _listen(self) -> None:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        assert self.redis is not None
        lost = False  # an outage is logged when it starts and when it ends, not on every retry
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                if self._on_resubscribe is not None:
                    self._on_resubscribe()
                if lost:
                    lost = False
                    logger.warning("subscription to %s is back", self.channel)
                self._redis_healthy = True
                self._subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        data = message["data"]
                        await self._dispatch(data.decode() if isinstance(data, bytes) else str(data))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):  # not an outage: a bug
                    logger.exception("subscription to %s lost; retrying in %.0f s", self.channel, self._retry_delay)
                elif not lost:
                    logger.warning(
                        "subscription to %s lost (%s); retrying every %.0f s", self.channel, exc, self._retry_delay
                    )
                lost = True
                self._redis_healthy = False
                await asyncio.sleep(self._retry_delay)
            finally:
                self._redis_healthy = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
