"""The tools/list answers of a hub, built once per catalog snapshot and visible set, as dicts and as JSON.

The SDK would validate and re-serialise the whole result per request (~15 ms for 500 tools); the catalog only
changes on reload, and every key with the same visible integrations and scope sees the same list, so a page is
built once per snapshot and (endpoint, protocol version, visible set, key scope).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mcp_types as types
import orjson
from mcp_types import SERVER_INFO_META_KEY, methods
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcphub.runtime.catalog import SEPARATOR, Snapshot
from mcphub.runtime.mcp.access import Visible

__all__ = ["ToolListPage", "ToolLists", "tools_for"]

_MAX_CACHED_LISTS = 512  # distinct (endpoint, version, visible set, key scope) tool lists kept per snapshot


@dataclass(slots=True)
class ToolListPage:
    """One cached tools/list result: the wire dict, and its JSON made on first use (the direct path sends bytes)."""

    result: dict[str, Any]
    _json: bytes | None = None

    @property
    def json(self) -> bytes:
        if self._json is None:
            self._json = orjson.dumps(self.result)
        return self._json


def tools_for(
    snapshot: Snapshot, slug: str | None, visible: Visible, key_scope: frozenset[str] | None
) -> list[types.Tool]:
    """The tools of an endpoint (all, or `/mcp/<slug>`) limited to the visible integrations and key scope."""
    if slug is not None:
        mount = snapshot.mounts.get(slug)
        if mount is None or (visible is not None and slug not in visible):
            return []
        if key_scope is None or slug in key_scope:
            return mount.plain_tools
        return [e.plain for name, e in mount.tools.items() if f"{slug}{SEPARATOR}{name}" in key_scope]
    if visible is None:
        return snapshot.tools
    tools: list[types.Tool] = []
    for mount in snapshot.mounts.values():
        if mount.slug not in visible:
            continue
        whole = key_scope is None or mount.slug in key_scope
        tools.extend(e.prefixed for e in mount.tools.values() if whole or (key_scope and e.prefixed.name in key_scope))
    return tools


class ToolLists:
    """The cache of tools/list pages for the current snapshot (dropped whole when the snapshot changes)."""

    def __init__(self) -> None:
        self._cached: tuple[Snapshot, dict[tuple[Any, ...], ToolListPage]] = (Snapshot(), {})

    @property
    def pages(self) -> dict[tuple[Any, ...], ToolListPage]:
        """The pages built for the current snapshot, by (endpoint, version, visible set, key scope)."""
        return self._cached[1]

    def page(
        self,
        snapshot: Snapshot,
        slug: str | None,
        version: str,
        visible: Visible,
        key_scope: frozenset[str] | None,
        server_info: Any,
    ) -> ToolListPage:
        cached_for, pages = self._cached
        if cached_for is not snapshot:
            pages = {}
            self._cached = (snapshot, pages)
        key = (slug, version, visible, key_scope)
        page = pages.get(key)
        if page is None:
            listing = types.ListToolsResult(tools=tools_for(snapshot, slug, visible, key_scope))
            result = methods.serialize_server_result(
                "tools/list", version, listing.model_dump(by_alias=True, mode="json", exclude_none=True)
            )
            if version in MODERN_PROTOCOL_VERSIONS:
                result["_meta"] = {SERVER_INFO_META_KEY: server_info}
            page = ToolListPage(result)
            if len(pages) >= _MAX_CACHED_LISTS:
                pages.clear()
            pages[key] = page
        return page
