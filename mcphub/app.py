"""Assembles the hub's ASGI app.

POST/GET/DELETE /mcp         streamable HTTP, all integrations (`<slug>__<tool>`), both protocol eras
POST/GET/DELETE /mcp/<slug>  one integration, unprefixed names
GET /sse + POST /messages/   the legacy HTTP+SSE transport (aggregated)
GET /healthz                 200 once the catalog is loaded, with package and tool counts
GET /metrics                 Prometheus
POST /admin/reload           rescan the catalog dirs and swap (Bearer admin token)
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from mcphub.runtime.catalog import Catalog
from mcphub.runtime.credentials import CredentialProvider
from mcphub.runtime.hub import Hub
from mcphub.runtime.metrics import CONTENT_TYPE_LATEST

__all__ = ["Settings", "create_app", "run_server"]

logger = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _env_admin_token() -> str | None:
    return os.environ.get("MCPHUB_ADMIN_TOKEN") or None


@dataclass
class Settings:
    """How to run the hub; the CLI fills it from flags and the environment."""

    host: str = "127.0.0.1"
    port: int = 8765
    data_dir: Path = Path("data")
    catalog_dirs: list[Path] = field(default_factory=lambda: [Path("generated")])
    admin_token: str | None = field(default_factory=_env_admin_token)  # MCPHUB_ADMIN_TOKEN; generated if unset
    # Extra Host header values to accept besides loopback (DNS-rebinding protection when bound to loopback).
    allowed_hosts: list[str] = field(default_factory=list)
    session_idle_timeout_s: float = 1800.0


def _transport_security(settings: Settings) -> TransportSecuritySettings | None:
    """DNS-rebinding protection when serving on loopback (a browser page must not reach a local hub)."""
    if settings.host not in _LOOPBACK:
        return None
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", *settings.allowed_hosts]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


class _McpEndpoint:
    """ASGI app for `/mcp` and `/mcp/<slug>`: one session manager serves both (the handlers read the route).

    The SDK's session manager runs once per instance, so each app lifespan gets a fresh one.
    """

    def __init__(self, hub: Hub, settings: Settings) -> None:
        self.hub = hub
        self.settings = settings
        self.manager: StreamableHTTPSessionManager | None = None

    def new_manager(self) -> StreamableHTTPSessionManager:
        self.manager = StreamableHTTPSessionManager(
            app=self.hub.server,
            security_settings=_transport_security(self.settings),
            session_idle_timeout=self.settings.session_idle_timeout_s,
        )
        return self.manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        slug = scope.get("path_params", {}).get("slug")
        if self.manager is None or (slug is not None and slug not in self.hub.snapshot.mounts):
            error = "the hub is not running" if self.manager is None else f"no integration {slug!r} is mounted"
            await JSONResponse({"error": error}, status_code=503 if self.manager is None else 404)(scope, receive, send)
            return
        await self.manager.handle_request(scope, receive, send)


class _SseEndpoint:
    """ASGI app for `GET /sse`: one legacy SSE session, served until the client goes away."""

    def __init__(self, hub: Hub, transport: SseServerTransport) -> None:
        self.hub = hub
        self.transport = transport

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with self.transport.connect_sse(scope, receive, send) as (read_stream, write_stream):
                server = self.hub.server
                await server.run(read_stream, write_stream, server.create_initialization_options())
        except ValueError:
            return  # the transport already answered (rejected Host/Origin)


def create_app(settings: Settings, *, credentials: CredentialProvider | None = None) -> Starlette:
    """The hub as a Starlette app; packages are loaded from `settings.catalog_dirs` at startup."""
    admin_token = settings.admin_token
    if admin_token is None:
        admin_token = secrets.token_urlsafe(32)
        print(f"mcphub: admin token for this run (set MCPHUB_ADMIN_TOKEN to fix it): {admin_token}", file=sys.stderr)
    catalog = Catalog(settings.catalog_dirs)
    hub = Hub(catalog, credentials=credentials)
    sse = SseServerTransport("/messages/", security_settings=_transport_security(settings))
    mcp_endpoint = _McpEndpoint(hub, settings)
    ready = False

    async def healthz(request: Request) -> Response:
        snapshot = hub.snapshot
        body: dict[str, Any] = {
            "status": "ok" if ready else "starting",
            "packages": sorted(snapshot.mounts),
            "tools": snapshot.tool_count(),
            "errors": snapshot.errors,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        return Response(hub.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def reload(request: Request) -> Response:
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), admin_token.encode()):
            return JSONResponse(
                {"error": "admin token required: Authorization: Bearer <MCPHUB_ADMIN_TOKEN>"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        report = await hub.reload()
        return JSONResponse(report.as_dict())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal ready
        report = await hub.reload()
        logger.info("mounted %d package(s): %s", len(report.loaded), ", ".join(report.loaded) or "none")
        ready = True
        try:
            async with mcp_endpoint.new_manager().run():
                yield
        finally:
            ready = False
            await catalog.aclose()

    routes = [
        Route("/mcp", endpoint=mcp_endpoint, methods=["GET", "POST", "DELETE"]),
        Route("/mcp/{slug}", endpoint=mcp_endpoint, methods=["GET", "POST", "DELETE"]),
        Route("/sse", endpoint=_SseEndpoint(hub, sse), methods=["GET"]),
        Mount("/messages", app=sse.handle_post_message),
        Route("/healthz", endpoint=healthz, methods=["GET"]),
        Route("/metrics", endpoint=metrics, methods=["GET"]),
        Route("/admin/reload", endpoint=reload, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.hub = hub
    app.state.settings = settings
    return app


def run_server(settings: Settings) -> None:
    """Serve the hub with uvicorn until interrupted."""
    import uvicorn

    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", lifespan="on")
