"""Fixtures for the CLI tests: real `mcphub` processes on a real database (SQLite file and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.hub_process import MCPHUB, hub_env
from tenancy.conftest import _clean_env, db_url, pg_database, sqlite_template  # noqa: F401  (fixtures)

from mcphub.cli import main
from mcphub.compiler.ir import AuthScheme, Integration, SourceInfo, Tool

Run = Callable[..., Any]


@dataclass
class Done:
    """A finished command: exit status and what it printed on each stream."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(env: dict[str, str], *args: str, input: str | None = None, code: int = 0) -> Done:
    """`mcphub ARGS` through the real entry point (in this process: each new process costs seconds of imports)."""
    result = CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)
    done = Done(result.exit_code, result.stdout, result.stderr)
    assert done.returncode == code, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


def run_process(
    env: dict[str, str], *args: str, input: str | None = None, cwd: Path | None = None, code: int = 0
) -> subprocess.CompletedProcess[str]:
    """`mcphub ARGS` as its own process, as a user runs it."""
    done = subprocess.run(
        [*MCPHUB, *args], env=env, input=input, capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )
    assert done.returncode == code, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:  # noqa: F811  (the imported fixture)
    """The environment of the CLI processes: one database, one data dir, no Redis, no configured user."""
    return hub_env(db_url, tmp_path / "data")


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    """Like `env`, on a SQLite file only (the CLI migrates it on first use)."""
    return hub_env(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}", tmp_path / "data")


@pytest.fixture
def mcphub(env: dict[str, str]) -> Run:
    return lambda *args, **options: run_cli(env, *args, **options)


def as_json(done: Done | subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout)


def write_catalog(folder: Path) -> Path:
    """A catalog with `time` (no credential needed) and `github` (a token needed), as compiled manifests."""
    for slug, auth in (("time", []), ("github", [AuthScheme(id="token", type="bearer")])):
        integration = Integration(
            slug=slug,
            name=slug.title(),
            source=SourceInfo(kind="openapi"),
            base_url=f"https://{slug}.example.com",
            auth=auth,
            tools=[Tool(name="get_current_time")],
        )
        (folder / slug).mkdir(parents=True)
        (folder / slug / "manifest.json").write_text(integration.to_manifest())
    return folder


def create_user(env: dict[str, str], email: str, *extra: str) -> Any:
    return as_json(
        run_cli(env, "users", "create", email, "--password-stdin", "--json", *extra, input="long enough password\n")
    )
