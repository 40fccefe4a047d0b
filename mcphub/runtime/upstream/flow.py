"""Flow control for the upstream room's two asyncio protocols (`http1._Connection`, `asyncio_backend._Reader`).

Both buffer what the socket delivers until one consumer takes it, and both write straight to the transport. What
they share lives here: waking the one waiting reader, pausing the socket's reads while more than `HIGH_WATER`
bytes wait for the consumer (and reading again once it brought them down to half that), waiting for the
transport's write buffer to drain when it asked us to pause writing, and `wait_or_raise`, a deadline on a future
that costs one timer handle (no task, no cancel scope).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

__all__ = ["HIGH_WATER", "FlowControl", "wait_or_raise"]

HIGH_WATER = 256 * 1024  # buffered response bytes above which the socket stops being read


async def wait_or_raise(future: asyncio.Future[None], timeout: float | None, error: Callable[[], Exception]) -> None:
    """Await `future`, raising `error()` after `timeout` seconds (one timer, no task or cancel scope)."""
    if timeout is None:
        await future
        return

    def expire() -> None:
        if not future.done():
            future.set_exception(error())

    handle = asyncio.get_running_loop().call_later(timeout, expire)
    try:
        await future
    finally:
        handle.cancel()


class FlowControl(asyncio.Protocol):
    """The transport, one waiting reader, read pausing by buffered size, and write draining."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.paused_reading = False
        self.paused_writing = False
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it, hence the cast.
        self.transport = cast(asyncio.Transport, transport)

    def pause_writing(self) -> None:
        self.paused_writing = True

    def resume_writing(self) -> None:
        self.paused_writing = False
        self.release_drain()

    # - reading -

    def wake(self) -> None:
        """Something arrived or the connection ended: the waiting reader looks again."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait_readable(self, timeout: float | None, error: Callable[[], Exception]) -> None:
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        try:
            await wait_or_raise(waiter, timeout, error)
        finally:
            self._waiter = None

    def note_buffered(self, size: int) -> None:
        """`size` bytes now wait for the consumer: above HIGH_WATER, stop reading the socket."""
        if size > HIGH_WATER and not self.paused_reading and self.transport is not None:
            self.paused_reading = True
            self.transport.pause_reading()

    def note_consumed(self, remaining: int) -> None:
        """The consumer took bytes and `remaining` still wait: at half of HIGH_WATER or less, read again."""
        if self.paused_reading and remaining <= HIGH_WATER // 2 and self.transport is not None:
            self.paused_reading = False
            self.transport.resume_reading()

    # - writing -

    async def wait_drained(self, timeout: float | None, error: Callable[[], Exception]) -> None:
        """After a write: if the transport asked to pause writing, wait until it resumes (or the connection ends)."""
        if not self.paused_writing:
            return
        self._drain = drain = asyncio.get_running_loop().create_future()
        try:
            await wait_or_raise(drain, timeout, error)
        finally:
            self._drain = None

    def release_drain(self, error: BaseException | None = None) -> None:
        """Wake a writer waiting for the drain; with `error`, it raises that instead."""
        if self._drain is not None and not self._drain.done():
            if error is None:
                self._drain.set_result(None)
            else:
                self._drain.set_exception(error)
