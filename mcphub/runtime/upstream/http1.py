"""A lean HTTP/1.1 transport for httpx2: tool calls' requests, on asyncio protocols with httptools parsing.

httpcore2 runs HTTP/1.1 through h11, a pure-Python state machine, plus a general connection pool: on a
gateway that is about a third of a tool call's CPU. This transport does the part tool calls use: keep-alive
connections per origin (TLS included), one write per small request, responses parsed by httptools (llhttp,
the parser uvicorn uses) as they arrive. httpx2 keeps everything above the wire: request building and
encoding (JSON, forms, multipart), the `Response` and its content decoding, and its exception types. HEAD
requests (whose responses carry a length but no body, which the parser cannot be told) go to the general
httpcore2 pool given as `fallback`.

Connections are dialled only to addresses `resolve` approves (`egress.public_address`, unless the policy
allows private networks), the same connect-time rule as every other pool of the hub. Header names and values
are checked before a byte is written, so an argument value cannot smuggle a header or a second request.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

import httptools
import httpx2

from mcphub.runtime.upstream.flow import FlowControl

__all__ = ["Http1Transport"]

Resolver = Callable[[str, int], Awaitable[str]]

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_FORBIDDEN_IN_VALUE = re.compile(rb"[\r\n\x00]")
_IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "OPTIONS", "TRACE"})


class _Connection(FlowControl):
    """One keep-alive connection; parses one response at a time into status, headers and body chunks.

    Flow control (pausing reads above the high-water mark, draining writes) is `flow.FlowControl`'s.
    """

    def __init__(self, origin: tuple[bytes, bytes, int]) -> None:
        super().__init__()
        self.origin = origin
        self.closed = False  # the peer closed, the socket failed, or we gave up on it
        self.error: BaseException | None = None
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.paused_reading = False
        self.received_any = False

    # - asyncio.Protocol -

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx2.RemoteProtocolError("the upstream switched protocols, which tool calls do not support"))
        except httptools.HttpParserError as exc:
            self._fail(httpx2.RemoteProtocolError(f"malformed response from the upstream: {exc}"))
        self.wake()

    def eof_received(self) -> bool | None:
        self.closed = True
        self.wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is not None and self.error is None:
            self.error = exc
        self.wake()
        self.release_drain()  # the writer sees `closed`

    # - httptools callbacks -

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        self.note_buffered(self.buffered)

    def on_message_complete(self) -> None:
        self.complete = True

    # - used by the transport -

    def _fail(self, error: BaseException) -> None:
        self.error = error
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def usable(self) -> bool:
        """Idle and still open: nothing arrived since the last response (a close or a stray byte rules it out)."""
        return not self.closed and self.error is None and not self.received_any and not self.transport_closing()

    def usable_after_response(self) -> bool:
        """The response was read whole, both sides want keep-alive, and the connection is still open."""
        return (
            self.complete
            and self.keep_alive
            and not self.closed
            and self.error is None
            and not self.transport_closing()
        )

    def transport_closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    async def wait(self, timeout: float | None) -> None:
        """Until more of the response arrived or the connection ended; ReadTimeout after `timeout` seconds."""
        await self.wait_readable(timeout, lambda: httpx2.ReadTimeout(f"the upstream sent nothing for {timeout:g} s"))

    async def write(self, data: bytes, timeout: float | None) -> None:
        if self.transport is None or self.closed or self.transport.is_closing():
            raise httpx2.WriteError("the connection to the upstream is closed")
        self.transport.write(data)
        if self.paused_writing:
            await self.wait_drained(
                timeout, lambda: httpx2.WriteTimeout(f"the upstream took more than {timeout:g} s to accept the request")
            )
            if self.closed:
                raise httpx2.WriteError("the connection to the upstream closed while sending")

    def take_body(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        self.note_consumed(0)
        return data

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _timeouts(request: httpx2.Request) -> dict[str, float | None]:
    configured = request.extensions.get("timeout") or {}
    return {kind: configured.get(kind) for kind in ("connect", "read", "write", "pool")}


def _head(request: httpx2.Request, target: bytes, chunked: bool) -> bytes:
    lines = [request.method.encode("ascii") + b" " + target + b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        if not _TOKEN.match(name):
            raise httpx2.LocalProtocolError(f"invalid header name {name!r}", request=request)
        if _FORBIDDEN_IN_VALUE.search(value):
            raise httpx2.LocalProtocolError(f"header {name.decode()!r} has a line break or NUL in its value")
        lines.append(name + b": " + value + b"\r\n")
    if chunked and not any(name.lower() == b"transfer-encoding" for name, _ in request.headers.raw):
        lines.append(b"transfer-encoding: chunked\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


class _Body(httpx2.AsyncByteStream):
    """A response body as it arrives; the connection goes back to the pool once the body was read whole."""

    def __init__(self, transport: Http1Transport, connection: _Connection, read_timeout: float | None) -> None:
        self._transport = transport
        self._connection = connection
        self._timeout = read_timeout
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        try:
            while True:
                if connection.chunks:
                    yield connection.take_body()
                    continue
                if connection.error is not None:
                    raise _read_error(connection.error)
                if connection.complete:
                    break
                if connection.closed:
                    if not connection.keep_alive:
                        break  # a body without a length (HTTP/1.0 style) ends where the upstream closes
                    raise httpx2.RemoteProtocolError("the upstream closed the connection before the body was complete")
                await connection.wait(self._timeout)
        except BaseException:
            self._finish(reuse=False)
            raise
        self._finish(reuse=connection.complete and connection.keep_alive)

    async def aclose(self) -> None:
        self._finish(reuse=False)

    def _finish(self, *, reuse: bool) -> None:
        if self._done:
            return
        self._done = True
        self._transport._release(self._connection, reuse=reuse)


def _read_error(error: BaseException) -> Exception:
    if isinstance(error, httpx2.HTTPError):
        return error
    return httpx2.ReadError(f"the connection to the upstream failed: {error or type(error).__name__}")


class Http1Transport(httpx2.AsyncBaseTransport):
    """HTTP/1.1 keep-alive pools per origin (see the module docstring)."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        resolve: Resolver | None = None,
        fallback: httpx2.AsyncBaseTransport,
        max_connections: int = 100,
        max_keepalive_connections: int = 20,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self._ssl = ssl_context
        self._resolve = resolve
        self._fallback = fallback
        self._slots = asyncio.Semaphore(max_connections)
        self._max_idle = max_keepalive_connections
        self._expiry = keepalive_expiry
        self._idle: dict[tuple[bytes, bytes, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._closed = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "HEAD" or request.url.scheme not in ("http", "https"):
            return await self._fallback.handle_async_request(request)
        timeouts = _timeouts(request)
        body = request.stream
        replayable = isinstance(body, httpx2.ByteStream)
        for attempt in (1, 2):
            connection, reused = await self._connection(request, timeouts)
            try:
                await self._send(connection, request, timeouts)
                await self._receive_head(connection, timeouts["read"])
            except BaseException as exc:
                self._release(connection, reuse=False)
                # A pooled connection the upstream closed just as it was reused: once more on a fresh one, for a
                # request that can be sent again and that nothing was answered to.
                retry = (
                    reused
                    and attempt == 1
                    and replayable
                    and request.method in _IDEMPOTENT
                    and not connection.received_any
                    and isinstance(exc, httpx2.TransportError)
                )
                if retry:
                    continue
                raise
            break
        headers = connection.headers
        return httpx2.Response(
            connection.status,
            headers=headers,
            stream=_Body(self, connection, timeouts["read"]),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": connection.reason},
            request=request,
        )

    async def _connection(self, request: httpx2.Request, timeouts: dict[str, float | None]) -> tuple[_Connection, bool]:
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port or (443 if url.scheme == "https" else 80))
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.usable() and now - connection.idle_since < self._expiry:
                return connection, True
            self._discard(connection)
        try:
            async with asyncio.timeout(timeouts["pool"]):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise httpx2.PoolTimeout("no upstream connection became free in time", request=request) from exc
        try:
            connection = await self._dial(origin, timeouts["connect"], request)
        except BaseException:
            self._slots.release()
            raise
        self._open.add(connection)
        return connection, False

    async def _dial(
        self, origin: tuple[bytes, bytes, int], timeout: float | None, request: httpx2.Request
    ) -> _Connection:
        scheme, raw_host, port = origin
        host = raw_host.decode("ascii")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                address = await self._resolve(host, port) if self._resolve is not None else host
                tls = self._ssl if scheme == b"https" else None
                _, connection = await loop.create_connection(
                    lambda: _Connection(origin),
                    address,
                    port,
                    ssl=tls,
                    server_hostname=host if tls is not None else None,
                )
        except TimeoutError as exc:
            raise httpx2.ConnectTimeout(f"connecting to {host}:{port} timed out", request=request) from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx2.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return connection

    async def _send(self, connection: _Connection, request: httpx2.Request, timeouts: dict[str, float | None]) -> None:
        target = request.url.raw_path or b"/"
        stream = request.stream
        write_timeout = timeouts["write"]
        if isinstance(stream, httpx2.ByteStream):
            content = b"".join([part async for part in stream])
            await connection.write(_head(request, target, chunked=False) + content, write_timeout)
            return
        chunked = "content-length" not in request.headers
        await connection.write(_head(request, target, chunked=chunked), write_timeout)
        async for part in stream:  # type: ignore[union-attr]
            if part:
                await connection.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part, write_timeout)
        if chunked:
            await connection.write(b"0\r\n\r\n", write_timeout)

    async def _receive_head(self, connection: _Connection, timeout: float | None) -> None:
        while not connection.head_done:
            if connection.error is not None:
                raise _read_error(connection.error)
            if connection.closed:
                raise httpx2.RemoteProtocolError("the upstream closed the connection without answering")
            await connection.wait(timeout)
        while 100 <= connection.status < 200 and connection.status != 101:
            # An interim answer (100 Continue, 103 Early Hints): the real one follows on the same connection.
            while not connection.complete:
                await connection.wait(timeout)
            connection.parser = httptools.HttpResponseParser(connection)
            connection.head_done = connection.complete = False
            connection.headers, connection.reason = [], b""
            while not connection.head_done:
                if connection.closed:
                    raise httpx2.RemoteProtocolError("the upstream closed the connection after an interim answer")
                await connection.wait(timeout)

    def _release(self, connection: _Connection, *, reuse: bool) -> None:
        if reuse and not self._closed and connection.usable_after_response():
            idle = self._idle.setdefault(connection.origin, [])
            if len(idle) < self._max_idle:
                connection._reset()
                connection.idle_since = time.monotonic()
                idle.append(connection)
                return
        self._discard(connection)

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        if connection in self._open:
            self._open.discard(connection)
            self._slots.release()

    async def aclose(self) -> None:
        self._closed = True
        for connection in list(self._open):
            self._discard(connection)
        self._idle.clear()
        await self._fallback.aclose()
