"""The JSON Schema of the hub spec format, generated from the spec's pydantic models (`compiler/spec.py`).

Editors validate and complete `specs/<slug>.yaml` with it (the dashboard's editor; VS Code and others through a
`# yaml-language-server: $schema=<hub>/schema/spec.json` first line). The hub serves it at `/schema/spec/v1.json`
(stable: only ever gains optional keys) and `/schema/spec.json` (the newest version).

The generated schema is committed beside this module (`spec-v1.schema.json`) so a change to the models is a visible
change to the format; `tests/compiler/test_spec_schema.py` fails when the two differ. Regenerate with

    .venv/bin/python -m mcphub.compiler.spec_schema --write

What pydantic cannot see is added here: shorthands the validators accept (`- listPets` for a tool, a command as one
string), the patterns of slugs, names, hosts and rate limits, and a sentence per key for hovers. The models stay the
one truth: the checks the schema cannot express (e.g. "exactly one of path: or url:") are reported by
`mcphub compile` with file:line.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcphub.compiler.errors import CompileError, SpecError
from mcphub.compiler.locator import Locator
from mcphub.compiler.spec import (
    HTTP_METHODS,
    RESERVED_SLUGS,
    SLUG_RE,
    TOOL_NAME_CHARS_RE,
    HubSpec,
    _compose,
    parse_spec,
)

__all__ = [
    "SCHEMA_FILE",
    "SPEC_SCHEMA_VERSION",
    "Problem",
    "check_spec_text",
    "committed_schema",
    "problems_of",
    "render",
    "spec_json_schema",
]

SPEC_SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).with_name(f"spec-v{SPEC_SCHEMA_VERSION}.schema.json")

_RATE = r"^\s*[0-9]+\s*/\s*(s|sec|second|m|min|minute|h|hr|hour|d|day)s?\s*$"
_HOST = r"^(\*\.)?[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*(:[0-9]{1,5})?$"

# A sentence per key, shown by editors on hover ("Model.field"; the models' docstrings describe the objects).
DESCRIPTIONS: dict[str, str] = {
    "HubSpec.slug": "The integration's id: 2..32 of [a-z0-9-]; every tool name starts with '<slug>__'.",
    "HubSpec.name": "The display name shown on the dashboard and in tool listings, e.g. GitHub.",
    "HubSpec.category": "A catalog group, e.g. developer, productivity, payments (default: other).",
    "HubSpec.description": "Replaces the source's description of the integration; leave out to keep it.",
    "HubSpec.source": "Where the operations come from: an OpenAPI description, a Postman collection, GraphQL, SQL, "
    "an MCP server, docs, a repository or a text.",
    "HubSpec.base_url": "Where the tools send their requests, replacing the source's servers; may contain "
    "{variables} declared in server_variables.",
    "HubSpec.server_variables": "Values a user enters when connecting (e.g. a subdomain), used in base_url.",
    "HubSpec.auth": "How the user's credential is sent; replaces the schemes the source declares.",
    "HubSpec.tools": "The operations that become tools (operationId or 'METHOD /path'), with names, descriptions "
    "and defaults; leave out to compile every operation.",
    "HubSpec.include": "'all' with tools: keeps the operations not listed too, uncurated.",
    "HubSpec.max_name_length": "The longest full tool name '<slug>__<tool>' (clients truncate longer names).",
    "HubSpec.policy": "What the tools may reach: hosts, methods, rate limit and timeouts.",
    "HubSpec.credential_params": "'header:Name' or 'query:name' parameters the source declares for the credential "
    "itself; removed from every tool because the hub sends the credential per auth:.",
    "SourceSpec.kind": "The kind of source.",
    "SourceSpec.path": "A file, relative to the spec's folder (or a folder above it), or absolute.",
    "SourceSpec.url": "An http(s) URL of the description (a connection string for sql, a git URL for repo).",
    "SourceSpec.command": "kind mcp: the stdio server's command, as a list or one string.",
    "SourceSpec.env": "kind mcp: environment variables of the stdio server.",
    "SourceSpec.npm": "An npm package 'name@version' holding the description; path: is the file inside it.",
    "SourceSpec.sha256": "The SHA-256 the fetched description must have.",
    "SourceSpec.supplement": "kind openapi: a description of ours whose paths and components are added.",
    "ToolSpec.operation": "The source's operationId (or tool name), or 'METHOD /path'.",
    "ToolSpec.name": "The tool's name without the '<slug>__' prefix: letters, digits, '_' and '-'.",
    "ToolSpec.title": "A short human title shown by clients.",
    "ToolSpec.description": "What the agent reads to decide when to call the tool; replaces the source's.",
    "ToolSpec.enabled": "false hides the tool; destructive operations stay off unless this is true.",
    "ToolSpec.defaults": "argument -> value sent when the caller leaves the argument out.",
    "ToolSpec.fixed": "argument -> value always sent and removed from the schema; or header:Name / query:name / "
    "cookie:name for a value the source does not declare.",
    "ToolSpec.hide": "Optional arguments removed from the tool's schema.",
    "ToolSpec.annotations": "MCP tool annotations (read_only, destructive, idempotent, open_world).",
    "ToolSpec.response": "Trim or transform what comes back (HTTP tools).",
    "ToolSpec.input": "Friendly arguments turned into the request body by a named transform (HTTP tools).",
    "ToolSpec.selection": "GraphQL only: the fields to fetch from the operation's root field.",
    "ToolSpec.document": "GraphQL only: a whole document with one named operation.",
    "PolicySpec.allowed_hosts": "Host names the tools may call (e.g. api.example.com, *.example.com); default: the "
    "hosts of base_url and the auth URLs.",
    "PolicySpec.allowed_methods": "HTTP methods the tools may use; DELETE is off unless listed.",
    "PolicySpec.rate_limit": "Calls per user, e.g. 60/min, 10/s, 1000/hour, 5000/day.",
    "PolicySpec.timeout_s": "The whole call's deadline in seconds (at most 600).",
    "PolicySpec.connect_timeout_s": "The connection's deadline in seconds (at most 120).",
    "PolicySpec.max_response_bytes": "Answers larger than this are refused.",
    "PolicySpec.allow_private_network": "Let the tools reach private and loopback addresses.",
    "ApiKeyAuthSpec.in": "Where the key goes: header, query or cookie.",
    "ApiKeyAuthSpec.name": "The header, query parameter or cookie name, e.g. X-Api-Key.",
    "BearerAuthSpec.prefix": "'Authorization: <prefix> <token>' (default Bearer).",
    "OAuth2AuthSpec.scopes": "The scopes requested when a user connects.",
    "OAuth2AuthSpec.base_url": "Where calls with this scheme's tokens go, replacing the spec's base_url.",
}
# Patterns the validators check, written as JSON Schema (ECMA-262) regular expressions.
PATTERNS: dict[str, str] = {
    "HubSpec.slug": SLUG_RE.pattern,
    "ToolSpec.name": TOOL_NAME_CHARS_RE.pattern,
    "PolicySpec.rate_limit": _RATE,
    "HubSpec.base_url": r"^(https?://|\{[^{}]+\})",
    "SourceSpec.url": r"^\S",
}


def _model_name(definition: dict[str, Any]) -> str:
    return str(definition.get("title", ""))


def _strip_titles(node: Any) -> None:
    """pydantic titles every property with its capitalised name ("Id", "Slug"): noise in a hover."""
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            for prop in properties.values():
                if isinstance(prop, dict):
                    prop.pop("title", None)
        for value in node.values():
            _strip_titles(value)
    elif isinstance(node, list):
        for value in node:
            _strip_titles(value)


def _decorate(models: dict[str, dict[str, Any]]) -> None:
    for model_name, definition in models.items():
        for field_name, prop in definition.get("properties", {}).items():
            key = f"{model_name}.{field_name}"
            if key in DESCRIPTIONS:
                prop["description"] = DESCRIPTIONS[key]
            if key in PATTERNS:
                for branch in prop.get("anyOf", [prop]):
                    if branch.get("type") == "string":
                        branch["pattern"] = PATTERNS[key]


def spec_json_schema() -> dict[str, Any]:
    """The schema of `specs/<slug>.yaml`, as committed in SCHEMA_FILE."""
    schema = HubSpec.model_json_schema(by_alias=True, mode="validation")
    defs: dict[str, dict[str, Any]] = schema["$defs"]
    models = {_model_name(d): d for d in defs.values()}
    models["HubSpec"] = schema
    _strip_titles(schema)
    _decorate(models)

    slug = schema["properties"]["slug"]
    slug["not"] = {"enum": sorted(RESERVED_SLUGS)}
    tools = schema["properties"]["tools"]
    for branch in tools["anyOf"]:
        if branch.get("type") == "array":  # `- listPets` is short for `- {operation: listPets}`
            branch["items"] = {
                "anyOf": [
                    {"type": "string", "description": "An operation, short for {operation: ...}."},
                    branch["items"],
                ]
            }
    command = models["SourceSpec"]["properties"]["command"]
    command["anyOf"].insert(0, {"type": "string", "description": "One string, split like a shell would."})
    policy = models["PolicySpec"]["properties"]
    policy["allowed_hosts"]["items"]["pattern"] = _HOST
    methods = [*HTTP_METHODS, *(method.lower() for method in HTTP_METHODS)]
    policy["allowed_methods"]["items"] = {"type": "string", "enum": methods}

    ordered: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "MCP Hub spec",
        "description": "A hub spec (specs/<slug>.yaml): an integration's source and how its operations become "
        f"tools. Version {SPEC_SCHEMA_VERSION} of the format; generated from mcphub/compiler/spec.py.",
        "x-mcphub-spec-version": SPEC_SCHEMA_VERSION,
    }
    ordered.update({key: value for key, value in schema.items() if key not in ("title", "description")})
    return ordered


def render() -> str:
    """The committed file's exact text."""
    return json.dumps(spec_json_schema(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def committed_schema() -> bytes:
    return SCHEMA_FILE.read_bytes()


# --- checking a spec's text (the editor's markers) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of a spec's text: where (1-based line, 0 when unknown), which field, what, and who said it."""

    line: int
    column: int
    field: str
    message: str
    source: str  # "schema" (the published JSON Schema) or "spec" (the compiler's own checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
            "source": self.source,
        }


_WHERE = re.compile(r"^(?P<file>.*?):(?P<line>\d+)(?::(?P<column>\d+))?: (?P<rest>.*)$")


def problems_of(error: CompileError | str, path: Path | None = None) -> list[Problem]:
    """The 'file:line[:col]: field message' lines of a compiler error (lines of other files get line 0)."""
    found: list[Problem] = []
    for text in str(error).splitlines():
        match = _WHERE.match(text.strip())
        if match is None:
            if text.strip():
                found.append(Problem(0, 0, "", text.strip(), "spec"))
            continue
        same_file = path is None or Path(match["file"]).name == path.name
        line = int(match["line"]) if same_file else 0
        rest = match["rest"] if same_file else text.strip()
        field, _, message = rest.partition(" ")
        if not re.match(r"^[a-z_][\w.\[\]-]*$", field) or not message:
            field, message = "", rest
        found.append(Problem(line, int(match["column"] or 0), field, message, "spec"))
    return found


def _closest(errors: Any) -> Any:
    """Of the errors of anyOf's branches, one from the branch of the right type, as deep in the value as possible."""
    errors = list(errors)
    typed = [error for error in errors if not (error.validator == "type" and not error.relative_path)]
    return max(typed or errors, key=lambda error: len(error.absolute_path))


@functools.cache
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(committed_schema()))


def _field(parts: Any) -> str:
    field = ""
    for part in parts:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    return field


def check_spec_text(text: str, path: Path) -> list[Problem]:
    """Every problem of a spec's text, as the editor marks them: the JSON Schema's, then the compiler's checks.

    Where both find something on the same line, the compiler's sentence wins (it says what to do); the schema
    still catches what the models accept only at compile time (e.g. a pattern), and the models what no schema
    says (e.g. "exactly one of path: or url:", a source file that is missing).
    """
    try:
        data, lines = _compose(text, path)
    except SpecError as exc:  # YAML syntax: nothing to validate yet
        return problems_of(exc, path)
    locator = Locator(path, lines)
    schema: list[Problem] = []
    for found in _validator().iter_errors(data):
        error = found
        while error.context:  # anyOf/oneOf: the branch that came closest, not "is not valid under any"
            error = _closest(error.context)
        field = _field(error.absolute_path)
        message = error.message
        if error.validator == "additionalProperties":
            field = _field([*error.absolute_path, *re.findall(r"'([^']+)' was unexpected", message)[:1]])
        schema.append(Problem(locator.line_of(field) or 1, 0, field, message, "schema"))
    compiled: list[Problem] = []
    try:
        parse_spec(text, path)
    except CompileError as exc:
        compiled = problems_of(exc, path)
    said = {problem.line for problem in compiled}
    merged = [problem for problem in schema if problem.line not in said] + compiled
    return sorted(merged, key=lambda problem: (problem.line, problem.source))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The hub spec format's JSON Schema, generated from its models.")
    parser.add_argument("--write", action="store_true", help=f"write {SCHEMA_FILE.name}")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when {SCHEMA_FILE.name} is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        SCHEMA_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {SCHEMA_FILE}")
        return 0
    if args.check:
        if SCHEMA_FILE.is_file() and SCHEMA_FILE.read_text(encoding="utf-8") == text:
            return 0
        print(f"{SCHEMA_FILE} is stale: run `python -m mcphub.compiler.spec_schema --write`", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
