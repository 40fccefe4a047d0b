"""The SDK internals the fast path reads (through `mcphub.runtime.mcp.sdk`) are where the pinned SDK keeps them.

A failure here means the installed MCP SDK moved them: update `mcphub/runtime/mcp/sdk.py` for the new version (and
`PINNED_SDK`), never the fast path itself.
"""

from __future__ import annotations

import importlib.metadata

import anyio
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from mcphub.runtime.mcp import sdk

INSTALLED = f"mcp=={importlib.metadata.version('mcp')}"
MOVED = f"the MCP SDK's internals moved (adapter written for {sdk.PINNED_SDK}, installed {INSTALLED})"


def test_the_adapter_is_for_the_installed_sdk() -> None:
    assert sdk.PINNED_SDK == INSTALLED, f"{MOVED}: check mcphub/runtime/mcp/sdk.py against the new SDK"


def test_session_lookup_and_owner_are_read_where_the_sdk_keeps_them() -> None:
    manager = StreamableHTTPSessionManager(app=Server("probe"))
    transport = StreamableHTTPServerTransport(mcp_session_id="s-1", idle_timeout=30.0)
    owner = object()
    try:
        manager._server_instances["s-1"] = transport
        manager._session_owners["s-1"] = owner
    except AttributeError as exc:  # pragma: no cover - only on an SDK change
        raise AssertionError(f"{MOVED}: {exc}") from exc
    assert sdk.live_transport(manager, "s-1") is transport, MOVED
    assert sdk.live_transport(manager, "unknown") is None, MOVED
    assert sdk.session_owner(manager, "s-1") is owner, MOVED


async def test_the_idle_countdown_restarts_as_the_sdk_restarts_it() -> None:
    transport = StreamableHTTPServerTransport(mcp_session_id="s-1", idle_timeout=30.0)
    assert hasattr(transport, "_idle_timeout") and hasattr(transport, "idle_scope"), MOVED
    with anyio.CancelScope() as scope:
        transport.idle_scope = scope
        sdk.restart_idle_countdown(transport)
        assert scope.deadline - anyio.current_time() > 29, MOVED


def test_what_the_replica_session_manager_overrides_and_reads_is_where_it_was() -> None:
    """`sdk.HubSessionManager` overrides two of the manager's methods and reads a transport's inbound writer."""
    for name in ("_handle_stateful_request", "_admit_session", "_discard_session", "_session_creation_lock"):
        assert hasattr(StreamableHTTPSessionManager(app=Server("probe")), name), f"{MOVED}: {name}"
    transport = StreamableHTTPServerTransport(mcp_session_id="s-1")
    assert hasattr(transport, "_read_stream_writer") and hasattr(transport, "close_standalone_sse_stream"), MOVED
    assert hasattr(transport, "mcp_session_id"), MOVED


async def test_a_legacy_sse_session_is_found_owned_and_written_to_where_the_sdk_keeps_it() -> None:
    """`legacysse.LegacySse` finds the session `connect_sse` opened (by its read stream), its owner and its writer."""
    from uuid import uuid4

    from mcp.server.auth.middleware.bearer_auth import AuthorizationContext
    from mcp.server.sse import SseServerTransport
    from mcp.shared._context_streams import create_context_streams

    transport = SseServerTransport("/messages/")
    writer, reader = create_context_streams[object](0)
    session_id = uuid4()
    try:
        transport._read_stream_writers[session_id] = writer  # type: ignore[assignment]
        transport._session_owners[session_id] = AuthorizationContext(client_id="c", issuer="i", subject="s")
    except AttributeError as exc:  # pragma: no cover - only on an SDK change
        raise AssertionError(f"{MOVED}: {exc}") from exc
    assert sdk.sse_session_of(transport, reader) == session_id, MOVED
    assert sdk.sse_writer(transport, session_id) is writer, MOVED
    assert sdk.sse_session_owner(transport, session_id) == ("c", "i", "s"), MOVED
    assert sdk.sse_session_of(transport, create_context_streams[object](0)[1]) is None, MOVED
