"""Client rules (CLIENT-COMPAT.md) checked on a compiled integration, independently of the compiler's own checks.

Every tool schema passes the 2020-12 meta-schema, has an object root without a top-level union and only local
`$ref`s that resolve; names are legal, unique and within budget, property names too at every depth; the
generated Python parses and the manifest loads back.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from mcphub.compiler.ir import Integration, Tool

# Client rules (CLIENT-COMPAT.md): the full name `<slug>__<tool>` is what clients see.
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
PROPERTY_NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")
MAX_FULL_NAME = 48  # the hub's default budget, which openapi_to_integration is called with


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Keywords whose values are schemas in draft 2020-12: a map of them, a list of them, or one.
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_VALUES = (
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
)


def _children(schema: dict[str, Any]) -> Iterator[tuple[str, str | int | None, dict[str, Any]]]:
    """(keyword, name or index or None, subschema) for every object subschema directly under `schema`."""
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            yield from ((key, name, sub) for name, sub in value.items() if isinstance(sub, dict))
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            yield from ((key, index, sub) for index, sub in enumerate(value) if isinstance(sub, dict))
        elif key in _SCHEMA_VALUES and isinstance(value, dict):
            yield key, None, value


def _shallow(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` without its subschemas: what the meta-schema checks at this one level.

    Object subschemas leave maps (properties, $defs, ...), except that patternProperties keeps its keys
    (the meta-schema checks they are regexes); they become `{}` in lists, whose length is checked. Anything
    else (a property whose schema is a string) stays, to be judged.
    """
    shallow = dict(schema)
    for key, value in schema.items():
        if key == "patternProperties" and isinstance(value, dict):
            shallow[key] = {k: {} if isinstance(v, dict) else v for k, v in value.items()}
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            shallow[key] = {k: v for k, v in value.items() if not isinstance(v, dict)}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            shallow[key] = [{} if isinstance(v, dict) else v for v in value]
        elif key in _SCHEMA_VALUES and isinstance(value, dict):
            shallow[key] = {}
    return shallow


def _escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _resolves(schema: dict[str, Any], ref: str) -> bool:
    node: Any = schema
    for token in ref[2:].split("/") if ref != "#" else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or token not in node:
            return False
        node = node[token]
    return isinstance(node, dict | bool)


class SchemaChecker:
    """`check_schema` and $ref checks for the tool schemas of one integration, done once per shared subschema.

    Compiled tools share subschemas by the hundred (the normaliser memoises referenced schemas), and a
    whole-schema `Draft202012Validator.check_schema` per tool re-validates them every time: 43 s for
    docusign.net, minutes for Microsoft Graph. The meta-schema checks each subschema on its own (through
    `$dynamicRef`), so checking every level with its subschemas taken out is the same check; levels are
    then skipped when the very same object was checked before, and verdicts are memoised on a level's text.
    """

    def __init__(self) -> None:
        self._verdicts: dict[str, str] = {}  # a level's JSON text -> "" (valid) or the meta-schema's complaint
        self._checked: dict[int, dict[str, Any]] = {}  # id -> node; holding the node keeps its id unique
        self._refs: dict[int, tuple[dict[str, Any], frozenset[str]]] = {}

    def meta_schema_problem(self, schema: dict[str, Any]) -> str:
        """What `Draft202012Validator.check_schema` says about `schema`: "" when it is valid."""
        stack: list[tuple[str, dict[str, Any]]] = [("#", schema)]
        while stack:
            pointer, node = stack.pop()
            if id(node) in self._checked:
                continue
            self._checked[id(node)] = node
            level = _shallow(node)
            key = json.dumps(level, sort_keys=True, default=repr)
            if key not in self._verdicts:
                try:
                    Draft202012Validator.check_schema(level)
                    self._verdicts[key] = ""
                except SchemaError as exc:
                    where = "/".join(str(p) for p in exc.absolute_path)
                    self._verdicts[key] = (f"'{where}': " if where else "") + one_line(exc.message, 160)
            if self._verdicts[key]:
                return f"at {pointer} {self._verdicts[key]}"
            for child_key, name, child in _children(node):
                suffix = child_key if name is None else f"{child_key}/{_escape_pointer(str(name))}"
                stack.append((f"{pointer}/{suffix}", child))
        return ""

    def refs(self, node: dict[str, Any]) -> frozenset[str]:
        """Every `$ref` value in `node` and its subschemas (non-strings as their repr)."""
        cached = self._refs.get(id(node))
        if cached is not None:
            return cached[1]
        found = {node["$ref"] if isinstance(node["$ref"], str) else repr(node["$ref"])} if "$ref" in node else set()
        for _, _, child in _children(node):
            found |= self.refs(child)
        result = frozenset(found)
        self._refs[id(node)] = (node, result)
        return result


def schema_problems(schema: Any, what: str, checker: SchemaChecker) -> list[str]:
    """Client rules for one tool schema: valid 2020-12, root object, no top-level union, local refs that resolve."""
    if not isinstance(schema, dict):
        return [f"{what} is {type(schema).__name__}, not an object schema"]
    problems = []
    meta = checker.meta_schema_problem(schema)
    if meta:
        problems.append(f"{what} is not valid JSON Schema 2020-12 {meta}")
    if schema.get("type") != "object":
        problems.append(f"{what} root type is {schema.get('type')!r}, not 'object'")
    unions = sorted(k for k in ("oneOf", "anyOf", "allOf") if k in schema)
    if unions:
        problems.append(f"{what} has top-level {'/'.join(unions)}")
    for ref in sorted(checker.refs(schema)):
        if not (ref == "#" or ref.startswith("#/$defs/")):
            problems.append(f"{what} has $ref {ref!r}, outside the schema's own $defs")
        elif not _resolves(schema, ref):
            problems.append(f"{what} has $ref {ref!r} that does not resolve")
    return problems


def tool_problems(tool: Tool, checker: SchemaChecker) -> list[str]:
    """Problems of one tool: its schemas, property names and argument bindings."""
    what = f"tool {tool.name!r} input schema"
    problems = schema_problems(tool.input_schema, what, checker)
    properties = tool.input_schema.get("properties", {}) if isinstance(tool.input_schema, dict) else {}
    if not isinstance(properties, dict):
        return [*problems, f"{what} properties is {type(properties).__name__}, not an object"]
    problems += [
        f"{what} property name {name!r} breaks {PROPERTY_NAME.pattern}"
        for name in properties
        if not PROPERTY_NAME.match(name)
    ]
    if tool.http is not None:
        problems += [
            f"tool {tool.name!r} binds argument {arg.name!r}, which its input schema does not define"
            for arg in tool.http.args
            if arg.name not in properties
        ]
    if tool.output_schema is not None:
        output = f"tool {tool.name!r} output schema"
        problems += schema_problems(tool.output_schema, output, checker)
    return problems


def integration_problems(integration: Integration, files: dict[str, str]) -> list[str]:
    """Every client rule the compiled integration breaks (empty when it is fine)."""
    problems: list[str] = []
    names = Counter(tool.name for tool in integration.tools)
    problems += [f"tool name {name!r} is used by {count} tools" for name, count in names.items() if count > 1]
    for tool in integration.tools:
        full = f"{integration.slug}__{tool.name}"
        if not TOOL_NAME.match(tool.name) or not TOOL_NAME.match(full):
            problems.append(f"tool name {full!r} breaks {TOOL_NAME.pattern}")
        elif len(full) > MAX_FULL_NAME:
            problems.append(f"tool name {full!r} is {len(full)} characters, over the {MAX_FULL_NAME} budget")
    # Disabled tools too: the compiler leaves DELETEs out by default, and a hub spec can switch them on.
    checker = SchemaChecker()
    for tool in integration.tools:
        problems += tool_problems(tool, checker)
    for name in ("server.py", "__init__.py"):
        try:
            compile(files[name], name, "exec")
        except SyntaxError as exc:
            problems.append(f"generated {name} does not parse: {exc.msg} at line {exc.lineno}")
    try:
        Integration.from_manifest(files["manifest.json"])
    except ValueError as exc:
        problems.append(f"manifest.json does not load back: {one_line(str(exc), 160)}")
    return problems
