"""What a request handler needs to know about its request: who is calling, on which endpoint, in which session."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp.server.context import ServerRequestContext

from mcphub.runtime.tenancy.accounts import KeyPrincipal

__all__ = ["VIEW_SCOPE_KEY", "endpoint_slug", "principal_of", "route_view", "session_key"]

# The ASGI scope key a route sets to give every caller one view (`/mcp/search`: "search").
VIEW_SCOPE_KEY = "mcphub.view"


def session_key(request: Any) -> str | None:
    """The transport session a request belongs to: streamable HTTP header or SSE query parameter."""
    headers = getattr(request, "headers", None)
    if headers is None:
        return None
    session_id = headers.get("mcp-session-id")
    if session_id:
        return f"http:{session_id}"
    sse_id = request.query_params.get("session_id")
    return f"sse:{sse_id}" if sse_id else None


def principal_of(ctx: ServerRequestContext[Any, Any]) -> KeyPrincipal | None:
    """The API key behind a request (set by `KeyAuthMiddleware` on the HTTP request that carried it)."""
    request = ctx.request
    scope = getattr(request, "scope", None)
    if not isinstance(scope, Mapping):
        return None
    principal = (scope.get("state") or {}).get("principal")
    return principal if isinstance(principal, KeyPrincipal) else None


def endpoint_slug(ctx: ServerRequestContext[Any, Any]) -> str | None:
    """The slug of a per-integration endpoint (`/mcp/<slug>`), or None for the aggregated one."""
    request = ctx.request
    if request is None:
        return None
    slug = request.path_params.get("slug")
    return slug if isinstance(slug, str) else None


def route_view(scope: Any) -> str | None:
    """The view the request's route imposes (an ASGI scope, or a request: `/mcp/search` → "search"), else None."""
    scope = getattr(scope, "scope", scope)
    view = scope.get(VIEW_SCOPE_KEY) if isinstance(scope, Mapping) else None
    return view if isinstance(view, str) else None
