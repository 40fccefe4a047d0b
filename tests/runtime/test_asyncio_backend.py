"""httpcore2's HTTP/1.1 client over `AsyncioBackend` (the upstream pools' byte streams), against real sockets.

The server is a small asyncio HTTP/1.1 server written here so that each test controls what a real upstream may
do to a pooled connection: keep it alive, close it while idle, answer slowly, send a large or chunked body, speak
TLS with a certificate the test made. Each test runs on the standard asyncio loop and on uvloop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import inspect
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpcore2
import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mcphub.runtime.asyncio_backend import AsyncioBackend


def on_both_loops(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test on the standard loop and on uvloop (the hub serves on uvloop, whose transports are
    not asyncio's classes)."""

    def run(loop: str, **fixtures: object) -> None:
        (uvloop.run if loop == "uvloop" else asyncio.run)(test(**fixtures))

    # pytest reads the signature for fixtures: the test's own, plus the loop parameter.
    signature = inspect.signature(test)
    loop_parameter = inspect.Parameter("loop", inspect.Parameter.KEYWORD_ONLY, annotation=str)
    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[loop_parameter, *(p.replace(kind=p.KEYWORD_ONLY) for p in signature.parameters.values())]
    )
    run.__name__, run.__doc__ = test.__name__, test.__doc__
    return pytest.mark.parametrize("loop", ["asyncio", "uvloop"])(run)


Handler = Callable[[str, asyncio.StreamWriter], Awaitable[bool]]  # returns: keep the connection open


@dataclass
class Server:
    port: int
    connections: int = 0
    requests: list[str] = field(default_factory=list)

    def url(self, path: str, scheme: str = "http") -> str:
        host = "localhost" if scheme == "https" else "127.0.0.1"
        return f"{scheme}://{host}:{self.port}{path}"


def _response(body: bytes, *, close: bool = False) -> bytes:
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {len(body)}\r\n"
    if close:
        head += "connection: close\r\n"
    return head.encode() + b"\r\n" + body


async def _default(path: str, writer: asyncio.StreamWriter) -> bool:
    writer.write(_response(path.encode()))
    return True


@asynccontextmanager
async def http_server(handler: Handler = _default, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    state = Server(port=0)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                state.requests.append(path)
                keep = await handler(path, writer)
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


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
    async def close_after_answering(path: str, writer: asyncio.StreamWriter) -> bool:
        writer.write(_response(b"ok"))  # no `connection: close`: the client believes it may reuse it
        return False

    async with http_server(close_after_answering) as server, pool() as http:
        for _ in range(3):
            assert (await http.request("GET", server.url("/"))).content == b"ok"
            await asyncio.sleep(0.05)  # the server's FIN arrives while the connection sits in the pool
    assert server.connections == 3


@on_both_loops
async def test_a_slow_answer_is_a_read_timeout() -> None:
    async def slow(path: str, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(2)
        writer.write(_response(b"late"))
        return True

    async with http_server(slow) as server, pool() as http:
        with pytest.raises(httpcore2.ReadTimeout):
            await http.request("GET", server.url("/"), extensions={"timeout": {"read": 0.2}})


@on_both_loops
async def test_a_large_body_arrives_whole_through_flow_control() -> None:
    body = hashlib.sha256(b"seed").digest() * (5 * 1024 * 1024 // 32)  # 5 MiB, far above the read buffer cap

    async def large(path: str, writer: asyncio.StreamWriter) -> bool:
        writer.write(_response(body))
        return True

    async with http_server(large) as server, pool() as http, http.stream("GET", server.url("/")) as response:
        chunks = [chunk async for chunk in response.aiter_stream()]
    received = b"".join(chunks)
    assert len(received) == len(body)
    assert hashlib.sha256(received).digest() == hashlib.sha256(body).digest()


@on_both_loops
async def test_a_chunked_body_is_decoded() -> None:
    async def chunked(path: str, writer: asyncio.StreamWriter) -> bool:
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


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@on_both_loops
async def test_tls_with_a_verified_certificate(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
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
    cert, key = _certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    async with http_server(tls=server_tls) as server, pool(ssl_context=ssl.create_default_context()) as http:
        with pytest.raises(httpcore2.ConnectError):
            await http.request("GET", server.url("/", scheme="https"))
