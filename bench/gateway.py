"""A tool call through MCP Hub versus the upstream alone, FastMCP's `from_openapi` and IBM ContextForge, side by side.

    make bench              # or: .venv/bin/python bench/gateway.py [--seconds 5] [--skip-contextforge]

    # this tree's hub against another commit's, side by side in one run (same venv, same catalog and upstream):
    git archive <commit> mcphub | tar -x -C /tmp/base && \
        .venv/bin/python bench/gateway.py --baseline /tmp/base --only "MCP Hub" --rounds 3 --skip-fastmcp \
        --skip-contextforge --ready-runs 0

Every server is its own uvicorn process on 127.0.0.1 (an ephemeral port, default uvicorn settings: asyncio
loop, h11); this process is only the load generator. The servers:

  upstream   a raw ASGI JSON stub: `POST /echo {"text"}` -> `{"echo": text}` (what every gateway fronts)
  ceiling    the same process answering a JSON-RPC tools/call at `POST /rpc` without any MCP machinery:
             the most a one-hop Python server on uvicorn can do here
  MCP Hub    `create_app` with 10 compiled packages (500 tools) whose `echo` tool calls the upstream
  FastMCP    `FastMCP.from_openapi` of the same OpenAPI document, `http_app()` (streamable HTTP)
  ContextForge  `mcpgateway.main:app` on SQLite, the upstream registered as a REST tool of a virtual server

The load generator is a minimal HTTP/1.1 client on asyncio streams (one keep-alive connection per simulated
client), so that it spends as little of the two CPUs as possible and the same on every server. Each MCP client
does the handshake-era `initialize` once (keeping `Mcp-Session-Id` when the server issues one) and then only
POSTs `tools/call` - the way every MCP server here can be called. The 2026-07-28 stateless wire (no session,
`_meta` + `Mcp-Method` on every POST) is measured too for the servers that speak it. Every response is parsed
and checked (status, JSON-RPC result, `isError: false`, the echoed text); one bad answer fails the row.

Added latency = percentile through the server minus the same percentile calling the upstream directly, at the
same concurrency. Each cell runs after a warm-up, for at most `--seconds` and `--max-calls`.

`--baseline DIR` (a folder holding another commit's `mcphub/` package) starts a second hub from that code, on
the same catalog, upstream and interpreter, and measures it as "MCP Hub baseline" right after this tree's hub in
every cell; `--rounds N` repeats all cells N times, and a last table sets the two side by side per round with
the median ratio of server CPU per call (the figure load on the machine disturbs least).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ROOT,
    cpu_seconds,
    ensure_venv,
    free_port,
    machine_line,
    percentile,
    server_process,
    stop,
    wait_ready,
    write_result,
)

FASTMCP_VERSION = "4.1.2"
# 1.1.0 (the newest) needs Python >= 3.12; this is the newest release that installs on 3.11.
CONTEXTFORGE_VERSION = "1.0.7.post20260921"
CLIENTS = (1, 8, 32)
LIST_INTEGRATIONS = 10
TOOLS_PER_INTEGRATION = 50
HANDSHAKE_VERSION = "2025-11-25"
STATELESS_VERSION = "2026-07-28"
ECHO_TEXT = "hello from the bench"

# Targets from the issue.
P50_ADDED_MS = 1.0
P99_ADDED_MS = 3.0
THROUGHPUT_RATIO = 3.0
LIST_P50_MS = 5.0
READY_S = 1.5

# --- servers -------------------------------------------------------------------------------------------

UPSTREAM = """
import json

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    status, path = 200, scope["path"]
    if path == "/echo" and scope["method"] == "POST":
        payload = {"echo": json.loads(body)["text"]}
    elif path == "/rpc" and scope["method"] == "POST":
        request = json.loads(body)
        echoed = {"echo": request["params"]["arguments"]["text"]}
        result = {"content": [{"type": "text", "text": json.dumps(echoed)}], "structuredContent": echoed, "isError": False}
        payload = {"jsonrpc": "2.0", "id": request["id"], "result": result}
    elif path == "/":
        payload = {"ok": True}
    else:
        status, payload = 404, {"error": "not found"}
    data = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})

serve(app)
"""

HUB = """
import sys
from pathlib import Path
from mcphub.app import Settings, create_app

settings = Settings(catalog_dirs=[Path(sys.argv[1])], data_dir=Path(sys.argv[2]), admin_token=sys.argv[3])
serve(create_app(settings))
"""

FASTMCP = """
import json, sys
import httpx2
from fastmcp import FastMCP

spec = json.loads(open(sys.argv[1], "rb").read())
client = httpx2.AsyncClient(base_url=sys.argv[2], timeout=30)
serve(FastMCP.from_openapi(openapi_spec=spec, client=client).http_app(path="/mcp"))
"""

CONTEXTFORGE = """
from mcpgateway.main import app
serve(app)
"""


def openapi_document(base_url: str, index: int) -> dict[str, Any]:
    """An OpenAPI 3.1 document of TOOLS_PER_INTEGRATION operations; the first, `echo`, is what the bench calls.

    The others are shaped like everyday REST operations (path id, query filters, a JSON body), so a tools/list
    of all integrations weighs about what a real catalog does.
    """
    paths: dict[str, Any] = {
        "/echo": {
            "post": {
                "operationId": "echo",
                "summary": "Echo the text back",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"text": {"type": "string", "description": "What to echo"}},
                                "required": ["text"],
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The echo",
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "properties": {"echo": {"type": "string"}}}
                            }
                        },
                    }
                },
            }
        }
    }
    for n in range(1, TOOLS_PER_INTEGRATION):
        paths[f"/things{n}/{{thing_id}}"] = {
            "patch": {
                "operationId": f"update_thing_{n}",
                "summary": f"Update a thing of kind {n} in service {index}",
                "description": "Changes the given fields of one thing; fields left out keep their value. "
                "Returns the updated thing.",
                "parameters": [
                    {"name": "thing_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "dry_run", "in": "query", "schema": {"type": "boolean", "default": False}},
                    {"name": "fields", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                ],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string", "maxLength": 200},
                                    "state": {"type": "string", "enum": ["open", "closed", "archived"]},
                                    "labels": {"type": "array", "items": {"type": "string"}},
                                    "priority": {"type": "integer", "minimum": 0, "maximum": 5},
                                },
                            }
                        }
                    }
                },
                "responses": {"200": {"description": "The updated thing"}},
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": f"Bench service {index}", "version": "1.0.0"},
        "servers": [{"url": base_url}],
        "paths": paths,
    }


def write_catalog(base_url: str, catalog: Path) -> list[str]:
    """Compile LIST_INTEGRATIONS packages into `catalog` (all pointing at the upstream); returns their slugs."""
    from mcphub.compiler.ir import SourceInfo
    from mcphub.compiler.pipeline import write_integration
    from mcphub.compiler.sources.openapi import openapi_to_integration

    slugs = []
    for index in range(LIST_INTEGRATIONS):
        slug = f"bench{index}"
        integration = openapi_to_integration(
            openapi_document(base_url, index), slug=slug, source=SourceInfo(kind="openapi", path=f"{slug}.json")
        )
        integration.base_url = base_url
        integration.policy.allow_private_network = True
        write_integration(integration, catalog)
        slugs.append(slug)
    return slugs


def provision(data_dir: Path, slugs: list[str]) -> str:
    """A user with `slugs` enabled and an `mcp_sk_…` key, made through the tenancy layer before the hub starts."""
    from mcphub.runtime.tenancy.services import Tenancy

    async def make() -> str:
        tenancy = await Tenancy.open(data_dir)
        try:
            user = await tenancy.accounts.create_user("bench@example.com", secrets.token_urlsafe(24))
            for slug in slugs:
                await tenancy.integrations.enable(user.id, slug)
            return (await tenancy.accounts.create_key(user.id, "bench")).secret
        finally:
            await tenancy.aclose()

    return asyncio.run(make())


def post_json(url: str, body: dict[str, Any], token: str) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def contextforge_env(workdir: Path) -> dict[str, str]:
    """A local, single-process ContextForge on SQLite; rate limiting off (it would 429 a benchmark), UI off."""
    return {
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "AUTH_ENCRYPTION_SECRET": secrets.token_urlsafe(48),
        "DATABASE_URL": f"sqlite:///{workdir / 'mcp.db'}",
        "PLATFORM_ADMIN_EMAIL": "admin@example.com",
        "PLATFORM_ADMIN_PASSWORD": secrets.token_urlsafe(18) + "-Aa1!",
        "MCPGATEWAY_UI_ENABLED": "false",
        "MCPGATEWAY_ADMIN_API_ENABLED": "false",
        "SSRF_ALLOW_LOCALHOST": "true",
        "SSRF_ALLOW_PRIVATE_NETWORKS": "true",
        "RATE_LIMITING_ENABLED": "false",
        "LOG_LEVEL": "ERROR",
    }


def contextforge_front(python: Path, base_url: str, upstream: str, env: dict[str, str]) -> tuple[str, str]:
    """Register the upstream as a REST tool in a virtual server; returns (its MCP path, a bearer token)."""
    made = subprocess.run(
        [
            str(python),
            "-m",
            "mcpgateway.utils.create_jwt_token",
            *("--username", env["PLATFORM_ADMIN_EMAIL"]),
            *("--exp", "120", "--secret", env["JWT_SECRET_KEY"]),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    token = made.stdout.strip().splitlines()[-1]
    tool = {
        "name": "echo",
        "url": f"{upstream}/echo",
        "integration_type": "REST",
        "request_type": "POST",
        "description": "Echo the text back",
        "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
        "visibility": "public",
    }
    tool_id = post_json(f"{base_url}/tools", {"tool": tool}, token)["id"]
    server = {"name": "bench", "associated_tools": [tool_id], "visibility": "public"}
    server_id = post_json(f"{base_url}/servers", {"server": server}, token)["id"]
    return f"/servers/{server_id}/mcp", token


# --- the load generator --------------------------------------------------------------------------------


class BadAnswer(Exception):
    """A server answered something other than the expected result; the row is void."""


class Connection:
    """One keep-alive HTTP/1.1 connection; just enough of the protocol for JSON and SSE answers."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def post(self, path: str, body: bytes, headers: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        if self.writer is None:
            await self._open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(
            b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
            b"Accept: application/json, text/event-stream\r\nContent-Length: %d\r\n%s\r\n%s"
            % (path.encode(), self.host.encode(), self.port, len(body), headers, body)
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        fields: dict[bytes, bytes] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(b":")
                fields[name.strip().lower()] = value.strip()
        if b"content-length" in fields:
            data = await self.reader.readexactly(int(fields[b"content-length"]))
        elif fields.get(b"transfer-encoding", b"").lower() == b"chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while await self.reader.readuntil(b"\r\n") != b"\r\n":
                        pass  # trailers
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            data = b"".join(parts)
        else:
            data = await self.reader.read()
            self.close()
        if fields.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, fields, data


def jsonrpc_message(fields: dict[bytes, bytes], data: bytes) -> dict[str, Any]:
    """The JSON-RPC response in a plain JSON body or in an SSE stream (the event that carries an id)."""
    if fields.get(b"content-type", b"").startswith(b"text/event-stream"):
        for line in data.split(b"\n"):
            if line.startswith(b"data:") and line[5:].strip():
                message = json.loads(line[5:])
                if "id" in message:
                    return message  # type: ignore[no-any-return]
        raise BadAnswer(f"no JSON-RPC response in the event stream: {data[:300]!r}")
    return json.loads(data)  # type: ignore[no-any-return]


@dataclass
class Target:
    """Something the load generator calls; `kind` says how (rest, rpc, mcp)."""

    name: str
    base_url: str
    path: str
    kind: str
    tool: str = "echo"
    era: str = "handshake"  # or "stateless" (2026-07-28)
    token: str | None = None
    pid: int | None = None  # the server process, whose CPU time per call is reported

    @property
    def host_port(self) -> tuple[str, int]:
        host, port = self.base_url.removeprefix("http://").rsplit(":", 1)
        return host, int(port)


@dataclass
class Client:
    """One simulated client: a connection plus whatever session state its server wants."""

    target: Target
    connection: Connection
    headers: bytes = b""
    next_id: int = 1

    @classmethod
    async def open(cls, target: Target) -> Client:
        client = cls(target, Connection(*target.host_port))
        auth = b"Authorization: Bearer %s\r\n" % target.token.encode() if target.token else b""
        client.headers = auth
        if target.kind == "mcp" and target.era == "handshake":
            params = {
                "protocolVersion": HANDSHAKE_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "mcphub-bench", "version": "1"},
            }
            status, fields, data = await client.rpc("initialize", params)
            message = jsonrpc_message(fields, data)
            if status != 200 or "result" not in message:
                raise BadAnswer(f"{target.name}: initialize answered {status}: {data[:300]!r}")
            version = message["result"]["protocolVersion"].encode()
            client.headers = auth + b"MCP-Protocol-Version: %s\r\n" % version
            session = fields.get(b"mcp-session-id")
            if session:
                client.headers += b"Mcp-Session-Id: %s\r\n" % session
            notified = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode()
            status, _, data = await client.connection.post(target.path, notified, client.headers)
            if status not in (200, 202):
                raise BadAnswer(f"{target.name}: notifications/initialized answered {status}: {data[:300]!r}")
        return client

    async def rpc(
        self, method: str, params: dict[str, Any], name: str | None = None
    ) -> tuple[int, dict[bytes, bytes], bytes]:
        headers = self.headers
        if self.target.era == "stateless":
            params = {
                **params,
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
                    "io.modelcontextprotocol/clientCapabilities": {},
                },
            }
            headers += b"Mcp-Protocol-Version: %s\r\nMcp-Method: %s\r\n" % (STATELESS_VERSION.encode(), method.encode())
            if name is not None:
                headers += b"Mcp-Name: %s\r\n" % name.encode()
        body = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}).encode()
        self.next_id += 1
        return await self.connection.post(self.target.path, body, headers)

    async def call(self) -> None:
        """One tools/call (or its REST/JSON-RPC equivalent), checked."""
        target = self.target
        if target.kind == "rest":
            status, _, data = await self.connection.post(target.path, b'{"text": "%s"}' % ECHO_TEXT.encode(), b"")
            if status != 200 or json.loads(data) != {"echo": ECHO_TEXT}:
                raise BadAnswer(f"{target.name}: {status} {data[:300]!r}")
            return
        params = {"name": target.tool, "arguments": {"text": ECHO_TEXT}}
        status, fields, data = await self.rpc("tools/call", params, name=target.tool)
        message = jsonrpc_message(fields, data) if status == 200 else {}
        result = message.get("result")
        if not isinstance(result, dict) or result.get("isError") or ECHO_TEXT not in json.dumps(result["content"]):
            raise BadAnswer(f"{target.name}: {status} {data[:400]!r}")

    async def list_tools(self) -> int:
        status, fields, data = await self.rpc("tools/list", {})
        message = jsonrpc_message(fields, data) if status == 200 else {}
        if "result" not in message or "nextCursor" in message["result"]:
            raise BadAnswer(f"{self.target.name}: tools/list answered {status}: {data[:300]!r}")
        return len(message["result"]["tools"])


@dataclass
class Cell:
    target: str
    clients: int
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    cpu_ms_per_call: float | None = None
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


async def measure(
    clients: list[Client],
    operation: Callable[[Client], Awaitable[Any]],
    *,
    seconds: float,
    max_calls: int,
    warmup_s: float,
    pid: int | None,
) -> tuple[list[float], float, float | None, tuple[float, float]]:
    """Run `operation` on every client back to back.

    Returns sorted latencies (ms), the measured seconds, the server's CPU ms per call (None without a pid)
    and the 1-minute load average before and after.
    """
    latencies: list[int] = []
    measuring = False
    stop_at = 0.0

    async def loop(client: Client) -> None:
        while True:
            started = time.perf_counter_ns()
            await operation(client)
            if measuring:
                latencies.append(time.perf_counter_ns() - started)
                if len(latencies) >= max_calls or time.perf_counter() >= stop_at:
                    return
            elif time.perf_counter() >= stop_at:
                return

    stop_at = time.perf_counter() + warmup_s
    await asyncio.gather(*(loop(c) for c in clients))
    measuring = True
    load_before = os.getloadavg()[0]
    cpu_before = cpu_seconds(pid) if pid else 0.0
    begun = time.perf_counter()
    stop_at = begun + seconds
    await asyncio.gather(*(loop(c) for c in clients))
    elapsed = time.perf_counter() - begun
    cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / max(len(latencies), 1) if pid else None
    return sorted(n / 1e6 for n in latencies), elapsed, cpu_ms, (load_before, os.getloadavg()[0])


async def run_cell(target: Target, clients: int, args: argparse.Namespace) -> Cell:
    cell = Cell(target.name, clients)
    opened: list[Client] = []
    try:
        opened = [await Client.open(target) for _ in range(clients)]
        cell.latencies_ms, cell.seconds, cell.cpu_ms_per_call, cell.load = await measure(
            opened, Client.call, seconds=args.seconds, max_calls=args.max_calls, warmup_s=args.warmup, pid=target.pid
        )
    except (BadAnswer, OSError, asyncio.IncompleteReadError, ValueError) as exc:
        cell.error = f"{type(exc).__name__}: {exc}"[:500]
    finally:
        for client in opened:
            client.connection.close()
    return cell


async def run_list(target: Target, args: argparse.Namespace) -> tuple[Cell, int]:
    cell = Cell(target.name, 1)
    client = await Client.open(target)
    try:
        tools = await client.list_tools()
        cell.latencies_ms, cell.seconds, cell.cpu_ms_per_call, cell.load = await measure(
            [client],
            Client.list_tools,
            seconds=args.seconds,
            max_calls=args.max_calls,
            warmup_s=args.warmup,
            pid=target.pid,
        )
    except (BadAnswer, OSError, asyncio.IncompleteReadError, ValueError) as exc:
        cell.error = f"{type(exc).__name__}: {exc}"[:500]
        tools = 0
    finally:
        client.connection.close()
    return cell, tools


# --- readiness -----------------------------------------------------------------------------------------


def readiness(runs: int, workdir: Path) -> list[float]:
    """Seconds from spawning `mcphub serve` (all built-in packages in generated/) to its first 200 /healthz."""
    mcphub = Path(sys.executable).parent / "mcphub"
    data_dir = workdir / "ready-data"
    times = []
    for _ in range(runs):
        port = free_port()
        started = time.monotonic()
        process = subprocess.Popen(
            [
                str(mcphub),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                *("--catalog", str(ROOT / "generated")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=str(workdir),
        )
        try:
            ready_at = wait_ready(f"http://127.0.0.1:{port}/healthz", deadline_s=30, process=process)
            times.append(ready_at - started)
        finally:
            stop(process)
    return times


# --- the report ----------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "NOT MET"


def _cpu(cell: Cell) -> str:
    return f"{cell.cpu_ms_per_call:.2f}" if cell.cpu_ms_per_call is not None else "-"


def report(
    cells: list[Cell],
    targets: dict[str, Target],
    list_cells: list[tuple[Cell, int]],
    ready: list[float],
    notes: list[str],
) -> str:
    by = {(c.target, c.clients): c for c in cells}
    out = [f"# Gateway benchmark ({machine_line()})", ""]
    out.append(
        "Added latency = percentile through the server minus the same percentile calling the upstream directly, "
        "at the same concurrency. Handshake era: `initialize` once per client, then `tools/call` "
        f"(with `Mcp-Session-Id` where issued); stateless: {STATELESS_VERSION} per-request `_meta`. "
        "CPU ms/call = user+system CPU of the server process under test (not the upstream) per call: "
        "what a call costs, independent of anything else running. load = 1-minute load average before/after."
    )
    header = "| target | clients | p50 added ms | p99 added ms | calls/s | p50 ms | p99 ms | server CPU ms/call | calls | load |"
    out += ["", header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in targets:
        for n in sorted({c.clients for c in cells}):
            cell = by.get((name, n))
            if cell is None:
                continue
            if cell.error:
                out.append(f"| {name} | {n} | - | - | - | - | - | - | failed: {cell.error[:160]} | - |")
                continue
            base = by.get(("upstream direct", n))
            if base and not base.error and targets[name].kind != "rest":
                added50, added99 = f"{cell.p(50) - base.p(50):.2f}", f"{cell.p(99) - base.p(99):.2f}"
            else:
                added50 = added99 = "(baseline)" if name == "upstream direct" else "-"
            out.append(
                f"| {name} | {n} | {added50} | {added99} | {cell.rate:,.0f} | {cell.p(50):.2f} | {cell.p(99):.2f} "
                f"| {_cpu(cell)} | {len(cell.latencies_ms)} | {cell.load[0]:.1f}/{cell.load[1]:.1f} |"
            )
    out += [
        "",
        "| tools/list (hub, 1 client) | tools | p50 ms | p99 ms | server CPU ms/call | calls | load |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for cell, tools in list_cells:
        if cell.error:
            out.append(f"| {cell.target} | - | - | - | - | failed: {cell.error[:160]} | - |")
        else:
            out.append(
                f"| {cell.target} | {tools} | {cell.p(50):.2f} | {cell.p(99):.2f} | {_cpu(cell)} "
                f"| {len(cell.latencies_ms)} | {cell.load[0]:.1f}/{cell.load[1]:.1f} |"
            )
    if ready:
        listed = ", ".join(f"{t:.2f}" for t in ready)
        out += [
            "",
            "Hub ready (spawn `mcphub serve --catalog generated/` until the first 200 from /healthz; the first run "
            f"also creates the database): median {statistics.median(ready):.2f} s over {len(ready)} runs ({listed} s).",
        ]

    out += ["", "| target (issue 3) | measured | verdict |", "|---|---|---|"]

    def ok_cell(name: str, n: int) -> Cell | None:
        cell = by.get((name, n))
        return cell if cell is not None and not cell.error else None

    base1 = ok_cell("upstream direct", 1)
    for era in ("handshake", "stateless"):
        hub1 = ok_cell(f"MCP Hub ({era})", 1)
        if hub1 and base1:
            a50, a99 = hub1.p(50) - base1.p(50), hub1.p(99) - base1.p(99)
            out.append(
                f"| added p50 ≤ {P50_ADDED_MS} ms, 1 client ({era}) | {a50:.2f} ms | {verdict(a50 <= P50_ADDED_MS)} |"
            )
            out.append(
                f"| added p99 ≤ {P99_ADDED_MS} ms, 1 client ({era}) | {a99:.2f} ms | {verdict(a99 <= P99_ADDED_MS)} |"
            )
    for era in ("handshake", "stateless"):
        hub32 = ok_cell(f"MCP Hub ({era})", 32)
        for peer in ("FastMCP", "ContextForge"):
            # Same wire for both sides; ContextForge speaks the handshake era only, so it is the reference for both.
            other = ok_cell(f"{peer} ({era})", 32) or ok_cell(f"{peer} (handshake)", 32)
            label = f"calls/s ≥ {THROUGHPUT_RATIO:.0f}× {peer}, 32 clients (hub {era})"
            if hub32 and other:
                ratio = hub32.rate / other.rate
                out.append(
                    f"| {label} | {ratio:.2f}× ({hub32.rate:,.0f} vs {other.rate:,.0f}) | {verdict(ratio >= THROUGHPUT_RATIO)} |"
                )
            elif hub32:
                out.append(f"| {label} | {peer} not measured | NOT MET |")
    for cell, tools in list_cells:
        if not cell.error:
            label = (
                f"tools/list, {LIST_INTEGRATIONS} integrations / {tools} tools ≤ {LIST_P50_MS} ms p50 ({cell.target})"
            )
            out.append(f"| {label} | {cell.p(50):.2f} ms | {verdict(cell.p(50) <= LIST_P50_MS)} |")
    if ready:
        median = statistics.median(ready)
        out.append(
            f"| hub ready with all built-in packages ≤ {READY_S} s | {median:.2f} s | {verdict(median <= READY_S)} |"
        )
    busy = [c for c in cells if max(c.load) > 1.5]
    if busy:
        notes.append(
            f"{len(busy)} of {len(cells)} cells ran while the 1-minute load average was above 1.5 on "
            f"{os.cpu_count()} CPUs: other processes were competing for the CPUs, so latencies and calls/s are "
            "pessimistic for every target; CPU ms/call is not affected."
        )
    if notes:
        out += ["", *(f"- {note}" for note in notes)]
    return "\n".join(out) + "\n"


def side_by_side(cells: list[Cell], baseline: Path) -> str:
    """This tree's hub beside the baseline's, per era, concurrency and round, with median ratios."""
    out = [
        "",
        f"## This tree vs the baseline ({baseline})",
        "",
        "Each round measures both hubs back to back in every cell. ratio = this tree / baseline "
        "(CPU: below 1 is cheaper; calls/s: above 1 is faster).",
        "",
        "| era | clients | round | CPU ms/call (this / baseline) | calls/s (this / baseline) | p50 ms (this / baseline) "
        "| CPU ratio | calls/s ratio | load |",
        "|---|---:|---:|---|---|---|---:|---:|---:|",
    ]
    for era in ("handshake", "stateless"):
        ours = [c for c in cells if c.target == f"MCP Hub ({era})"]
        theirs = [c for c in cells if c.target == f"MCP Hub baseline ({era})"]
        for n in sorted({c.clients for c in ours}):
            pairs = list(zip([c for c in ours if c.clients == n], [c for c in theirs if c.clients == n], strict=False))
            cpu_ratios, rate_ratios = [], []
            for index, (mine, base) in enumerate(pairs, 1):
                if mine.error or base.error or not mine.cpu_ms_per_call or not base.cpu_ms_per_call:
                    out.append(
                        f"| {era} | {n} | {index} | failed: {(mine.error or base.error or '')[:120]} | | | | | |"
                    )
                    continue
                cpu_ratios.append(mine.cpu_ms_per_call / base.cpu_ms_per_call)
                rate_ratios.append(mine.rate / base.rate)
                out.append(
                    f"| {era} | {n} | {index} | {mine.cpu_ms_per_call:.3f} / {base.cpu_ms_per_call:.3f} "
                    f"| {mine.rate:,.0f} / {base.rate:,.0f} | {mine.p(50):.2f} / {base.p(50):.2f} "
                    f"| {cpu_ratios[-1]:.3f} | {rate_ratios[-1]:.3f} | {mine.load[0]:.1f}/{base.load[1]:.1f} |"
                )
            if cpu_ratios:
                out.append(
                    f"| {era} | {n} | **median** | | | | **{statistics.median(cpu_ratios):.3f}** "
                    f"| **{statistics.median(rate_ratios):.3f}** | |"
                )
    return "\n".join(out) + "\n"


# --- main ----------------------------------------------------------------------------------------------


async def run_all(targets: dict[str, Target], args: argparse.Namespace) -> list[Cell]:
    cells = []
    for n in args.clients:
        for target in targets.values():
            if args.only and target.kind != "rest" and not any(part in target.name for part in args.only):
                continue
            gc.collect()
            gc.disable()  # the load generator's own GC pauses would land in p99
            try:
                cell = await run_cell(target, n, args)
            finally:
                gc.enable()
            cells.append(cell)
            status = cell.error or f"p50 {cell.p(50):.2f} ms p99 {cell.p(99):.2f} ms {cell.rate:,.0f}/s"
            print(f"  {target.name:<26} {n:>2} clients: {status}", file=sys.stderr)
    return cells


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per cell (default 5)")
    parser.add_argument("--max-calls", type=int, default=50_000, help="at most this many calls per cell")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each cell")
    parser.add_argument("--ready-runs", type=int, default=3, help="`mcphub serve` starts to time (0: skip)")
    parser.add_argument("--clients", type=int, nargs="+", default=list(CLIENTS), help="concurrency levels")
    parser.add_argument("--only", action="append", help="measure only targets whose name contains this")
    parser.add_argument("--skip-fastmcp", action="store_true")
    parser.add_argument("--skip-contextforge", action="store_true")
    parser.add_argument("--baseline", type=Path, help="a folder with another commit's mcphub/ to measure beside")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every cell this many times (default 1)")
    args = parser.parse_args()
    if args.baseline is not None and not (args.baseline / "mcphub" / "__init__.py").is_file():
        parser.error(
            f"--baseline {args.baseline}: no mcphub/ package there (git archive <commit> mcphub | tar -x -C DIR)"
        )

    notes: list[str] = []
    fastmcp_python = None if args.skip_fastmcp else ensure_venv("fastmcp", FASTMCP_VERSION)
    contextforge_python = None
    if not args.skip_contextforge:
        try:
            contextforge_python = ensure_venv("mcp-contextforge-gateway", CONTEXTFORGE_VERSION)
        except subprocess.CalledProcessError as exc:
            notes.append(f"ContextForge {CONTEXTFORGE_VERSION} could not be installed ({exc}); not measured.")

    with tempfile.TemporaryDirectory(prefix="mcphub-bench-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        py = sys.executable
        upstream = stack.enter_context(server_process("upstream", py, UPSTREAM, health_path="/", log_dir=workdir))
        base = upstream.base_url
        catalog = workdir / "catalog"
        slugs = write_catalog(base, catalog)
        spec_path = workdir / "bench0.openapi.json"
        spec_path.write_text(json.dumps(openapi_document(base, 0)))
        data_dir = workdir / "hub-data"
        key = provision(data_dir, slugs)
        hub = stack.enter_context(
            server_process(
                "hub",
                py,
                HUB,
                str(catalog),
                str(data_dir),
                secrets.token_urlsafe(16),
                health_path="/healthz",
                log_dir=workdir,
            )
        )
        baseline = None
        if args.baseline is not None:
            # `python -c` puts the working directory first on sys.path: the baseline's mcphub, not this tree's.
            baseline_data = workdir / "hub-baseline-data"
            baseline_key = provision(baseline_data, slugs)
            baseline = stack.enter_context(
                server_process(
                    "hub-baseline",
                    py,
                    HUB,
                    str(catalog),
                    str(baseline_data),
                    secrets.token_urlsafe(16),
                    health_path="/healthz",
                    env={"PYTHONPATH": str(args.baseline)},
                    log_dir=workdir,
                    cwd=args.baseline,
                )
            )
        targets: dict[str, Target] = {
            "upstream direct": Target("upstream direct", base, "/echo", "rest", pid=upstream.process.pid),
            "ceiling (bare JSON-RPC)": Target(
                "ceiling (bare JSON-RPC)", base, "/rpc", "rpc", era="none", pid=upstream.process.pid
            ),
        }
        for era in ("handshake", "stateless"):
            name = f"MCP Hub ({era})"
            targets[name] = Target(
                name, hub.base_url, "/mcp", "mcp", tool=f"{slugs[0]}__echo", era=era, token=key, pid=hub.process.pid
            )
            if baseline is not None:
                other = f"MCP Hub baseline ({era})"
                targets[other] = Target(
                    other,
                    baseline.base_url,
                    "/mcp",
                    "mcp",
                    tool=f"{slugs[0]}__echo",
                    era=era,
                    token=baseline_key,
                    pid=baseline.process.pid,
                )
        if fastmcp_python is not None:
            fastmcp = stack.enter_context(
                server_process(
                    "fastmcp", fastmcp_python, FASTMCP, str(spec_path), base, health_path=None, log_dir=workdir
                )
            )
            for era in ("handshake", "stateless"):
                name = f"FastMCP ({era})"
                targets[name] = Target(name, fastmcp.base_url, "/mcp", "mcp", era=era, pid=fastmcp.process.pid)
        if contextforge_python is not None:
            cf_dir = workdir / "contextforge"
            cf_dir.mkdir()
            env = contextforge_env(cf_dir)
            try:
                forge = stack.enter_context(
                    server_process(
                        "contextforge",
                        contextforge_python,
                        CONTEXTFORGE,
                        health_path="/health",
                        env=env,
                        log_dir=workdir,
                        cwd=cf_dir,
                    )
                )
                path, token = contextforge_front(contextforge_python, forge.base_url, base, env)
                name = "ContextForge (handshake)"
                targets[name] = Target(name, forge.base_url, path, "mcp", token=token, pid=forge.process.pid)
            except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
                notes.append(f"ContextForge {CONTEXTFORGE_VERSION} could not be run here: {exc}")

        print("measuring tools/call …", file=sys.stderr)
        cells = [cell for _ in range(args.rounds) for cell in asyncio.run(run_all(targets, args))]
        list_cells = [
            asyncio.run(
                run_list(
                    Target(f"MCP Hub ({era})", hub.base_url, "/mcp", "mcp", era=era, token=key, pid=hub.process.pid),
                    args,
                )
            )
            for era in ("handshake", "stateless")
        ]
        ready = readiness(args.ready_runs, workdir) if args.ready_runs else []

    text = report(cells, targets, list_cells, ready, notes)
    if args.baseline is not None:
        text += side_by_side(cells, args.baseline)
    print(text)
    print(f"written to {write_result('gateway', text)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
