"""The augment stage: make tools clearer for an agent without changing what they do.

Two parts, both applied by every compile without any network:
- the reviewed augment file `specs/<slug>.augment.yaml` (`apply_file`): what the LLM augment pass
  (`mcphub augment SLUG`, see `augment_llm.py`) proposed and a person reviewed and committed — tool names that fit
  the name budget, descriptions written for agents, argument names for collapsed ones (`page[limit]` → `page_limit`),
  argument descriptions, examples and defaults, destructive flags. The spec's own curation wins over it: a name,
  description, annotation, `enabled` or default the spec sets is never replaced.
- the deterministic pass (`deterministic`): every tool gets a description, deprecated ones say so up front, and
  arguments that look like the API key are flagged.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import referencing.exceptions
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mcphub.compiler.errors import SpecError
from mcphub.compiler.ir import ArgLocation, Integration, Tool
from mcphub.compiler.naming import (
    PREFIX_SEPARATOR,
    TOOL_NAME_RE,
    is_legal_property_name,
    looks_like_credential,
    python_identifier,
)
from mcphub.compiler.spec import HubSpec, ToolSpec, _compose, _describe

__all__ = [
    "AUGMENT_VERSION",
    "ArgumentAugment",
    "AugmentFile",
    "ToolAugment",
    "apply_file",
    "augment_path",
    "deterministic",
    "dump_file",
    "load_file",
    "name_problem",
    "rename_argument",
    "rename_problem",
    "sha256_file",
    "spec_entries",
    "stale_reasons",
    "tool_key",
    "value_problem",
]


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


# --------------------------------------------------------------------------------------------------------------------
# The augment file: specs/<slug>.augment.yaml

AUGMENT_VERSION = 1
AUGMENT_SUFFIX = ".augment.yaml"
# Tool names the augment file proposes: what every client accepts, in the snake_case the compiler writes itself.
PROPOSED_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class _FileModel(BaseModel):
    # A reviewer edits this file by hand: a misspelt key must be an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class ArgumentAugment(_FileModel):
    """What the augment file says about one argument (keyed by its name in the compiled input schema)."""

    name: str | None = None  # the new argument name; the wire name stays what the API expects
    description: str | None = None
    example: Any = None  # shown to the agent as the schema's `examples`
    default: Any = None  # sent when the caller leaves the argument out, like a spec's `defaults:`


class ToolAugment(_FileModel):
    """What the augment file says about one tool (keyed by its operation: operationId or 'METHOD /path')."""

    name: str | None = None
    description: str | None = None
    destructive: bool | None = None
    arguments: dict[str, ArgumentAugment] = Field(default_factory=dict)


class AugmentUsage(_FileModel):
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None


class AugmentFile(_FileModel):
    augment_version: int = AUGMENT_VERSION
    slug: str
    # The bytes the proposals were made from: compile warns when the source changed, `mcphub augment --check`
    # also fails when the spec did.
    source_sha256: str | None
    spec_sha256: str
    model: str
    usage: AugmentUsage = Field(default_factory=AugmentUsage)
    tools: dict[str, ToolAugment] = Field(default_factory=dict)


def augment_path(spec_path: Path) -> Path:
    """`specs/stripe.yaml` → `specs/stripe.augment.yaml` (next to the spec, committed with it)."""
    return spec_path.with_name(spec_path.name.split(".")[0] + AUGMENT_SUFFIX)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tool_key(tool: Tool) -> str:
    """The key of a tool in the augment file: what the source calls it, so a rename does not orphan its entry."""
    return tool.source_ref or tool.name


def load_file(path: Path) -> AugmentFile:
    """Read and validate an augment file; SpecError with file:line:field on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the augment file: {exc}; run `mcphub augment` to write it again") from exc
    data, lines = _compose(text, path)
    try:
        loaded = AugmentFile.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_describe(exc, path, lines)) from None
    if loaded.augment_version != AUGMENT_VERSION:
        raise SpecError(
            f"{path}:{lines.get('augment_version', 1)}: augment_version {loaded.augment_version} is not "
            f"{AUGMENT_VERSION}, the one this mcphub reads; run `mcphub augment {loaded.slug}` to write it again"
        )
    return loaded


def dump_file(augmented: AugmentFile) -> str:
    """The file's text: a header saying what it is, then the data (only what was proposed, in tool order)."""
    usage = augmented.usage
    cost = f", ${usage.cost_usd:.4f}" if usage.cost_usd is not None else ""
    header = (
        f"# Proposals of the LLM augment pass for `{augmented.slug}` ({augmented.model}: {usage.requests} requests, "
        f"{usage.input_tokens:,} in / {usage.output_tokens:,} out tokens{cost}).\n"
        "# Review and edit them like code, then commit this file: `mcphub compile` applies it without any LLM, and\n"
        "# whatever the spec itself sets (a tool's name, description, annotations, enabled, defaults) wins over it.\n"
        f"# Refresh with `mcphub augment {augmented.slug}`; `mcphub augment {augmented.slug} --check` fails when the\n"
        "# source or the spec changed since.\n"
    )
    data = augmented.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
    for entry in data["tools"].values():
        if not entry.get("arguments"):
            entry.pop("arguments", None)
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110, default_flow_style=False)
    return header + body


def stale_reasons(augmented: AugmentFile, *, source_sha256: str | None, spec_sha256: str | None) -> list[str]:
    """Why the file no longer matches the source (and, when `spec_sha256` is given, the spec); [] if it does."""
    reasons = []
    if augmented.source_sha256 != source_sha256:
        reasons.append(
            f"it was made for another version of the source (sha256 {_short(augmented.source_sha256)}, "
            f"now {_short(source_sha256)})"
        )
    if spec_sha256 is not None and augmented.spec_sha256 != spec_sha256:
        reasons.append(f"the spec changed since (sha256 {_short(augmented.spec_sha256)}, now {_short(spec_sha256)})")
    return reasons


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "none"


def apply_file(integration: Integration, spec: HubSpec, spec_path: Path) -> Integration:
    """Apply `specs/<slug>.augment.yaml`, if there is one, to the curated integration; returns a new Integration.

    Deterministic and offline. What the spec's curation sets for a tool wins; a proposal that no longer fits (an
    argument the tool lost, a name taken or over the budget, an example its schema rejects) is skipped with a
    warning naming the file and the tool, and so is nothing else: the rest of the file still applies.
    """
    path = augment_path(spec_path)
    if not path.is_file():
        return integration
    augmented = load_file(path)
    result = integration.model_copy(deep=True)
    warnings = result.warnings
    stale = stale_reasons(augmented, source_sha256=integration.source.sha256, spec_sha256=None)
    if stale:
        warnings.append(
            f"{path}: {stale[0]}; its proposals were applied where they still fit: run `mcphub augment "
            f"{spec.slug}` to refresh it, review the diff and commit it"
        )
    entries = spec_entries(result, spec)
    budget = spec.max_name_length - len(spec.slug) - len(PREFIX_SEPARATOR)
    names = {tool.name for tool in result.tools}
    keys = {tool_key(tool) for tool in result.tools}
    for key in augmented.tools:
        if key not in keys:
            warnings.append(
                f"{path}: tools.{key}: the integration has no such operation any more; run `mcphub augment "
                f"{spec.slug}` to refresh the file"
            )
    for tool in result.tools:
        proposal = augmented.tools.get(tool_key(tool))
        if proposal is not None:
            where = f"{path}: tools.{tool_key(tool)}"
            _apply_tool(tool, proposal, entries.get(tool_key(tool)), where, budget, names, warnings)
    return result


def spec_entries(curated: Integration, spec: HubSpec) -> dict[str, ToolSpec]:
    """The spec's `tools:` entry of each curated tool that has one, by `tool_key`."""
    # apply_curation puts the tools the spec lists first, in the spec's order (one each): entry i is tools[i].
    return {tool_key(tool): entry for tool, entry in zip(curated.tools, spec.tools or [], strict=False)}


def _apply_tool(
    tool: Tool,
    proposal: ToolAugment,
    entry: ToolSpec | None,
    where: str,
    budget: int,
    names: set[str],
    warnings: list[str],
) -> None:
    if proposal.name is not None and proposal.name != tool.name and (entry is None or entry.name is None):
        problem = name_problem(proposal.name, budget, names)
        if problem:
            warnings.append(f"{where}.name: '{proposal.name}' {problem}; the tool keeps the name '{tool.name}'")
        else:
            names.discard(tool.name)
            names.add(proposal.name)
            tool.name = proposal.name
    if proposal.description is not None and (entry is None or entry.description is None):
        tool.description = proposal.description.strip()
    if proposal.destructive and not _spec_annotates_destructive(entry):
        # Only ever adds the flag: a proposal cannot make a DELETE look harmless.
        tool.annotations.destructive_hint = True
        tool.annotations.read_only_hint = False
        if tool.enabled and (entry is None or entry.enabled is None):
            tool.enabled = False  # destructive operations are opt-in, as the spec's own curation has them
            warnings.append(
                f"{where}.destructive: tool '{tool.name}' is destructive and stays disabled; to compile it enabled, "
                f"set enabled: true in its spec entry (- {{operation: '{tool_key(tool)}', enabled: true}})"
            )
    for argument, change in proposal.arguments.items():
        _apply_argument(tool, argument, change, entry, f"{where}.arguments.{argument}", warnings)


def _spec_annotates_destructive(entry: ToolSpec | None) -> bool:
    return entry is not None and entry.annotations is not None and entry.annotations.destructive is not None


def name_problem(name: str, budget: int, taken: Iterable[str]) -> str | None:
    if not PROPOSED_NAME_RE.match(name) or not TOOL_NAME_RE.match(name):
        return "is not a snake_case name of letters, digits and '_'"
    if len(name) > budget:
        return f"is {len(name)} characters, over the {budget} this slug leaves within max_name_length"
    if name in taken:
        return "is already the name of another tool"
    return None


def _apply_argument(
    tool: Tool, argument: str, change: ArgumentAugment, entry: ToolSpec | None, where: str, warnings: list[str]
) -> None:
    properties: dict[str, Any] = tool.input_schema.get("properties") or {}
    prop = properties.get(argument)
    if not isinstance(prop, dict):
        listed = ", ".join(properties) or "none"
        warnings.append(f"{where}: '{tool.name}' has no argument '{argument}' (its arguments: {listed}); skipped")
        return
    if change.description is not None:
        prop["description"] = change.description.strip()
    if change.example is not None:
        problem = value_problem(change.example, prop, tool.input_schema)
        if problem:
            warnings.append(f"{where}.example: {change.example!r} {problem}; left out")
        else:
            prop["examples"] = [copy.deepcopy(change.example)]
    spec_default = entry is not None and argument in entry.defaults
    if change.default is not None and not spec_default and argument not in tool.defaults:
        problem = value_problem(change.default, prop, tool.input_schema)
        if argument in (tool.input_schema.get("required") or []):
            problem = "is for a required argument, which the caller always gives"
        if problem:
            warnings.append(f"{where}.default: {change.default!r} {problem}; left out")
        else:
            prop["default"] = copy.deepcopy(change.default)
            tool.defaults[argument] = copy.deepcopy(change.default)
    if change.name is not None and change.name != argument:
        problem = rename_problem(tool, argument, change.name, properties)
        if problem:
            warnings.append(f"{where}.name: '{change.name}' {problem}; the argument keeps the name '{argument}'")
        else:
            rename_argument(tool, argument, change.name)


def value_problem(value: Any, prop: dict[str, Any], root: dict[str, Any]) -> str | None:
    schema = dict(prop)
    if "$defs" in root:
        schema["$defs"] = root["$defs"]
    try:
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(value))
    except (jsonschema.exceptions.SchemaError, referencing.exceptions.Unresolvable):
        return None  # a schema that can't be evaluated is the schema stage's to report
    return None if error is None else f"is not valid for the argument: {error.message}"


def rename_problem(tool: Tool, argument: str, new: str, properties: dict[str, Any]) -> str | None:
    if tool.http is None and tool.graphql is None:
        # MCP and SQL tools pass arguments on by name: a rename would change what the upstream receives.
        return "cannot be applied: only HTTP and GraphQL tools map argument names to the wire"
    if not is_legal_property_name(new) or not new.isidentifier():
        return "is not a name of letters, digits and '_'"
    if new in properties:
        return "is already an argument of this tool"
    if tool.response is not None and tool.response.full_argument == argument:
        return "names the argument the spec's response: adds"
    if tool.input is not None and argument in tool.input.arguments:
        return f"cannot be applied: the spec's input transform '{tool.input.transform}' reads the argument by name"
    return None


def rename_argument(tool: Tool, old: str, new: str) -> None:
    """Rename an input-schema property everywhere the IR refers to it; what goes on the wire is unchanged."""
    schema = tool.input_schema
    schema["properties"] = {(new if name == old else name): prop for name, prop in schema["properties"].items()}
    if "required" in schema:
        schema["required"] = [new if name == old else name for name in schema["required"]]
    if old in tool.defaults:
        tool.defaults = {(new if name == old else name): value for name, value in tool.defaults.items()}
    if tool.http is not None:
        for binding in tool.http.args:
            if binding.name == old:
                others = {b.python_name for b in tool.http.args if b is not binding}
                binding.name = new
                binding.python_name = python_identifier(new, others)
    if tool.graphql is not None and old in tool.graphql.variables:
        tool.graphql.variables = {
            (new if name == old else name): variable for name, variable in tool.graphql.variables.items()
        }
