"""Two `mcphub serve` replicas on one PostgreSQL + Redis behind a real HAProxy, all on 127.0.0.1.

HAProxy runs deploy/haproxy.cfg itself (round-robin, no affinity), with only the addresses swapped for this
machine's ports. What works without session affinity today, and what does not:

- 2026-07-28 clients are stateless: the official SDK client's calls are served by both replicas;
- a key revoked by the CLI (another process) is refused by both replicas;
- handshake-era sessions live in the process that opened them: without affinity the other replica answers
  404 for the session; with the affinity lines of deploy/haproxy.cfg turned on, the SDK's handshake client
  works through the balancer.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from faults.redis_server import own_redis
from runtime.support import Account, Upstream, initialize_request, mcp_client, petstore, provision, serve, write_package
from support.hub_process import cli, hub_env, hub_process

from .balancer import haproxy

HANDSHAKE = "2025-11-25"
REVOCATION_WAIT_S = 10.0  # the poll's deadline; README states what it takes (pub/sub: well under a second)


@dataclass
class Replicas:
    balancer: str
    hubs: list[str]
    logs: list[Path]
    env: dict[str, str]
    ada: Account


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Iterator[Replicas]:
    root = tmp_path_factory.mktemp("replicas")
    upstream = Upstream()
    with ExitStack() as stack:
        upstream.base_url = stack.enter_context(serve(upstream))
        redis = stack.enter_context(own_redis(root))
        catalog = root / "catalog"
        write_package(petstore(upstream.base_url), catalog)
        # Every replica shares the vault's master key (and so API key hashes), each keeps its own data dir.
        secret = base64.urlsafe_b64encode(os.urandom(32)).decode()
        shared = {"MCPHUB_REDIS_URL": redis.url, "MCPHUB_SECRET_KEY": secret}
        os.environ["MCPHUB_SECRET_KEY"] = secret  # for provision(), which opens the tenancy in this process
        try:
            setup = {"enable": ["pets"], "credentials": {"pets": {"token": "t"}}}
            [ada] = provision(root / "setup", ("ada@example.com", setup), url=pg_database)
        finally:
            del os.environ["MCPHUB_SECRET_KEY"]
        for i in (1, 2):
            (root / f"hub{i}").mkdir()  # hub_process writes the hub's log beside its data dir
        envs = [hub_env(pg_database, root / f"hub{i}" / "data", **shared) for i in (1, 2)]
        hubs = [stack.enter_context(hub_process(env, catalog)) for env in envs]
        logs = [next((root / f"hub{i}").glob("hub-*.log")) for i in (1, 2)]
        balancer = stack.enter_context(haproxy(root, hubs, affinity=False))
        yield Replicas(balancer, hubs, logs, envs[0], ada)


MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


async def list_tools_status(http: httpx2.AsyncClient, hub: str, key: str) -> int:
    """The status of a stateless (2026-07-28) tools/list sent straight to one replica."""
    headers = {
        "Authorization": f"Bearer {key}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/list",
    }
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": MODERN_META}}
    return (await http.post(f"{hub}/mcp", json=message, headers=headers)).status_code


def mcp_posts(log: Path) -> int:
    return log.read_text().count('"POST /mcp HTTP/1.1"')


async def test_stateless_clients_are_served_by_every_replica_through_the_balancer(replicas: Replicas) -> None:
    before = [mcp_posts(log) for log in replicas.logs]
    async with mcp_client(f"{replicas.balancer}/mcp", replicas.ada.key, mode="2026-07-28") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "pets__get_pet" in names
        results = [await client.call_tool("pets__get_pet", {"pet_id": str(i)}) for i in range(10)]
    assert [result.is_error for result in results] == [False] * 10
    served = [mcp_posts(log) - seen for log, seen in zip(replicas.logs, before, strict=True)]
    assert all(count >= 4 for count in served), served  # round-robin: both replicas answered this one client


async def test_handshake_sessions_need_affinity_today(replicas: Replicas, tmp_path: Path) -> None:
    headers = {"Accept": "application/json, text/event-stream", **replicas.ada.headers}
    async with httpx2.AsyncClient(timeout=30) as http:
        opened = await http.post(f"{replicas.hubs[0]}/mcp", json=initialize_request(HANDSHAKE), headers=headers)
        session = {**headers, "Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": HANDSHAKE}
        # The same session's next request on the other replica: it never heard of the session.
        elsewhere = await http.post(
            f"{replicas.hubs[1]}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=session
        )
    assert elsewhere.status_code == 404, elsewhere.text

    # deploy/haproxy.cfg's affinity lines (commented out there) make the SDK's handshake client work.
    with haproxy(tmp_path, replicas.hubs, affinity=True) as sticky:
        async with mcp_client(f"{sticky}/mcp", replicas.ada.key, mode="legacy") as client:
            results = [await client.call_tool("pets__get_pet", {"pet_id": str(i)}) for i in range(6)]
    assert [result.is_error for result in results] == [False] * 6


async def test_a_revoked_key_is_refused_by_every_replica(replicas: Replicas) -> None:
    env = {**replicas.env, "MCPHUB_DATA_DIR": str(replicas.logs[0].parent / "cli")}
    created = cli(env, "keys", "create", "--name", "doomed", "--user", replicas.ada.email, "--json")
    made = json.loads(created.stdout)
    key, key_id = made["secret"], str(made["key"]["id"])
    async with httpx2.AsyncClient(timeout=30) as http:
        for hub in replicas.hubs:  # both replicas accept the key (and cache it)
            assert await list_tools_status(http, hub, key) == 200

        cli(env, "keys", "revoke", key_id, "--user", replicas.ada.email)
        give_up = time.monotonic() + REVOCATION_WAIT_S
        refused: set[str] = set()
        while refused != set(replicas.hubs):
            assert time.monotonic() < give_up, f"still accepted by {set(replicas.hubs) - refused}"
            for hub in set(replicas.hubs) - refused:
                if await list_tools_status(http, hub, key) == 401:
                    refused.add(hub)
