"""The `mcphub` subcommands, one module each, and the table the CLI loads them from on first use.

`COMMANDS` maps a command name to where it lives ("module:attribute") and its one-line help: `mcphub --help`
prints the lines from this table without importing any command, so the CLI starts in a blink, and a
command's module (with the runtime, the compiler or the MCP SDK it needs) is imported only when that
command runs. A new command is a module here plus one line in the table; `tests/cli/test_lazy.py`
checks that each line names a real command whose docstring starts with the same help line.

This module imports nothing of its own package: keep it that way (it is on the path of every start).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import click

__all__ = ["COMMANDS", "LazyCommand", "load", "register"]


class LazyCommand(NamedTuple):
    target: str  # "package.module:attribute"
    help: str  # the first line of the command's docstring


COMMANDS: dict[str, LazyCommand] = {
    "add": LazyCommand("mcphub.commands.add:add", "Mount a new API in one step: spec, compile, mount, enable."),
    "augment": LazyCommand(
        "mcphub.commands.augment:augment",
        "Propose better tool names and descriptions with the LLM, into specs/<slug>.augment.yaml for review.",
    ),
    "build": LazyCommand(
        "mcphub.commands.build:build",
        "Turn an API description, a URL, a repository, docs or a text into a spec, and compile it.",
    ),
    "compile": LazyCommand(
        "mcphub.commands.compile:compile", "Compile hub specs or API descriptions into MCP packages."
    ),
    "test": LazyCommand(
        "mcphub.commands.test:test_command",
        "Call every HTTP tool of a package through the real runtime and check each request against its source.",
    ),
    "inspect": LazyCommand(
        "mcphub.commands.inspect:inspect", "Load a compiled package exactly as the hub mounts it and list its tools."
    ),
    "serve": LazyCommand(
        "mcphub.commands.serve:serve",
        "Serve every compiled package behind one MCP endpoint (/mcp); clients authenticate with API keys.",
    ),
    "connect": LazyCommand(
        "mcphub.commands.connect:connect", "Bridge a stdio-only MCP client (Claude Desktop) to the hub over HTTP."
    ),
    "users": LazyCommand("mcphub.commands.users:users", "Accounts of this hub (the first one created is its admin)."),
    "keys": LazyCommand("mcphub.commands.keys:keys", "API keys: what agents send as `Authorization: Bearer mcp_sk_…`."),
    "integrations": LazyCommand(
        "mcphub.commands.integrations:integrations", "Enable or disable catalog integrations for a user."
    ),
    "credentials": LazyCommand(
        "mcphub.commands.credentials:credentials",
        "Upstream credentials per user and integration (encrypted at rest, never shown again).",
    ),
    "oauth": LazyCommand(
        "mcphub.commands.oauth:oauth",
        "Upstream OAuth (clients, connecting) and the OAuth grants the hub issued to MCP clients.",
    ),
    "usage": LazyCommand(
        "mcphub.commands.usage:usage", "Calls, errors and p50/p95 latency per integration (and tool) for a time range."
    ),
    "logs": LazyCommand("mcphub.commands.logs:logs", "Show the most recent calls (newest first)."),
    "db": LazyCommand("mcphub.commands.db:db", "The hub's database (SQLite in the data dir, or MCPHUB_DATABASE_URL)."),
    "secrets": LazyCommand("mcphub.commands.secrets:secrets", "The master key that encrypts credentials at rest."),
    "tools": LazyCommand("mcphub.commands.tools:tools", "Find tools across compiled packages."),
    "export": LazyCommand("mcphub.commands.export:export", "One integration as a standalone MCP server."),
    "servers": LazyCommand(
        "mcphub.commands.servers:servers", "Built integrations: list, show, versions, deploy, rollback, share, delete."
    ),
}


def load(name: str) -> click.Command:
    """Import the command `name` from its module (the first time it is used)."""
    module_name, _, attribute = COMMANDS[name].target.partition(":")
    command: click.Command = getattr(importlib.import_module(module_name), attribute)
    return command


def register(group: click.Group) -> None:
    """Attach every command to `group` now (for embedding the CLI in another click group, and for tests)."""
    for name in COMMANDS:
        group.add_command(load(name), name)
