"""The augment stage: make tools clearer for an agent without changing what they do.

This is the deterministic pass (always runs, no network). The optional LLM pass described in the
architecture (anthropic, results pinned in `specs/<slug>.lock.yaml`) is not built yet; when it is,
it runs before this one and this pass still guarantees the minimum below.
"""

from __future__ import annotations

from mcphub.compiler.ir import Integration, Tool


def _fallback_description(tool: Tool) -> str:
    if tool.title:
        return tool.title
    if tool.http is not None:
        return f"Calls {tool.http.method} {tool.http.path}."
    return tool.name.replace("_", " ").capitalize() + "."


def deterministic(integration: Integration) -> Integration:
    """Every tool gets a description; deprecated ones say so up front. Returns a new Integration."""
    tools = []
    for tool in integration.tools:
        description = tool.description.strip() or _fallback_description(tool)
        if tool.deprecated and not description.startswith("Deprecated"):
            description = f"Deprecated upstream. {description}"
        # Copy only what changes: integrations with a thousand tools compile on every `make test`.
        tools.append(tool if description == tool.description else tool.model_copy(update={"description": description}))
    return integration.model_copy(update={"tools": tools})
