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
from mcphub.runtime.mcp.searchview import META_TOOL_OBJECTS

__all__ = ["ToolListPage", "ToolLists", "tools_for", "unlisted_for"]

_MAX_CACHED_LISTS = 512  # distinct (endpoint, version, visible set, key scope) tool lists kept per snapshot


@dataclass(slots=True)
class ToolListPage:
    """One cached tools/list result: the wire dict, and its JSON made on first use (the direct path sends bytes)."""

    result: dict[str, Any]
    unlisted: frozenset[str] = frozenset()  # the caller's `search: all` operations: callable, not on this page
    _json: bytes | None = None
    _names: frozenset[str] | None = None
    _searchable: frozenset[str] | None = None

    @property
    def json(self) -> bytes:
        if self._json is None:
            self._json = orjson.dumps(self.result)
        return self._json

    @property
    def names(self) -> frozenset[str]:
        """The tool names on this page: what a caller of the search view may find and call."""
        if self._names is None:
            self._names = frozenset(tool["name"] for tool in self.result.get("tools", ()))
        return self._names

    @property
    def searchable(self) -> frozenset[str]:
        """What the search view finds for this caller: the tools on the page and its unlisted operations."""
        if self._searchable is None:
            self._searchable = self.names | self.unlisted
        return self._searchable


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
        return [e.plain for name, e in mount.tools.items() if e.tool.listed and f"{slug}{SEPARATOR}{name}" in key_scope]
    if visible is None:
        return snapshot.tools
    tools: list[types.Tool] = []
    for mount in snapshot.mounts.values():
        if mount.slug not in visible:
            continue
        whole = key_scope is None or mount.slug in key_scope
        tools.extend(
            e.prefixed
            for e in mount.tools.values()
            if e.tool.listed and (whole or (key_scope and e.prefixed.name in key_scope))
        )
    return tools


def unlisted_for(snapshot: Snapshot, visible: Visible, key_scope: frozenset[str] | None) -> frozenset[str]:
    """The prefixed names of the `search: all` operations (off every flat list) a caller may find and call: those
    of the visible integrations within the key scope, the same rule as `tools_for`."""
    names: set[str] = set()
    for mount in snapshot.mounts.values():
        if visible is not None and mount.slug not in visible:
            continue
        whole = key_scope is None or mount.slug in key_scope
        names.update(
            e.prefixed.name
            for e in mount.tools.values()
            if not e.tool.listed and (whole or e.prefixed.name in key_scope)  # type: ignore[operator]
        )
    return frozenset(names)


def _page(tools: list[types.Tool], version: str, server_info: Any) -> ToolListPage:
    """A tools/list result as the SDK's serialiser would send it for `version`, plus the 2026-07-28 stamp."""
    listing = types.ListToolsResult(tools=tools)
    result = methods.serialize_server_result(
        "tools/list", version, listing.model_dump(by_alias=True, mode="json", exclude_none=True)
    )
    if version in MODERN_PROTOCOL_VERSIONS:
        result["_meta"] = {SERVER_INFO_META_KEY: server_info}
    return ToolListPage(result)


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
        pages = self._pages_of(snapshot)
        key = (slug, version, visible, key_scope)
        page = pages.get(key)
        if page is None:
            tools = tools_for(snapshot, slug, visible, key_scope)
            page = self._keep(pages, key, _page(tools, version, server_info))
            if slug is None:
                page.unlisted = unlisted_for(snapshot, visible, key_scope)
        return page

    def search_page(self, snapshot: Snapshot, version: str, server_info: Any) -> ToolListPage:
        """The search view's list: the same few meta-tools for every caller, whatever the catalog."""
        pages = self._pages_of(snapshot)
        key = ("search", version)
        page = pages.get(key)
        if page is None:
            page = self._keep(pages, key, _page(META_TOOL_OBJECTS, version, server_info))
        return page

    def _pages_of(self, snapshot: Snapshot) -> dict[tuple[Any, ...], ToolListPage]:
        cached_for, pages = self._cached
        if cached_for is not snapshot:
            pages = {}
            self._cached = (snapshot, pages)
        return pages

    @staticmethod
    def _keep(pages: dict[tuple[Any, ...], ToolListPage], key: tuple[Any, ...], page: ToolListPage) -> ToolListPage:
        if len(pages) >= _MAX_CACHED_LISTS:
            pages.clear()
        pages[key] = page
        return page
