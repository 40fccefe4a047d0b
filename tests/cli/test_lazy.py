"""The CLI loads a subcommand only when it runs: `--help` imports neither the runtime nor the SDK (issue 10)."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mcphub.cli import main
from mcphub.commands import COMMANDS, load

# What a start must not pay for: the runtime, the compiler, the MCP SDK, the database layer, the web stack.
HEAVY = ("mcphub.runtime", "mcphub.compiler", "mcphub.app", "mcphub.web", "mcp", "sqlalchemy", "pydantic", "starlette")

PROBE = """
import json, sys
from mcphub.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["compile", "--help"], ["inspect", "--help"], ["--version"]])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60, check=True)
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    heavy = [m for m in modules if any(m == h or m.startswith(f"{h}.") for h in HEAVY)]
    assert heavy == [], f"`mcphub {' '.join(args)}` imported {heavy}"
    assert "Usage:" in done.stdout or "version" in done.stdout


def test_a_tenancy_command_does_not_load_the_sdk_or_the_web_stack(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MCPHUB_")},
        "MCPHUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
        "MCPHUB_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "keys", "list"], capture_output=True, text=True, timeout=120, env=env, check=True
    )
    assert "no users yet" in done.stderr  # it opened (and migrated) the database
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    web = ("mcp", "mcp_types", "mcphub.app", "mcphub.web", "starlette", "uvicorn")
    assert [m for m in modules if any(m == h or m.startswith(f"{h}.") for h in web)] == []


def test_the_table_names_each_command_with_its_own_help_line() -> None:
    for name, entry in COMMANDS.items():
        command = load(name)
        assert isinstance(command, click.Command), name
        doc = inspect.getdoc(command.callback) or ""
        assert doc.splitlines()[0] == entry.help, f"{name}: the table's help line differs from {entry.target}'s"


def test_top_level_help_lists_every_command_and_each_one_loads() -> None:
    runner = CliRunner()
    listing = runner.invoke(main, ["--help"])
    assert listing.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in listing.output
        shown = runner.invoke(main, [name, "--help"])
        assert shown.exit_code == 0 and "Usage:" in shown.output, shown.output


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["compil"])
    assert result.exit_code == 2 and "No such command 'compil'" in result.output
