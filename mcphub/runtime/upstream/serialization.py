"""Wire serialisation: argument values as they travel in an upstream request, per the OpenAPI rules.

Pure functions, no I/O: path parameters (simple/label/matrix), query/header/cookie parameters (form,
spaceDelimited, pipeDelimited, deepObject; explode), form bodies, the query string, and the media-type
helpers request building and response shaping share. `request.py` applies them to a tool's binding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

from mcphub.compiler.ir import ArgLocation

__all__ = [
    "TEMPLATE_VARIABLE",
    "bare_media_type",
    "encode_form",
    "identity",
    "is_json",
    "pct",
    "query_encoder",
    "query_string",
    "render_path",
    "scalar",
    "sendable_media_type",
    "serialize_parameter",
    "serialize_path",
    "to_wire_names",
]

TEMPLATE_VARIABLE = re.compile(r"\{([^{}]+)\}")  # `{name}` in a path or server URL template
# Characters RFC 3986 lets through unencoded when a parameter sets allowReserved.
_RESERVED = ":/?#[]@!$&'()*+,;="


def scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def pct(text: str, *, allow_reserved: bool = False) -> str:
    return quote(text, safe=_RESERVED if allow_reserved else "")


def serialize_path(name: str, value: Any, *, style: str | None, explode: bool | None) -> str:
    """Render one path parameter (already percent-encoded) per OpenAPI simple/label/matrix style."""
    style = style or "simple"
    explode = bool(explode)
    enc = pct
    if isinstance(value, list):
        items = [enc(scalar(v)) for v in value]
        if style == "label":
            return "." + ("." if explode else ",").join(items)
        if style == "matrix":
            if explode:
                return "".join(f";{name}={item}" for item in items)
            return f";{name}=" + ",".join(items)
        return ",".join(items)
    if isinstance(value, dict):
        pairs = [(enc(str(k)), enc(scalar(v))) for k, v in value.items() if v is not None]
        if explode:
            joined = [f"{k}={v}" for k, v in pairs]
            if style == "label":
                return "." + ".".join(joined)
            if style == "matrix":
                return "".join(f";{item}" for item in joined)
            return ",".join(joined)
        flat = ",".join(f"{k},{v}" for k, v in pairs)
        if style == "label":
            return "." + flat
        if style == "matrix":
            return f";{name}={flat}"
        return flat
    text = enc(scalar(value))
    if style == "label":
        return "." + text
    if style == "matrix":
        return f";{name}={text}"
    return text


def render_path(template: str, fill: Callable[[re.Match[str]], str]) -> str:
    """Fill a path template segment by segment; a segment that argument values make `.` or `..` is sent encoded.

    Values are percent-encoded (a `/` in one is `%2F`), so only a dot segment could still move the request: clients
    and servers resolve `/echo/..` to `/`. `%2E` is the same character to the API, but no one resolves it.
    """
    segments = template.split("/")
    for index, segment in enumerate(segments):
        if "{" in segment:
            rendered = TEMPLATE_VARIABLE.sub(fill, segment)
            segments[index] = "%2E" * len(rendered) if rendered in (".", "..") else rendered
    return "/".join(segments)


def _deep_object(prefix: str, value: Any) -> Iterable[tuple[str, str]]:
    """`a[b][c]=v` pairs for nested objects (deepObject, Stripe-style form bodies)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if item is not None:
                yield from _deep_object(f"{prefix}[{key}]", item)
    elif isinstance(value, list):
        scalars = all(not isinstance(item, dict | list) for item in value)
        for index, item in enumerate(value):
            if item is not None:
                yield from _deep_object(f"{prefix}[]" if scalars else f"{prefix}[{index}]", item)
    else:
        yield prefix, scalar(value)


def identity(text: str) -> str:
    return text


def serialize_parameter(
    name: str,
    value: Any,
    *,
    location: ArgLocation,
    style: str | None,
    explode: bool | None,
    encode: Callable[[str], str] = identity,
) -> list[tuple[str, str]]:
    """(name, value) pairs of one query/header/cookie parameter per OpenAPI style and explode.

    `encode` is applied to each item before the style's delimiters join them, so a comma inside a
    value never reads as a delimiter (`a,b` of form/explode=false stays literal, a `,` in an item
    is encoded); the space and pipe delimiters are encoded as the OpenAPI examples show them.
    """
    if location is ArgLocation.HEADER:
        style = style or "simple"
        explode = bool(explode)
    else:
        style = style or "form"
        explode = True if explode is None else explode
    if style == "deepObject" and isinstance(value, dict | list):
        return [(key, encode(text)) for key, text in _deep_object(name, value)]
    if isinstance(value, list):
        items = [encode(scalar(v)) for v in value if v is not None]
        if not items:
            return []  # an empty list is undefined in RFC 6570 terms: the parameter is left out, not sent empty
        if style == "spaceDelimited":
            return [(name, encode(" ").join(items))]
        if style == "pipeDelimited":
            return [(name, encode("|").join(items))]
        if explode and location is ArgLocation.QUERY:
            return [(name, item) for item in items]
        return [(name, ",".join(items))]
    if isinstance(value, dict):
        pairs = [(str(k), encode(scalar(v))) for k, v in value.items() if v is not None]
        if not pairs:
            return []
        if explode and location is ArgLocation.QUERY:
            return pairs
        if explode:
            return [(name, ",".join(f"{encode(k)}={v}" for k, v in pairs))]
        return [(name, ",".join(f"{encode(k)},{v}" for k, v in pairs))]
    return [(name, encode(scalar(value)))]


def encode_form(
    fields: Mapping[str, Any], styles: Mapping[str, tuple[str | None, bool | None]] | None = None
) -> list[tuple[str, str]]:
    """Flatten a form body per each field's OpenAPI encoding (`styles`: wire name -> (style, explode)).

    The default is OpenAPI's for `application/x-www-form-urlencoded`: style form, explode true, so an array
    repeats its key (`To=a&To=b`, as Twilio expects) and an object's properties become fields of their own;
    explode false joins with commas; `deepObject` nests as `a[b]=v` and `a[]=v` (Stripe's convention). A wire
    name that already ends in `[]` (`expand[]`) repeats once per item. Values are not percent-encoded here.
    """
    pairs: list[tuple[str, str]] = []
    for name, value in fields.items():
        if value is None:
            continue
        style, explode = (styles or {}).get(name, (None, None))
        if isinstance(value, list) and name.endswith("[]"):
            pairs.extend((name, scalar(item)) for item in value if item is not None)
        elif style == "deepObject":
            pairs.extend(_deep_object(name, value))
        else:
            pairs.extend(serialize_parameter(name, value, location=ArgLocation.QUERY, style=style, explode=explode))
    return pairs


def query_string(pairs: Iterable[tuple[str, str]]) -> str:
    """Join already-encoded values; brackets stay readable in names (deepObject, `expand[]`)."""
    return "&".join(f"{quote(k, safe='[]')}={v}" for k, v in pairs)


def query_encoder(allow_reserved: bool) -> Callable[[str], str]:
    return (lambda text: pct(text, allow_reserved=True)) if allow_reserved else pct


def bare_media_type(content_type: str) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return content_type.split(";", 1)[0].strip().lower()


def is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def sendable_media_type(content_type: str) -> str:
    """A described media type as a Content-Type header: a range (`image/*`, `*/*`) is no type to send."""
    return "application/octet-stream" if "*" in content_type else content_type


def to_wire_names(value: Any, wire: Mapping[str, Any] | None, defs: Mapping[str, Mapping[str, Any]]) -> Any:
    """`value` with the client-safe property names of its schema turned back into the API's own (`Wine Pairing`).

    `wire` is an argument's wire map (the compiler's `ArgBinding.wire_names`, format in compiler/wire_names.py),
    `defs` the maps of the tool's `$defs` entries. Keys without a map entry go as they are; the value is copied
    only where something is renamed.
    """
    if not wire:
        return value
    ref = wire.get("ref")
    if isinstance(ref, str) and ref in defs:
        value = to_wire_names(value, defs[ref], defs)
    for variant in wire.get("variants", ()):
        value = to_wire_names(value, variant, defs)
    if isinstance(value, list):
        items = wire.get("items")
        return [to_wire_names(item, items, defs) for item in value] if items else value
    if not isinstance(value, Mapping):
        return value
    rename: Mapping[str, str] = wire.get("rename", {})
    below: Mapping[str, Any] = wire.get("properties", {})
    extra = wire.get("additionalProperties")
    if not (rename or below or extra):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        sub = below.get(key) if key in below else (extra if key not in rename else None)
        # A key the caller sent under its wire name already is left alone: only client-safe names are renamed.
        out[rename.get(key, key)] = to_wire_names(item, sub, defs)
    return out
