"""What every part of the OpenAPI conversion shares: the context (document, dialect, schemas, warnings), the
argument and operation records, and small readers for descriptions that put anything anywhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcphub.compiler.ir import ArgLocation, JsonSchema
from mcphub.compiler.schemas import Dialect, SchemaNormalizer

MAX_DESCRIPTION_CHARS = 1200


class Context:
    """The document being converted, its dialect, the schema normaliser over it, and the warnings so far."""

    __slots__ = ("dialect", "document", "normalizer", "warnings")

    def __init__(self, document: dict[str, Any], dialect: Dialect) -> None:
        self.document = document
        self.dialect: Dialect = dialect
        self.warnings: list[str] = []
        self.normalizer = SchemaNormalizer(document, dialect, warn=self.warnings.append)

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{where}: {message}" if where else message)


@dataclass(slots=True)
class Arg:
    """An argument before naming: where it goes and what it accepts."""

    location: ArgLocation
    wire_name: str
    schema: JsonSchema
    required: bool
    prefix: str  # used to disambiguate a clash: "query_id", "body_id"
    style: str | None = None
    explode: bool | None = None
    allow_reserved: bool = False
    content_type: str | None = None
    # Required inside a request body that is itself optional: required as soon as any body field is sent.
    with_body: bool = False
    xml: dict[str, Any] | None = None  # an XML body's element names (sources/openapi/xml.py)


@dataclass(slots=True)
class Operation:
    method: str
    path: str
    op: dict[str, Any]
    item: dict[str, Any]
    raw_name: str
    key: str
    where: str
    args: list[Arg] = field(default_factory=list)
    deps: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)  # extra text for the tool description
    # A required object body with `minProperties` >= 1 and no required field: a call must give one of its fields.
    body_needs_one: bool = False


def as_mapping(value: Any) -> dict[str, Any]:
    """`value` if it is a mapping, else an empty one (descriptions in the wild put anything anywhere)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def text_of(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def trim(text: str, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    """Cut long text at a paragraph or sentence boundary."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    for sep in ("\n\n", ". ", "\n", " "):
        cut = head.rfind(sep)
        if cut > limit // 2:
            return head[: cut + (1 if sep == ". " else 0)].rstrip() + " …"
    return head.rstrip() + " …"


def with_description(schema: JsonSchema, text: str) -> JsonSchema:
    """`schema` with `text` as its description (copy on write: schemas are shared)."""
    if not text or schema.get("description") == text:
        return schema
    out = dict(schema)
    if "$ref" in out and len(out) == 1:
        return {"$ref": out["$ref"], "description": text}
    out["description"] = text
    return out


def types_of(schema: JsonSchema) -> list[str] | None:
    t = schema.get("type")
    if isinstance(t, str):
        return [t]
    if isinstance(t, list):
        return [x for x in t if x != "null"]
    return None


def is_json(media_type: str) -> bool:
    base = media_type.split(";")[0].strip().lower()
    return base == "application/json" or base.endswith("+json") or base == "text/json"


def pick_media_type(media_types: list[str]) -> str:
    """Prefer JSON (plain `application/json` first), then forms, then whatever comes first."""
    for test in (
        lambda m: m.split(";")[0].strip().lower() == "application/json",
        is_json,
        lambda m: m.lower().startswith("application/x-www-form-urlencoded"),
        lambda m: m.lower().startswith("multipart/form-data"),
    ):
        for media_type in media_types:
            if test(media_type):
                return media_type
    return media_types[0]


SWAGGER_SCHEMA_KEYS = (
    "type",
    "format",
    "items",
    "enum",
    "default",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "multipleOf",
    "x-nullable",
    "x-example",
)


def swagger_param_schema(param: dict[str, Any]) -> dict[str, Any]:
    schema = {k: param[k] for k in SWAGGER_SCHEMA_KEYS if k in param}
    if "x-example" in schema:
        schema["example"] = schema.pop("x-example")
    return schema
