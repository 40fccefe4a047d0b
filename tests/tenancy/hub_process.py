"""A real `mcphub serve` process on 127.0.0.1 and real `mcphub` CLI processes next to it, on one database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
from runtime.support import closed_port

MCPHUB = [sys.executable, "-m", "mcphub.cli"]


def hub_env(db_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment a hub and its CLI share: one database, one data dir (vault key), no Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPHUB_")}
    env |= {"MCPHUB_DATABASE_URL": db_url, "MCPHUB_DATA_DIR": str(data_dir), "MCPHUB_ADMIN_TOKEN": "t", **extra}
    return env


@contextmanager
def hub_process(env: dict[str, str], catalog: Path, *, deadline_s: float = 60.0) -> Iterator[str]:
    """`mcphub serve` in its own process; yields its base URL once /healthz says ok; stops it after."""
    with hub_popen(env, catalog, deadline_s=deadline_s) as (_, base):
        yield base


@contextmanager
def hub_popen(
    env: dict[str, str], catalog: Path, *, deadline_s: float = 60.0
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """As `hub_process`, yielding the process too (to kill it); output goes to `<data dir>/../hub-<port>.log`."""
    port = closed_port()
    log = Path(env["MCPHUB_DATA_DIR"]).parent / f"hub-{port}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*MCPHUB, "serve", "--port", str(port), "--catalog", str(catalog)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            give_up = time.monotonic() + deadline_s
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the hub exited with {process.returncode}:\n{log.read_text()}")
                try:
                    if httpx2.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx2.HTTPError:
                    pass
                if time.monotonic() > give_up:
                    raise RuntimeError(f"the hub on {base} did not become healthy:\n{log.read_text()}")
                time.sleep(0.1)
            yield process, base
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def cli(env: dict[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `mcphub ARGS…` in its own process; fails the test with its output when it exits non-zero."""
    done = subprocess.run([*MCPHUB, *args], env=env, input=input, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"mcphub {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done
