"""A newcomer's first hour, literally: clone the repository into an empty folder and run the README's commands.

The commands come from the README's "Two commands" block, so the README and this test cannot drift. The first
(`make serve`) must set everything up from nothing and start a hub whose printed key calls the `time` tool; of the
second (`make test`) the set-up part runs (`make test-prep`: installs, lint, types, `compile --check` — every step
but the suite itself, which must not run itself). The clone has nothing beside it: no `../shared`, no `.venv`,
no `.tools`. Installers' download caches (uv, pip, npm) are shared with this machine, as a newcomer's would be
on a second try; everything else is the clone's own.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from runtime.support import mcp_client

REPO = Path(__file__).resolve().parents[2]
FIRST_KEY = re.compile(r"^\s*API key:\s+(mcp_sk_\S+)\s*$", re.MULTILINE)
SERVE_DEADLINE_S = 600.0  # a fresh clone installs .venv and fetches the pinned API descriptions first
PREP_TIMEOUT_S = 1200


def readme_commands() -> list[str]:
    """The commands of the README's "Two commands" block, comments stripped, in order."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Two commands", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "README.md: the 'Two commands' section has no ```sh block"
    commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [command for command in commands if command]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`git clone` of this repository's HEAD into a folder with nothing beside it."""
    target = tmp_path_factory.mktemp("newcomer") / "mcphub"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(target)], check=True, timeout=120)
    assert not (target.parent / "shared").exists()
    return target


def newcomer_env(port: int) -> dict[str, str]:
    """The machine's environment, minus what this test run set up for itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCPHUB_", "VIRTUAL_ENV", "PYTEST"))}
    env["PORT"] = str(port)  # the Makefile's `PORT ?= 8765`: another hub may be on the default port here
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def served(clone: Path) -> Iterator[tuple[str, str, str]]:
    """The README's first command, run in the clone until the hub answers; yields (mcp url, key, output)."""
    first = readme_commands()[0]
    assert first == "make serve", f"the README's first command changed to {first!r}: update this test's reading"
    port = free_port()
    log = clone / "make-serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            shlex.split(first),
            cwd=clone,
            env=newcomer_env(port),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # make, mcphub serve and their children: stopped together below
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVE_DEADLINE_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"`{first}` exited with {process.returncode} in a fresh clone:\n{log.read_text()}")
            try:
                if httpx2.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"`{first}` did not answer on {url} within {SERVE_DEADLINE_S:.0f} s:\n{log.read_text()}")
            time.sleep(0.5)
        output = log.read_text()
        key = FIRST_KEY.search(output)
        assert key, f"`{first}` printed no API key on its first run:\n{output}"
        yield f"{url}/mcp", key.group(1), output
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


async def test_make_serve_on_a_fresh_clone_serves_the_time_tool_to_the_printed_key(
    served: tuple[str, str, str],
) -> None:
    mcp_url, key, output = served
    assert "==> Python dependencies" in output  # it said what it was doing while it worked
    assert f'claude mcp add --transport http mcphub {mcp_url} --header "Authorization: Bearer {key}"' in output
    async with mcp_client(mcp_url, key) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "time__get_current_time" in names, sorted(names)
        result = await client.call_tool("time__get_current_time", {"timezone": "Europe/Paris"})
        assert result.is_error is False, result.content
        answer = result.structured_content or json.loads(result.content[0].text)  # type: ignore[union-attr]
        assert answer["timezone"] == "Europe/Paris"


def test_the_set_up_part_of_make_test_passes_on_a_fresh_clone(clone: Path) -> None:
    second = readme_commands()[1]
    assert second == "make test", f"the README's second command changed to {second!r}: update this test's reading"
    # `make test` = `make test-prep` (installs, lint, types, compile --check) + the suite, which must not run itself.
    done = subprocess.run(
        ["make", "test-prep"],
        cwd=clone,
        env=newcomer_env(free_port()),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=PREP_TIMEOUT_S,
    )
    assert done.returncode == 0, (
        f"`make test-prep` failed in a fresh clone:\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    )
    assert "generated/ is stale" not in done.stdout
