"""The one way tests start `mcphub serve` as a real process (and run `mcphub` CLI processes beside it).

Every test area uses it: tenancy, faults, deploy, cli, web (browser tests), e2e (Node clients, first run).

- `start_hub(env, …)` runs the hub on 127.0.0.1, waits until `/healthz` answers 200 (failing the test with the
  hub's output if it exits or the deadline passes), yields a `HubProcess`, and stops it (SIGTERM, then SIGKILL).
- `hub_env(db_url, data_dir, **extra)` is the environment a hub and its CLI share; no MCPHUB_* variable of the
  calling shell leaks in.
- `hub_files(root)` lays out a root: `catalog/` to write packages into, `data/`, and a SQLite URL in it.
- `hub_process` / `hub_popen` are the short forms most tests use (the base URL; the process and the base URL).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import urlopen

import pytest

# `python -m mcphub.cli` (works wherever the package imports) and the console script a newcomer runs.
MCPHUB = [sys.executable, "-m", "mcphub.cli"]
MCPHUB_SCRIPT = Path(sys.executable).parent / "mcphub"
ADMIN_TOKEN = "t"  # MCPHUB_ADMIN_TOKEN of every hub started with `hub_env`
START_DEADLINE_S = 60.0
# The first-run banner's key line (an empty data dir makes the hub create admin@localhost and print a key once).
FIRST_KEY = re.compile(r"^\s*API key:\s+(mcp_sk_\S+)\s*$", re.MULTILINE)


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on right now (the hub binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any MCPHUB_* variable, plus `extra`."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MCPHUB_")} | extra


def hub_env(db_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment a hub and its CLI share: one database, one data dir (vault key), no Redis."""
    return clean_env(MCPHUB_DATABASE_URL=db_url, MCPHUB_DATA_DIR=str(data_dir), MCPHUB_ADMIN_TOKEN=ADMIN_TOKEN, **extra)


@dataclass(frozen=True)
class HubFiles:
    """A hub's files under one root: packages go to `catalog`, the vault key and SQLite database to `data`."""

    root: Path
    catalog: Path
    data: Path
    db_url: str


def hub_files(root: Path) -> HubFiles:
    """Create `root/catalog` and `root/data`; the database is `root/data/hub.db` (SQLite)."""
    catalog, data = root / "catalog", root / "data"
    catalog.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    return HubFiles(root, catalog, data, f"sqlite+aiosqlite:///{data / 'hub.db'}")


@dataclass
class HubProcess:
    """A running `mcphub serve`: its process, base URL, output file and what /healthz first answered."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    health: dict[str, Any]

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def first_key(self) -> str | None:
        """The API key the first-run banner printed, if this start printed one."""
        found = FIRST_KEY.search(self.log())
        return found.group(1) if found else None


def wait_healthy(
    base_url: str, process: subprocess.Popen[bytes], log_path: Path, *, deadline_s: float = START_DEADLINE_S
) -> dict[str, Any]:
    """Poll `/healthz` until it answers 200 (returns its JSON); fail the test if the hub exits or the deadline passes."""
    give_up = time.monotonic() + deadline_s
    last = "no answer yet"
    while time.monotonic() < give_up:
        if process.poll() is not None:
            pytest.fail(f"mcphub serve exited with {process.returncode} before /healthz was ok:\n{_read(log_path)}")
        try:
            with urlopen(f"{base_url}/healthz", timeout=2) as response:
                body: dict[str, Any] = json.loads(response.read())
                if response.status == 200:
                    return body
                last = f"HTTP {response.status}: {body}"
        except (URLError, ConnectionError, TimeoutError, ValueError) as exc:
            last = repr(exc)
        time.sleep(0.05)  # poll interval, not a readiness guess: the deadline above bounds the wait
    pytest.fail(f"mcphub serve on {base_url} not healthy within {deadline_s}s ({last}):\n{_read(log_path)}")


def stop_hub(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, up to 20 s for a clean shutdown, then SIGKILL."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def start_hub(
    env: Mapping[str, str],
    *,
    catalog: Path | None = None,
    data_dir: Path | None = None,
    args: Sequence[str] = (),
    command: Sequence[str | Path] = MCPHUB,
    port: int | None = None,
    log_path: Path | None = None,
    cwd: Path | None = None,
    deadline_s: float = START_DEADLINE_S,
) -> Iterator[HubProcess]:
    """`mcphub serve` on 127.0.0.1 in its own process until the block ends; yields it once /healthz is ok.

    `catalog` / `data_dir` become `--catalog` / `--data-dir` (else the hub's defaults and `env` decide); `args` are
    more `serve` options. Output goes to `log_path`, by default `hub-<port>.log` beside the data dir
    (`data_dir`, else `env["MCPHUB_DATA_DIR"]`, else the catalog's folder).
    """
    port = port or free_port()
    argv = [*map(str, command), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if catalog is not None:
        argv += ["--catalog", str(catalog)]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    argv += list(args)
    if log_path is None:
        beside = data_dir or (Path(env["MCPHUB_DATA_DIR"]) if "MCPHUB_DATA_DIR" in env else None) or catalog
        if beside is None:
            raise ValueError("start_hub needs log_path, data_dir, catalog or MCPHUB_DATA_DIR to place the hub's log")
        log_path = beside.parent / f"hub-{port}.log"
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            argv, env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        health = wait_healthy(base_url, process, log_path, deadline_s=deadline_s)
        yield HubProcess(process, base_url, log_path, health)
    finally:
        stop_hub(process)


@contextmanager
def hub_process(env: dict[str, str], catalog: Path, *, deadline_s: float = START_DEADLINE_S) -> Iterator[str]:
    """`mcphub serve --catalog CATALOG` with `env` (see `hub_env`); yields its base URL.

    Its output goes to `hub-<port>.log` beside `env["MCPHUB_DATA_DIR"]`.
    """
    with start_hub(env, catalog=catalog, deadline_s=deadline_s) as hub:
        yield hub.base_url


@contextmanager
def hub_popen(
    env: dict[str, str], catalog: Path, *, deadline_s: float = START_DEADLINE_S
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """As `hub_process`, yielding the process too (to kill it)."""
    with start_hub(env, catalog=catalog, deadline_s=deadline_s) as hub:
        yield hub.process, hub.base_url


def cli(env: dict[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `mcphub ARGS…` in its own process; fails the test with its output when it exits non-zero."""
    done = subprocess.run([*MCPHUB, *args], env=env, input=input, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"mcphub {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else f"({path} does not exist)"
