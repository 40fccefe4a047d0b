"""httpcore2's HTTP/1.1 client over `AsyncioBackend` (the byte streams of the hub's general pools), on real sockets.

The upstream is `raw_http`'s server, so each test controls what a real upstream may do to a pooled connection.
Each test runs on the standard asyncio loop and on uvloop.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from pathlib import Path

import httpcore2
import pytest

from mcphub.runtime.upstream.asyncio_backend import AsyncioBackend
from runtime.raw_http import Seen, certificate, http_server, on_both_loops, response


def pool(**options: object) -> httpcore2.AsyncConnectionPool:
    return httpcore2.AsyncConnectionPool(network_backend=AsyncioBackend(), **options)  # type: ignore[arg-type]


@on_both_loops
async def test_requests_reuse_one_keep_alive_connection() -> None:
    async with http_server() as server, pool() as http:
        for n in range(20):
            response = await http.request("GET", server.url(f"/r{n}"))
            assert response.status == 200
            assert response.content == f"/r{n}".encode()
    assert server.connections == 1


@on_both_loops
async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def close_after_answering(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(b"ok"))  # no `connection: close`: the client believes it may reuse it
        return False

    async with http_server(close_after_answering) as server, pool() as http:
        for _ in range(3):
            assert (await http.request("GET", server.url("/"))).content == b"ok"
            await asyncio.sleep(0.05)  # the server's FIN arrives while the connection sits in the pool
    assert server.connections == 3


@on_both_loops
async def test_a_slow_answer_is_a_read_timeout() -> None:
    async def slow(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(2)
        writer.write(response(b"late"))
        return True

    async with http_server(slow) as server, pool() as http:
        with pytest.raises(httpcore2.ReadTimeout):
            await http.request("GET", server.url("/"), extensions={"timeout": {"read": 0.2}})


@on_both_loops
async def test_a_large_body_arrives_whole_through_flow_control() -> None:
    body = hashlib.sha256(b"seed").digest() * (5 * 1024 * 1024 // 32)  # 5 MiB, far above the read buffer cap

    async def large(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(body))
        return True

    async with http_server(large) as server, pool() as http, http.stream("GET", server.url("/")) as answer:
        chunks = [chunk async for chunk in answer.aiter_stream()]
    received = b"".join(chunks)
    assert len(received) == len(body)
    assert hashlib.sha256(received).digest() == hashlib.sha256(body).digest()


@on_both_loops
async def test_a_large_request_body_waits_for_the_upstream_to_read_it() -> None:
    """Write flow control: 16 MiB is far above the transport's write buffer, so the writer waits for it to drain."""
    body = hashlib.sha256(b"upload").digest() * (16 * 1024 * 1024 // 32)

    async def digest(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(hashlib.sha256(seen.body).hexdigest().encode()))
        return True

    async with http_server(digest) as server, pool() as http:
        first = await http.request("POST", server.url("/upload"), content=body)
        second = await http.request("POST", server.url("/upload"), content=b"small")
    assert first.content == hashlib.sha256(body).hexdigest().encode()
    assert second.content == hashlib.sha256(b"small").hexdigest().encode()
    assert server.connections == 1


@on_both_loops
async def test_an_upstream_that_stops_reading_is_a_write_timeout() -> None:
    release = asyncio.Event()

    async def never_reads(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(never_reads, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with pool() as http:
            with pytest.raises(httpcore2.WriteTimeout):
                await http.request(
                    "POST",
                    f"http://127.0.0.1:{port}/upload",
                    content=b"x" * (64 * 1024 * 1024),
                    extensions={"timeout": {"write": 0.5, "read": 5.0, "connect": 5.0, "pool": 5.0}},
                )
    finally:
        release.set()
        server.close()
        await server.wait_closed()


@on_both_loops
async def test_a_chunked_body_is_decoded() -> None:
    async def chunked(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        return True

    async with http_server(chunked) as server, pool() as http:
        assert (await http.request("GET", server.url("/"))).content == b"hello world"


@on_both_loops
async def test_nothing_listening_is_a_connect_error() -> None:
    async with http_server() as server:
        port = server.port
    async with pool() as http:
        with pytest.raises(httpcore2.ConnectError):
            await http.request("GET", f"http://127.0.0.1:{port}/")


@on_both_loops
async def test_tls_with_a_verifiedcertificate(tmp_path: Path) -> None:
    cert, key = certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))
    async with http_server(tls=server_tls) as server, pool(ssl_context=client_tls) as http:
        for n in range(3):
            response = await http.request("GET", server.url(f"/secure{n}", scheme="https"))
            assert response.content == f"/secure{n}".encode()
            assert response.extensions["network_stream"].get_extra_info("ssl_object") is not None
    assert server.connections == 1


@on_both_loops
async def test_tls_refuses_a_certificate_it_does_not_trust(tmp_path: Path) -> None:
    cert, key = certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    async with http_server(tls=server_tls) as server, pool(ssl_context=ssl.create_default_context()) as http:
        with pytest.raises(httpcore2.ConnectError):
            await http.request("GET", server.url("/", scheme="https"))
