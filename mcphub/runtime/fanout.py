"""Tell every replica about an event (key revoked, a user's integrations changed) through Redis pub/sub.

Without Redis (one process) `publish` calls the local handler directly. With Redis, the handler of
every replica, this one included, runs for each message. `healthy` is False while the subscription is
down: anything published meanwhile is lost, so users of a fan-out must not trust their caches then;
`on_resubscribe` runs after each (re)subscription so they can drop what they cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

__all__ = ["Fanout"]

logger = logging.getLogger(__name__)

Handler = Callable[[str], Awaitable[None] | None]


class Fanout:
    def __init__(
        self,
        redis: Redis | None,
        channel: str,
        handler: Handler,
        *,
        on_resubscribe: Callable[[], None] | None = None,
        retry_delay: float = 1.0,
    ) -> None:
        self.redis = redis
        self.channel = channel
        self._handler = handler
        self._on_resubscribe = on_resubscribe
        self._retry_delay = retry_delay
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.healthy = redis is None

    async def start(self) -> None:
        """Subscribe (returns once the subscription is live)."""
        if self.redis is None or self._task is not None:
            return
        self._task = asyncio.create_task(self._listen(), name=f"fanout:{self.channel}")
        await asyncio.wait_for(self._subscribed.wait(), timeout=10)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def publish(self, message: str) -> None:
        if self.redis is None:
            await self._dispatch(message)
        else:
            await self.redis.publish(self.channel, message)

    async def _dispatch(self, message: str) -> None:
        try:
            result = self._handler(message)
            if result is not None:
                await result
        except Exception:
            logger.exception("handler of %s failed on %r", self.channel, message)

    async def _listen(self) -> None:
        assert self.redis is not None
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                if self._on_resubscribe is not None:
                    self._on_resubscribe()
                self.healthy = True
                self._subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        data = message["data"]
                        await self._dispatch(data.decode() if isinstance(data, bytes) else str(data))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("subscription to %s lost; retrying in %.0f s", self.channel, self._retry_delay)
                self.healthy = False
                await asyncio.sleep(self._retry_delay)
            finally:
                self.healthy = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
