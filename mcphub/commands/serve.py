"""`mcphub serve`: the hub itself (uvicorn), mounting every compiled package."""

from __future__ import annotations

from pathlib import Path

import click

from mcphub.commands._options import catalog, data_dir
from mcphub.commands.compile import DEFAULT_OUT

__all__ = ["serve"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8765, show_default=True, type=int)
@data_dir("Where the hub keeps its state: SQLite database (unless MCPHUB_DATABASE_URL is set) and vault key file.")
@catalog("Folder of compiled packages to mount (repeatable; default: generated/).")
def serve(host: str, port: int, data_dir: Path, catalogs: tuple[Path, ...]) -> None:
    """Serve every compiled package behind one MCP endpoint (/mcp); clients authenticate with API keys.

    \b
    At start the database is migrated (SQLite in --data-dir, or MCPHUB_DATABASE_URL) and, on the very
    first start (no users yet), an admin account (admin@localhost) and a first API key are created and
    printed ONCE with the command that connects Claude Code; integrations needing no credential are
    enabled for it. MCPHUB_REDIS_URL shares rate limits, revocations and change notifications between
    replicas.
    """
    from mcphub.app import Settings, run_server

    settings = Settings(
        host=host,
        port=port,
        data_dir=data_dir,
        catalog_dirs=list(catalogs) or [DEFAULT_OUT],
        first_run=True,
    )
    run_server(settings)
