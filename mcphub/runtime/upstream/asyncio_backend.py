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
from collections.abc import Iterable
from typing import Any

import httpcore2

from mcphub.runtime.upstream.flow import FlowControl

__all__ = ["AsyncioBackend", "AsyncioStream"]


class _Reader(FlowControl):
    """Buffers incoming bytes for the one waiting reader; tracks closure (flow control: `flow.FlowControl`)."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None

    # - asyncio.Protocol -

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.note_buffered(len(self.buffer))
        self.wake()

    def eof_received(self) -> bool | None:
        self.eof = True
        self.wake()
        return None  # close the transport (no half-open connections)

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None:
            self.error = exc
        self.wake()
        self.release_drain(exc or ConnectionResetError("connection closed"))


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
            await protocol.wait_readable(timeout, lambda: httpcore2.ReadTimeout("timed out"))
        data = bytes(protocol.buffer[:max_bytes])
        del protocol.buffer[:max_bytes]
        protocol.note_consumed(len(protocol.buffer))
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if self._transport.is_closing() or protocol.error is not None:
            raise httpcore2.WriteError("the connection is closed")
        self._transport.write(buffer)
        if protocol.paused_writing:
            try:
                await protocol.wait_drained(timeout, lambda: httpcore2.WriteTimeout("timed out"))
            except OSError as exc:
                raise httpcore2.WriteError(str(exc)) from exc

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
