"""Compact input schemas for search answers.

A search answer carries each match's input schema so the agent can call it straight away, but some operations'
schemas run to tens of thousands of characters (Stripe's nested bodies). The compact form stays a valid JSON
Schema that accepts at least everything the full one accepts (it only drops descriptions and detail, never adds
a constraint), so an argument built from it is still checked against the full schema when the call is made;
`describe_tool` returns the full one.
"""

from __future__ import annotations

from typing import Any

# Annotations that do not constrain a value; dropped below the top level.
_ANNOTATIONS = ("description", "title", "examples", "example", "deprecated", "readOnly", "writeOnly", "$comment")
TOP_DESCRIPTION = 160  # characters kept of a top-level property's description
MAX_ENUM = 25  # longer enums become a hint in the description (dropping the enum only loosens the schema)
MAX_DEPTH = 3  # deeper object/array schemas become an unconstrained {"type": ...}


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    out = _compact(schema, depth=0)
    defs = schema.get("$defs")
    if isinstance(defs, dict):  # $ref targets must survive, compacted like nested properties
        out["$defs"] = {name: _compact(sub, depth=2) for name, sub in defs.items() if isinstance(sub, dict)}
    return out


def _trim(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _compact(node: dict[str, Any], depth: int) -> dict[str, Any]:
    if depth > MAX_DEPTH and not node.get("$ref"):
        kind = node.get("type")
        return {"type": kind} if isinstance(kind, (str, list)) else {}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$defs":
            continue
        if key in _ANNOTATIONS:
            if key == "description" and depth <= 1:
                out[key] = _trim(value, TOP_DESCRIPTION)
            continue
        if key == "enum" and isinstance(value, list) and len(value) > MAX_ENUM:
            shown = ", ".join(map(str, value[:MAX_ENUM]))
            hint = f"One of {len(value)} values: {shown}, … (describe_tool lists all)."
            out["description"] = _trim(f"{out.get('description') or node.get('description') or ''} {hint}", 400)
            continue
        if key in ("properties", "patternProperties", "$defs") and isinstance(value, dict):
            out[key] = {name: _compact(sub, depth + 1) if isinstance(sub, dict) else sub for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not", "contains") and isinstance(value, dict):
            out[key] = _compact(value, depth + 1)
        elif key in ("anyOf", "oneOf", "allOf", "prefixItems") and isinstance(value, list):
            # oneOf becomes anyOf: once branches are trimmed two may coincide, and "exactly one" would then
            # reject every value; anyOf keeps the compact schema no stricter than the full one.
            out["anyOf" if key == "oneOf" else key] = [
                _compact(sub, depth + 1) if isinstance(sub, dict) else sub for sub in value
            ]
        else:
            out[key] = value
    return out
