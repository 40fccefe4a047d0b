"""An XML request body from a tool's JSON argument, named as the description's `xml` objects say.

The shape (`ArgBinding.xml`, written by the compiler) gives the root element's name and, where the description
says so, other names, namespaces, attributes and wrapped arrays; an element is otherwise named after its property,
and an array's items repeat under the array's name (OpenAPI's rules). Values are text: booleans `true`/`false`,
numbers as JSON writes them; a property left out or null is no element.
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

__all__ = ["NotSendableAsXml", "to_xml"]

# What XML 1.0 cannot carry at all, not even as a character reference: C0 controls but tab and line breaks,
# surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class NotSendableAsXml(ValueError):
    """A value holds a character no XML document can carry; the message names the element."""


def to_xml(value: Any, shape: dict[str, Any]) -> bytes:
    """The document for `value`, with an XML declaration (UTF-8)."""
    root = _element(str(shape.get("name") or "body"), shape)
    _fill(root, value, shape)
    return b'<?xml version="1.0" encoding="UTF-8"?>' + tostring(root, encoding="unicode").encode()


def _element(name: str, shape: dict[str, Any], parent: Element | None = None) -> Element:
    prefix = shape.get("prefix")
    tag = f"{prefix}:{name}" if isinstance(prefix, str) and prefix else name
    element = Element(tag) if parent is None else SubElement(parent, tag)
    namespace = shape.get("namespace")
    if isinstance(namespace, str) and namespace:
        element.set(f"xmlns:{prefix}" if isinstance(prefix, str) and prefix else "xmlns", namespace)
    return element


def _fill(element: Element, value: Any, shape: dict[str, Any]) -> None:
    if isinstance(value, dict):
        children = shape.get("properties") or {}
        for name, item in value.items():
            if item is None:
                continue
            _child(element, str(name), item, children.get(name) or {})
    elif isinstance(value, list):  # a root array: its items under the root, each named as the items say
        items = shape.get("items") or {}
        for item in value:
            if item is not None:
                _fill(_element(str(items.get("name") or element.tag), items, element), item, items)
    else:
        element.text = _text(value, element.tag)


def _child(parent: Element, prop: str, value: Any, shape: dict[str, Any]) -> None:
    name = str(shape.get("name") or prop)
    if shape.get("attribute") and not isinstance(value, dict | list):
        parent.set(name, _text(value, f"{parent.tag}/@{name}"))
        return
    if not isinstance(value, list):
        _fill(_element(name, shape, parent), value, shape)
        return
    items = shape.get("items") or {}
    if shape.get("wrapped"):
        wrapper = _element(name, shape, parent)
        for item in value:
            if item is not None:
                _fill(_element(str(items.get("name") or name), items, wrapper), item, items)
        return
    # Unwrapped (the default): each item is an element of its own, named by the items' `xml.name`, else the property
    # (an array's own `xml.name` names only a wrapper, OpenAPI says).
    for item in value:
        if item is not None:
            _fill(_element(str(items.get("name") or prop), items, parent), item, items)


def _text(value: Any, where: str) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    bad = _NOT_XML.search(text)
    if bad is not None:
        raise NotSendableAsXml(
            f"the value of <{where}> holds U+{ord(bad.group()):04X}, a character an XML body cannot carry; remove it"
        )
    return text
