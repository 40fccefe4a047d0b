"""`mcphub connect`: a stdio MCP server that relays every message to a hub over streamable HTTP.

Stdio-only clients (Claude Desktop) launch `mcphub connect --url … --token …`; the bridge is a
transparent JSON-RPC relay, so whatever the client speaks reaches the hub unchanged: the
handshake era (initialize, Mcp-Session-Id, GET stream for notifications — the SDK's HTTP client
transport keeps the session) or the 2026-07-28 era, whose requests carry their protocol version in
`_meta`; for those the bridge adds the routing headers (`Mcp-Protocol-Version`, `Mcp-Method`,
`Mcp-Name`) an HTTP client must send. The token travels as `Authorization: Bearer`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

import anyio
import httpx2
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    NAME_BEARING_METHODS,
    encode_header_value,
)
from mcp.shared.message import ClientMessageMetadata, SessionMessage
from mcp_types import PROTOCOL_VERSION_META_KEY, ErrorData, JSONRPCError, JSONRPCRequest

__all__ = ["run_bridge"]

logger = logging.getLogger(__name__)


def _modern_headers(message: JSONRPCRequest) -> dict[str, str] | None:
    """Routing headers for a request carrying the 2026-07-28 envelope; None for handshake-era traffic."""
    params: Mapping[str, Any] = message.params or {}
    meta = params.get("_meta")
    if not isinstance(meta, Mapping):
        return None
    version = meta.get(PROTOCOL_VERSION_META_KEY)
    if not isinstance(version, str):
        return None
    headers = {MCP_PROTOCOL_VERSION_HEADER: version, MCP_METHOD_HEADER: message.method}
    name_key = NAME_BEARING_METHODS.get(message.method)
    name = params.get(name_key) if name_key is not None else None
    if isinstance(name, str):
        headers[MCP_NAME_HEADER] = encode_header_value(name)
    return headers


async def _to_hub(
    source: ReadStream[SessionMessage | Exception], sink: WriteStream[SessionMessage], done: anyio.CancelScope
) -> None:
    try:
        async with sink:
            async for item in source:
                if isinstance(item, Exception):
                    logger.warning("dropping a malformed message from the stdio client: %s", item)
                    continue
                message = item.message
                if isinstance(message, JSONRPCRequest) and (headers := _modern_headers(message)) is not None:
                    item = SessionMessage(message, metadata=ClientMessageMetadata(headers=headers))
                await sink.send(item)
    finally:
        done.cancel()  # the client closed stdin: the bridge is done


class _Refusal:
    """Remembers why the hub refused the key, to replace the SDK's generic error for a 401/403 with it."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.token = token
        self.reason: str | None = None

    async def on_response(self, response: httpx2.Response) -> None:
        if response.status_code not in (401, 403) or self.reason is not None:
            return
        if self.token is None:
            self.reason = (
                f"the hub at {self.url} needs an API key (HTTP {response.status_code}): pass --token mcp_sk_… "
                "or set MCPHUB_TOKEN; `mcphub keys create --name NAME` makes one"
            )
        else:
            self.reason = (
                f"the hub at {self.url} refused the API key {self.token[:15]}… (HTTP {response.status_code}: "
                "invalid, expired or revoked): check --token / MCPHUB_TOKEN, or make a new key with "
                "`mcphub keys create --name NAME` (`mcphub keys list` shows which keys are active)"
            )
        logger.error("%s", self.reason)

    def explain(self, message: JSONRPCError) -> JSONRPCError:
        # The SDK turns any non-JSON-RPC HTTP error into this one message, whatever the status was.
        if self.reason is None or message.error.message != "Server returned an error response":
            return message
        return JSONRPCError(jsonrpc="2.0", id=message.id, error=ErrorData(code=message.error.code, message=self.reason))


async def _to_client(
    source: ReadStream[SessionMessage | Exception], sink: WriteStream[SessionMessage], refusal: _Refusal
) -> None:
    # Closing the stdio write side (also on cancellation) is what lets stdio_server() finish.
    async with sink:
        async for item in source:
            if isinstance(item, Exception):
                logger.warning("hub connection problem: %s", item)
                continue
            if isinstance(item.message, JSONRPCError):
                item = SessionMessage(refusal.explain(item.message), metadata=item.metadata)
            await sink.send(item)


async def bridge(url: str, token: str | None, *, http_client: httpx2.AsyncClient | None = None) -> None:
    """Relay stdio <-> `url` until the stdio client closes its end."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    # The SDK's defaults: the hub may hold a response stream open for minutes.
    client = http_client or httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
    refusal = _Refusal(url, token)
    client.event_hooks["response"] = [*client.event_hooks["response"], refusal.on_response]
    async with (
        client,
        streamable_http_client(url, http_client=client) as (hub_read, hub_write),
        stdio_server() as (stdio_read, stdio_write),
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(_to_hub, stdio_read, hub_write, tg.cancel_scope)
        tg.start_soon(_to_client, hub_read, stdio_write, refusal)


def _transport_failure(exc: BaseException) -> httpx2.HTTPError | None:
    if isinstance(exc, httpx2.HTTPError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := _transport_failure(inner)) is not None:
                return found
    return None


def run_bridge(url: str, token: str | None) -> None:
    """Serve MCP on stdin/stdout, relaying to the hub at `url` (blocking; logs go to stderr).

    Exits with status 1 and a one-line reason on stderr (which MCP clients show in their logs)
    when the hub cannot be reached.
    """
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="mcphub connect: %(message)s")
    try:
        anyio.run(bridge, url, token)
    except BaseException as exc:
        failure = _transport_failure(exc)
        if failure is None:
            raise
        print(f"mcphub connect: cannot reach the hub at {url}: {failure}", file=sys.stderr)
        raise SystemExit(1) from None
