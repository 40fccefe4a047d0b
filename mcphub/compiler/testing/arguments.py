"""Tool arguments for the test stage: hypothesis strategies from each tool's input schema, and invalid ones.

The strategies cover the JSON Schema the compiler writes into input schemas (types, enums, composition,
`$ref` into `$defs`, bounds, patterns, the formats APIs use); every example is checked by the same validator
the hub runs, so an argument set the hub would refuse is never counted against a tool.
"""

from __future__ import annotations

import base64
import copy
import re
from typing import Any

from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from mcphub.compiler.ir import ArgLocation, Tool

# Files and binary bodies are base64 text in a tool's schema (`contentEncoding: base64`): real base64, so the
# runtime has bytes to send.
_BASE64 = st.binary(max_size=48).map(lambda raw: base64.b64encode(raw).decode("ascii"))
_FORMATS: dict[str, st.SearchStrategy[str]] = {
    "binary": _BASE64,
    "byte": _BASE64,
    "date-time": st.datetimes().map(lambda d: d.replace(microsecond=0).isoformat() + "Z"),
    "date": st.dates().map(lambda d: d.isoformat()),
    "uuid": st.uuids().map(str),
    "email": st.from_regex(r"\A[a-z]{1,8}@[a-z]{1,8}\.(com|org|io)\Z"),
    "uri": st.from_regex(r"\Ahttps://[a-z]{1,10}\.example/[a-z0-9/]{0,12}\Z"),
}
_MAX_DEPTH = 5
_INTEGER_BITS = {"int32": 32, "int64": 64}
# A header cannot carry a line break or NUL (the runtime refuses those values with a tool error of their own).
_HEADER_TEXT = "\\A[^\\r\\n\\x00]*\\Z"  # \Z, not $: `$` lets a final line break through
# An XML body cannot carry C0 controls (but tab and line breaks) or surrogates (the runtime refuses those values).
_XML_TEXT = st.characters(codec="utf-8", blacklist_characters="".join(map(chr, range(32))) + "\ufffe\uffff")
_BREAKS = re.compile("[\r\n\x00]")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def generation_schema(tool: Tool) -> dict[str, Any]:
    """The tool's input schema with what the wire itself rules out made explicit, for generating arguments.

    A path value cannot be empty (the runtime refuses it: `/repos//issues` would be another endpoint) and a
    header value cannot hold a line break. Everything else is the schema the hub validates calls against.
    """
    schema = copy.deepcopy(tool.input_schema)
    properties = schema.get("properties")
    if tool.http is None or not isinstance(properties, dict):
        return schema
    for arg in tool.http.args:
        prop = properties.get(arg.name)
        if not isinstance(prop, dict) or not _is_string(prop):
            continue
        if arg.location is ArgLocation.PATH:
            prop["minLength"] = max(1, int(prop.get("minLength", 0)))
        elif (
            arg.location in (ArgLocation.HEADER, ArgLocation.COOKIE) and "pattern" not in prop and "format" not in prop
        ):
            # A format's own strategy (a uuid, a date) has no line break; a pattern would be drawn instead of it.
            prop["pattern"] = _HEADER_TEXT
    return schema


def arguments(tool: Tool) -> st.SearchStrategy[dict[str, Any]]:
    """Valid arguments of `tool`: drawn from its schema, kept only when the hub's validator accepts them."""
    schema = generation_schema(tool)
    validator = Draft202012Validator(tool.input_schema)
    xml = tool.http is not None and any(a.xml is not None for a in tool.http.args)
    strategy = _Strategies(schema, xml_text=xml).of(schema, 0)
    paths = [a.name for a in tool.http.args if a.location is ArgLocation.PATH] if tool.http is not None else []
    # A header value the description's own pattern lets hold a line break or NUL: the runtime refuses it (HTTP
    # cannot carry it), with a tool error of its own; no valid argument set for the stage.
    headers = (
        [a.name for a in tool.http.args if a.location in (ArgLocation.HEADER, ArgLocation.COOKIE)]
        if tool.http is not None
        else []
    )
    # A body that must not be empty: the hub refuses a call giving none of its arguments (`catalog._empty_body`).
    needs_one = tool.http.body_needs_one_of if tool.http is not None else []

    def acceptable(value: Any) -> bool:
        # An empty path value in a union schema (`anyOf: [integer, string]`) escapes `generation_schema`; a pattern's
        # string may still hold what an XML body cannot carry.
        return (
            isinstance(value, dict)
            and validator.is_valid(value)
            and all(value.get(p) not in ("", []) for p in paths)
            and not any(_BREAKS.search(text) for h in headers for text in _strings(value.get(h)))
            and not (xml and any(_NOT_XML.search(text) for text in _strings(value)))
            and (not needs_one or any(value.get(name) is not None for name in needs_one))
        )

    return strategy.filter(acceptable)


class _Strategies:
    def __init__(self, root: dict[str, Any], *, xml_text: bool = False) -> None:
        self.root = root
        self.xml_text = xml_text  # strings only of characters an XML document can carry

    def of(self, schema: Any, depth: int) -> st.SearchStrategy[Any]:
        if schema is True or schema == {}:
            return _ANY
        if not isinstance(schema, dict):
            return st.nothing()
        if isinstance(schema.get("$ref"), str):
            return st.deferred(lambda: self.of(self._resolve(schema["$ref"]), depth + 1))
        if "const" in schema:
            return st.just(schema["const"])
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return st.sampled_from(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                rest = {k: v for k, v in schema.items() if k != key}
                return st.one_of(
                    [
                        self.of({**rest, **branch} if isinstance(branch, dict) else branch, depth)
                        for branch in schema[key]
                    ]
                )
        if isinstance(schema.get("allOf"), list) and schema["allOf"]:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = self._resolve(part["$ref"]) if isinstance(part, dict) and "$ref" in part else part
                if isinstance(part, dict):
                    merged = _merge(merged, part)
            return self.of(merged, depth)
        kinds = schema.get("type")
        if kinds is None:
            kinds = ["object"] if "properties" in schema else ["string", "integer", "boolean"]
        elif isinstance(kinds, str):
            kinds = [kinds]
        return st.one_of([self._typed(kind, schema, depth) for kind in kinds])

    def _typed(self, kind: str, schema: dict[str, Any], depth: int) -> st.SearchStrategy[Any]:
        if kind == "null":
            return st.none()
        if kind == "boolean":
            return st.booleans()
        if kind in ("integer", "number"):
            low, high = schema.get("minimum"), schema.get("maximum")
            if isinstance(schema.get("exclusiveMinimum"), int | float):
                low = schema["exclusiveMinimum"] + (1 if kind == "integer" else 1e-6)
            if isinstance(schema.get("exclusiveMaximum"), int | float):
                high = schema["exclusiveMaximum"] - (1 if kind == "integer" else 1e-6)
            if schema.get("format") in _INTEGER_BITS:
                # The format states the range (`int64`); a value beyond it is no valid argument.
                bound = 2 ** (_INTEGER_BITS[schema["format"]] - 1)
                low = -bound if low is None else max(low, -bound)
                high = bound - 1 if high is None else min(high, bound - 1)
            if kind == "integer":
                return st.integers(
                    min_value=None if low is None else int(low), max_value=None if high is None else int(high)
                )
            # Bounds as floats: an int64 bound is no float hypothesis accepts as exact (`acceptable` has the last word)
            return st.floats(
                min_value=None if low is None else float(low),
                max_value=None if high is None else float(high),
                allow_nan=False,
                allow_infinity=False,
            )
        if kind == "string":
            return self._string(schema)
        if kind == "array":
            items = schema.get("items", {})
            low = int(schema.get("minItems", 0))
            high = min(int(schema.get("maxItems", low + 3)), low + 3)
            element = self.of(items, depth + 1) if depth < _MAX_DEPTH else st.nothing()
            if depth >= _MAX_DEPTH and low == 0:
                return st.just([])
            return st.lists(element, min_size=low, max_size=high, unique_by=_key if schema.get("uniqueItems") else None)
        if kind == "object":
            return self._object(schema, depth)
        return st.nothing()

    def _string(self, schema: dict[str, Any]) -> st.SearchStrategy[str]:
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        strategy: st.SearchStrategy[str]
        if isinstance(schema.get("pattern"), str) and _compiles(schema["pattern"]):
            strategy = st.from_regex(_with_length(schema["pattern"], low, high))
        elif schema.get("format") in _FORMATS or schema.get("contentEncoding") == "base64":
            strategy = _FORMATS.get(str(schema.get("format")), _BASE64)
        else:
            size = min(int(high), low + 24) if isinstance(high, int) else low + 24
            if self.xml_text:
                return st.text(_XML_TEXT, min_size=low, max_size=size)
            return st.text(min_size=low, max_size=size)
        return strategy.filter(lambda text: len(text) >= low and (not isinstance(high, int) or len(text) <= high))

    def _object(self, schema: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
        properties = _mapping(schema.get("properties"))
        required = [name for name in _sequence(schema.get("required")) if name in properties]
        dependent = _mapping(schema.get("dependentRequired"))
        if dependent:
            schema = {key: value for key, value in schema.items() if key != "dependentRequired"}
            # An optional body's required fields: either no field of the body, or all of those with any others.
            needed = sorted({name for names in dependent.values() for name in _sequence(names)})
            involved = set(dependent) | set(needed)
            without = {**schema, "properties": {k: v for k, v in properties.items() if k not in involved}}
            with_all = {**schema, "required": [*required, *(n for n in needed if n not in required)]}
            return st.one_of(self._object(without, depth), self._object(with_all, depth))
        optional = [name for name in properties if name not in required]
        if depth >= _MAX_DEPTH:
            optional = []
        fixed = st.fixed_dictionaries(
            {name: self.of(properties[name], depth + 1) for name in required},
            optional={name: self.of(properties[name], depth + 1) for name in optional},
        )
        extra = schema.get("additionalProperties")
        if properties or extra is False or extra is None or depth >= _MAX_DEPTH:
            return fixed
        values = _ANY if extra is True or extra == {} else self.of(extra, depth + 1)
        return st.dictionaries(st.text(min_size=1, max_size=10), values, max_size=3)

    def _resolve(self, ref: str) -> Any:
        node: Any = self.root
        for part in ref.removeprefix("#/").split("/"):
            node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
        return node


_ANY = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12))


_ONE_CLASS_REPEATED = re.compile(r"\A\^(\[(?:[^\]\\]|\\.)+\]|\\[dwsDWS]|\.)[+*]\$\Z")


def _with_length(pattern: str, low: int, high: Any) -> str:
    """`^[a-f0-9-]+$` with length bounds as `^[a-f0-9-]{36,36}$`: the same strings, without drawing many and keeping
    the few of the right length (AWS ids of exactly 36 characters failed that way)."""
    match = _ONE_CLASS_REPEATED.match(pattern)
    if match is None or (low == 0 and not isinstance(high, int)):
        return pattern
    upper = str(high) if isinstance(high, int) else ""
    return f"^{match.group(1)}{{{low},{upper}}}$"


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value.keys(), *(s for item in value.values() for s in _strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _compiles(pattern: str) -> bool:
    # A pattern Python cannot read (ECMA-only syntax, or broken) constrains nothing the hub can check either.
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _key(value: Any) -> str:
    return repr(value)


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    merged = {**a, **b}
    if isinstance(a.get("properties"), dict) and isinstance(b.get("properties"), dict):
        merged["properties"] = {**a["properties"], **b["properties"]}
    if isinstance(a.get("required"), list) and isinstance(b.get("required"), list):
        merged["required"] = [*a["required"], *b["required"]]
    return merged


def invalid_arguments(tool: Tool) -> tuple[str, dict[str, Any]]:
    """One argument set the hub must refuse before sending anything, and what is wrong with it.

    A required argument left out when the tool has one, else a typed argument of the wrong type, else an argument
    the tool does not have: one refusal per tool shows the validation runs on its path (the validator itself is
    the hub's, tested on its own), at the cost of one call.
    """
    schema = tool.input_schema
    properties = _mapping(schema.get("properties"))
    required = [name for name in _sequence(schema.get("required")) if name in properties]
    if required:
        return f"the required argument {required[0]!r} left out", {}
    for name, prop in properties.items():
        if isinstance(prop, dict) and prop.get("type") in ("integer", "number", "boolean", "array", "object"):
            return f"{name!r} of the wrong type", {name: "mcphub: not a " + str(prop["type"])}
    return "an argument the tool does not have", {"mcphub_not_an_argument": 1}


def _is_string(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "string" or (isinstance(kind, list) and "string" in kind)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
