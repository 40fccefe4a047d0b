"""The dashboard's pages against a large account: how long each page takes with many usage events and log rows.

    .venv/bin/python bench/dashboard.py [--events 1000000] [--logs 100000] [--requests 30]

A throwaway PostgreSQL database (127.0.0.1:5432, user postgres; MCPHUB_BENCH_PG overrides) gets one user with
`--events` usage events and `--logs` call-log rows spread over 30 days, written by the database itself
(generate_series). A real `mcphub serve` process on that database serves the built-in catalog; this process
signs in like a browser and times `--requests` GETs of each page after a warm-up. On loopback with a keep-alive
connection the time measured here is the server's time plus well under a millisecond. The database is dropped
at the end. Not a test: timing belongs here, and figures go to the README.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx2 as httpx

ROOT = Path(__file__).resolve().parents[1]
PG = os.environ.get("MCPHUB_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PAGES = ["/", "/integrations", "/integrations/github", "/keys", "/connect", "/logs", "/usage", "/usage?range=30d"]
PASSWORD = "a benchmark password"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _seed(dsn: str, events: int, logs: int) -> None:
    """One user's history, generated inside PostgreSQL (the hub has migrated the schema and created the user)."""
    conn = await asyncpg.connect(dsn)
    try:
        user_id = await conn.fetchval("SELECT id FROM users WHERE email = 'bench@example.com'")
        await conn.execute(
            """
            INSERT INTO usage_events (ts, user_id, key_id, integration, tool, status, latency_ms, upstream_status,
                                      request_bytes, response_bytes)
            SELECT now() - random() * interval '30 days', $1, 1,
                   (ARRAY['github','slack','linear','notion','stripe'])[1 + i % 5],
                   'tool_' || (i % 40),
                   CASE WHEN i % 20 = 0 THEN 'upstream_error' ELSE 'ok' END,
                   5 + random() * 300, 200, 120, 2400
            FROM generate_series(1, $2) AS i
            """,
            user_id,
            events,
        )
        await conn.execute(
            """
            INSERT INTO call_log (ts, user_id, key_id, integration, tool, status, latency_ms, arguments, result, error)
            SELECT now() - random() * interval '30 days', $1, 1,
                   (ARRAY['github','slack','linear','notion','stripe'])[1 + i % 5],
                   'tool_' || (i % 40), CASE WHEN i % 20 = 0 THEN 'upstream_error' ELSE 'ok' END,
                   5 + random() * 300, '{"q": "x"}', 'result text', ''
            FROM generate_series(1, $2) AS i
            """,
            user_id,
            logs,
        )
        await conn.execute("ANALYZE usage_events; ANALYZE call_log")
    finally:
        await conn.close()


def _sign_in(http: httpx.Client) -> None:
    form = http.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None, form.text[:500]
    done = http.post("/signin", data={"csrf": token.group(1), "email": "bench@example.com", "password": PASSWORD})
    assert done.status_code == 303, done.text[:500]


def _time(http: httpx.Client, path: str, requests: int) -> tuple[float, float]:
    for _ in range(3):
        assert http.get(path).status_code == 200, path
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = http.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, path
    samples.sort()
    return statistics.median(samples), samples[max(0, round(0.95 * len(samples)) - 1)]


async def _on_server(statement: str) -> None:
    conn = await asyncpg.connect(PG)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--logs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    name = f"mcphub_bench_dashboard_{os.getpid()}"
    asyncio.run(_on_server(f'CREATE DATABASE "{name}"'))
    dsn = PG.rsplit("/", 1)[0] + f"/{name}"
    try:
        with tempfile.TemporaryDirectory() as data:
            env = {k: v for k, v in os.environ.items() if not k.startswith("MCPHUB_")}
            env |= {
                "MCPHUB_DATABASE_URL": dsn.replace("postgresql://", "postgresql+asyncpg://"),
                "MCPHUB_DATA_DIR": data,
                "MCPHUB_ADMIN_TOKEN": "bench",
            }
            mcphub = [sys.executable, "-m", "mcphub.cli"]
            created = subprocess.run(
                [*mcphub, "users", "create", "bench@example.com", "--password-stdin"],
                input=PASSWORD + "\n",
                env=env,
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            assert created.returncode == 0, created.stderr
            seeding = time.perf_counter()
            asyncio.run(_seed(dsn, args.events, args.logs))
            print(
                f"seeded {args.events:,} usage events and {args.logs:,} log rows in {time.perf_counter() - seeding:.1f} s"
            )
            port = _free_port()
            with open(Path(data) / "hub.log", "wb") as log:
                hub = subprocess.Popen(
                    [*mcphub, "serve", "--port", str(port), "--catalog", str(ROOT / "generated")],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                )
            try:
                base = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if httpx.get(f"{base}/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert time.monotonic() < deadline, (Path(data) / "hub.log").read_text()
                    time.sleep(0.1)
                with httpx.Client(base_url=base, timeout=60) as http:
                    _sign_in(http)
                    print(f"{'page':<24}{'p50 ms':>10}{'p95 ms':>10}")
                    for path in PAGES:
                        p50, p95 = _time(http, path, args.requests)
                        print(f"{path:<24}{p50:>10.1f}{p95:>10.1f}")
            finally:
                hub.terminate()
                hub.wait(timeout=20)
    finally:
        asyncio.run(_on_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
