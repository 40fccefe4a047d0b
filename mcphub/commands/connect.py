"""`mcphub connect`: the stdio bridge for MCP clients that cannot speak HTTP."""

from __future__ import annotations

import click

__all__ = ["connect"]


@click.command()
@click.option("--url", required=True, help="The hub's MCP endpoint, e.g. http://127.0.0.1:8765/mcp")
@click.option("--token", envvar="MCPHUB_TOKEN", help="API key (mcp_sk_…); defaults to $MCPHUB_TOKEN.")
def connect(url: str, token: str | None) -> None:
    """Bridge a stdio-only MCP client (Claude Desktop) to the hub over HTTP.

    When the hub refuses the key (HTTP 401), the client gets an error saying so and what to do, and the
    same line goes to stderr (which MCP clients keep in their logs).
    """
    from mcphub.runtime.mcp.bridge import run_bridge

    run_bridge(url, token)
