"""Soak: many tool calls through one hub, then through three replicas behind HAProxy (not a test).

    .venv/bin/python bench/soak.py                 # 100,000 calls at 64 clients, then the replica comparison
    .venv/bin/python bench/soak.py --calls 20000 --replica-calls 10000

Real parts on 127.0.0.1: PostgreSQL (127.0.0.1:5432, a throwaway database), a Redis server of its own, an upstream
HTTP API in its own process (`GET /pets/{id}` -> JSON), and `mcphub serve` processes started exactly as
tests/deploy/replicas.py starts them (Debian's HAProxy running deploy/haproxy.cfg in front of the replicas).

The load generator is a minimal HTTP/1.1 client on asyncio streams, one keep-alive connection per client; half of
the clients speak the handshake era (`initialize` once, then `Mcp-Session-Id` on every call: the hub's sealed
session ids, served by whichever replica HAProxy picks), half the 2026-07-28 stateless wire. Every call asks for a
pet id of its own and every answer is checked; a failed call is counted, never retried.

Reported:
- one hub: calls/s, p50/p95/p99 latency, the hub's RSS after 10% of the calls and at the end (growth must stay
  within 10%), and lost records: answered calls without a usage event in PostgreSQL once the hub has stopped
  (must be 0);
- one replica behind HAProxy vs three replicas behind HAProxy, same clients: calls/s and p99 of each. This machine
  has 2 cores shared with the load generator, PostgreSQL and Redis: three replicas cannot be three times one here.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]

from _common import machine_line, percentile, write_result  # noqa: E402
from deploy.balancer import haproxy  # noqa: E402
from deploy.replicas import Replica, replica_env  # noqa: E402
from faults.redis_server import own_redis  # noqa: E402
from gateway import BadAnswer, Connection, jsonrpc_message  # noqa: E402
from runtime.support import closed_port, petstore, provision, write_package  # noqa: E402

HANDSHAKE = "2025-11-25"
STATELESS = "2026-07-28"
PG = "postgresql://postgres@127.0.0.1:5432"
WARM_UP = 3  # untimed calls per client first

UPSTREAM = r"""
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    pet = scope["path"].rsplit("/", 1)[-1]
    body = b'{"id": "%s", "name": "Rex"}' % pet.encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def message_of(fields: dict[bytes, bytes], data: bytes) -> dict[str, Any]:
    """The JSON-RPC response, or {} when the answer carried none (counted as a failed call)."""
    try:
        return jsonrpc_message(fields, data)
    except BadAnswer:
        return {}


@dataclass
class Run:
    latencies_ms: list[float] = field(default_factory=list)
    answered: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rss_kb: dict[int, int] = field(default_factory=dict)  # calls done -> hub RSS
    warm: int = 0  # warm-up calls before the timed ones (answered too: they have records)

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        return percentile(sorted(self.latencies_ms), q)


class Client:
    def __init__(self, base: str, key: str, era: str, name: str) -> None:
        host, port = base.removeprefix("http://").rsplit(":", 1)
        self.connection = Connection(host, int(port))
        self.auth = b"Authorization: Bearer %s\r\n" % key.encode()
        self.headers = self.auth
        self.era = era
        self.name = name
        self.next_id = 1

    async def open(self) -> None:
        if self.era != "handshake":
            return
        params = {"protocolVersion": HANDSHAKE, "capabilities": {}, "clientInfo": {"name": "soak", "version": "1"}}
        status, fields, data = await self.rpc("initialize", params)
        assert status == 200 and "result" in message_of(fields, data), data[:300]
        self.headers = self.auth + b"MCP-Protocol-Version: %s\r\nMcp-Session-Id: %s\r\n" % (
            HANDSHAKE.encode(),
            fields[b"mcp-session-id"],
        )
        notified = b'{"jsonrpc": "2.0", "method": "notifications/initialized"}'
        status, _, data = await self.connection.post("/mcp", notified, self.headers)
        assert status == 202, data[:300]

    async def rpc(self, method: str, params: dict[str, Any]) -> tuple[int, dict[bytes, bytes], bytes]:
        headers = self.headers
        if self.era == "stateless":
            meta = {
                "io.modelcontextprotocol/protocolVersion": STATELESS,
                "io.modelcontextprotocol/clientCapabilities": {},
            }
            params = {**params, "_meta": meta}
            headers += b"Mcp-Protocol-Version: %s\r\nMcp-Method: %s\r\n" % (STATELESS.encode(), method.encode())
            if method == "tools/call":
                headers += b"Mcp-Name: %s\r\n" % params["name"].encode()
        body = json.dumps({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}).encode()
        self.next_id += 1
        return await self.connection.post("/mcp", body, headers)

    async def call(self, pet: str) -> None:
        status, fields, data = await self.rpc("tools/call", {"name": "pets__get_pet", "arguments": {"pet_id": pet}})
        result = message_of(fields, data).get("result") if status == 200 else None
        if not isinstance(result, dict) or result.get("isError") or pet not in json.dumps(result):
            raise RuntimeError(f"{status} {data[:200]!r}")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def drive(base: str, key: str, calls: int, clients: int, tag: str, pid: int | None = None) -> Run:
    """`calls` tool calls from `clients` clients (half per era); RSS of `pid` sampled after 10% and at the end."""
    run = Run()
    remaining = iter(range(calls))
    sample_at = {calls // 10, calls}
    done = 0
    opened = [Client(base, key, "handshake" if n % 2 == 0 else "stateless", f"{tag}{n}") for n in range(clients)]
    await asyncio.gather(*(client.open() for client in opened))
    # Warm-up, untimed (counted for the records): every client's session reaches every replica behind a balancer.
    for round_ in range(WARM_UP):
        await asyncio.gather(*(client.call(f"{client.name}-w{round_}") for client in opened))
    run.warm = WARM_UP * clients

    async def worker(client: Client) -> None:
        nonlocal done
        for i in remaining:
            pet = f"{client.name}-{i}"
            started = time.perf_counter()
            try:
                await client.call(pet)
            except Exception as exc:
                run.failed.append(f"{pet}: {type(exc).__name__}: {exc}"[:300])
                client.connection.close()
                continue
            run.latencies_ms.append((time.perf_counter() - started) * 1000)
            run.answered += 1
            done += 1
            if pid is not None and done in sample_at:
                run.rss_kb[done] = rss_kb(pid)

    started = time.perf_counter()
    await asyncio.gather(*(worker(client) for client in opened))
    run.seconds = time.perf_counter() - started
    for client in opened:
        client.connection.close()
    return run


async def usage_events(db_url: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(db_url)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM usage_events"))
    finally:
        await connection.close()


async def admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(f"{PG}/postgres")
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def row(label: str, run: Run) -> str:
    return (
        f"| {label} | {run.answered:,} | {len(run.failed)} | {run.rate:,.0f} | {run.p(50):.1f} | {run.p(95):.1f} "
        f"| {run.p(99):.1f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100_000, help="tool calls through one hub (default 100,000)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (default 64)")
    parser.add_argument("--replica-calls", type=int, default=30_000, help="calls per row of the replica comparison")
    parser.add_argument("--skip-replicas", action="store_true", help="only the one-hub soak")
    parser.add_argument("--replicas-only", action="store_true", help="only the one-vs-three comparison")
    args = parser.parse_args()

    database = f"mcphub_soak_{secrets.token_hex(4)}"
    asyncio.run(admin(f'CREATE DATABASE "{database}"'))
    db_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    lines = [f"# bench/soak.py — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "", machine_line(), ""]
    try:
        with tempfile.TemporaryDirectory(prefix="mcphub-soak-") as folder:
            root = Path(folder)
            upstream_port = closed_port()
            upstream = subprocess.Popen([sys.executable, "-c", UPSTREAM, str(upstream_port)])
            try:
                with own_redis(root) as redis:
                    lines += soak(root, db_url, redis.url, f"http://127.0.0.1:{upstream_port}", args)
            finally:
                upstream.terminate()
                upstream.wait()
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    text = "\n".join(lines) + "\n"
    print(text)
    print(f"written to {write_result('soak', text)}")
    return 0


def one_hub(one: Replica, key: str, db_url: str, args: argparse.Namespace, notes: list[str]) -> list[str]:
    """`args.calls` calls straight to one hub: rate, latency, RSS growth and lost records."""
    out = []
    one.start()
    assert one.process is not None
    before = asyncio.run(usage_events(db_url.replace("+asyncpg", "")))
    print(f"one hub: {args.calls:,} calls at {args.clients} clients ...", flush=True)
    run = asyncio.run(drive(one.base, key, args.calls, args.clients, "s", one.process.pid))
    out.append(row(f"one hub, direct ({args.calls:,} calls)", run))
    one.stop()  # SIGTERM: everything buffered is written
    recorded = asyncio.run(usage_events(db_url.replace("+asyncpg", ""))) - before
    first, last = run.rss_kb.get(args.calls // 10, 0), run.rss_kb.get(args.calls, 0)
    growth = (last - first) / first * 100 if first else float("nan")
    notes.append(
        f"- one hub: {run.answered:,} answered (+{run.warm} warm-up), {len(run.failed)} failed, {recorded:,} usage "
        "events recorded: "
        f"**{max(0, run.answered + run.warm - recorded)} lost records**; RSS {first / 1024:.1f} MiB after "
        f"{args.calls // 10:,} calls, {last / 1024:.1f} MiB after {args.calls:,}: **{growth:+.1f}%**"
    )
    if run.failed:
        notes.append(f"- first failures: {run.failed[:3]}")
    return out


def soak(root: Path, db_url: str, redis_url: str, upstream: str, args: argparse.Namespace) -> list[str]:
    catalog = root / "catalog"
    # Generous deadlines: the upstream is one Python process on the same two busy cores as everything else.
    integration = petstore(upstream, timeout_s=30.0)
    integration = integration.model_copy(
        update={"policy": integration.policy.model_copy(update={"connect_timeout_s": 30.0})}
    )
    write_package(integration, catalog)
    secret = base64.urlsafe_b64encode(os.urandom(32)).decode()
    os.environ["MCPHUB_SECRET_KEY"] = secret
    try:
        [ada] = provision(
            root / "setup",
            ("ada@example.com", {"enable": ["pets"], "credentials": {"pets": {"token": "t"}}}),
            url=db_url,
        )
    finally:
        del os.environ["MCPHUB_SECRET_KEY"]
    shared = {
        "MCPHUB_REDIS_URL": redis_url,
        "MCPHUB_SECRET_KEY": secret,
        "MCPHUB_DRAIN_S": "0",
        "MCPHUB_LOG_KEEP": "1000",
    }
    replicas = []
    for i in (1, 2, 3):
        (root / f"hub{i}").mkdir()
        env = replica_env(db_url, root / f"hub{i}" / "data", **shared)
        replicas.append(Replica(f"hub{i}", closed_port(), env, catalog, root / f"hub{i}" / "hub.log"))
    out = ["| run | answered | failed | calls/s | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|---|---|"]
    notes: list[str] = []
    try:
        if not args.replicas_only:
            out += one_hub(replicas[0], ada.key, db_url, args, notes)
        if not args.skip_replicas:
            for count in (1, 3):
                for replica in replicas[:count]:
                    replica.start()
                with haproxy(root, [r.base for r in replicas[:count]]) as balancer:
                    print(f"{count} replica(s) behind HAProxy: {args.replica_calls:,} calls ...", flush=True)
                    run = asyncio.run(drive(balancer, ada.key, args.replica_calls, args.clients, f"r{count}-"))
                    out.append(row(f"{count} replica{'s' if count > 1 else ''} behind HAProxy", run))
                    if run.failed:
                        notes.append(f"- {count} behind HAProxy, first failures: {run.failed[:3]}")
                for replica in replicas[:count]:
                    replica.stop()
    finally:
        for replica in replicas:
            replica.close()
    return [*out, "", *notes]


if __name__ == "__main__":
    raise SystemExit(main())
