"""Upstream MCP federation through the real hub, with real upstream servers and the official Python SDK client.

- `mcp-server-time` (PyPI) over stdio, started by the hub as a child process;
- `@modelcontextprotocol/server-everything` (npm, pinned in tools/js) in streamableHttp mode on an ephemeral port.

Both are compiled from hub specs by the real pipeline (recording their tools), mounted by `create_app`, and
called through `/mcp` with a tenancy API key, as a user's agent would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
import yaml
from e2e.node_support import require_node_tools
from mcp.client.session import ClientRequestContext
from runtime.support import Account, closed_port, mcp_client, provision, serve

from mcphub.app import Settings, create_app
from mcphub.compiler.ir import Integration, McpBinding, Policy, SourceInfo, Tool
from mcphub.compiler.pipeline import Target, compile_target
from mcphub.compiler.sources.mcp import interpreted
from mcphub.runtime.package import ToolOutput
from mcphub.runtime.upstream.client import UpstreamClient
from mcphub.runtime.upstream.executors import mcp as upstream_mcp
from mcphub.runtime.upstream.executors.mcp import McpExecutor, McpSessions

TIME_COMMAND = [sys.executable, "-m", "mcp_server_time", "--local-timezone", "Etc/UTC"]
START_DEADLINE_S = 30.0


# --- processes ------------------------------------------------------------------------------------------


def _children(pid: int) -> dict[int, str]:
    """Live descendants of `pid` (pid -> command line), from /proc; zombies count as gone."""
    found: dict[int, str] = {}
    parents = {pid}
    changed = True
    while changed:
        changed = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in found:
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) in parents and state != "Z":
                found[int(entry)] = cmdline
                parents.add(int(entry))
                changed = True
    return found


def time_servers() -> list[int]:
    return sorted(pid for pid, cmd in _children(os.getpid()).items() if "mcp_server_time" in cmd)


def wait_until(predicate: Any, what: str, deadline_s: float = 15.0) -> None:
    give_up = time.monotonic() + deadline_s
    while not predicate():
        if time.monotonic() > give_up:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)


@dataclass
class Everything:
    """server-everything in streamableHttp mode; restartable on the same port."""

    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> None:
        tools = require_node_tools()
        script = tools.package_bin("@modelcontextprotocol/server-everything", "dist/index.js")
        env = {"PATH": f"{tools.bin_dir}:{os.environ.get('PATH', '')}", "PORT": str(self.port)}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(tools.node), str(script), "streamableHttp"],
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        give_up = time.monotonic() + START_DEADLINE_S
        while True:
            try:
                # Any HTTP answer means it listens (a GET without a session is a 400).
                httpx2.get(self.url, timeout=1)
                return
            except httpx2.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > give_up:
                pytest.fail(f"server-everything did not start on {self.url}:\n{self.log.read_text()}")
            time.sleep(0.05)

    def sessions(self) -> int:
        """MCP sessions the server has opened so far (it logs each one)."""
        return self.log.read_text(errors="replace").count("Session initialized with ID")

    def terminations(self) -> int:
        """Sessions ended by their client (a DELETE)."""
        return self.log.read_text(errors="replace").count("Received session termination request")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Everything]:
    server = Everything(port=closed_port(), log=tmp_path_factory.mktemp("everything") / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- compile and serve ------------------------------------------------------------------------------------


def compile_spec(folder: Path, out: Path, spec: dict[str, Any]) -> None:
    path = folder / f"{spec['slug']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    report = compile_target(Target(path, is_spec=True), out)
    assert report.error is None, report.error


@pytest.fixture(scope="module")
def catalog(everything: Everything, tmp_path_factory: pytest.TempPathFactory) -> Path:
    specs = tmp_path_factory.mktemp("specs")
    out = tmp_path_factory.mktemp("catalog")
    compile_spec(specs, out, {"slug": "time", "name": "Time", "source": {"kind": "mcp", "command": TIME_COMMAND}})
    compile_spec(
        specs,
        out,
        {
            "slug": "everything",
            "name": "Everything",
            "source": {"kind": "mcp", "url": everything.url},
            "policy": {"allow_private_network": True, "timeout_s": 20},
        },
    )
    return out


@dataclass
class RunningHub:
    url: str
    account: Account
    _stack: ExitStack

    def stop(self) -> None:
        """Shut the app down (its lifespan closes every upstream session) and wait for it."""
        self._stack.close()


@pytest.fixture
def hub(catalog: Path, tmp_path: Path) -> Iterator[RunningHub]:
    data_dir = tmp_path / "data"
    [account] = provision(data_dir, ("agent@example.com", {"enable": ["time", "everything"]}))
    settings = Settings(port=0, catalog_dirs=[catalog], admin_token="test-admin-token", data_dir=data_dir)
    with ExitStack() as stack:
        base = stack.enter_context(serve(create_app(settings), health_path="/healthz"))
        running = RunningHub(f"{base}/mcp", account, stack.pop_all())
    try:
        yield running
    finally:
        running.stop()  # idempotent: most tests stop it themselves to look at what shutdown left


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


# --- tests ------------------------------------------------------------------------------------------------


async def test_compiled_upstream_tools_are_served_and_called(hub: RunningHub, everything: Everything) -> None:
    sessions_before, terminations_before = everything.sessions(), everything.terminations()
    try:
        async with mcp_client(hub.url, hub.account.key) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {"time__get_current_time", "time__convert_time", "everything__echo", "everything__get-sum"} <= names

            now = await client.call_tool("time__get_current_time", {"timezone": "Europe/Paris"})
            assert not now.is_error, text_of(now)
            assert now.structured_content is not None
            assert now.structured_content["timezone"] == "Europe/Paris"
            assert '"timezone": "Europe/Paris"' in text_of(now)

            converted = await client.call_tool(
                "time__convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
            )
            assert not converted.is_error, text_of(converted)
            assert converted.structured_content is not None
            assert "T21:00:00+09:00" in converted.structured_content["target"]["datetime"]

            echo = await client.call_tool("everything__echo", {"message": "through the hub"})
            assert not echo.is_error and text_of(echo) == "Echo: through the hub"

            total = await client.call_tool("everything__get-sum", {"a": 2, "b": 40})
            assert not total.is_error and "42" in text_of(total)

            image = await client.call_tool("everything__get-tiny-image", {})
            assert not image.is_error
            assert any(block.type == "image" and block.mime_type == "image/png" for block in image.content)

            # An upstream tool error stays a tool error (the upstream validates its own arguments).
            bad = await client.call_tool("time__get_current_time", {"timezone": "Not/AZone"})
            assert bad.is_error
            assert "Not/AZone" in text_of(bad)

        # A handshake-era client of the hub reaches the same upstream sessions.
        async with mcp_client(hub.url, hub.account.key, mode="legacy") as legacy:
            echo = await legacy.call_tool("everything__echo", {"message": "legacy"})
            assert text_of(echo) == "Echo: legacy"
            assert not (await legacy.call_tool("time__get_current_time", {"timezone": "UTC"})).is_error

        # One session (one child process) per upstream, shared by every call and every client.
        assert len(time_servers()) == 1
        assert everything.sessions() == sessions_before + 1
    finally:
        hub.stop()
    # Shutdown closed both: the child process is gone and the HTTP session was ended with a DELETE.
    assert time_servers() == []
    assert everything.terminations() == terminations_before + 1


async def test_killed_stdio_upstream_is_a_tool_error_then_reconnects(hub: RunningHub) -> None:
    try:
        async with mcp_client(hub.url, hub.account.key) as client:
            first = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
            assert not first.is_error, text_of(first)
            second = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
            assert not second.is_error
            [pid] = time_servers()

            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: pid not in time_servers(), "the killed upstream is gone")

            lost = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
            assert lost.is_error
            assert "connection to the upstream" in text_of(lost) and "next call reconnects" in text_of(lost)

            # The hub itself is fine: other integrations answer meanwhile.
            echo = await client.call_tool("everything__echo", {"message": "still here"})
            assert text_of(echo) == "Echo: still here"

            back = await client.call_tool("time__get_current_time", {"timezone": "UTC"})
            assert not back.is_error, text_of(back)
            assert back.structured_content is not None and back.structured_content["timezone"] == "UTC"
            [new_pid] = time_servers()
            assert new_pid != pid
        assert time_servers() == [new_pid]
    finally:
        hub.stop()
    # The app's shutdown (the catalog closes executors and MCP sessions) stopped the child; nothing is left.
    assert time_servers() == []


async def test_restarted_http_upstream_is_a_tool_error_then_reconnects(hub: RunningHub, everything: Everything) -> None:
    try:
        async with mcp_client(hub.url, hub.account.key) as client:
            ok = await client.call_tool("everything__echo", {"message": "one"})
            assert text_of(ok) == "Echo: one"

            everything.stop()
            down = await client.call_tool("everything__echo", {"message": "two"})
            assert down.is_error
            assert everything.url in text_of(down)

            everything.start()
            back = await client.call_tool("everything__echo", {"message": "three"})
            assert (back.is_error, text_of(back)) == (False, "Echo: three")

            # Restarted between two calls: the hub's session id is unknown to the new process.
            everything.stop()
            everything.start()
            stale = await client.call_tool("everything__echo", {"message": "four"})
            assert stale.is_error and "next call reconnects" in text_of(stale), text_of(stale)
            again = await client.call_tool("everything__echo", {"message": "five"})
            assert (again.is_error, text_of(again)) == (False, "Echo: five")
    finally:
        hub.stop()


# --- the runtime module directly, against a small stdio server made for these cases ------------------------

FIXTURE_SERVER = """
import os

import anyio
from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("fixture")


@server.tool()
def env() -> list[str]:
    return sorted(os.environ)


@server.tool()
async def slow(seconds: float) -> str:
    await anyio.sleep(seconds)
    return "done"


@server.tool()
async def steps(ctx: Context) -> str:
    for step in (1, 2, 3):
        await ctx.report_progress(step, 3, f"step {step}")
    return "finished"


@server.tool()
async def change(ctx: Context) -> str:
    await ctx.session.send_tool_list_changed()  # handshake era: on the session
    return "changed"


@server.tool()
async def change_prompts(ctx: Context) -> str:
    await ctx.session.send_prompt_list_changed()
    return "changed"


server.run("stdio")
"""


def fixture_integration(script: Path, *, timeout_s: float = 20.0, command: list[str] | None = None) -> Integration:
    return Integration(
        slug="fixture",
        name="Fixture",
        # As the mcp source kind compiles it (`interpreted`: whether `python` means the hub's interpreter).
        source=interpreted(
            SourceInfo(kind="mcp", command=command or [sys.executable, str(script)], env={"GREETING": "hi"})
        ),
        tools=[
            Tool(name=name, mcp=McpBinding(upstream_name=name), input_schema={"type": "object"})
            for name in ("env", "slow", "steps", "change", "change_prompts")
        ],
        policy=Policy(timeout_s=timeout_s),
    )


@pytest.fixture
async def fixture_client(tmp_path: Path) -> AsyncIterator[McpExecutor]:
    script = tmp_path / "fixture_server.py"
    script.write_text(FIXTURE_SERVER, encoding="utf-8")
    client = McpExecutor(fixture_integration(script, timeout_s=1.0), McpSessions())
    try:
        yield client
    finally:
        await client.sessions.aclose()
        await client.client.aclose()
        assert fixture_servers() == []


def fixture_servers() -> list[int]:
    return sorted(pid for pid, cmd in _children(os.getpid()).items() if "fixture_server.py" in cmd)


async def call(client: McpExecutor, name: str, **arguments: Any) -> ToolOutput:
    return await client.run(client.client.integration.tool(name), None, arguments)


async def test_stdio_child_gets_only_the_declared_env(
    fixture_client: McpExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCPHUB_CRED_GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("MCPHUB_ADMIN_TOKEN", "admin-secret")
    output = await call(fixture_client, "env")
    assert not output.is_error
    assert output.structured is not None
    names = set(output.structured["result"])
    assert {"GREETING", "PATH", "HOME"} <= names
    assert not {"MCPHUB_CRED_GITHUB_TOKEN", "MCPHUB_ADMIN_TOKEN"} & names
    assert names <= {"GREETING", "HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LC_CTYPE"}


async def test_concurrent_calls_share_one_session(fixture_client: McpExecutor) -> None:
    outputs = await asyncio.gather(*(call(fixture_client, "slow", seconds=0.05) for _ in range(8)))
    assert [o.content for o in outputs] == [[{"type": "text", "text": "done"}]] * 8
    assert len(fixture_servers()) == 1


async def test_a_slow_call_times_out_and_the_session_survives(fixture_client: McpExecutor) -> None:
    assert not (await call(fixture_client, "env")).is_error
    [pid] = fixture_servers()
    slow = await call(fixture_client, "slow", seconds=5)
    assert slow.is_error and "did not answer within 1 s" in slow.text
    assert not (await call(fixture_client, "env")).is_error
    assert fixture_servers() == [pid]


class Recorder:
    """A `Downstream` that records what is relayed to it (the hub's is `_CallRelay`)."""

    def __init__(self) -> None:
        self.progress_seen: list[tuple[float, float | None, str | None]] = []
        self.logs: list[types.LoggingMessageNotificationParams] = []

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress_seen.append((progress, total, message))

    async def request(self, request: upstream_mcp.RelayedRequest) -> Any:
        return types.ErrorData(code=types.INVALID_REQUEST, message="not in this test")

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params)


async def test_progress_is_forwarded(fixture_client: McpExecutor) -> None:
    recorder = Recorder()
    token = upstream_mcp.downstream.set(recorder)
    try:
        output = await call(fixture_client, "steps")
    finally:
        upstream_mcp.downstream.reset(token)
    assert output.content == [{"type": "text", "text": "finished"}]
    assert recorder.progress_seen == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]


class Listener:
    """What a hub registers: told which upstream changed which list, and through which mounted clients."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, str, frozenset[UpstreamClient]]] = []
        self.changed = asyncio.Event()

    async def on_upstream_list_changed(self, slug: str, method: str, clients: frozenset[UpstreamClient]) -> None:
        self.heard.append((slug, method, clients))
        self.changed.set()


async def test_list_changes_reach_the_registered_listeners(fixture_client: McpExecutor) -> None:
    listener = Listener()
    fixture_client.sessions.add_list_listener(listener)
    for tool, method in (
        ("change", "notifications/tools/list_changed"),
        ("change_prompts", "notifications/prompts/list_changed"),
    ):
        listener.changed.clear()
        assert not (await call(fixture_client, tool)).is_error
        await asyncio.wait_for(listener.changed.wait(), 10)
        slug, heard, clients = listener.heard[-1]
        assert (slug, heard) == ("fixture", method)
        assert fixture_client.client in clients  # so a hub can tell its own mount's upstream from another hub's
    gone = Listener()
    fixture_client.sessions.add_list_listener(gone)
    del gone  # held weakly: a hub that is gone is never called
    listener.changed.clear()
    assert not (await call(fixture_client, "change")).is_error
    await asyncio.wait_for(listener.changed.wait(), 10)
    assert len(listener.heard) == 3


async def test_python_in_a_command_is_the_hubs_own_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`command: [python, ...]` runs on the interpreter running the hub, even with no python on PATH at all."""
    script = tmp_path / "fixture_server.py"
    script.write_text(FIXTURE_SERVER, encoding="utf-8")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    client = McpExecutor(fixture_integration(script, command=["python", str(script)]), McpSessions())
    try:
        output = await call(client, "env")
        assert not output.is_error, output.text
        assert output.structured is not None and "GREETING" in output.structured["result"]
    finally:
        await client.sessions.aclose()
        await client.client.aclose()


async def test_missing_command_fails_fast_with_backoff(tmp_path: Path) -> None:
    client = McpExecutor(fixture_integration(tmp_path, command=["no-such-mcp-server"]), McpSessions())
    try:
        first = await call(client, "env")
        assert first.is_error
        assert "could not connect to the upstream no-such-mcp-server" in first.text
        assert "command not found" in first.text and "retrying in 0.5 s" in first.text
        second = await call(client, "env")
        assert second.is_error and "the next connection attempt is in" in second.text
    finally:
        await client.sessions.aclose()
        await client.client.aclose()


async def test_release_closes_a_session_when_its_last_mount_goes(fixture_client: McpExecutor) -> None:
    # A hot reload mounts a new client for the same source: both share the session until both are released.
    replacement = McpExecutor(fixture_client.client.integration, fixture_client.sessions)
    try:
        assert not (await call(fixture_client, "env")).is_error
        assert not (await call(replacement, "env")).is_error
        [pid] = fixture_servers()
        await fixture_client.sessions.release(fixture_client.client)
        assert fixture_servers() == [pid]
        assert not (await call(replacement, "env")).is_error
        await replacement.sessions.release(replacement.client)
        assert fixture_servers() == []
    finally:
        await replacement.client.aclose()


# --- relaying what an upstream does during a call, through the real hub -----------------------------------


def answer_sampling(reply: str, seen: list[str]) -> Any:
    """A client's sampling callback: records the prompt it was asked, answers `reply`."""

    async def callback(
        context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        block = params.messages[0].content
        seen.append(block.text if isinstance(block, types.TextContent) else str(block))
        return types.CreateMessageResult(role="assistant", content=types.TextContent(text=reply), model="test-model")

    return callback


async def test_server_everything_sampling_and_elicitation_reach_the_calling_client(hub: RunningHub) -> None:
    asked: list[str] = []
    elicited: list[str] = []

    async def elicitation(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        elicited.append(params.message)
        return types.ElicitResult(action="accept", content={"color": "blue"})

    try:
        async with mcp_client(
            hub.url,
            hub.account.key,
            mode="legacy",
            sampling_callback=answer_sampling("Paris, of course.", asked),
            elicitation_callback=elicitation,
        ) as client:
            sampled = await client.call_tool("everything__trigger-sampling-request", {"prompt": "capital of France?"})
            assert not sampled.is_error, text_of(sampled)
            assert asked == ["Resource trigger-sampling-request context: capital of France?"]
            assert "Paris, of course." in text_of(sampled)

            answered = await client.call_tool("everything__trigger-elicitation-request", {})
            assert not answered.is_error, text_of(answered)
            assert len(elicited) == 1 and "blue" in text_of(answered)
    finally:
        hub.stop()


FIXTURE_UPSTREAM = Path(__file__).resolve().parents[1] / "e2e" / "conformance_upstream.py"


@pytest.fixture(scope="module")
def fixture_upstream_url() -> Iterator[str]:
    from e2e.conformance_upstream import http_app

    with serve(http_app()) as base:
        yield f"{base}/mcp"


@pytest.fixture
def relay_hub(fixture_upstream_url: str, tmp_path: Path) -> Iterator[tuple[str, Account, Account]]:
    """A hub with the conformance fixture server mounted over HTTP (`fx`) and over stdio (`fxs`), and two users."""
    specs, out = tmp_path / "specs", tmp_path / "catalog"
    specs.mkdir()
    compile_spec(
        specs,
        out,
        {
            "slug": "fx",
            "name": "Fixture over HTTP",
            "source": {"kind": "mcp", "url": fixture_upstream_url},
            "policy": {"allow_private_network": True, "timeout_s": 20},
        },
    )
    stdio = [sys.executable, str(FIXTURE_UPSTREAM), "stdio"]
    compile_spec(specs, out, {"slug": "fxs", "name": "Fixture over stdio", "source": {"kind": "mcp", "command": stdio}})
    data_dir = tmp_path / "data"
    alice, bob = provision(
        data_dir,
        ("alice@example.com", {"enable": ["fx", "fxs"]}),
        ("bob@example.com", {"enable": ["fx", "fxs"]}),
    )
    settings = Settings(port=0, catalog_dirs=[out], admin_token="test-admin-token", data_dir=data_dir)
    with serve(create_app(settings), health_path="/healthz") as base:
        yield f"{base}/mcp", alice, bob


async def test_a_relayed_request_reaches_only_the_client_whose_call_caused_it(
    relay_hub: tuple[str, Account, Account],
) -> None:
    """Two users share the upstream session; each one's sampling request goes to that user's client, never the other."""
    url, alice, bob = relay_hub
    alice_asked: list[str] = []
    bob_asked: list[str] = []
    alice_waiting = asyncio.Event()
    bob_done = asyncio.Event()

    async def alice_sampling(
        context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        # Alice's request is held open until Bob's whole call has run on the same upstream session.
        alice_waiting.set()
        await bob_done.wait()
        return await answer_sampling("for alice", alice_asked)(context, params)

    async with (
        mcp_client(url, alice.key, mode="legacy", sampling_callback=alice_sampling) as alice_client,
        mcp_client(url, bob.key, mode="legacy", sampling_callback=answer_sampling("for bob", bob_asked)) as bob_client,
    ):
        alice_call = asyncio.create_task(alice_client.call_tool("fx__test_sampling", {"prompt": "alice's secret"}))
        await asyncio.wait_for(alice_waiting.wait(), 20)
        bob_result = await bob_client.call_tool("fx__test_sampling", {"prompt": "bob's question"})
        bob_done.set()
        alice_result = await asyncio.wait_for(alice_call, 20)
    assert bob_asked == ["bob's question"] and text_of(bob_result) == "LLM response: for bob"
    assert alice_asked == ["alice's secret"] and text_of(alice_result) == "LLM response: for alice"


async def test_a_client_without_sampling_gets_the_upstreams_error_not_someone_elses_answer(
    relay_hub: tuple[str, Account, Account],
) -> None:
    url, alice, _ = relay_hub
    async with mcp_client(url, alice.key, mode="legacy") as client:
        result = await client.call_tool("fx__test_sampling", {"prompt": "anyone?"})
    assert result.is_error
    assert "did not declare the sampling capability" in text_of(result)


async def test_stdio_upstream_relays_logging_progress_and_sampling(relay_hub: tuple[str, Account, Account]) -> None:
    url, alice, _ = relay_hub
    logs: list[types.LoggingMessageNotificationParams] = []
    progress: list[float] = []
    asked: list[str] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with mcp_client(
        url, alice.key, mode="legacy", logging_callback=on_log, sampling_callback=answer_sampling("stdio ok", asked)
    ) as client:
        logged = await client.call_tool("fxs__test_tool_with_logging", {})
        assert not logged.is_error, text_of(logged)
        assert [entry.data for entry in logs] == [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
        ]
        stepped = await client.call_tool("fxs__test_tool_with_progress", {}, progress_callback=on_progress)
        assert not stepped.is_error and progress == [0, 50, 100]
        sampled = await client.call_tool("fxs__test_sampling", {"prompt": "over stdio"})
        assert text_of(sampled) == "LLM response: stdio ok" and asked == ["over stdio"]

        # logging/setLevel of this session filters what is relayed to it.
        await client.session.set_logging_level("warning")
        logs.clear()
        assert not (await client.call_tool("fxs__test_tool_with_logging", {})).is_error
        assert logs == []


async def test_upstream_resources_and_prompts_are_proxied_on_the_aggregated_endpoint(
    relay_hub: tuple[str, Account, Account],
) -> None:
    url, alice, _ = relay_hub
    async with mcp_client(url, alice.key, mode="legacy") as client:
        names = {resource.name for resource in (await client.list_resources()).resources}
        assert {"fx__static-text", "fx__static-binary", "fxs__watched-resource"} <= names
        templates = (await client.list_resource_templates()).resource_templates
        assert {(t.name, t.uri_template) for t in templates} >= {("fx__template", "test://template/{id}/data")}
        blob = (await client.read_resource("test://static-binary")).contents[0]
        assert isinstance(blob, types.BlobResourceContents) and blob.mime_type == "image/png"
        templated = (await client.read_resource("test://template/7/data")).contents[0]
        assert isinstance(templated, types.TextResourceContents) and '"Data for ID: 7"' in templated.text
        prompt = await client.get_prompt("fx__test_prompt_with_image")
        assert [message.content.type for message in prompt.messages] == ["image", "text"]
