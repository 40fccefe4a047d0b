"""deploy/haproxy.cfg run as a real HAProxy process on 127.0.0.1 (Debian's package, `make haproxy`)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
from runtime.support import closed_port

ROOT = Path(__file__).resolve().parents[2]
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def haproxy_config(hubs: list[str], port: int) -> str:
    """deploy/haproxy.cfg with this machine's addresses: the balancer on `port`, one server per replica."""
    config = (ROOT / "deploy" / "haproxy.cfg").read_text()
    config = config.replace("bind *:8765", f"bind 127.0.0.1:{port}")
    config = re.sub(r"^    server hub\d+ hub\d+:8765\n", "", config, flags=re.MULTILINE)
    # `backend hubs` is the file's last section: the servers appended below belong to it.
    servers = "".join(f"    server hub{i} {base.removeprefix('http://')}\n" for i, base in enumerate(hubs, 1))
    return config + servers


@contextmanager
def haproxy(folder: Path, hubs: list[str], *, deadline_s: float = 20.0) -> Iterator[str]:
    """HAProxy in front of `hubs` (base URLs); yields its base URL once it passes /healthz on; stops it after."""
    port = closed_port()
    config = folder / f"haproxy-{port}.cfg"
    config.write_text(haproxy_config(hubs, port))
    log = (folder / f"haproxy-{port}.log").open("wb")
    process = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        give_up = time.monotonic() + deadline_s
        while True:
            assert process.poll() is None, (folder / f"haproxy-{port}.log").read_text()
            try:
                if httpx2.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            assert time.monotonic() < give_up, f"HAProxy on {base} did not pass requests on"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
