"""Test helpers for the runtime: a recording upstream on 127.0.0.1, packages written to tmp dirs, a hub served by uvicorn.

Everything is real: the upstream is an ASGI app served by uvicorn on an ephemeral port, packages are
compiled from IR by the real codegen, and the hub is the real app served over TCP.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx2
import uvicorn
from argon2 import PasswordHasher
from mcp.client import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from starlette.types import Receive, Scope, Send

from mcphub.compiler.ir import (
    ArgBinding,
    ArgLocation,
    AuthScheme,
    HttpBinding,
    Integration,
    Policy,
    Prompt,
    PromptArgument,
    Resource,
    SourceInfo,
    Tool,
    ToolAnnotations,
)
from mcphub.compiler.pipeline import write_integration as codegen_write
from mcphub.runtime.tenancy.services import Tenancy

# --- a real server in a thread ---------------------------------------------------------------------


def _free_socket() -> socket.socket:
    # proto=IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections (else Nagle adds ~40 ms per reply).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (connections are refused)."""
    sock = _free_socket()
    port: int = sock.getsockname()[1]
    sock.close()
    return port


@contextmanager
def serve(app: Any, *, health_path: str | None = None, deadline_s: float = 15.0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on an ephemeral 127.0.0.1 port; yields its base URL."""
    sock = _free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="auto", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    give_up = time.monotonic() + deadline_s
    while not server.started:
        if time.monotonic() > give_up or not thread.is_alive():
            raise RuntimeError(f"server on {base} did not start")
        time.sleep(0.01)
    if health_path is not None:
        while True:
            try:
                if httpx2.get(base + health_path, timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > give_up:
                raise RuntimeError(f"{base}{health_path} never answered 200")
            time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        # The app's shutdown flushes usage and call logs, which tests read next: wait for it (it can take more than
        # 10 s on a loaded machine), and say so rather than let a test read a half-flushed log.
        thread.join(timeout=60)
        sock.close()
        if thread.is_alive():
            raise RuntimeError(f"the server on {base} did not stop within 60 s")


# --- the recording upstream ------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str  # decoded
    raw_path: str  # as sent, percent-encoding intact
    raw_query: str
    headers: dict[str, str]
    body: bytes

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(self.raw_query, keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Upstream:
    """A tiny upstream API that records every request it receives."""

    requests: list[Recorded] = field(default_factory=list)
    base_url: str = ""
    huge_bytes: int = 50 * 1024 * 1024

    def last(self) -> Recorded:
        return self.requests[-1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        path = scope["path"]
        raw_path = (scope.get("raw_path") or path.encode()).decode()
        record = Recorded(scope["method"], path, raw_path, scope["query_string"].decode(), headers, body)
        self.requests.append(record)
        await self._answer(record, send)

    async def _answer(self, r: Recorded, send: Send) -> None:
        async def reply(
            status: int, payload: bytes, content_type: str | None, extra: dict[str, str] | None = None
        ) -> None:
            headers = [(b"content-length", str(len(payload)).encode())]
            if content_type:
                headers.append((b"content-type", content_type.encode()))
            for key, value in (extra or {}).items():
                headers.append((key.encode(), value.encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})

        def as_json(value: Any) -> bytes:
            return json.dumps(value).encode()

        path = r.path
        if path.startswith("/pets/") and r.method == "GET":
            pet_id = unquote(r.raw_path.removeprefix("/pets/"))
            await reply(200, as_json({"id": pet_id, "name": "Rex", "tags": ["good"]}), "application/json")
        elif path == "/pets" and r.method == "GET":
            await reply(200, as_json([{"id": "1"}, {"id": "2"}]), "application/json; charset=utf-8")
        elif path == "/pets" and r.method == "POST":
            await reply(201, as_json({"created": json.loads(r.body or b"null")}), "application/json")
        elif path == "/form":
            await reply(200, as_json({"form": parse_qsl(r.body.decode())}), "application/json")
        elif path == "/upload":
            await reply(
                200, as_json({"size": len(r.body), "type": r.headers.get("content-type", "")}), "application/json"
            )
        elif path == "/text":
            await reply(200, b"plain words", "text/plain; charset=utf-8")
        elif path == "/image":
            await reply(200, b"\x89PNG\r\n\x1a\n\x00\x00binary", "image/png")
        elif path == "/pdf":
            await reply(200, b"%PDF-1.7\x00\xff", "application/pdf")
        elif path == "/empty":
            await reply(204, b"", None)
        elif path == "/fail":
            await reply(500, as_json({"error": {"message": "database on fire"}}), "application/json")
        elif path == "/missing":
            await reply(404, b"no such thing", "text/plain")
        elif path == "/badjson":
            await reply(200, b'{"unterminated": ', "application/json")
        elif path == "/slowish":
            await asyncio.sleep(0.5)
            await reply(200, as_json({"slow": True}), "application/json")
        elif path == "/slow":
            await asyncio.sleep(10)
            await reply(200, b"{}", "application/json")
        elif path == "/huge":
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
            )
            chunk = b"x" * 65536
            sent = 0
            try:
                while sent < self.huge_bytes:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    sent += len(chunk)
                await send({"type": "http.response.body", "body": b""})
            except OSError:
                return  # the hub hung up at its size cap
        elif path == "/redirect-out":
            await reply(302, b"", None, {"location": "http://evil.example.com/steal"})
        elif path == "/redirect-host":  # same server, another allowed host name
            port = r.headers["host"].rsplit(":", 1)[1]
            await reply(307, b"", None, {"location": f"http://localhost:{port}/pets/9"})
        elif path == "/set-cookie":
            await reply(200, b"{}", "application/json", {"set-cookie": "tracking=abc; Path=/"})
        elif path == "/redirect-in":
            await reply(302, b"", None, {"location": "/pets/7"})
        else:
            await reply(404, as_json({"message": f"no route {path}"}), "application/json")


# --- integrations and packages ---------------------------------------------------------------------


def _arg(
    name: str, location: ArgLocation, wire: str | None = None, *, required: bool = False, **extra: Any
) -> ArgBinding:
    return ArgBinding(
        name=name,
        python_name=name.replace("-", "_").replace(".", "_"),
        location=location,
        wire_name=wire if wire is not None else name,
        required=required,
        **extra,
    )


def _get(name: str, path: str, description: str = "", **extra: Any) -> Tool:
    return Tool(
        name=name,
        description=description or f"GET {path}",
        input_schema={"type": "object", "properties": {}},
        http=HttpBinding(method="GET", path=path),
        annotations=ToolAnnotations(readOnlyHint=True),
        **extra,
    )


def petstore(base_url: str, *, slug: str = "pets", timeout_s: float = 1.5, **policy: Any) -> Integration:
    """A small API covering every argument location, body kind and response kind the runtime handles."""
    tools = [
        Tool(
            name="get_pet",
            title="Get a pet",
            description="Fetch one pet by id.",
            input_schema={
                "type": "object",
                "properties": {
                    "pet_id": {"type": "string", "description": "The pet's id"},
                    "verbose": {"type": "boolean"},
                    "fields": {"type": "array", "items": {"type": "string"}},
                    "filter": {"type": "object", "additionalProperties": {"type": "string"}},
                    "trace_id": {"type": "string"},
                    "session": {"type": "string"},
                },
                "required": ["pet_id"],
                "additionalProperties": False,
            },
            annotations=ToolAnnotations(readOnlyHint=True),
            http=HttpBinding(
                method="GET",
                path="/pets/{petId}",
                args=[
                    _arg("pet_id", ArgLocation.PATH, "petId", required=True),
                    _arg("verbose", ArgLocation.QUERY),
                    _arg("fields", ArgLocation.QUERY, explode=False),
                    _arg("filter", ArgLocation.QUERY, style="deepObject", explode=True),
                    _arg("trace_id", ArgLocation.HEADER, "X-Trace-Id"),
                    _arg("session", ArgLocation.COOKIE, "sid"),
                ],
                fixed={ArgLocation.QUERY: {"api-version": "2"}},
            ),
        ),
        Tool(
            name="create_pet",
            description="Create a pet.",
            input_schema={
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "age": {"type": "integer", "minimum": 0},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["name"],
            },
            http=HttpBinding(
                method="POST",
                path="/pets",
                body_encoding="json",
                body_required=True,
                args=[
                    _arg("name", ArgLocation.BODY, required=True),
                    _arg("age", ArgLocation.BODY),
                    _arg("tags", ArgLocation.BODY),
                ],
            ),
        ),
        Tool(
            name="list_pets",
            description="List pets.",
            input_schema={"type": "object", "properties": {"ids": {"type": "array", "items": {"type": "string"}}}},
            http=HttpBinding(
                method="GET",
                path="/pets",
                args=[_arg("ids", ArgLocation.QUERY, style="pipeDelimited", explode=False)],
            ),
        ),
        Tool(
            name="charge",
            description="A Stripe-style form body.",
            input_schema={
                "type": "object",
                "properties": {
                    "amount": {"type": "integer"},
                    "metadata": {"type": "object"},
                    "expand": {"type": "array", "items": {"type": "string"}},
                },
            },
            http=HttpBinding(
                method="POST",
                path="/form",
                body_encoding="form",
                args=[
                    _arg("amount", ArgLocation.FORM),
                    # As Stripe's description declares them (`encoding:` of its form bodies).
                    _arg("metadata", ArgLocation.FORM, style="deepObject", explode=True),
                    _arg("expand", ArgLocation.FORM, "expand[]", style="deepObject", explode=True),
                ],
            ),
        ),
        Tool(
            name="upload",
            description="A multipart upload.",
            input_schema={
                "type": "object",
                "properties": {"file": {"type": "string"}, "note": {"type": "string"}},
                "required": ["file"],
            },
            http=HttpBinding(
                method="POST",
                path="/upload",
                body_encoding="multipart",
                args=[
                    _arg("file", ArgLocation.MULTIPART, content_type="text/plain", required=True),
                    _arg("note", ArgLocation.MULTIPART),
                ],
            ),
        ),
        _get("get_text", "/text"),
        _get("get_image", "/image"),
        _get("get_pdf", "/pdf"),
        _get("get_empty", "/empty"),
        _get("fail", "/fail"),
        _get("missing", "/missing"),
        _get("bad_json", "/badjson"),
        _get("slow", "/slow"),
        _get("slowish", "/slowish"),
        _get("huge", "/huge"),
        _get("redirect_out", "/redirect-out"),
        _get("redirect_in", "/redirect-in"),
        _get("redirect_host", "/redirect-host"),
        _get("set_cookie", "/set-cookie"),
        _get("secret_admin", "/admin", enabled=False),
    ]
    return Integration(
        slug=slug,
        name="Pet Store",
        description="Pets for tests.",
        source=SourceInfo(kind="openapi", path="petstore.yaml"),
        base_url=base_url,
        auth=[
            AuthScheme(id="bearer", type="bearer", label="Personal access token"),
            AuthScheme(id="key", type="api_key", location="header", param_name="X-Api-Key"),
        ],
        default_security=[["bearer"], ["key"]],
        tools=tools,
        resources=[
            Resource(
                uri="pets://guide", name="guide", description="How to use", mime_type="text/markdown", text="# Pets"
            )
        ],
        prompts=[
            Prompt(
                name="adopt",
                description="Adoption helper",
                arguments=[PromptArgument(name="pet", required=True)],
                template="Help me adopt {pet}.",
            )
        ],
        policy=Policy(
            allow_private_network=True,
            timeout_s=timeout_s,
            connect_timeout_s=1.0,
            allowed_hosts=["127.0.0.1", "localhost"],
            **policy,
        ),
    )


def write_package(integration: Integration, out_dir: Path) -> Path:
    """Compile `integration` into `out_dir/<slug>/` with the real codegen, as `mcphub compile` does."""
    return codegen_write(integration, out_dir)


# --- accounts: real users and keys through the tenancy layer ----------------------------------------

# argon2id still, with small costs: the production parameters take ~0.5 s per hash.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@dataclass(frozen=True)
class Account:
    """A user made through the tenancy layer and one API key of theirs (the secret, shown once)."""

    email: str
    user_id: int
    key_id: int
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def make_account(
    tenancy: Tenancy,
    email: str,
    *,
    enable: Iterable[str] = (),
    credentials: Mapping[str, Mapping[str, Any]] | None = None,
    scope: Iterable[str] | None = None,
) -> Account:
    """Create a user (the hub's first is its admin), enable integrations, store credentials, create a key."""
    user = await tenancy.accounts.create_user(email, "correct horse battery staple")
    for slug in enable:
        await tenancy.integrations.enable(user.id, slug)
    for slug, fields in (credentials or {}).items():
        await tenancy.credentials.set(user.id, slug, dict(fields), scheme="bearer" if "token" in fields else None)
    key = await tenancy.accounts.create_key(user.id, "agent", scope=scope)
    return Account(user.email, user.id, key.info.id, key.secret)


async def open_tenancy(
    data_dir: Path, url: str | None = None, *, redis_url: str = "", namespace: str = "mcphub"
) -> Tenancy:
    """The tenancy services over the hub's data dir (same database file and vault key as the hub)."""
    return await Tenancy.open(data_dir, url=url, redis_url=redis_url, namespace=namespace, password_hasher=FAST_HASHER)


def provision(data_dir: Path, *accounts: tuple[str, dict[str, Any]], url: str | None = None) -> list[Account]:
    """From sync code, before the hub starts: `provision(dir, ("ops@x", {"enable": ["pets"]}))`."""

    async def run() -> list[Account]:
        tenancy = await open_tenancy(data_dir, url)
        try:
            return [await make_account(tenancy, email, **options) for email, options in accounts]
        finally:
            await tenancy.aclose()

    return asyncio.run(run())


def initialize_request(version: str, request_id: int = 0) -> dict[str, Any]:
    """A handshake-era `initialize` request, for tests that speak raw HTTP."""
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    return {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params}


@asynccontextmanager
async def mcp_client(url: str, key: str, *, mode: str = "auto", **options: Any) -> AsyncIterator[Client]:
    """The official SDK client over streamable HTTP, sending `Authorization: Bearer <key>`."""
    timeout = httpx2.Timeout(30.0, read=300.0)
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=timeout) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode, **options) as client,
    ):
        yield client


def sse_transport(url: str, key: str) -> Any:
    """The legacy HTTP+SSE client transport with the key."""
    return sse_client(url, headers={"Authorization": f"Bearer {key}"})
