"""The search view: the fixed meta-tools (search_tools, call_tool, describe_tool) in place of the flat tool list.

A key chooses its view (`flat`, `search`, `auto`: flat while its tools fit `AUTO_BUDGET_TOKENS`); the route
`/mcp/search` gives any key the search view. Only the aggregated endpoints (`/mcp`, `/mcp/search`, `/sse`) have a
view: `/mcp/<slug>` always lists that one integration's tools.

This module answers `search_tools` and `describe_tool` from one `SearchIndex` per catalog snapshot (built on the
first search of a snapshot, in a worker thread, embeddings cached on disk), and resolves `call_tool` to the real
tool, which the hub then runs through its one call pipeline — so validation, policy, credential, rate limit,
usage record and logs are those of a direct call, under the real tool's name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import mcp_types as types
import orjson

from mcphub.runtime.catalog import Mount, Snapshot, ToolEntry
from mcphub.runtime.search.documents import PackageDocs, load_package_docs
from mcphub.runtime.search.embeddings import embeddings_enabled
from mcphub.runtime.search.index import SearchIndex, default_cache_dir
from mcphub.runtime.search.metatools import (
    CALL_TOOL,
    DESCRIBE_TOOL,
    META_TOOLS,
    SEARCH_TOOLS,
    describe_answer,
    search_answer,
)

__all__ = ["AUTO_BUDGET_TOKENS", "META_NAMES", "META_TOOL_OBJECTS", "SearchView", "call_target"]

logger = logging.getLogger(__name__)

# `auto`: flat while the key's tools/list fits this many tokens (JSON length / 4), search above it.
AUTO_BUDGET_TOKENS = 8_000
META_NAMES = frozenset(tool["name"] for tool in META_TOOLS)
# How long the first search of a snapshot waits for the hybrid index before answering lexically (a warm vector
# cache builds well within it; a cold one takes long enough that a lexical answer now beats a hybrid one later).
_HYBRID_WAIT_S = 3.0

# The search view's whole tool list: the same for every caller and every catalog size.
META_TOOL_OBJECTS = [types.Tool.model_validate(tool) for tool in META_TOOLS]


def meta_result(payload: Mapping[str, Any] | str, *, error: bool = False) -> types.CallToolResult:
    text = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=error)


class SearchView:
    """The search index of the current snapshot and the answers of the meta-tools."""

    def __init__(self, *, cache_dir: Path | None = None, embeddings: bool | None = None) -> None:
        self.cache_dir = cache_dir
        self.embeddings = embeddings if embeddings is not None else embeddings_enabled()
        self._index: tuple[Snapshot, SearchIndex] | None = None
        self._lock = asyncio.Lock()
        self._embedding: asyncio.Task[None] | None = None

    def state(self, snapshot: Snapshot) -> str:
        """For /healthz: "idle" (no search yet), "lexical" (embedding the catalog, or no embeddings), "hybrid"."""
        cached = self._index
        if cached is None or cached[0] is not snapshot:
            return "idle"
        return "hybrid" if cached[1].vectors is not None else "lexical"

    async def index(self, snapshot: Snapshot) -> SearchIndex:
        """The best index over `snapshot`'s tools so far; the first search of a snapshot (a start, a reload) builds it.

        Embedding a catalog the disk cache does not know yet is slow (~40 s for 200 tools on a busy 2-core machine,
        minutes for whole APIs), so that search gets the lexical index (built in well under a second) and the hybrid
        one replaces it when its vectors are ready; with a warm cache the hybrid is ready within `_HYBRID_WAIT_S`.
        """
        cached = self._index
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        async with self._lock:
            cached = self._index
            if cached is not None and cached[0] is snapshot:
                return cached[1]
            directories = [mount.package.directory for mount in snapshot.mounts.values()]
            packages = await asyncio.to_thread(lambda: [load_package_docs(directory) for directory in directories])
            index = await asyncio.to_thread(SearchIndex, packages, embeddings=False)
            self._index = (snapshot, index)
            if not self.embeddings:
                return index
            self._embedding = asyncio.get_running_loop().create_task(self._embed(snapshot, packages))
            await asyncio.wait({self._embedding}, timeout=_HYBRID_WAIT_S)
            return self._index[1]

    async def _embed(self, snapshot: Snapshot, packages: list[PackageDocs]) -> None:
        cache_dir = self.cache_dir or default_cache_dir()
        try:
            index = await asyncio.to_thread(SearchIndex, packages, embeddings=True, cache_dir=cache_dir)
        except Exception:  # the lexical index keeps serving; say why the hybrid never came
            logger.exception("tool search: embedding the catalog failed; searching lexically")
            return
        current = self._index
        if current is not None and current[0] is snapshot:  # not after a reload: that snapshot has its own
            self._index = (snapshot, index)
        logger.info(
            "tool search index: %d tools (%s)", len(index), "hybrid" if index.vectors is not None else "lexical"
        )

    async def answer(
        self, snapshot: Snapshot, name: str, arguments: Mapping[str, Any], visible: Collection[str] | None
    ) -> types.CallToolResult | str:
        """The result of search_tools / describe_tool, or for call_tool the name of the tool to call."""
        if name == CALL_TOOL:
            target = arguments.get("name")
            if not isinstance(target, str) or not target:
                return meta_result(f"{CALL_TOOL} needs `name`: a tool name as {SEARCH_TOOLS} returned it", error=True)
            return target
        index = await self.index(snapshot)
        if name == DESCRIBE_TOOL:
            target = arguments.get("name")
            try:
                return meta_result(describe_answer(index, str(target), visible=visible))
            except KeyError as exc:
                return meta_result(str(exc.args[0]), error=True)
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            return meta_result(f"{SEARCH_TOOLS} needs `query`: the task in plain words", error=True)
        limit = arguments.get("limit", 5)
        integration = arguments.get("integration")
        if isinstance(limit, bool) or not isinstance(limit, int):
            return meta_result(f"{SEARCH_TOOLS}: `limit` must be a whole number (1-20), not {limit!r}", error=True)
        if integration is not None and not isinstance(integration, str):
            return meta_result(f"{SEARCH_TOOLS}: `integration` must be a slug such as 'github'", error=True)
        search = (index, query)
        options: dict[str, Any] = {"limit": limit, "visible": visible, "integration": integration or None}
        if index.vectors is None:
            return meta_result(search_answer(*search, **options))  # lexical: well under a millisecond
        # Encoding the query is ~15 ms of CPU: off the event loop, so other requests keep flowing meanwhile.
        return meta_result(await asyncio.to_thread(search_answer, *search, **options))


def call_target(
    snapshot: Snapshot, name: str, arguments: Mapping[str, Any]
) -> tuple[Mount, ToolEntry, Mapping[str, Any]] | types.CallToolResult:
    """What `call_tool(name, arguments)` calls: the real tool (the pipeline checks the caller may), or an error."""
    found = snapshot.tool_index.get(name)
    if found is None:
        return meta_result(f"Unknown tool: {name}. Find the tool's exact name with {SEARCH_TOOLS}.", error=True)
    inner = arguments.get("arguments")
    if inner is None:
        inner = {}
    if not isinstance(inner, Mapping):
        return meta_result(f"{CALL_TOOL}: `arguments` must be an object of {name}'s arguments", error=True)
    mount, entry = found
    return mount, entry, inner
