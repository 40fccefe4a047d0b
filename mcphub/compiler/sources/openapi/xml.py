"""XML request bodies: the element names an object body takes on the wire, read from the description's `xml` objects.

The tool's input schema carries the body as JSON (the normaliser drops `xml`, which clients do not read); the
runtime writes it as XML from the shape kept here on the body's binding (`ArgBinding.xml`). OpenAPI's rules: an
element is named after its property unless `xml.name` says otherwise; an array's items repeat under the
property's name (or the items' `xml.name`) unless `xml.wrapped` puts them inside one element named after the
array; `xml.attribute` makes a scalar property an attribute. The root element is the schema's `xml.name`, else
its title, else the name of the component it comes from (OpenAPI leaves it to tools; AWS's titles are the names
its services read).

A shape is plain JSON: {"name", "namespace", "prefix", "attribute", "wrapped", "properties": {...}, "items": {...}},
each key present only when it says something.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MAX_DEPTH = 12  # deeper than any XML body of the corpus; a recursive schema stops here (its values as text)


def is_xml(media_type: str) -> bool:
    base = media_type.split(";")[0].strip().lower()
    return base.endswith("/xml") or base.endswith("+xml")


def xml_shape(schema: Any, deref: Callable[[Any], Any]) -> dict[str, Any] | None:
    """The root shape of an XML body of `schema`, or None when it is no object or array (text goes as it is)."""
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    resolved = resolved_schema(schema, deref)
    if kind_of(resolved) not in ("object", "array"):
        return None
    shape = _shape(resolved, deref, 0)
    own = _xml(resolved)
    name = own.get("name") or resolved.get("title")
    if not (isinstance(name, str) and name) and isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
    shape["name"] = name if isinstance(name, str) and name else "body"
    return shape


def _shape(schema: dict[str, Any], deref: Callable[[Any], Any], depth: int) -> dict[str, Any]:
    shape: dict[str, Any] = {}
    own = _xml(schema)
    for key in ("name", "namespace", "prefix"):
        if isinstance(own.get(key), str) and own[key]:
            shape[key] = own[key]
    for key in ("attribute", "wrapped"):
        if own.get(key) is True:
            shape[key] = True
    if depth >= _MAX_DEPTH:
        return shape
    kind = kind_of(schema)
    if kind == "object":
        properties = schema.get("properties")
        if isinstance(properties, dict):
            children = {
                str(name): _shape(resolved_schema(value, deref), deref, depth + 1) for name, value in properties.items()
            }
            children = {name: child for name, child in children.items() if child}
            if children:
                shape["properties"] = children
    elif kind == "array":
        items = _shape(resolved_schema(schema.get("items"), deref), deref, depth + 1)
        if items:
            shape["items"] = items
    return shape


def resolved_schema(schema: Any, deref: Callable[[Any], Any]) -> dict[str, Any]:
    """`schema` with its `$ref`s followed and its `allOf` parts merged (AWS wraps every property in one)."""
    schema = deref(schema)
    if not isinstance(schema, dict):
        return {}
    parts = schema.get("allOf")
    if not isinstance(parts, list):
        return schema
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    for part in parts:
        for key, value in resolved_schema(part, deref).items():
            if key == "properties" and isinstance(value, dict):
                merged["properties"] = {**value, **(merged.get("properties") or {})}
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*(merged.get("required") or []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def kind_of(schema: dict[str, Any]) -> str | None:
    """The one non-null type of a schema (`object` when it only has properties, `array` when only items)."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and isinstance(schema.get("properties"), dict):
        return "object"
    if kind is None and "items" in schema:
        return "array"
    return kind if isinstance(kind, str) else None


def _xml(schema: dict[str, Any]) -> dict[str, Any]:
    value = schema.get("xml")
    return value if isinstance(value, dict) else {}
