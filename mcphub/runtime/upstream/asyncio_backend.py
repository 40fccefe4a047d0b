"""An httpcore2 network backend on plain asyncio transports, for the upstream connection pools.

httpcore2's only async backend goes through anyio byte streams: every read and write opens a cancel scope
(`fail_after`) and every reuse of a pooled connection asks the kernel whether the socket is readable (a
`select` plus `getpeername`). On a gateway that is about a fifth of the CPU of a tool call. This backend keeps
the protocol work where it belongs (httpcore2's HTTP/1.1 state machine, pooling and TLS settings are
unchanged) and replaces only the byte stream: an `asyncio.Protocol` that buffers what arrives, so a read is a
buffer slice when data is there, a timeout is one timer handle, and "is this idle connection still usable"
is a flag set by the event loop when the peer closed it. The hub always runs on asyncio (uvicorn), which is
the one loop this supports.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterable
from typing import Any, cast

import httpcore2

__all__ = ["AsyncioBackend", "AsyncioStream", "wait_or_raise"]

# Above this many buffered bytes the transport stops reading until the consumer catches up.
_HIGH_WATER = 256 * 1024


class _Reader(asyncio.Protocol):
    """Buffers incoming bytes and wakes the one waiting reader; tracks write flow control and closure."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.paused_reading = False
        self.drain_waiter: asyncio.Future[None] | None = None
        self.paused_writing = False

    # - asyncio.Protocol -

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it, hence the cast.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and self.transport is not None and not self.paused_reading:
            self.paused_reading = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._wake()
        return None  # close the transport (no half-open connections)

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None:
            self.error = exc
        self._wake()
        if self.drain_waiter is not None and not self.drain_waiter.done():
            self.drain_waiter.set_exception(exc or ConnectionResetError("connection closed"))

    def pause_writing(self) -> None:
        self.paused_writing = True

    def resume_writing(self) -> None:
        self.paused_writing = False
        if self.drain_waiter is not None and not self.drain_waiter.done():
            self.drain_waiter.set_result(None)

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


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


class AsyncioStream(httpcore2.AsyncNetworkStream):
    """One connection: reads from the protocol's buffer, writes straight to the transport."""

    def __init__(self, transport: asyncio.Transport, protocol: _Reader) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        while not protocol.buffer:
            if protocol.error is not None:
                raise httpcore2.ReadError(str(protocol.error) or type(protocol.error).__name__)
            if protocol.eof:
                return b""
            protocol.waiter = asyncio.get_running_loop().create_future()
            try:
                await wait_or_raise(protocol.waiter, timeout, lambda: httpcore2.ReadTimeout("timed out"))
            finally:
                protocol.waiter = None
        data = bytes(protocol.buffer[:max_bytes])
        del protocol.buffer[:max_bytes]
        if protocol.paused_reading and len(protocol.buffer) <= _HIGH_WATER // 2:
            protocol.paused_reading = False
            self._transport.resume_reading()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if self._transport.is_closing() or protocol.error is not None:
            raise httpcore2.WriteError("the connection is closed")
        self._transport.write(buffer)
        if protocol.paused_writing:
            protocol.drain_waiter = asyncio.get_running_loop().create_future()
            try:
                await wait_or_raise(protocol.drain_waiter, timeout, lambda: httpcore2.WriteTimeout("timed out"))
            except OSError as exc:
                raise httpcore2.WriteError(str(exc)) from exc
            finally:
                protocol.drain_waiter = None

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            tls_transport = await loop.start_tls(
                self._transport,
                self._protocol,
                ssl_context,
                server_hostname=server_hostname,
                ssl_handshake_timeout=timeout,
            )
        except TimeoutError as exc:
            self._transport.close()
            raise httpcore2.ConnectTimeout(str(exc) or "TLS handshake timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise httpcore2.ConnectError(str(exc)) from exc
        if tls_transport is None:
            raise httpcore2.ConnectError("the TLS handshake did not complete")
        self._protocol.transport = tls_transport
        return AsyncioStream(tls_transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # An idle pooled connection is "readable" when the server closed it or sent something unasked.
            protocol = self._protocol
            return protocol.eof or bool(protocol.buffer) or self._transport.is_closing()
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class AsyncioBackend(httpcore2.AsyncNetworkBackend):
    """Opens `AsyncioStream`s; connection errors and timeouts map to httpcore2's exceptions as its own backends do."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    _Reader, host, port, local_addr=(local_address, 0) if local_address else None
                )
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout(f"connecting to {host}:{port} timed out") from exc
        except OSError as exc:
            raise httpcore2.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # asyncio sets TCP_NODELAY on the connections it opens; the caller's options come on top.
            for option in socket_options or ():
                sock.setsockopt(*option)
        return AsyncioStream(transport, protocol)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_unix_connection(_Reader, path)
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout(f"connecting to {path} timed out") from exc
        except OSError as exc:
            raise httpcore2.ConnectError(str(exc) or type(exc).__name__) from exc
        return AsyncioStream(transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
