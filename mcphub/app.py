"""Assembles the hub's ASGI app.

POST/GET/DELETE /mcp         streamable HTTP, all integrations (`<slug>__<tool>`), both protocol eras
POST/GET/DELETE /mcp/search  all integrations in the search view (search_tools, call_tool, describe_tool)
POST/GET/DELETE /mcp/<slug>  one integration, unprefixed names
GET /sse + POST /messages/   the legacy HTTP+SSE transport (aggregated; any replica, mcp/legacysse.py)
/api/v1/…, /oauth/callback/<slug>   the JSON API of accounts, keys, integrations, credentials, usage
GET /.well-known/oauth-protected-resource   RFC 9728 metadata (where a 401 points)
GET /healthz                 200 once the catalog is loaded and the database is open
GET /metrics                 Prometheus (Bearer admin token or an admin's API key, unless MCPHUB_METRICS_PUBLIC=1)
/, /signin, /integrations, … the dashboard (web/dashboard/); /static/… its assets under content-hashed names
POST /admin/reload           rescan the catalog dirs and swap (Bearer admin token or an admin's API key)

Every MCP route (/mcp, /mcp/<slug>, /sse, /messages) needs an API key (`Authorization: Bearer mcp_sk_…`);
without one the answer is 401 with `WWW-Authenticate` pointing at the protected-resource metadata. The
tenancy services (database, vault, policy, usage) open in the lifespan, in the server's event loop.
"""

from __future__ import annotations

import contextlib
import gc
import hmac
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from mcphub.runtime.catalog import Catalog, ReloadReport
from mcphub.runtime.mcp import sdk
from mcphub.runtime.mcp.context import VIEW_SCOPE_KEY
from mcphub.runtime.mcp.fastpath import FastPath
from mcphub.runtime.mcp.hub import Hub
from mcphub.runtime.mcp.legacysse import LegacySse
from mcphub.runtime.mcp.metrics import CONTENT_TYPE_LATEST
from mcphub.runtime.mcp.replicas import SessionChannel, SessionSeal
from mcphub.runtime.mcp.sdk import HubSessionManager
from mcphub.runtime.oauth.authserver import authenticate_bearer
from mcphub.runtime.tenancy.accounts import Accounts, KeyPrincipal
from mcphub.runtime.tenancy.builds import Deployed
from mcphub.runtime.tenancy.firstrun import bootstrap
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.runtime.upstream.credentials import CredentialProvider
from mcphub.servers import Servers
from mcphub.web import servers_api
from mcphub.web.api import create_api_routes
from mcphub.web.dashboard import create_dashboard_routes, static_route
from mcphub.web.keyauth import METADATA_PATH, KeyAuthMiddleware, bearer_token, resource_metadata_url
from mcphub.web.oauth_pages import create_oauth_routes, protected_resource_metadata_url

__all__ = ["Settings", "create_app", "run_server"]

logger = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _env_admin_token() -> str | None:
    return os.environ.get("MCPHUB_ADMIN_TOKEN") or None


def _env(name: str) -> Callable[[], str | None]:
    return lambda: os.environ.get(name) or None


@dataclass
class Settings:
    """How to run the hub; the CLI fills it from flags and the environment."""

    host: str = "127.0.0.1"
    port: int = 8765
    data_dir: Path = Path("data")
    catalog_dirs: list[Path] = field(default_factory=lambda: [Path("generated")])
    # Where the builder pages write the specs they make (packages go to the first catalog dir).
    admin_token: str | None = field(default_factory=_env_admin_token)  # MCPHUB_ADMIN_TOKEN; generated if unset
    # Extra Host header values to accept besides loopback (DNS-rebinding protection when bound to loopback).
    allowed_hosts: list[str] = field(default_factory=list)
    session_idle_timeout_s: float = 1800.0
    # Tenancy storage: a SQLite file in data_dir unless MCPHUB_DATABASE_URL says otherwise; Redis for scale-out.
    database_url: str | None = field(default_factory=_env("MCPHUB_DATABASE_URL"))
    redis_url: str | None = field(default_factory=_env("MCPHUB_REDIS_URL"))
    namespace: str = "mcphub"  # Redis key prefix (replicas of one hub share it)
    # `mcphub serve` sets it: with no users yet, create the admin and a first key and print them once.
    first_run: bool = False

    @property
    def public_mcp_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return os.environ.get("MCPHUB_PUBLIC_URL", f"http://{host}:{self.port}").rstrip("/") + "/mcp"


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
        self.fast = FastPath(hub, _transport_security(settings))

    def new_manager(self, seal: SessionSeal, channel: SessionChannel) -> StreamableHTTPSessionManager:
        """The session manager of one app lifespan; its handshake sessions are sealed ids (`mcp/replicas.py`)."""
        self.manager = HubSessionManager(
            self.hub.server,
            seal=seal,
            channel=channel,
            on_restored=self.hub.session_restored,
            on_notify=self.hub.session_notified,
            security_settings=_transport_security(self.settings),
            session_idle_timeout=self.settings.session_idle_timeout_s,
        )
        return self.manager

    def close_streams(self) -> None:
        """End every GET stream held here (a draining replica: the clients reopen them elsewhere)."""
        if self.manager is not None:
            sdk.close_standalone_streams(self.manager)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        slug = scope.get("path_params", {}).get("slug")
        if self.manager is None or (slug is not None and slug not in self.hub.snapshot.mounts):
            error = "the hub is not running" if self.manager is None else f"no integration {slug!r} is mounted"
            await JSONResponse({"error": error}, status_code=503 if self.manager is None else 404)(scope, receive, send)
            return
        await self.fast.handle(scope, receive, send, self.manager, self.manager.handle_request)


class _SearchRoute:
    """`/mcp/search`: the aggregated endpoint in the search view, for clients that cannot choose a key's view."""

    def __init__(self, endpoint: _McpEndpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.endpoint({**scope, VIEW_SCOPE_KEY: "search"}, receive, send)


class _Services:
    """The tenancy of the running app: None until the lifespan has opened it."""

    tenancy: Tenancy | None = None

    def accounts(self) -> Accounts | None:
        return self.tenancy.accounts if self.tenancy is not None else None


def create_app(settings: Settings, *, credentials: CredentialProvider | None = None) -> Starlette:
    """The hub as a Starlette app; packages load from `settings.catalog_dirs` and the tenancy opens at startup.

    `credentials` is the operator's fallback credential provider (default: MCPHUB_CRED_<SLUG>_* from the
    environment), used for admin users' calls only, after the user's own stored credential.
    """
    admin_token = settings.admin_token
    if admin_token is None:
        admin_token = secrets.token_urlsafe(32)
        print(f"mcphub: admin token for this run (set MCPHUB_ADMIN_TOKEN to fix it): {admin_token}", file=sys.stderr)
    services = _Services()
    # Built integrations: the deployed packages stored in the database, written to the data dir by `builds.sync`.
    catalog = Catalog(
        settings.catalog_dirs,
        extra_dirs=lambda: services.tenancy.builds.package_dirs() if services.tenancy is not None else [],
    )
    hub = Hub(catalog, credentials=credentials, search_cache=settings.data_dir / "search-cache")
    legacy_sse = LegacySse(hub, _transport_security(settings))  # GET /sse + POST /messages/, on any replica
    mcp_endpoint = _McpEndpoint(hub, settings)
    ready = False
    drain = Drain()
    drain.close_streams = mcp_endpoint.close_streams

    # The authorization server needs a stable issuer (RFC 8414): the public URL, or host:port when the port is
    # fixed. An app on an ephemeral port (tests) serves only the protected-resource document, from the Host header.
    issuer = (
        settings.public_mcp_url.removesuffix("/mcp") if settings.port or "MCPHUB_PUBLIC_URL" in os.environ else None
    )

    async def authenticate(raw: str) -> KeyPrincipal | None:
        return await authenticate_bearer(services.tenancy, raw) if services.tenancy is not None else None

    def metadata_url(scope: Scope) -> str:
        return protected_resource_metadata_url(issuer) if issuer else resource_metadata_url(scope)

    def authenticated(app: Any) -> KeyAuthMiddleware:
        return KeyAuthMiddleware(app, services.accounts, authenticate=authenticate, metadata_url=metadata_url)

    async def healthz(request: Request) -> Response:
        snapshot = hub.snapshot
        database = "closed"
        if services.tenancy is not None:
            try:
                async with services.tenancy.db.session() as session:
                    await session.execute(text("SELECT 1"))
                database = "ok"
            except Exception as exc:  # readiness says why instead of failing
                database = f"unreachable: {type(exc).__name__}"
        healthy = ready and database == "ok" and not drain.draining
        body: dict[str, Any] = {
            "status": "draining" if drain.draining else "ok" if healthy else "starting" if not ready else "degraded",
            "packages": sorted(snapshot.mounts),
            "tools": snapshot.tool_count(),
            "database": database,
            "errors": snapshot.errors,
            "search": hub.search.state(snapshot),
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def is_admin(request: Request) -> bool:
        """Bearer MCPHUB_ADMIN_TOKEN, or an admin user's API key."""
        token = bearer_token(request.headers) or ""
        if hmac.compare_digest(token.encode(), admin_token.encode()):
            return True
        accounts = services.accounts()
        principal = await accounts.authenticate_key(token) if token and accounts is not None else None
        return principal is not None and principal.is_admin

    def admin_required(what: str) -> Response:
        return JSONResponse(
            {
                "error": f"admin token required for {what}: Authorization: Bearer <MCPHUB_ADMIN_TOKEN or an admin's API key>"
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def metrics(request: Request) -> Response:
        # Tool names and call counts are not for anyone who reaches the port (MCPHUB_METRICS_PUBLIC=1 opts out).
        if os.environ.get("MCPHUB_METRICS_PUBLIC", "").lower() not in ("1", "true", "yes") and not await is_admin(
            request
        ):
            return admin_required("/metrics")
        return Response(hub.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def protected_resource(request: Request) -> Response:
        origin = f"{request.url.scheme}://{request.headers.get('host') or request.url.netloc}"
        public = os.environ.get("MCPHUB_PUBLIC_URL", origin).rstrip("/")
        return JSONResponse(
            {
                "resource": f"{public}/mcp",
                "resource_name": "MCP Hub",
                "bearer_methods_supported": ["header"],
                "resource_documentation": f"{public}/api/v1/openapi.json",
            }
        )

    async def reload(request: Request) -> Response:
        if not await is_admin(request):
            return admin_required("/admin/reload")
        report = await hub.reload()
        return JSONResponse(report.as_dict())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal ready
        report = await hub.reload()
        logger.info("mounted %d package(s): %s", len(report.loaded), ", ".join(report.loaded) or "none")
        tenancy = await Tenancy.open(
            settings.data_dir,
            url=settings.database_url,
            redis_url=settings.redis_url or "",
            namespace=settings.namespace,
        )
        api_routes: list[BaseRoute] = []
        try:
            services.tenancy = tenancy
            hub.attach(tenancy)

            async def builds_changed() -> None:  # a deploy, rollback, delete or share (here or on another replica)
                before = tenancy.builds.deployed()
                after = await tenancy.builds.sync()
                await hub.reload(audience=lambda report: _owners_only(report, before, after))

            tenancy.builds.subscribe(builds_changed)
            await builds_changed()
            servers = Servers(tenancy, taken=lambda: _catalog_slugs(hub, tenancy))  # the API's and the pages' one
            api_routes = list(
                create_api_routes(
                    tenancy,
                    catalog=lambda: [mount.integration for mount in hub.snapshot.mounts.values()],
                    extensions=[servers_api.extension(servers)],
                )
            )
            api_routes += servers_api.create_docs_routes(tenancy, hub)
            api_routes += create_dashboard_routes(
                tenancy,
                hub,
                public_mcp_url=settings.public_mcp_url,
                servers=servers,
                uploads_dir=settings.data_dir / "builds",
            )
            if issuer is not None:
                api_routes += create_oauth_routes(tenancy, issuer=issuer)
            app.router.routes.extend(api_routes)
            if settings.first_run:
                integrations = [mount.integration for mount in hub.snapshot.mounts.values()]
                created = await bootstrap(tenancy, integrations, operator=hub.credentials)
                if created is not None:
                    print(created.banner(settings.public_mcp_url), flush=True)
            # Handshake-era sessions any replica can serve (mcp/replicas.py): the shared seal and the session channel.
            seal = await SessionSeal.for_tenancy(tenancy)
            channel = SessionChannel(tenancy.redis, settings.namespace, feed=tenancy.feed, seal=seal)
            await channel.start()
            hub.attach_channel(channel)
            legacy_sse.attach(channel)
            try:
                async with mcp_endpoint.new_manager(seal, channel).run():
                    ready = True
                    # Everything loaded so far (the catalog, the SDK's models, the tenancy) lives as long as the
                    # process: moved out of the collector's reach, so a full collection no longer walks it.
                    gc.freeze()
                    yield
            finally:
                legacy_sse.detach()
                hub.attach_channel(None)
                await channel.aclose()
        finally:
            ready = False
            for route in api_routes:
                app.router.routes.remove(route)
            hub.detach()
            services.tenancy = None
            try:
                await tenancy.aclose()  # flushes buffered usage
            finally:
                await catalog.aclose()  # closes every mount's executor (pools, upstream sessions, child processes)

    routes = [
        Route("/mcp", endpoint=authenticated(mcp_endpoint), methods=["GET", "POST", "DELETE"]),
        # Before /mcp/{slug}: `search` is a view, not an integration (the compiler refuses the slug).
        Route("/mcp/search", endpoint=authenticated(_SearchRoute(mcp_endpoint)), methods=["GET", "POST", "DELETE"]),
        Route("/mcp/{slug}", endpoint=authenticated(mcp_endpoint), methods=["GET", "POST", "DELETE"]),
        Route("/sse", endpoint=authenticated(legacy_sse.stream), methods=["GET"]),
        Mount("/messages", app=authenticated(legacy_sse.post)),
        *(
            []
            if issuer
            else [
                Route(METADATA_PATH, endpoint=protected_resource, methods=["GET"]),
                Route(f"{METADATA_PATH}/mcp", endpoint=protected_resource, methods=["GET"]),
            ]
        ),
        Route("/healthz", endpoint=healthz, methods=["GET"]),
        Route("/metrics", endpoint=metrics, methods=["GET"]),
        Route("/admin/reload", endpoint=reload, methods=["POST"]),
        static_route(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.hub = hub
    app.state.settings = settings
    app.state.services = services
    app.state.drain = drain
    return app


class Drain:
    """A graceful stop behind a load balancer (`MCPHUB_DRAIN_S`): on SIGTERM, /healthz answers 503 "draining" and
    every response closes its connection, so the balancer's health check takes the replica out while it still
    serves; after the drain period it stops accepting, ends its GET streams (clients reopen them on another
    replica, which rebuilds the session from its id), finishes the calls in flight and exits. A second signal,
    or SIGINT, stops at once (uvicorn's own graceful shutdown)."""

    def __init__(self) -> None:
        self.draining = False
        self.close_streams: Callable[[], None] = lambda: None


def drain_seconds() -> float:
    raw = os.environ.get("MCPHUB_DRAIN_S", "").strip() or "0"
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ValueError(f"MCPHUB_DRAIN_S={raw!r}: give the seconds to keep serving after SIGTERM, e.g. 6 (0: none)")
    return value


class _CloseWhileDraining:
    """While draining, every response says `Connection: close` (the balancer then opens no more to this replica)."""

    def __init__(self, app: Any, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.drain.draining:
            await self.app(scope, receive, send)
            return

        async def closing(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)


def _owners_only(report: ReloadReport, before: dict[str, Deployed], after: dict[str, Deployed]) -> set[int] | None:
    """Who hears of a reload after built integrations changed: only their owners when every change is to a private
    one (before and after), else everyone (None): other users' lists did not change, so they hear nothing."""
    owners: set[int] = set()
    for slug in [*report.added, *report.removed, *report.updated]:
        states = [state for state in (before.get(slug), after.get(slug)) if state is not None]
        if not states or any(state.visibility != "private" for state in states):
            return None
        owners.update(state.owner_id for state in states)
    return owners


def _catalog_slugs(hub: Hub, tenancy: Tenancy) -> list[str]:
    """Slugs mounted from the catalog dirs (not built integrations): a new build may not take one."""
    built = tenancy.builds.deployed()
    return [slug for slug in hub.snapshot.mounts if slug not in built]


def run_server(settings: Settings) -> None:
    """Serve the hub with uvicorn until interrupted (SIGTERM drains first when `MCPHUB_DRAIN_S` is set)."""
    import signal
    import time

    import uvicorn

    app = create_app(settings)
    drain: Drain = app.state.drain
    drain_s = drain_seconds()

    class Server(uvicorn.Server):
        drain_until: float | None = None

        def handle_exit(self, sig: int, frame: Any) -> None:
            if sig == signal.SIGTERM and drain_s > 0 and self.drain_until is None and not self.should_exit:
                drain.draining = True
                self.drain_until = time.monotonic() + drain_s
                logger.info("draining for %.1f s before stopping (MCPHUB_DRAIN_S)", drain_s)
                return
            super().handle_exit(sig, frame)

        async def on_tick(self, counter: int) -> bool:
            if self.drain_until is not None and time.monotonic() >= self.drain_until and not self.should_exit:
                drain.close_streams()
                self.should_exit = True
            return await super().on_tick(counter)

    config = uvicorn.Config(
        _CloseWhileDraining(app, drain),
        host=settings.host,
        port=settings.port,
        log_level="info",
        lifespan="on",
        # Calls in flight finish; anything longer-lived (a legacy /sse stream) is cut after this.
        timeout_graceful_shutdown=30,
        # Longer than a balancer keeps an idle connection to a replica for reuse (HAProxy purges idle ones every
        # 5 s, uvicorn's default is 5 s too): otherwise a request the balancer sends on a connection the hub is
        # closing at that moment is lost (bench/soak.py saw 3 of 30,000 through three replicas).
        timeout_keep_alive=75,
    )
    Server(config).run()
