"""The tool calls' HTTP/1.1 transport (`runtime/upstream/http1.py`) under httpx2, against an upstream that misbehaves on purpose.

Every test runs on the standard asyncio loop and on uvloop, with `raw_http`'s server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
from pathlib import Path

import httpx2
import pytest

from mcphub.runtime.upstream.egress import EgressDenied, PoolTransport, public_address
from mcphub.runtime.upstream.http1 import Http1Transport
from runtime.raw_http import Seen, certificate, http_server, on_both_loops, response


def client(
    *, ssl_context: ssl.SSLContext | None = None, public_only: bool = False, **options: float
) -> httpx2.AsyncClient:
    context = ssl_context or ssl.create_default_context()
    limits = httpx2.Limits(max_connections=10, max_keepalive_connections=5)
    transport = Http1Transport(
        ssl_context=context,
        resolve=public_address if public_only else None,
        fallback=PoolTransport(limits=limits, allow_private=not public_only, ssl_context=context),
        max_connections=10,
        **options,  # type: ignore[arg-type]
    )
    return httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(5.0))


@on_both_loops
async def test_requests_and_bodies_go_out_exactly_and_reuse_one_connection() -> None:
    async def echo(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        payload = json.dumps({"method": seen.method, "path": seen.path, "body": seen.body.decode()}).encode()
        writer.write(response(payload))
        return True

    async with http_server(echo) as server, client() as http:
        for n in range(10):
            answer = await http.post(server.url(f"/items?n={n}&q=a%20b"), json={"n": n}, headers={"X-Trace": str(n)})
            assert answer.status_code == 200
            echoed = answer.json()
            assert (echoed["method"], echoed["path"]) == ("POST", f"/items?n={n}&q=a%20b")
            assert json.loads(echoed["body"]) == {"n": n}
        form = await http.post(server.url("/form"), data={"a": "1", "b": "x y"})
        upload = await http.post(server.url("/upload"), files={"file": ("a.txt", b"hello", "text/plain")})
    assert form.json()["body"] == "a=1&b=x+y"
    assert "hello" in upload.json()["body"] and 'filename="a.txt"' in upload.json()["body"]
    assert server.connections == 1
    seen = server.requests[0]
    assert seen.headers["host"] == f"127.0.0.1:{server.port}"
    assert seen.headers["x-trace"] == "0"
    assert seen.headers["content-type"] == "application/json"


@on_both_loops
async def test_a_streamed_request_body_is_sent_chunked() -> None:
    async def parts():  # type: ignore[no-untyped-def]
        yield b"first,"
        yield b"second"

    async def echo(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(seen.headers.get("transfer-encoding", "").encode() + b"|" + seen.body))
        return True

    async with http_server(echo) as server, client() as http:
        answer = await http.post(server.url("/stream"), content=parts())
    assert answer.content == b"chunked|first,second"


@on_both_loops
async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def close_after_answering(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(b"ok"))  # no `connection: close`: the client believes it may reuse it
        return False

    async with http_server(close_after_answering) as server, client() as http:
        for _ in range(3):
            assert (await http.get(server.url("/"))).content == b"ok"
            await asyncio.sleep(0.05)  # the server's FIN arrives while the connection sits in the pool
    assert server.connections == 3


@on_both_loops
async def test_connection_close_and_length_less_bodies() -> None:
    async def until_close(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: text/plain\r\n\r\nall of it")
        return False

    async with http_server(until_close) as server, client() as http:
        first = await http.get(server.url("/a"))
        second = await http.get(server.url("/b"))
    assert first.content == second.content == b"all of it"
    assert server.connections == 2


@on_both_loops
async def test_chunked_and_large_bodies_arrive_whole() -> None:
    large = hashlib.sha256(b"seed").digest() * (5 * 1024 * 1024 // 32)

    async def bodies(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if seen.path == "/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        else:
            writer.write(response(large))
        return True

    async with http_server(bodies) as server, client() as http:
        assert (await http.get(server.url("/chunked"))).content == b"hello world"
        answer = await http.get(server.url("/large"))
        assert (await http.get(server.url("/chunked"))).content == b"hello world"  # the same connection, after 5 MiB
    assert hashlib.sha256(answer.content).digest() == hashlib.sha256(large).digest()
    assert server.connections == 1


@on_both_loops
async def test_a_large_request_body_waits_for_the_upstream_to_read_it() -> None:
    """Write flow control: 16 MiB is far above the transport's write buffer, so the writer waits for it to drain."""
    body = hashlib.sha256(b"upload").digest() * (16 * 1024 * 1024 // 32)

    async def digest(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(hashlib.sha256(seen.body).hexdigest().encode()))
        return True

    async with http_server(digest) as server, client() as http:
        first = await http.post(server.url("/upload"), content=body)
        second = await http.post(server.url("/upload"), content=b"small")  # the same connection, after 16 MiB
    assert first.text == hashlib.sha256(body).hexdigest()
    assert second.text == hashlib.sha256(b"small").hexdigest()
    assert server.connections == 1


@on_both_loops
async def test_an_upstream_that_stops_reading_is_a_write_timeout() -> None:
    """Nothing reads the request: once the socket buffers are full, the write deadline fails the request."""
    release = asyncio.Event()

    async def never_reads(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(never_reads, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with client() as http:
            with pytest.raises(httpx2.WriteTimeout, match="to accept the request"):
                await http.post(
                    f"http://127.0.0.1:{port}/upload",
                    content=b"x" * (64 * 1024 * 1024),
                    timeout=httpx2.Timeout(5.0, write=0.5),
                )
    finally:
        release.set()
        server.close()
        await server.wait_closed()


@on_both_loops
async def test_a_gzip_body_is_decoded_by_httpx() -> None:
    import gzip

    async def zipped(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        body = gzip.compress(b'{"ok": true}')
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        return True

    async with http_server(zipped) as server, client() as http:
        answer = await http.get(server.url("/"))
    assert answer.json() == {"ok": True}
    assert "gzip" in server.requests[0].headers["accept-encoding"]


@on_both_loops
async def test_an_interim_answer_is_skipped() -> None:
    async def early_hints(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n" + response(b"final"))
        return True

    async with http_server(early_hints) as server, client() as http:
        answer = await http.get(server.url("/"))
    assert (answer.status_code, answer.content) == (200, b"final")


@on_both_loops
async def test_head_goes_through_the_general_pool() -> None:
    async def head(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n")  # a length, and no body
        return True

    async with http_server(head) as server, client() as http:
        answer = await http.head(server.url("/"))
    assert answer.status_code == 200 and answer.headers["content-length"] == "1234" and answer.content == b""


@on_both_loops
async def test_timeouts_and_refusals_are_httpx_errors() -> None:
    async def slow(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(2)
        return False

    async with http_server(slow) as server, client() as http:
        with pytest.raises(httpx2.ReadTimeout):
            await http.get(server.url("/"), timeout=httpx2.Timeout(5.0, read=0.2))
        port = server.port
    async with client() as http:
        with pytest.raises(httpx2.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")


@on_both_loops
async def test_garbage_and_early_close_are_protocol_errors() -> None:
    async def bad(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if seen.path == "/garbage":
            writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")
        return False

    async with http_server(bad) as server, client() as http:
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.get(server.url("/garbage"))
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.get(server.url("/short"))


@on_both_loops
async def test_header_values_cannot_smuggle_a_second_request() -> None:
    async with http_server() as server, client() as http:
        with pytest.raises(httpx2.LocalProtocolError):
            await http.get(server.url("/"), headers={"X-Trace": "1\r\nX-Admin: yes"})
        with pytest.raises(httpx2.LocalProtocolError):
            await http.get(server.url("/"), headers={"X Bad": "1"})
        assert (await http.get(server.url("/fine"))).content == b"/fine"
    assert [seen.path for seen in server.requests] == ["/fine"]


@on_both_loops
async def test_private_addresses_are_refused_when_the_policy_says_so() -> None:
    async with http_server() as server, client(public_only=True) as http:
        with pytest.raises(EgressDenied):
            await http.get(server.url("/"))
    assert server.requests == []


@on_both_loops
async def test_tls_with_a_verified_certificate_and_an_untrusted_one(tmp_path: Path) -> None:
    cert, key = certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    async with http_server(tls=server_tls) as server:
        async with client(ssl_context=ssl.create_default_context(cafile=str(cert))) as http:
            for n in range(3):
                assert (await http.get(server.url(f"/secure{n}", scheme="https"))).content == f"/secure{n}".encode()
        async with client() as http:
            with pytest.raises(httpx2.ConnectError):
                await http.get(server.url("/", scheme="https"))
    assert server.connections == 1  # one kept alive for three requests (the refused handshake never got that far)
    assert [seen.path for seen in server.requests] == ["/secure0", "/secure1", "/secure2"]
