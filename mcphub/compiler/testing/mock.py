"""The mock upstream of the test stage: a recording HTTP/1.1 server on 127.0.0.1, and a transport that sends to it.

The runtime's client builds each request for the API's real URL (`https://api.github.com/...`: egress checks,
Host header, credentials, serialisation) and `MockTransport` hands it to the runtime's own HTTP/1.1 transport
with only the connection's address swapped, so the bytes the mock records are the bytes the hub would send.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import httpx2

from mcphub.runtime.upstream.egress import PoolTransport, shared_ssl_context
from mcphub.runtime.upstream.http1 import Http1Transport

_MAX_HEAD = 64 * 1024


@dataclass(slots=True)
class Received:
    """One request as it arrived: method, request target (path and query, encoding intact), headers, body."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)

    def describe(self, *, body_chars: int = 600) -> str:
        """The request as an HTTP message a person can read (headers with credentials are masked)."""
        lines = [f"{self.method} {self.target}"]
        for name, value in self.headers:
            masked = name.lower() in ("authorization", "cookie", "x-api-key")
            lines.append(f"{name}: {'***' if masked else value}")
        if self.body:
            text = self.body[:body_chars].decode("utf-8", errors="backslashreplace")
            lines.extend(["", text + (" ..." if len(self.body) > body_chars else "")])
        return "\n".join(lines)


@dataclass(slots=True)
class Answer:
    """What the mock answers the next requests with."""

    status: int = 200
    content_type: str | None = "application/json"
    body: bytes = b"{}"


@dataclass
class MockUpstream:
    """Records every request; answers each with `answer`. Start and stop it inside the event loop that uses it."""

    answer: Answer = field(default_factory=Answer)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _connections: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=_MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                self.received.append(request)
                answer = self.answer
                head = [f"HTTP/1.1 {answer.status} Mock", f"content-length: {len(answer.body)}"]
                if answer.content_type:
                    head.append(f"content-type: {answer.content_type}")
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + answer.body)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a client that hung up, or bytes that are no HTTP request: nothing to record
        except asyncio.CancelledError:
            pass  # `close`: the stage is over, and this task ends here
        finally:
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Received | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head[:-4].split(b"\r\n")
    method, target, _version = lines[0].decode("latin-1").split(" ", 2)
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.decode("latin-1").strip(), _text(value.strip())))
    lowered = {name.lower(): value for name, value in headers}
    if "content-length" in lowered:
        body = await reader.readexactly(int(lowered["content-length"]))
    elif lowered.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(chunk[:-2])
        body = b"".join(chunks)
    else:
        body = b""
    return Received(method, target, headers, body)


def _text(raw: bytes) -> str:
    # The runtime sends header values outside ASCII as UTF-8.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class MockTransport(httpx2.AsyncBaseTransport):
    """The hub's HTTP/1.1 transport, connecting to the mock whatever host the request names."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._inner = Http1Transport(
            ssl_context=shared_ssl_context(),
            resolve=None,
            fallback=PoolTransport(limits=httpx2.Limits(max_connections=10), allow_private=True),
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        # The Host header was set from the API's URL when the request was built, and stays.
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self._port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
