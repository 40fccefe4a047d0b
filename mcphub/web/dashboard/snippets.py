"""Copy-ready client configuration for this hub: one place, used after sign-up, on /keys and on /connect.

Each snippet is exactly what the client's documentation asks for, filled in with the hub's real MCP URL
and (when it was just created) the key itself; otherwise a placeholder the person replaces.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

__all__ = ["KEY_PLACEHOLDER", "Snippet", "client_snippets"]

KEY_PLACEHOLDER = "mcp_sk_…"
MCP_REMOTE = "mcp-remote@0.15.1"  # the version tools/js pins and tests/e2e drives


@dataclass(frozen=True, slots=True)
class Snippet:
    id: str
    client: str
    where: str  # the file or place it goes
    text: str


def _json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def client_snippets(mcp_url: str, key: str | None, mcphub: str = "mcphub") -> list[Snippet]:
    """Configuration for Claude Code, Claude Desktop (bridge and mcp-remote), Cursor and VS Code."""
    secret = key or KEY_PLACEHOLDER
    bearer = f"Bearer {secret}"
    return [
        Snippet(
            "claude-code",
            "Claude Code",
            "Run in a terminal",
            f"claude mcp add --transport http mcphub {shlex.quote(mcp_url)} --header {shlex.quote('Authorization: ' + bearer)}",
        ),
        Snippet(
            "claude-desktop",
            "Claude Desktop",
            "claude_desktop_config.json (stdio, bridged by mcphub connect)",
            _json(
                {
                    "mcpServers": {
                        "mcphub": {"command": mcphub, "args": ["connect", "--url", mcp_url, "--token", secret]}
                    }
                }
            ),
        ),
        Snippet(
            "mcp-remote",
            "Claude Desktop with mcp-remote",
            "claude_desktop_config.json (needs Node.js)",
            _json(
                {
                    "mcpServers": {
                        "mcphub": {
                            "command": "npx",
                            "args": ["-y", MCP_REMOTE, mcp_url, "--header", f"Authorization: {bearer}"],
                        }
                    }
                }
            ),
        ),
        Snippet(
            "cursor",
            "Cursor",
            "~/.cursor/mcp.json",
            _json({"mcpServers": {"mcphub": {"url": mcp_url, "headers": {"Authorization": bearer}}}}),
        ),
        Snippet(
            "vscode",
            "VS Code",
            ".vscode/mcp.json",
            _json({"servers": {"mcphub": {"type": "http", "url": mcp_url, "headers": {"Authorization": bearer}}}}),
        ),
    ]
