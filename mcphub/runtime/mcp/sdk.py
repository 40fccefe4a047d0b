"""Everything the hub takes from the MCP SDK's internals, in one place, for the pinned SDK (`mcp==2.3.0`).

The fast path (`fastpath.py`) applies the same session lookup, owner check and idle countdown as the SDK's
streamable-HTTP session manager, which keeps them in private members. Reading them here, and only here, means an
SDK upgrade that moves them breaks one module, and `tests/runtime/test_sdk_adapter.py` says so by name (with the
SDK version) instead of the fast path silently stepping aside or, worse, skipping a check.
"""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

__all__ = ["PINNED_SDK", "live_transport", "restart_idle_countdown", "session_owner"]

PINNED_SDK = "mcp==2.3.0"  # the version whose internals this module reads (pyproject.toml pins it)


def live_transport(manager: StreamableHTTPSessionManager, session_id: str) -> StreamableHTTPServerTransport | None:
    """The transport of a session the manager holds and has not terminated, or None."""
    transport: StreamableHTTPServerTransport | None = manager._server_instances.get(session_id)
    if transport is None or transport.is_terminated:
        return None
    return transport


def session_owner(manager: StreamableHTTPSessionManager, session_id: str) -> Any:
    """Who opened the session (the SDK's `authorization_context` of that request), compared on every request."""
    return manager._session_owners.get(session_id)


def restart_idle_countdown(transport: StreamableHTTPServerTransport) -> None:
    """What the SDK does for every request it serves on a session: start its idle timeout again."""
    idle = transport.idle_scope
    timeout = transport._idle_timeout
    if idle is not None and timeout is not None:
        idle.deadline = anyio.current_time() + timeout
