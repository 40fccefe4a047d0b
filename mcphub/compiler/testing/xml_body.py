"""The test stage's reading of an XML request body: the document as the JSON value its schema describes.

openapi-core parses an XML body into an `Element` and then checks that against the schema's `type: object`, which
no element passes; so the stage reads the document itself, by the description's schema and OpenAPI's `xml` rules
(names, attributes, wrapped and unwrapped arrays), and openapi-core checks the value it yields as it would a JSON
body. It reads the description, not the compiled package, so a runtime that names an element wrongly is caught: the
element is left over, kept under its own name, and the schema (required fields, `additionalProperties`) says no.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from xml.etree.ElementTree import Element, ParseError, fromstring

from mcphub.compiler.sources.openapi.xml import kind_of, resolved_schema

_MAX_DEPTH = 40
_INTEGER = re.compile(r"-?\d+")


class NotXml(ValueError):
    """The body is not a well-formed XML document (or its root element is not the one the description names)."""


def read_xml(body: bytes, schema: Any, deref: Callable[[Any], Any]) -> Any:
    """The value of the XML document `body` as `schema` reads it; NotXml when it is not one."""
    try:
        root = fromstring(body)
    except ParseError as exc:
        raise NotXml(f"the body is not XML ({exc}): {body[:80]!r}") from exc
    resolved = resolved_schema(schema, deref)
    name = _xml(resolved).get("name")
    if isinstance(name, str) and name and _local(root.tag) != name:
        raise NotXml(f"the body's root element is <{_local(root.tag)}>, the description names it <{name}>")
    return _value(root, resolved, deref, 0)


def _value(element: Element, schema: dict[str, Any], deref: Callable[[Any], Any], depth: int) -> Any:
    kind = kind_of(schema)
    if depth > _MAX_DEPTH:
        return element.text or ""
    if kind == "object":
        return _object(element, schema, deref, depth)
    if kind == "array":
        items = resolved_schema(schema.get("items"), deref)
        return [_value(child, items, deref, depth + 1) for child in element]
    if len(element):  # elements where the schema says text: kept as an object, which the schema refuses
        return {_local(child.tag): child.text or "" for child in element}
    return _scalar(element.text or "", kind)


def _object(element: Element, schema: dict[str, Any], deref: Callable[[Any], Any], depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    used: set[int] = set()
    children = list(element)
    raw_properties = schema.get("properties")
    properties: dict[str, Any] = raw_properties if isinstance(raw_properties, dict) else {}
    for name, raw in properties.items():
        prop = resolved_schema(raw, deref)
        xml = _xml(prop)
        tag = str(xml.get("name") or name)
        if xml.get("attribute") is True:
            found = next((v for k, v in element.attrib.items() if _local(k) == tag), None)
            if found is not None:
                out[name] = _scalar(found, kind_of(prop))
            continue
        if kind_of(prop) == "array":
            items = resolved_schema(prop.get("items"), deref)
            item_tag = str(_xml(items).get("name") or (tag if xml.get("wrapped") is True else name))
            if xml.get("wrapped") is True:
                wrapper = next((c for c in children if _local(c.tag) == tag and id(c) not in used), None)
                if wrapper is not None:
                    used.add(id(wrapper))
                    out[name] = [_value(c, items, deref, depth + 1) for c in wrapper if _local(c.tag) == item_tag]
                continue
            matches = [c for c in children if _local(c.tag) == item_tag and id(c) not in used]
            if matches:
                used.update(id(c) for c in matches)
                out[name] = [_value(c, items, deref, depth + 1) for c in matches]
            continue
        child = next((c for c in children if _local(c.tag) == tag and id(c) not in used), None)
        if child is not None:
            used.add(id(child))
            out[name] = _value(child, prop, deref, depth + 1)
    for child in children:  # elements the schema does not name: kept, so the schema can refuse them
        if id(child) not in used:
            out.setdefault(_local(child.tag), child.text or "")
    return out


def _scalar(text: str, kind: str | None) -> Any:
    if kind == "integer" and _INTEGER.fullmatch(text.strip()):
        return int(text)
    if kind == "number":
        try:
            return float(text) if not _INTEGER.fullmatch(text.strip()) else int(text)
        except ValueError:
            return text
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return text  # a string, or a value of the wrong kind that the schema will refuse


def _local(tag: str) -> str:
    """`{urn:x}Name` or `p:Name` -> `Name`."""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _xml(schema: dict[str, Any]) -> dict[str, Any]:
    value = schema.get("xml")
    return value if isinstance(value, dict) else {}
