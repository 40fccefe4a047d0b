"""The augment stage: make tools clearer for an agent without changing what they do.

This is the deterministic pass (always runs, no network). The optional LLM pass described in the
architecture (anthropic, results pinned in `specs/<slug>.lock.yaml`) is not built yet; when it is,
it runs before this one and this pass still guarantees the minimum below.
"""

from __future__ import annotations

from mcphub.compiler.ir import ArgLocation, Integration, Tool
from mcphub.compiler.naming import looks_like_credential


def _fallback_description(tool: Tool) -> str:
    if tool.title:
        return tool.title
    if tool.http is not None:
        return f"Calls {tool.http.method} {tool.http.path}."
    return tool.name.replace("_", " ").capitalize() + "."


def deterministic(integration: Integration) -> Integration:
    """Every tool gets a description; deprecated ones say so up front; arguments that look like the API key are
    flagged in the warnings. Returns a new Integration."""
    tools = []
    for tool in integration.tools:
        description = tool.description.strip() or _fallback_description(tool)
        if tool.deprecated and not description.startswith("Deprecated"):
            description = f"Deprecated upstream. {description}"
        # Copy only what changes: integrations with a thousand tools compile on every `make test`.
        tools.append(tool if description == tool.description else tool.model_copy(update={"description": description}))
    warnings = integration.warnings + _credential_arguments(integration)
    return integration.model_copy(update={"tools": tools, "warnings": warnings})


def _credential_arguments(integration: Integration) -> list[str]:
    """Warn about header/query arguments that look like the API key: an agent would be asked for the secret.

    Runs on the curated IR, so parameters a spec already hides or names in `credential_params` draw nothing.
    """
    sent = {(s.location, (s.param_name or "").lower()) for s in integration.auth if s.type == "api_key"}
    users: dict[tuple[str, str], list[str]] = {}
    for tool in integration.tools:
        for arg in tool.http.args if tool.enabled and tool.http else ():
            if (
                arg.location in (ArgLocation.HEADER, ArgLocation.QUERY)
                and looks_like_credential(arg.wire_name)
                and (arg.location.value, arg.wire_name.lower()) not in sent
            ):
                users.setdefault((arg.location.value, arg.wire_name), []).append(tool.name)
    warnings = []
    for (location, name), tools in users.items():
        some = ", ".join(tools[:3]) + (f" and {len(tools) - 3} more" if len(tools) > 3 else "")
        warnings.append(
            f"{location} parameter '{name}' looks like a credential but is an argument of {some}, so an agent "
            f"would be asked for it; if it is the API key, add to the hub spec credential_params: "
            f"['{location}:{name}'] and auth: [{{type: api_key, in: {location}, name: {name}}}]"
        )
    return warnings
