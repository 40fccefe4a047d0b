"""What the benchmarks share: pinned peer venvs, child processes, servers on ephemeral ports, result files.

Stdlib only, so any benchmark can import it before (or without) the hub's own dependencies.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import math
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
RESULTS = ROOT / "bench" / "results"


# Every server in a benchmark runs on the same uvicorn stack (uvloop + httptools, the versions MCP Hub installs),
# so a ratio compares the MCP servers, not their event loops or HTTP parsers.
SERVER_STACK = tuple(f"{name}=={importlib.metadata.version(name)}" for name in ("uvloop", "httptools"))


def ensure_venv(distribution: str, version: str) -> Path:
    """The python of `.cache/bench/<distribution>-<version>`, a venv of its own with that pinned release installed.

    Peers never share our venv (or each other's), so their dependency pins can't change what we measure; each
    also gets `SERVER_STACK`.
    """
    venv = CACHE / f"{distribution.removeprefix('mcp-')}-{version}"
    python = venv / "bin" / "python"
    wanted = [f"{distribution}=={version}", *SERVER_STACK]
    probe = "import importlib.metadata as m, sys; print(' '.join(f'{n}=={m.version(n)}' for n in sys.argv[1:]))"
    names = [requirement.split("==")[0] for requirement in wanted]
    if python.exists():
        found = subprocess.run([str(python), "-c", probe, *names], capture_output=True, text=True, check=False)
        if found.stdout.split() == wanted:
            return python
    print(f"installing {' '.join(wanted)} into {venv} …", file=sys.stderr)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *wanted], check=True)
    return python


def run_child(python: str | Path, code: str, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run `code` in a fresh interpreter; its last stdout line is JSON, returned decoded."""
    full_env = {**os.environ, "PYTHONHASHSEED": "0", **(env or {})}
    result = subprocess.run([str(python), "-c", code, *args], capture_output=True, text=True, env=full_env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


@dataclass
class Timed:
    """One whole process, fork to exit: wall time, peak RSS (its own or a waited-for descendant's, e.g. semgrep),
    exit status, its stdout and the tail of its stderr."""

    seconds: float
    rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0  # user + system, its own and its waited-for descendants' (semgrep, ruff)


def run_timed(command: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> Timed:
    """Run `command` as a user would and time it from fork to exit (output to temp files, so no pipe can stall it)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(command), stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")[-3000:]
    cpu = usage.ru_utime + usage.ru_stime
    return Timed(seconds, usage.ru_maxrss / 1024, process.returncode, stdout, stderr, cpu)


def user_environment(**extra: str) -> dict[str, str]:
    """The environment a user's shell gives a command: no MCPHUB_* settings of this session, and bytecode written
    (a normal install has its .pyc files; PYTHONDONTWRITEBYTECODE would make every process compile every module)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPHUB_") and k != "PYTHONDONTWRITEBYTECODE"}
    return env | extra


# Prepended to server child code: `serve(app)` binds 127.0.0.1:0, prints `PORT <n>` and runs uvicorn.
# proto=IPPROTO_TCP makes asyncio set TCP_NODELAY on accepted connections (else Nagle adds ~40 ms to replies).
SERVE_PRELUDE = textwrap.dedent(
    """
    import socket as _socket, sys as _sys
    def serve(app, **config):
        import uvicorn
        sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM, _socket.IPPROTO_TCP)
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        print(f"PORT {sock.getsockname()[1]}", flush=True)
        config = {"log_level": "warning", "access_log": False, "lifespan": "on", "loop": "uvloop", "http": "httptools", **config}
        uvicorn.Server(uvicorn.Config(app, **config)).run(sockets=[sock])
    """
)


@dataclass
class Server:
    """A server child process and where it listens."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def free_port() -> int:
    """A free 127.0.0.1 port, for servers that take `--port` rather than a socket (there is a small race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_status(url: str, *, timeout: float = 2.0, headers: dict[str, str] | None = None) -> int | None:
    """The status of a GET, or None when nothing answers."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, urllib.error.URLError):
        return None


def wait_ready(
    url: str, *, deadline_s: float, process: subprocess.Popen[bytes] | None = None, any_status: bool = False
) -> float:
    """Poll `url` until it answers 200 (any status with `any_status`); returns the monotonic time it did."""
    give_up = time.monotonic() + deadline_s
    while True:
        status = http_status(url, timeout=1.0)
        if status == 200 or (any_status and status is not None):
            return time.monotonic()
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with status {process.returncode} before it was ready")
        if time.monotonic() > give_up:
            raise RuntimeError(f"{url} did not answer 200 within {deadline_s:.0f} s")
        time.sleep(0.005)


def _read_port(process: subprocess.Popen[bytes], stdout: IO[bytes], deadline_s: float) -> int:
    """The port from the child's `PORT <n>` line; lines it prints before (banners, warnings) are skipped."""
    give_up = time.monotonic() + deadline_s
    buffered = b""
    while True:
        *lines, buffered = buffered.split(b"\n")
        for line in lines:
            if line.startswith(b"PORT "):
                return int(line.split()[1])
        remaining = give_up - time.monotonic()
        if remaining <= 0:
            raise RuntimeError("the server did not report its port in time")
        ready, _, _ = select.select([stdout], [], [], min(remaining, 0.2))
        if ready:
            chunk = os.read(stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"the server exited (status {process.wait()}) before reporting its port")
            buffered += chunk


def stop(process: subprocess.Popen[Any], *, grace_s: float = 5.0) -> None:
    """SIGINT (uvicorn's graceful shutdown), then SIGKILL; only this one process id."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextmanager
def server_process(
    name: str,
    python: str | Path,
    code: str,
    *args: str,
    health_path: str | None = "/",
    env: dict[str, str] | None = None,
    deadline_s: float = 60.0,
    log_dir: Path | None = None,
    cwd: Path = ROOT,
) -> Iterator[Server]:
    """Run `SERVE_PRELUDE + code` (which calls `serve(app)`) in a child; yields once `health_path` answers 200.

    With `health_path=None` any HTTP answer at `/` will do (for servers without a health route).
    """
    log = Path(log_dir or tempfile.gettempdir()) / f"bench-{name}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [str(python), "-c", SERVE_PRELUDE + textwrap.dedent(code), *args],
            stdout=subprocess.PIPE,
            stderr=log_file,
            env={**os.environ, **(env or {})},
            cwd=str(cwd),
        )
        try:
            assert process.stdout is not None
            try:
                port = _read_port(process, process.stdout, deadline_s)
                server = Server(name, process, f"http://127.0.0.1:{port}", log)
                url = server.base_url + (health_path or "/")
                wait_ready(url, deadline_s=deadline_s, process=process, any_status=health_path is None)
            except RuntimeError as exc:
                raise RuntimeError(f"{name}: {exc}\n{log.read_text(errors='replace')[-3000:]}") from None
            yield server
        finally:
            stop(process)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = min(len(sorted_values), max(1, math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def write_result(name: str, text: str) -> Path:
    """Write `bench/results/<name>-<UTC date>.md` (gitignored); returns its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{dt.datetime.now(dt.UTC):%Y-%m-%d}.md"
    path.write_text(text)
    return path


def machine_line() -> str:
    """One line saying where the numbers come from."""
    return f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
