"""The search view's fixed tool list (search_tools, call_tool, describe_tool) and the answers of the first and last.

These are definitions and pure answer builders over a `SearchIndex`; the hub's MCP layer serves them and routes
`call_tool` into its one call pipeline (validation, policy, credential, rate limit, usage record), so a call
through the meta-tool is the same call as a direct one.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from mcphub.runtime.search.index import SearchIndex

SEARCH_TOOLS = "search_tools"
CALL_TOOL = "call_tool"
DESCRIBE_TOOL = "describe_tool"
DEFAULT_LIMIT = 5
MAX_LIMIT = 20

META_TOOLS: list[dict[str, Any]] = [
    {
        "name": SEARCH_TOOLS,
        "description": (
            "Find the tools for a task among every integration you can use. Describe the task in plain words "
            "(e.g. 'tell the team the standup moved'); returns the best matches, best first, each with its name, "
            "integration, what it does and its input schema. Then run one with call_tool."
        ),
        "inputSchema": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What you want to do, in words."},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                "integration": {"type": "string", "description": "Only this integration (its slug, e.g. github)."},
            },
            "required": ["query"],
        },
        "annotations": {"title": "Search tools", "readOnlyHint": True, "openWorldHint": False},
    },
    {
        "name": CALL_TOOL,
        "description": (
            "Call a tool found with search_tools: `name` as search_tools returned it, `arguments` matching its "
            "input schema. Answers exactly as the tool itself would."
        ),
        "inputSchema": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "The tool's name, e.g. slack__post_message."},
                "arguments": {"type": "object", "description": "The tool's arguments.", "default": {}},
            },
            "required": ["name"],
        },
        "annotations": {"title": "Call a tool", "openWorldHint": True},
    },
    {
        "name": DESCRIBE_TOOL,
        "description": "The full description and input schema of one tool (search answers trim deep nested detail).",
        "inputSchema": {
            "type": "object",
            "properties": {"name": {"type": "string", "description": "The tool's name."}},
            "required": ["name"],
        },
        "annotations": {"title": "Describe a tool", "readOnlyHint": True, "openWorldHint": False},
    },
]


def search_answer(
    index: SearchIndex,
    query: str,
    *,
    limit: int = DEFAULT_LIMIT,
    visible: Collection[str] | None = None,
    integration: str | None = None,
) -> dict[str, Any]:
    """The structured answer of search_tools: `results` best first, plus `hint` when the match is weak."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    hits = index.search(query, limit=limit, visible=visible, integration=integration)
    answer: dict[str, Any] = {"results": [hit.as_dict() for hit in hits]}
    if index.weak(hits):
        scope = f" in {integration}" if integration else ""
        answer["hint"] = (
            f"No tool{scope} matches this request well. Rephrase it with the service's own words "
            "(e.g. 'issue', 'message', 'invoice'), drop the integration filter, or the integration may not be "
            "enabled for this key."
        )
    return answer


def describe_answer(index: SearchIndex, name: str, *, visible: Collection[str] | None = None) -> dict[str, Any]:
    """The full definition of one tool the caller may see; a KeyError names what to do otherwise."""
    position = index.position.get(name)
    if position is None or (visible is not None and name not in visible):
        raise KeyError(f"no tool named {name!r} is available to this key; find one with {SEARCH_TOOLS}")
    doc = index.docs[position]
    entry: dict[str, Any] = {"name": doc.name, "integration": doc.integration, "description": doc.description}
    if doc.operation:
        entry["operation"] = doc.operation
    entry["inputSchema"] = doc.input_schema
    return entry
