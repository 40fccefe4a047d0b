"""Three `mcphub serve` replicas on one PostgreSQL + Redis behind a real HAProxy, all on 127.0.0.1.

HAProxy runs deploy/haproxy.cfg itself (round-robin, no affinity; addresses swapped for this machine's ports), the
replicas run with deploy/compose.yaml's settings that matter here (a shared MCPHUB_SECRET_KEY, Redis, the drain
period), each with its own data dir (its usage spool) and a fixed port, so a replica can be stopped, killed and
started again behind the same balancer line. Used by tests/deploy/test_three_replicas.py and bench/soak.py.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import yaml

ROOT = Path(__file__).resolve().parents[2]
MCPHUB = [sys.executable, "-m", "mcphub.cli"]


def compose_drain_s() -> str:
    """MCPHUB_DRAIN_S as deploy/compose.yaml sets it for every hub (the tests run what is shipped)."""
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    hubs = [service for name, service in compose["services"].items() if name.startswith("hub")]
    return str(hubs[0]["environment"]["MCPHUB_DRAIN_S"])


@dataclass
class Replica:
    """One `mcphub serve` process on a fixed port; `start`, `stop` (SIGTERM: drains) and `kill` (SIGKILL)."""

    name: str
    port: int
    env: dict[str, str]
    catalog: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, deadline_s: float = 90.0) -> None:
        self.spawn()
        self.wait_healthy(deadline_s)

    def spawn(self) -> None:
        assert self.process is None or self.process.poll() is not None, f"{self.name} is running"
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n===== start {self.starts} =====\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [*MCPHUB, "serve", "--port", str(self.port), "--catalog", str(self.catalog)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_healthy(self, deadline_s: float = 90.0) -> None:
        assert self.process is not None
        give_up = time.monotonic() + deadline_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log.read_text()[-4000:]}"
                )
            try:
                if httpx2.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx2.HTTPError:
                pass
            if time.monotonic() > give_up:
                raise RuntimeError(
                    f"{self.name} on {self.base} did not become healthy:\n{self.log.read_text()[-4000:]}"
                )
            time.sleep(0.1)

    def stop(self, timeout_s: float = 90.0) -> int:
        """SIGTERM (the replica drains, then exits); returns its exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.name} did not stop within {timeout_s} s of SIGTERM") from None

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Cluster:
    balancer: str
    replicas: list[Replica]
    env: dict[str, str]  # what a CLI process next to them needs (database, Redis, vault key)
    root: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def wait_in_rotation(self, replica: Replica, deadline_s: float = 60.0) -> None:
        """Until HAProxy sends requests to `replica` again (its health check passed `rise` times): probes through
        the balancer, each marked, until one shows up in the replica's own access log."""
        give_up = time.monotonic() + deadline_s
        probe = 0
        while time.monotonic() < give_up:
            probe += 1
            marker = f"rotation-{replica.name}-{replica.starts}-{probe}"
            with suppress(httpx2.HTTPError):
                httpx2.get(f"{self.balancer}/healthz?probe={marker}", timeout=5)
            if marker in replica.log.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise AssertionError(f"HAProxy did not put {replica.name} back in rotation within {deadline_s} s")


def replica_env(db_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPHUB_")}
    env |= {"MCPHUB_DATABASE_URL": db_url, "MCPHUB_DATA_DIR": str(data_dir), "MCPHUB_ADMIN_TOKEN": "t", **extra}
    return env


@contextmanager
def three_replicas(
    root: Path, db_url: str, redis_url: str, catalog: Path, *, count: int = 3, **extra_env: str
) -> Iterator[Cluster]:
    """`count` replicas and HAProxy in front of them; yields once HAProxy passes requests on; stops them after."""
    from runtime.support import closed_port

    from .balancer import haproxy

    secret = base64.urlsafe_b64encode(os.urandom(32)).decode()
    shared = {"MCPHUB_REDIS_URL": redis_url, "MCPHUB_SECRET_KEY": secret, "MCPHUB_DRAIN_S": compose_drain_s()}
    shared |= extra_env
    replicas: list[Replica] = []
    with ExitStack() as stack:
        for i in range(1, count + 1):
            folder = root / f"hub{i}"
            folder.mkdir()
            env = replica_env(db_url, folder / "data", **shared)
            replica = Replica(f"hub{i}", closed_port(), env, catalog, folder / "hub.log")
            stack.callback(replica.close)
            replicas.append(replica)
        for replica in replicas:  # together (migrations take an advisory lock: one of them migrates)
            replica.spawn()
        for replica in replicas:
            replica.wait_healthy()
        balancer = stack.enter_context(haproxy(root, [r.base for r in replicas]))
        cli_env = replica_env(db_url, root / "cli" / "data", **shared)
        yield Cluster(balancer, replicas, cli_env, root)


def cli(env: dict[str, str], *args: str) -> Any:
    """`mcphub ARGS…` in its own process; its JSON answer when ARGS ask for `--json`, else its output."""
    done = subprocess.run([*MCPHUB, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"mcphub {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout) if "--json" in args else done.stdout


@dataclass
class Load:
    """Clients calling a tool through the balancer until stopped: what was answered, and what failed (and when)."""

    answered: list[tuple[str, float]] = field(default_factory=list)  # (pet id, when)
    failed: list[tuple[str, float, str]] = field(default_factory=list)  # (pet id, when, error)
    running: bool = True


async def call_load(url: str, key: str, load: Load, *, clients: dict[str, int], pause_s: float = 0.0) -> None:
    """`clients`: how many official SDK clients of each mode ("legacy": handshake, "2026-07-28": stateless) call
    `pets__get_pet` one call after another, each with a pet id of its own (so records can be matched to calls)."""
    import asyncio

    from runtime.support import mcp_client

    async def client(mode: str, number: int) -> None:
        i = 0
        while load.running:
            try:
                async with mcp_client(url, key, mode=mode) as session:
                    while load.running:
                        pet = f"{mode[:1]}{number}-{i}"
                        i += 1
                        try:
                            result = await session.call_tool("pets__get_pet", {"pet_id": pet})
                        except Exception as exc:
                            load.failed.append((pet, time.monotonic(), f"{type(exc).__name__}: {exc}"))
                            continue
                        if result.is_error:
                            load.failed.append((pet, time.monotonic(), f"tool error: {result.content}"))
                        else:
                            load.answered.append((pet, time.monotonic()))
                        if pause_s:
                            await asyncio.sleep(pause_s)
            except Exception as exc:  # the client's connection itself failed: counted, and it connects again
                load.failed.append((f"{mode[:1]}{number}-client", time.monotonic(), f"{type(exc).__name__}: {exc}"))

    await asyncio.gather(*(client(mode, n) for mode, count in clients.items() for n in range(count)))
