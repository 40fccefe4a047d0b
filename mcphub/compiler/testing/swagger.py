"""Swagger 2.0 descriptions as OpenAPI 3.0, so the test stage's openapi-core checks their requests too.

openapi-core reads OpenAPI 3.x only. This is the conversion the OpenAPI Initiative documents for moving a 2.0
description to 3.0 (the rules swagger2openapi applies), limited to what a request check and the mock's answers
read; it is written apart from the compiler's own reading of Swagger (`sources/openapi/bodies.py` and
`parameters.py`), so the stage checks that reading instead of repeating it. What is converted, faithfully:

- `definitions`, `parameters`, `responses` move under `components` and every `$ref` follows;
- a query/path/header/cookie parameter's `type`, `format`, `items`, `enum`, bounds and `default` become its
  `schema`; `collectionFormat` becomes style and explode (csv: form/simple without explode, ssv: spaceDelimited,
  pipes: pipeDelimited, multi: form with explode; csv is the 2.0 default, so `explode: false` is written out);
  `allowEmptyValue` is kept;
- an `in: body` parameter becomes the `requestBody` (its `required`, one entry per media type of `consumes`, JSON
  when there is none); `formData` parameters become one object schema under `multipart/form-data` or
  `application/x-www-form-urlencoded` (as `consumes` says; multipart when a field is `type: file`), with their
  collection formats as `encoding` entries; `type: file` is `type: string, format: binary`;
- responses get `content` per media type of `produces` (JSON when none), `examples` per media type as `example`;
- `x-nullable: true` becomes `nullable: true` (the 2.0 extension for what 3.0 has a keyword for).

Left as is, since a request check never reads them: security definitions (the runtime's business), `tsv`
(no 3.0 equivalent: such a parameter is checked as one unexploded form value, i.e. as csv would be).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["swagger_to_openapi3"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_SCHEMA_KEYS = (
    "type",
    "format",
    "items",
    "enum",
    "default",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "multipleOf",
    "x-nullable",
)
_STYLES = {"csv": "form", "ssv": "spaceDelimited", "pipes": "pipeDelimited", "tsv": "form", "multi": "form"}
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


def swagger_to_openapi3(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.0.3 form of a Swagger 2.0 `document` (not modified)."""
    source = _refs(copy.deepcopy(document))
    out: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": source.get("info") or {"title": "converted", "version": "1"},
        "paths": {},
        "components": {},
    }
    scheme = (source.get("schemes") or ["https"])[0]
    host = source.get("host")
    base = str(source.get("basePath") or "")
    out["servers"] = [{"url": f"{scheme}://{host}{base}" if host else base or "/"}]
    components = out["components"]
    components["schemas"] = _schemas(source.get("definitions") or {})
    consumes = _list(source.get("consumes"))
    produces = _list(source.get("produces"))
    parameters = source.get("parameters") or {}
    components["parameters"] = {
        name: _parameter(p)
        for name, p in parameters.items()
        if isinstance(p, dict) and p.get("in") not in ("body", "formData")
    }
    # Shared body and form parameters are no 3.0 parameters: they are inlined where operations use them.
    shared_bodies = {f"#/components/parameters/{name}": p for name, p in parameters.items() if isinstance(p, dict)}
    # API keys in the query string are the runtime's to add; the stage allows their names (`SourceOperations`).
    components["securitySchemes"] = {
        name: {"type": "apiKey", "name": scheme.get("name"), "in": scheme.get("in")}
        for name, scheme in (source.get("securityDefinitions") or {}).items()
        if isinstance(scheme, dict) and scheme.get("type") == "apiKey"
    }
    components["responses"] = {
        name: _response(r, produces) for name, r in (source.get("responses") or {}).items() if isinstance(r, dict)
    }
    for path, item in (source.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        new_item: dict[str, Any] = {}
        shared = [_inline(p, shared_bodies) for p in _list(item.get("parameters"))]
        for key, value in item.items():
            if key in _METHODS and isinstance(value, dict):
                new_item[key] = _operation(value, shared, shared_bodies, consumes, produces)
            elif key.startswith("x-") or key in ("summary", "description"):
                new_item[key] = value
        path_parameters = [_parameter(p) for p in shared if _plain(p)]
        if path_parameters:
            new_item["parameters"] = path_parameters
        out["paths"][path] = new_item
    return out


def _operation(
    op: dict[str, Any],
    shared: list[Any],
    shared_bodies: dict[str, Any],
    consumes: list[str],
    produces: list[str],
) -> dict[str, Any]:
    new = {k: v for k, v in op.items() if k not in ("parameters", "responses", "consumes", "produces", "schemes")}
    own = [_inline(p, shared_bodies) for p in _list(op.get("parameters"))]
    # An operation's parameter replaces a path item's one of the same name and place.
    keys = {(p.get("name"), p.get("in")) for p in own if isinstance(p, dict)}
    every = [p for p in shared if not (isinstance(p, dict) and (p.get("name"), p.get("in")) in keys)] + own
    media_in = _list(op.get("consumes")) or consumes
    media_out = _list(op.get("produces")) or produces
    new["parameters"] = [_parameter(p) for p in own if _plain(p)]
    body = next((p for p in every if isinstance(p, dict) and p.get("in") == "body"), None)
    form = [p for p in every if isinstance(p, dict) and p.get("in") == "formData"]
    if body is not None:
        types = [m for m in media_in if m not in (_FORM, _MULTIPART)] or ["application/json"]
        schema = _schema(body.get("schema") or {})
        new["requestBody"] = {
            "required": body.get("required") is True,
            "content": {t: {"schema": schema} for t in types},
        }
        if body.get("description"):
            new["requestBody"]["description"] = body["description"]
    elif form:
        files = any(p.get("type") == "file" for p in form)
        media = _MULTIPART if files or (_MULTIPART in media_in and _FORM not in media_in) else _FORM
        properties: dict[str, Any] = {}
        encoding: dict[str, Any] = {}
        for p in form:
            properties[p["name"]] = _parameter_schema(p)
            if p.get("type") == "array":
                style, explode = _style(p, "formData")
                encoding[p["name"]] = {"style": style, "explode": explode}
        fields: dict[str, Any] = {"type": "object", "properties": properties}
        required = [p["name"] for p in form if p.get("required") is True]
        if required:
            fields["required"] = required
        content: dict[str, Any] = {"schema": fields}
        if encoding:
            content["encoding"] = encoding
        new["requestBody"] = {"required": bool(required), "content": {media: content}}
    responses = op.get("responses") or {}
    new["responses"] = {
        str(code): _response(r, media_out) if isinstance(r, dict) else r for code, r in responses.items()
    } or {"default": {"description": "any"}}
    return new


def _plain(parameter: Any) -> bool:
    """A parameter that stays one (not a body or form field); references to shared ones included."""
    return isinstance(parameter, dict) and ("$ref" in parameter or parameter.get("in") not in ("body", "formData"))


def _inline(parameter: Any, shared: dict[str, Any]) -> Any:
    """A reference to a shared body or form parameter, replaced by the parameter (3.0 has no such parameters)."""
    if isinstance(parameter, dict) and isinstance(parameter.get("$ref"), str):
        target = shared.get(parameter["$ref"])
        if isinstance(target, dict) and target.get("in") in ("body", "formData"):
            return target
    return parameter


def _parameter(parameter: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in parameter:
        return parameter
    new = {k: v for k, v in parameter.items() if k not in (*_SCHEMA_KEYS, "collectionFormat")}
    new["schema"] = _parameter_schema(parameter)
    if parameter.get("type") == "array":
        new["style"], new["explode"] = _style(parameter, str(parameter.get("in")))
    return new


def _style(parameter: dict[str, Any], location: str) -> tuple[str, bool]:
    collection = str(parameter.get("collectionFormat") or "csv")
    if location in ("path", "header"):
        return "simple", False
    return _STYLES.get(collection, "form"), collection == "multi"


def _parameter_schema(parameter: dict[str, Any]) -> dict[str, Any]:
    schema = {k: parameter[k] for k in _SCHEMA_KEYS if k in parameter}
    if isinstance(schema.get("items"), dict):
        schema["items"] = _parameter_schema(schema["items"])  # items of 2.0 parameters are parameter-like too
    converted: dict[str, Any] = _schema(schema)
    return converted


def _schema(schema: Any) -> Any:
    """A 2.0 schema as a 3.0 one: `type: file` is binary text, `x-nullable` is `nullable`, all the way down."""
    if isinstance(schema, list):
        return [_schema(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and value == "file":
            out["type"], out["format"] = "string", "binary"
        elif key == "x-nullable":
            if value is True:
                out["nullable"] = True
        elif key == "discriminator" and isinstance(value, str):
            out[key] = {"propertyName": value}
        elif key in ("properties", "definitions") and isinstance(value, dict):
            out[key] = {name: _schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "allOf", "anyOf", "oneOf", "not"):
            out[key] = _schema(value)
        else:
            out[key] = value
    return out


def _schemas(definitions: dict[str, Any]) -> dict[str, Any]:
    return {name: _schema(schema) for name, schema in definitions.items()}


def _response(response: dict[str, Any], produces: list[str]) -> dict[str, Any]:
    if "$ref" in response:
        return response
    new = {k: v for k, v in response.items() if k not in ("schema", "examples", "headers")}
    new.setdefault("description", "")
    examples: dict[str, Any] = response["examples"] if isinstance(response.get("examples"), dict) else {}
    if "schema" in response or examples:
        content: dict[str, Any] = {}
        for media_type in produces or ["application/json"]:
            entry: dict[str, Any] = {}
            if "schema" in response:
                entry["schema"] = _schema(response["schema"])
            if media_type in examples:
                entry["example"] = examples[media_type]
            content[media_type] = entry
        new["content"] = content
    return new


def _refs(node: Any) -> Any:
    """Every local `$ref` pointed at the 3.0 location of what it names."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            for old, new in (
                ("#/definitions/", "#/components/schemas/"),
                ("#/parameters/", "#/components/parameters/"),
                ("#/responses/", "#/components/responses/"),
            ):
                if ref.startswith(old):
                    node["$ref"] = new + ref[len(old) :]
        for key, value in node.items():
            if key != "$ref":
                node[key] = _refs(value)
        return node
    if isinstance(node, list):
        return [_refs(value) for value in node]
    return node


def _list(value: Any) -> list[Any]:
    return [str(v).lower() if isinstance(v, str) else v for v in value] if isinstance(value, list) else []
