"""`timeout_s` is the whole call's deadline: connecting, the TLS handshake and a slow trickle of bytes included.

The upstreams here are raw TCP servers on 127.0.0.1 that misbehave on purpose. `connect_timeout_s` is set far
above `timeout_s`, so a call that still ran on the old sum of the two would outlive the test's own bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from mcphub.compiler.ir import HttpBinding, Integration, Policy, SourceInfo, Tool
from mcphub.runtime.upstream.client import UpstreamClient

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
TIMEOUT_S = 1.0
GENEROUS = 20.0  # the call must have ended well before the old deadline (timeout_s + connect_timeout_s = 61 s)


async def _trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers one byte per 0.2 s: every read gets data long before a read timeout, the whole takes minutes."""
    await reader.readuntil(b"\r\n\r\n")
    body = b"x" * 1000
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body):
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.2)


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts the TCP connection and never speaks: an https upstream hangs in the TLS handshake (connecting)."""
    await reader.read()


@contextlib.asynccontextmanager
async def _upstream(handler: Handler) -> AsyncIterator[int]:
    tasks: set[asyncio.Task[None]] = set()

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            await handler(reader, writer)
        writer.close()

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await server.wait_closed()


def _integration(base_url: str) -> Integration:
    return Integration(
        slug="slow",
        name="Slow",
        source=SourceInfo(kind="openapi"),
        base_url=base_url,
        tools=[Tool(name="get_thing", http=HttpBinding(method="GET", path="/thing"))],
        policy=Policy(timeout_s=TIMEOUT_S, connect_timeout_s=60.0, allow_private_network=True),
    )


@pytest.mark.parametrize(("scheme", "handler"), [("http", _trickle), ("https", _silent)], ids=["trickle", "handshake"])
async def test_timeout_s_ends_the_whole_call(scheme: str, handler: Handler) -> None:
    async with _upstream(handler) as port:
        client = UpstreamClient(_integration(f"{scheme}://127.0.0.1:{port}"))
        try:
            async with asyncio.timeout(GENEROUS):
                output = await client.send(
                    client.integration.tools[0],
                    None,
                    **dict.fromkeys(("path", "query", "headers", "cookies", "body", "form", "multipart")),
                )
        finally:
            await client.aclose()
    assert output.is_error
    assert output.text == "GET /thing: the upstream did not answer within 1s (timeout)"
