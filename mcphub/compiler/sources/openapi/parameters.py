"""Parameters: path, query, header and cookie parameters (operation-level over path-level) as arguments, with
their serialisation; Swagger 2.0's `collectionFormat` becomes the 3.x style."""

from __future__ import annotations

from typing import Any

from mcphub.compiler.ir import ArgLocation, JsonSchema
from mcphub.compiler.sources.openapi.common import (
    Arg,
    Context,
    Operation,
    swagger_param_schema,
    text_of,
    types_of,
    with_description,
)
from mcphub.compiler.sources.openapi.security import Security

# Handled by the runtime (content negotiation, auth): never tool arguments.
SKIPPED_HEADERS = frozenset({"accept", "content-type", "authorization"})


class Parameters:
    """An operation's parameters as arguments; shared (`$ref`'d) parameters are converted once."""

    def __init__(self, ctx: Context, security: Security) -> None:
        self.ctx = ctx
        self.security = security  # says which parameters are the credential: the runtime sends those
        self.param_cache: dict[int, tuple[dict[str, Any], tuple[Arg, frozenset[str]]]] = {}

    def collect(self, o: Operation) -> None:
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for holder in (o.item, o.op):
            params = holder.get("parameters")
            if params is None:
                continue
            if not isinstance(params, list):
                self.ctx.warn(o.where, "'parameters' is not a list; ignored")
                continue
            for raw in params:
                param = self.ctx.normalizer.deref(raw)
                if not isinstance(param, dict) or not isinstance(param.get("name"), str) or "in" not in param:
                    self.ctx.warn(o.where, "parameter without 'name'/'in'; ignored")
                    continue
                merged[(str(param["in"]), param["name"])] = param
        for (location, wire_name), param in merged.items():
            if location == "header" and wire_name.lower() in SKIPPED_HEADERS:
                # An Authorization header parameter where no security scheme is declared (GoTo) is the credential:
                # without a scheme the runtime would never send it, and every call would be refused. Where the
                # declared schemes send their credential elsewhere (Azure LUIS: a subscription key header, and an
                # ARM token in Authorization for some operations), it is an argument like any other header.
                if wire_name.lower() != "authorization":
                    continue
                if not self.security.declared or self.security.sends_authorization():
                    self.security.authorization_parameter()
                    continue
            if self.security.is_credential(location, wire_name):
                continue  # the runtime injects the credential
            if location in ("body", "formData"):
                continue  # Swagger 2.0, handled with the body
            if location not in ("path", "query", "header", "cookie"):
                self.ctx.warn(o.where, f"parameter {wire_name!r} has unknown location {location!r}; ignored")
                continue
            cached = self.param_cache.get(id(param))
            if cached is None or cached[0] is not param:
                # Shared parameters ($ref'd by hundreds of operations) are converted once.
                cached = self.param_cache[id(param)] = (param, self._parameter(param, location, wire_name))
            arg, deps = cached[1]
            o.args.append(arg)
            o.deps.update(deps)

    def _parameter(self, param: dict[str, Any], location: str, wire_name: str) -> tuple[Arg, frozenset[str]]:
        """One parameter as an argument (never mutated afterwards: it may be shared between operations)."""
        content_type = None
        style = param.get("style") if isinstance(param.get("style"), str) else None
        explode = param.get("explode") if isinstance(param.get("explode"), bool) else None
        if self.ctx.dialect == "swagger2":
            normal = self.ctx.normalizer.normalize(swagger_param_schema(param))
            style, explode = collection_format(param, location)
        elif isinstance(param.get("schema"), dict | bool):
            normal = self.ctx.normalizer.normalize(param["schema"])
        elif isinstance(param.get("content"), dict) and param["content"]:
            content_type, media = next(iter(param["content"].items()))
            schema = media.get("schema") if isinstance(media, dict) else None
            normal = self.ctx.normalizer.normalize(schema if schema is not None else {})
        else:
            normal = self.ctx.normalizer.normalize({})
        schema = normal.schema
        kinds = schema.get("type")
        if location == "path" and isinstance(kinds, list) and "null" in kinds and len(kinds) > 1:
            # A path has no null (VTEX's `nullable` facets): the value is required and sent as text.
            rest = [k for k in kinds if k != "null"]
            schema = {**schema, "type": rest[0] if len(rest) == 1 else rest}
        # An empty query value is invalid unless the description allows it (`?q=` is no search at all); an empty
        # path value would make another path (`/repos//issues`), so the runtime refuses it.
        empty_refused = location == "path" or (location == "query" and param.get("allowEmptyValue") is not True)
        if empty_refused:
            schema = _no_empty_text(schema)
        required = location == "path" or param.get("required") is True
        if required and types_of(schema) == ["array"] and not schema.get("minItems"):
            # An empty array puts nothing on the wire (`?delivery=` is not sent at all), so the required parameter
            # would be missing: the tool asks for one item at least.
            schema = {**schema, "minItems": 1}
        if required and content_type is None and types_of(schema) == ["object"] and not schema.get("minProperties"):
            # Likewise an empty object: no pairs at all (AWS's `Tags` map), so it needs one property at least.
            schema = {**schema, "minProperties": 1}
        notes = [text_of(param.get("description"))]
        if param.get("deprecated") is True:
            notes.append("Deprecated.")
        examples = _param_examples(param)
        if examples and "examples" not in schema:
            schema = dict(schema)
            schema["examples"] = examples
        text = " ".join(n for n in notes if n)
        if text:
            own = schema.get("description")
            if isinstance(own, str) and own and own not in text:
                text = f"{text} {own}"
            schema = with_description(schema, text)
        return Arg(
            location=ArgLocation(location),
            wire_name=wire_name,
            schema=schema,
            required=required,
            prefix=location,
            style=style,
            explode=explode,
            allow_reserved=param.get("allowReserved") is True,
            content_type=content_type,
        ), normal.deps


def collection_format(param: dict[str, Any], location: str) -> tuple[str | None, bool | None]:
    if param.get("type") != "array":
        return None, None
    fmt = param.get("collectionFormat", "csv")
    if fmt == "multi":
        return "form", True
    if fmt == "ssv":
        return "spaceDelimited", False
    if fmt == "pipes":
        return "pipeDelimited", False
    return ("simple" if location in ("path", "header") else "form"), False


def _param_examples(param: dict[str, Any]) -> list[Any]:
    examples: list[Any] = []
    if "example" in param:
        examples.append(param["example"])
    raw = param.get("examples")
    if isinstance(raw, dict):
        for example in raw.values():
            if isinstance(example, dict) and "value" in example:
                examples.append(example["value"])
    return [e for e in examples if isinstance(e, str | int | float | bool) and len(str(e)) <= 200][:3]


def _no_empty_text(schema: JsonSchema) -> JsonSchema:
    """A string schema (or each string branch of a union: GitHub's `affects`, a string or a list) without ``."""
    if types_of(schema) == ["string"] and "enum" not in schema and not schema.get("minLength"):
        return {**schema, "minLength": 1}
    items = schema.get("items")
    if types_of(schema) == ["array"] and isinstance(items, dict) and types_of(items) == ["string"]:
        return {**schema, "items": _no_empty_text(items)}  # `fields=` of an exploded [""] is an empty value too
    for key in ("oneOf", "anyOf"):
        branches = schema.get(key)
        if isinstance(branches, list):
            return {**schema, key: [_no_empty_text(b) if isinstance(b, dict) else b for b in branches]}
    return schema
