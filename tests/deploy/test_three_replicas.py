"""Three `mcphub serve` replicas on one PostgreSQL + Redis behind a real HAProxy (round-robin, no affinity).

Any replica serves any request of either protocol era and of the legacy HTTP+SSE transport: handshake-era
sessions live in their sealed ids, so the official SDK clients of both eras, the TypeScript client and the
conformance suites (same baselines as on one process) work through the balancer; a session opened on one replica
is served (and closed) on the others; a GET stream on one replica hears of changes made on another, and of
resource updates that another replica's upstream session received; a legacy SSE client's POSTs are answered on
its stream whichever replica gets them; the level a session sets with logging/setLevel holds on every replica; a
rolling restart under load fails no call, a killed replica's clients carry on and its answered calls all get
their usage records, and revocations and integration changes reach every replica within a second.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx2
import mcp_types as types
import pytest
from e2e import conformance_upstream
from e2e.node_support import NodeTools, node_home, node_tools
from e2e.test_conformance import (
    EXPECTED_FAILURES,
    EXPECTED_FAILURES_2026_07_28,
    run_suite,
    upstream_mcp_integration,
)
from faults.redis_server import own_redis
from integrations.test_upstream_mcp import FIXTURE_UPSTREAM, answer_sampling, compile_spec
from mcp.client import Client
from runtime.support import (
    Account,
    Upstream,
    initialize_request,
    mcp_client,
    petstore,
    provision,
    serve,
    sse_transport,
    write_package,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from mcphub.runtime.store.models import CallLogEntry

from .replicas import Cluster, Load, call_load, cli, three_replicas

__all__ = ["node_home", "node_tools"]  # fixtures, used by name

HANDSHAKE = "2025-11-25"
PROPAGATION_S = 1.0  # revocations and integration changes reach every replica within this (issue 11)
RECORD_WAIT_S = 60.0


@dataclass
class Setup:
    cluster: Cluster
    ada: Account
    bob: Account
    db_url: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("three")
    upstream = Upstream()
    with ExitStack() as stack:
        upstream.base_url = stack.enter_context(serve(upstream))
        redis = stack.enter_context(own_redis(root))
        catalog = root / "catalog"
        # A generous deadline: the upstream runs in this process, beside the clients, on a busy machine.
        write_package(petstore(upstream.base_url, timeout_s=30.0), catalog)
        # An upstream MCP server over stdio (each replica runs its own child) whose tool asks the client to sample.
        specs = root / "specs"
        specs.mkdir()
        stdio = [sys.executable, str(FIXTURE_UPSTREAM), "stdio"]
        compile_spec(
            specs, catalog, {"slug": "fxs", "name": "Fixture over stdio", "source": {"kind": "mcp", "command": stdio}}
        )
        # The conformance suites' fixture server, mounted as tests/e2e/test_conformance.py mounts it on one process:
        # an upstream MCP server over HTTP that all three replicas share, so a resource update it announces after a
        # call through one replica reaches the sessions subscribed through another.
        fixture_http = stack.enter_context(serve(conformance_upstream.http_app()))
        write_package(upstream_mcp_integration(f"{fixture_http}/mcp"), catalog)
        cluster = stack.enter_context(three_replicas(root, pg_database, redis.url, catalog, MCPHUB_LOG_KEEP="1000000"))
        import os

        os.environ["MCPHUB_SECRET_KEY"] = cluster.env["MCPHUB_SECRET_KEY"]  # provision() opens the vault here
        try:
            enabled = ["pets", "fxs", "conformance"]
            pets = {"enable": enabled, "credentials": {"pets": {"token": "t"}}}
            ada, bob = provision(root / "setup", ("ada@example.com", pets), ("bob@example.com", pets), url=pg_database)
        finally:
            del os.environ["MCPHUB_SECRET_KEY"]
        yield Setup(cluster, ada, bob, pg_database)


def catalog_of(setup: Setup) -> tuple[str, str]:
    return ("--catalog", str(setup.cluster.replicas[0].catalog))


def mcp_posts(setup: Setup, request_line: str = '"POST /mcp HTTP/1.1"') -> list[int]:
    """How many requests starting with `request_line` each replica's access log shows (in replica order)."""
    return [r.log.read_text(errors="replace").count(request_line) for r in setup.cluster.replicas]


def served_since(setup: Setup, before: list[int], request_line: str = '"POST /mcp HTTP/1.1"') -> list[int]:
    return [after - seen for after, seen in zip(mcp_posts(setup, request_line), before, strict=True)]


def session_headers(account: Account, session_id: str | None = None) -> dict[str, str]:
    headers = {"Accept": "application/json, text/event-stream", **account.headers}
    if session_id is not None:
        headers |= {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": HANDSHAKE}
    return headers


def rpc(method: str, request_id: int = 1, **params: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def answer_of(response: httpx2.Response) -> dict[str, object]:
    """The JSON-RPC answer of a POST, whether sent as JSON or as one SSE event."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return dict(response.json())
    data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()]
    return dict(json.loads(data[-1]))


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_the_python_sdk_client_of_each_era_is_served_by_every_replica(setup: Setup, mode: str) -> None:
    before = mcp_posts(setup)
    async with mcp_client(f"{setup.cluster.balancer}/mcp", setup.ada.key, mode=mode) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "pets__get_pet" in names
        results = [await client.call_tool("pets__get_pet", {"pet_id": str(i)}) for i in range(12)]
    assert [result.is_error for result in results] == [False] * 12
    served = served_since(setup, before)
    assert all(count >= 4 for count in served), served  # round-robin: all three answered this one client


def test_the_typescript_client_works_through_the_balancer(setup: Setup, tmp_path: Path) -> None:
    from e2e.node_support import require_node_tools, run_client_script

    tools = require_node_tools()
    auth = f"Authorization: Bearer {setup.ada.key}"
    url = f"{setup.cluster.balancer}/mcp"
    for script, extra in (("sdk1.mjs", []), ("client2.mjs", ["--era", "legacy"]), ("client2.mjs", ["--era", "auto"])):
        for attempt in range(3):  # initialize, initialized, GET, list and call: each run lands on every replica
            report = run_client_script(
                tools,
                tmp_path,
                script,
                url,
                auth_header=auth,
                call="pets__get_pet",
                arguments={"pet_id": "7"},
                extra=extra,
            )
            assert report["call"]["isError"] is False, (script, extra, attempt, report)
            assert "pets__get_pet" in {tool["name"] for tool in report["tools"]}, report


async def test_a_session_opened_on_one_replica_is_served_and_closed_on_the_others(setup: Setup) -> None:
    one, two, three = (r.base for r in setup.cluster.replicas)
    async with httpx2.AsyncClient(timeout=30) as http:
        opened = await http.post(f"{one}/mcp", json=initialize_request(HANDSHAKE), headers=session_headers(setup.ada))
        assert opened.status_code == 200, opened.text
        session_id = opened.headers["mcp-session-id"]
        headers = session_headers(setup.ada, session_id)
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await http.post(f"{two}/mcp", json=initialized, headers=headers)).status_code == 202
        for base in (two, three, one):
            listed = await http.post(f"{base}/mcp", json=rpc("tools/list"), headers=headers)
            assert listed.status_code == 200, (base, listed.text)
            assert "pets__get_pet" in {tool["name"] for tool in answer_of(listed)["result"]["tools"]}  # type: ignore[index]
            called = await http.post(
                f"{base}/mcp",
                json=rpc("tools/call", 2, name="pets__get_pet", arguments={"pet_id": "5"}),
                headers=headers,
            )
            assert answer_of(called)["result"]["isError"] is False, called.text  # type: ignore[index]

        # Another user's key cannot use the session, on any replica (the owner is sealed into the id).
        for base in (one, two, three):
            stolen = await http.post(
                f"{base}/mcp", json=rpc("tools/list"), headers=session_headers(setup.bob, session_id)
            )
            assert stolen.status_code == 404, (base, stolen.text)
        # A session id the hub did not seal (or one edited by a byte) is unknown everywhere.
        forged = session_id[:-2] + ("A" if session_id[-2] != "A" else "B") + session_id[-1]
        for bad in (forged, "0123456789abcdef0123456789abcdef"):
            refused = await http.post(f"{two}/mcp", json=rpc("tools/list"), headers=session_headers(setup.ada, bad))
            assert refused.status_code == 404, refused.text

        # Closed on one replica: closed on all of them, within a second.
        assert (await http.delete(f"{three}/mcp", headers=headers)).status_code == 200
        give_up = time.monotonic() + PROPAGATION_S
        gone: set[str] = set()
        while gone != {one, two, three}:
            assert time.monotonic() < give_up, f"the closed session is still served by { ({one, two, three} - gone) }"
            for base in {one, two, three} - gone:
                try:
                    answered = await http.post(f"{base}/mcp", json=rpc("ping"), headers=headers)
                except httpx2.RemoteProtocolError:
                    continue  # the end arrived while this ping's answer was streaming: the stream was cut
                if answered.status_code == 404:
                    gone.add(base)


async def test_a_clients_answer_to_a_relayed_request_reaches_the_replica_waiting_for_it(setup: Setup) -> None:
    """The upstream asks the client to sample during a call; the client's answer is a POST of its own, which the
    balancer may give to another replica than the one holding the call: it is routed there through Redis."""
    asked: list[str] = []
    url = f"{setup.cluster.balancer}/mcp"
    async with mcp_client(
        url, setup.ada.key, mode="legacy", sampling_callback=answer_sampling("via redis", asked)
    ) as client:
        results = [await client.call_tool("fxs__test_sampling", {"prompt": f"question {i}"}) for i in range(6)]
    assert [text_of(result) for result in results] == ["LLM response: via redis"] * 6
    assert asked == [f"question {i}" for i in range(6)]


def text_of(result: object) -> str:
    return "".join(getattr(block, "text", "") for block in getattr(result, "content", []))


def _read_stream(
    url: str,
    headers: dict[str, str],
    seen: list[str],
    ready: threading.Event,
    stop: threading.Event,
    until: str = "list_changed",
    arrivals: list[float] | None = None,
) -> None:
    """Read a GET stream's events into `seen` (and when each came into `arrivals`) until one contains `until`
    (or `stop` is set)."""
    with (
        httpx2.Client(timeout=httpx2.Timeout(30.0, read=60.0)) as http,
        http.stream("GET", url, headers=headers) as stream,
    ):
        assert stream.status_code == 200, stream.read()
        ready.set()
        for line in stream.iter_lines():
            if line.startswith("data:"):
                seen.append(line[5:].strip())
                if arrivals is not None:
                    arrivals.append(time.monotonic())
            if stop.is_set() or any(until in item for item in seen):
                return


async def test_a_get_stream_on_one_replica_hears_of_a_change_made_on_another(setup: Setup) -> None:
    one, two, _ = (r.base for r in setup.cluster.replicas)
    async with httpx2.AsyncClient(timeout=30) as http:
        opened = await http.post(f"{one}/mcp", json=initialize_request(HANDSHAKE), headers=session_headers(setup.ada))
        headers = session_headers(setup.ada, opened.headers["mcp-session-id"])
        await http.post(f"{one}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    seen: list[str] = []
    ready, stop = threading.Event(), threading.Event()
    reader = threading.Thread(target=_read_stream, args=(f"{two}/mcp", headers, seen, ready, stop), daemon=True)
    reader.start()
    try:
        assert await asyncio.to_thread(ready.wait, 30), "the GET stream did not open on the second replica"
        # The change is made by another process (the CLI), which tells the replicas through Redis.
        env = setup.cluster.env
        await asyncio.to_thread(
            cli, env, "integrations", "disable", "pets", *catalog_of(setup), "--user", setup.ada.email
        )
        try:
            await asyncio.to_thread(reader.join, 10)
            assert any("notifications/tools/list_changed" in item for item in seen), seen
        finally:
            await asyncio.to_thread(
                cli, env, "integrations", "enable", "pets", *catalog_of(setup), "--user", setup.ada.email
            )
    finally:
        stop.set()


@dataclass(frozen=True)
class Balanced:
    """The balancer as the conformance runner's target (`e2e.node_support.Front`), with a user's key."""

    base_url: str
    token: str


@pytest.mark.parametrize(
    ("package", "options", "expected"),
    [
        ("@modelcontextprotocol/conformance", (), EXPECTED_FAILURES),
        ("conformance-modern", ("--requirements", "2026-07-28"), EXPECTED_FAILURES_2026_07_28),
    ],
    ids=["0.1.16", "0.2.0-alpha.12"],
)
def test_the_conformance_suites_pass_through_the_balancer_with_the_one_process_baselines(
    setup: Setup,
    node_tools: NodeTools,
    node_home: Path,
    tmp_path: Path,
    package: str,
    options: tuple[str, ...],
    expected: dict[str, str],
) -> None:
    """tests/e2e/test_conformance.py's runner and baselines, against HAProxy instead of one process: every
    scenario's requests (its session's POSTs, GET and listen streams, the client's answers to sampling and
    elicitation) are spread over the three replicas. (The HTTP-backed fixtures' suite checks how one process
    shapes upstream HTTP answers, nothing a replica shares: it runs on one process only.)"""
    line = '"POST /mcp/conformance HTTP/1.1"'
    before = mcp_posts(setup, line)
    front = Balanced(setup.cluster.balancer, setup.ada.key)
    run_suite(front, node_tools, node_home, tmp_path, package, expected, *options)
    served = served_since(setup, before, line)
    print(f"conformance {package} {' '.join(options)}: POSTs per replica {served}")
    assert all(count > 0 for count in served), served


async def test_a_legacy_sse_client_is_answered_on_its_stream_whichever_replica_gets_its_posts(setup: Setup) -> None:
    """GET /sse lands on one replica; its POST /messages/ land on all three (round-robin, no affinity) and are
    relayed to the holder of the stream, which answers on it; so are the client's answers to sampling requests."""
    messages = '"POST /messages/?session_id='
    streams_before = mcp_posts(setup, '"GET /sse HTTP/1.1"')
    posts_before = mcp_posts(setup, messages)
    asked: list[str] = []
    calls = 15
    async with Client(
        sse_transport(f"{setup.cluster.balancer}/sse", setup.ada.key),
        mode="legacy",
        sampling_callback=answer_sampling("over sse", asked),
    ) as client:
        assert "pets__get_pet" in {tool.name for tool in (await client.list_tools()).tools}
        results = [await client.call_tool("pets__get_pet", {"pet_id": str(i)}) for i in range(calls)]
        sampled = [await client.call_tool("fxs__test_sampling", {"prompt": f"sse {i}"}) for i in range(3)]
    assert [result.is_error for result in results] == [False] * calls, [text_of(r) for r in results]
    assert ['"id":' in text_of(result) for result in results] == [True] * calls
    assert [text_of(result) for result in sampled] == ["LLM response: over sse"] * 3
    assert asked == [f"sse {i}" for i in range(3)]
    [holder] = [i for i, count in enumerate(served_since(setup, streams_before, '"GET /sse HTTP/1.1"')) if count]
    posts = served_since(setup, posts_before, messages)
    print(f"legacy SSE: stream on hub{holder + 1}, POST /messages/ per replica {posts}")
    # initialize, initialized, tools/list, 15 + 3 calls and 3 sampling answers: 24 POSTs, 8 per replica.
    assert sum(posts) >= calls + 9
    assert all(count >= 5 for count in posts), posts  # two replicas that do not hold the stream answered many


async def test_a_log_level_set_through_one_replica_holds_on_the_others(setup: Setup) -> None:
    """logging/setLevel is the one thing a handshake-era session changes after its handshake: it is kept in Redis
    for the session, so the upstream's `info` messages stay out on whichever replica serves the next calls."""
    logs: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    calls = 6
    async with mcp_client(
        f"{setup.cluster.balancer}/mcp", setup.ada.key, mode="legacy", logging_callback=on_log
    ) as client:
        logged = [await client.call_tool("fxs__test_tool_with_logging", {}) for _ in range(3)]
        assert [result.is_error for result in logged] == [False] * 3
        assert [entry.data for entry in logs].count("Tool execution started") == 3  # no level set: all relayed
        await client.session.set_logging_level("warning")
        logs.clear()
        before = mcp_posts(setup)
        quiet = [await client.call_tool("fxs__test_tool_with_logging", {}) for _ in range(calls)]
        served = served_since(setup, before)
        assert [result.is_error for result in quiet] == [False] * calls
        assert logs == [], f"info messages relayed after setLevel(warning); calls per replica {served}"
        await client.session.set_logging_level("info")  # and changed again, through whichever replica
        relayed = [await client.call_tool("fxs__test_tool_with_logging", {}) for _ in range(3)]
        assert [result.is_error for result in relayed] == [False] * 3
        assert [entry.data for entry in logs].count("Tool execution completed") == 3
    print(f"setLevel(warning) then {calls} calls, POSTs per replica {served}")
    assert all(count >= 2 for count in served), served  # round-robin: every replica served some of them


async def test_concurrent_first_requests_on_a_replica_that_rebuilds_a_session_all_succeed(setup: Setup) -> None:
    """A session opened on replica 1 whose next requests reach replica 2 together (a client's GET stream and its
    call often do): the first rebuilds the session, the others wait for it and then use it. A request that found
    the rebuilt session before its read stream was connected got a 500 (one failed call in a rolling restart).
    That window is one event-loop turn: this burst does not hit it reliably, it guards the waiting path."""
    one, two = (f"{r.base}/mcp" for r in setup.cluster.replicas[:2])
    burst, sessions = 20, 4
    statuses: list[tuple[int, str]] = []
    async with httpx2.AsyncClient(timeout=60) as http:
        for _ in range(sessions):
            opened = await http.post(one, json=initialize_request(HANDSHAKE), headers=session_headers(setup.ada))
            assert opened.status_code == 200, opened.text
            headers = session_headers(setup.ada, opened.headers["mcp-session-id"])
            await http.post(one, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)

            async def call(n: int, headers: dict[str, str]) -> httpx2.Response:
                await asyncio.sleep(n * 0.001)  # spread over the rebuild: some arrive while it is connecting
                ask = rpc("tools/call", n, name="pets__get_pet", arguments={"pet_id": f"r{n}"})
                return await http.post(two, json=ask, headers=headers)

            answers = await asyncio.gather(*(call(n, headers) for n in range(burst)))
            statuses += [(answer.status_code, answer.text[:200]) for answer in answers]
            await http.delete(one, headers=headers)
    assert [status for status in statuses if status[0] != 200] == []
    assert len(statuses) == burst * sessions


async def test_a_resource_update_reaches_a_subscriber_whose_stream_is_on_another_replica(setup: Setup) -> None:
    """Subscribe through replica 1, hold the GET stream on replica 2, cause the update through replica 3: the
    shared upstream tells replica 1's upstream session, and the notification goes out on replica 2's stream."""
    one, two, three = (f"{r.base}/mcp/conformance" for r in setup.cluster.replicas)
    uri = conformance_upstream.WATCHED
    async with httpx2.AsyncClient(timeout=30) as http:
        opened = await http.post(one, json=initialize_request(HANDSHAKE), headers=session_headers(setup.ada))
        assert opened.status_code == 200, opened.text
        headers = session_headers(setup.ada, opened.headers["mcp-session-id"])
        await http.post(one, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
        seen: list[str] = []
        ready, stop = threading.Event(), threading.Event()
        reader = threading.Thread(
            target=_read_stream, args=(two, headers, seen, ready, stop, "resources/updated"), daemon=True
        )
        reader.start()
        try:
            assert await asyncio.to_thread(ready.wait, 30), "the GET stream did not open on the second replica"
            subscribed = await http.post(one, json=rpc("resources/subscribe", 2, uri=uri), headers=headers)
            assert "error" not in answer_of(subscribed), subscribed.text
            touched = await http.post(three, json=rpc("tools/call", 3, name="test_touch_watched"), headers=headers)
            assert answer_of(touched)["result"]["isError"] is False, touched.text  # type: ignore[index]
            await asyncio.to_thread(reader.join, 10)
            updates = [json.loads(item) for item in seen if "resources/updated" in item]
            assert updates == [
                {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": uri}}
            ], seen
        finally:
            stop.set()
            await http.post(one, json=rpc("resources/unsubscribe", 4, uri=uri), headers=headers)


async def test_an_unsubscribe_through_another_replica_stops_the_updates(setup: Setup) -> None:
    """Subscribed through replica 1, unsubscribed through replica 3: replica 1 passes no more updates on. Subscribed
    again through replica 3: the next update arrives once (from replica 3), none from replica 1's old subscription."""
    one, two, three = (f"{r.base}/mcp/conformance" for r in setup.cluster.replicas)
    uri = conformance_upstream.WATCHED
    async with httpx2.AsyncClient(timeout=30) as http:
        opened = await http.post(one, json=initialize_request(HANDSHAKE), headers=session_headers(setup.ada))
        headers = session_headers(setup.ada, opened.headers["mcp-session-id"])
        await http.post(one, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
        seen: list[str] = []
        arrivals: list[float] = []
        ready, stop = threading.Event(), threading.Event()
        reader = threading.Thread(
            target=_read_stream, args=(two, headers, seen, ready, stop, "resources/updated", arrivals), daemon=True
        )
        reader.start()
        try:
            assert await asyncio.to_thread(ready.wait, 30), "the GET stream did not open on the second replica"

            async def ask(base: str, method: str, request_id: int, **params: object) -> dict[str, object]:
                answered = await http.post(base, json=rpc(method, request_id, **params), headers=headers)
                answer = answer_of(answered)
                assert "error" not in answer, answered.text
                return answer

            await ask(one, "resources/subscribe", 2, uri=uri)
            await ask(three, "resources/unsubscribe", 3, uri=uri)
            await ask(two, "tools/call", 4, name="test_touch_watched")  # nobody passes this one on
            await ask(three, "resources/subscribe", 5, uri=uri)
            resubscribed = time.monotonic()
            await ask(one, "tools/call", 6, name="test_touch_watched")
            await asyncio.to_thread(reader.join, 10)
            updates = [(at, item) for at, item in zip(arrivals, seen, strict=True) if "resources/updated" in item]
            assert len(updates) == 1, seen
            assert updates[0][0] > resubscribed, "an update arrived before the second subscription"
        finally:
            stop.set()
            await http.post(three, json=rpc("resources/unsubscribe", 7, uri=uri), headers=headers)


async def test_a_client_subscribed_through_the_balancer_hears_of_updates_made_through_every_replica(
    setup: Setup,
) -> None:
    """The official SDK client through HAProxy: its subscribe, its GET stream and each update's call land on
    replicas of the balancer's choosing; every update reaches it once."""
    uri = conformance_upstream.WATCHED
    updates: list[str] = []
    arrived = asyncio.Event()
    touches = 6

    async def on_message(message: object) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))
            if len(updates) >= touches:
                arrived.set()

    before = mcp_posts(setup, '"POST /mcp/conformance HTTP/1.1"')
    async with mcp_client(
        f"{setup.cluster.balancer}/mcp/conformance", setup.ada.key, mode="legacy", message_handler=on_message
    ) as client:
        await client.subscribe_resource(uri)
        for _ in range(touches):
            result = await client.call_tool("test_touch_watched", {})
            assert not result.is_error, text_of(result)
        await asyncio.wait_for(arrived.wait(), 10)
        await client.unsubscribe_resource(uri)
    served = served_since(setup, before, '"POST /mcp/conformance HTTP/1.1"')
    print(f"resource updates: {len(updates)} of {touches} arrived; POSTs per replica {served}")
    assert updates == [uri] * touches
    assert all(count >= 2 for count in served), served


async def test_key_revocation_and_integration_changes_reach_every_replica_within_a_second(setup: Setup) -> None:
    hubs = [r.base for r in setup.cluster.replicas]
    env = setup.cluster.env
    made = cli(env, "keys", "create", "--name", "doomed", "--user", setup.ada.email, "--json")
    key, key_id = made["secret"], str(made["key"]["id"])
    headers = {
        "Authorization": f"Bearer {key}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/list",
    }
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}

    async def tools_on(http: httpx2.AsyncClient, hub: str) -> set[str] | int:
        answered = await http.post(f"{hub}/mcp", json=listing, headers=headers)
        if answered.status_code != 200:
            return answered.status_code
        return {tool["name"] for tool in answer_of(answered)["result"]["tools"]}  # type: ignore[index]

    async def until_all(http: httpx2.AsyncClient, what: str, done: object) -> None:
        give_up = time.monotonic() + PROPAGATION_S
        pending = set(hubs)
        while pending:
            assert time.monotonic() < give_up, f"{what}: not yet on {sorted(pending)} after {PROPAGATION_S} s"
            for hub in sorted(pending):
                if done(await tools_on(http, hub)):  # type: ignore[operator]
                    pending.discard(hub)

    async with httpx2.AsyncClient(timeout=30) as http:
        for hub in hubs:  # every replica accepts the key and caches what it sees
            assert "pets__get_pet" in await tools_on(http, hub)  # type: ignore[operator]
        cli(env, "integrations", "disable", "pets", *catalog_of(setup), "--user", setup.ada.email)
        await until_all(http, "pets disabled", lambda seen: isinstance(seen, set) and "pets__get_pet" not in seen)
        cli(env, "integrations", "enable", "pets", *catalog_of(setup), "--user", setup.ada.email)
        await until_all(http, "pets enabled", lambda seen: isinstance(seen, set) and "pets__get_pet" in seen)
        cli(env, "keys", "revoke", key_id, "--user", setup.ada.email)
        await until_all(http, "key revoked", lambda seen: seen == 401)


LOAD = {"legacy": 3, "2026-07-28": 3}


async def test_a_rolling_restart_under_load_fails_no_call(setup: Setup) -> None:
    cluster = setup.cluster
    load = Load()
    task = asyncio.create_task(call_load(f"{cluster.balancer}/mcp", setup.ada.key, load, clients=LOAD))
    try:
        await asyncio.sleep(2)
        for replica in cluster.replicas:
            before = len(load.answered)
            status = await asyncio.to_thread(replica.stop)
            assert status == 0, f"{replica.name} exited {status} after SIGTERM"
            await asyncio.to_thread(replica.start)
            await asyncio.to_thread(cluster.wait_in_rotation, replica)
            assert len(load.answered) > before, f"no call was answered while {replica.name} restarted"
        await asyncio.sleep(2)
    finally:
        load.running = False
        await asyncio.wait_for(task, 120)
    print(f"rolling restart: {len(load.answered)} calls answered, {len(load.failed)} failed")
    assert load.failed == []
    assert len({pet[:2] for pet, _ in load.answered}) == sum(LOAD.values())  # every client kept calling


async def _logged_pets(db_url: str, user_id: int) -> set[str]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(CallLogEntry.arguments).where(CallLogEntry.user_id == user_id))
            return {json.loads(arguments)["pet_id"] for (arguments,) in rows}
    finally:
        await engine.dispose()


async def test_a_killed_replica_loses_neither_its_clients_nor_their_records(setup: Setup) -> None:
    cluster = setup.cluster
    victim = cluster.replicas[1]
    load = Load()
    task = asyncio.create_task(call_load(f"{cluster.balancer}/mcp", setup.bob.key, load, clients=LOAD))
    try:
        await asyncio.sleep(3)
        victim.kill()  # SIGKILL: no drain, no flush; its spool keeps what it answered
        killed_at = time.monotonic()
        await asyncio.sleep(6)  # HAProxy notices (connection refused, then its health check) and serves elsewhere
        await asyncio.to_thread(victim.start)  # replays its usage spool at start
        await asyncio.to_thread(cluster.wait_in_rotation, victim)
        await asyncio.sleep(2)
    finally:
        load.running = False
        await asyncio.wait_for(task, 120)
    after_kill = {pet.split("-")[0] for pet, when in load.answered if when > killed_at + 1}
    print(f"kill: {len(load.answered)} answered, {len(load.failed)} failed: {[f[2][:80] for f in load.failed]}")
    assert after_kill == {pet.split("-")[0] for pet, _ in load.answered}, "a client stopped after the kill"
    # At most, per client, its call in flight on the killed replica and (handshake era) its session's transport.
    assert len(load.failed) <= 2 * sum(LOAD.values()), load.failed

    answered = {pet for pet, _ in load.answered}
    give_up = time.monotonic() + RECORD_WAIT_S
    while not answered <= (logged := await _logged_pets(setup.db_url, setup.bob.user_id)):
        assert time.monotonic() < give_up, (
            f"{len(answered - logged)} answered calls have no record: {sorted(answered - logged)[:5]}"
        )
        await asyncio.sleep(0.5)
