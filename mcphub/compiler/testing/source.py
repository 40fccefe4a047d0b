"""The source description's side of the test stage: each request checked by openapi-core, each answer made up.

`SourceOperations` holds an OpenAPI 3.x description prepared for checking requests the mock received: one
server (the mock's origin), no per-path or per-operation servers, no security requirements (credentials are
the runtime's business, tested apart). A request is matched to the tool's own operation by its path template,
so two templates that could both match a path (`/issues/{number}`, `/issues/comments`) never confuse the check.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from werkzeug.datastructures import Headers, ImmutableMultiDict

from mcphub.compiler.sources.openapi.xml import is_xml, kind_of, resolved_schema
from mcphub.compiler.testing.mock import Answer, Received
from mcphub.compiler.testing.xml_body import NotXml, read_xml

ORIGIN = "http://mcphub.test"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_VARIABLE = re.compile(r"\{([^{}]+)\}")
_MAX_DEPTH = 6


@dataclass(slots=True)
class Checked:
    """The outcome of checking one request: what is wrong, and what openapi-core could not read (not checked)."""

    problems: list[str]
    unchecked: list[str]
    # Problems no request could avoid, the description's fault (reported apart from wire bugs): a parameter whose
    # wire form OpenAPI leaves undefined (an array of objects, or an object holding objects or arrays, in any style
    # but deepObject), or a `required` property the schema never defines.
    faults: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Request:
    """A received request in the shape openapi-core reads (its `Request` and `SupportsPathPattern` protocols)."""

    host_url: str
    path: str
    path_pattern: str
    method: str
    parameters: RequestParameters
    content_type: str
    body: bytes | None


class SourceOperations:
    """The operations of one OpenAPI 3.x description, to check requests against and to answer them."""

    def __init__(self, document: dict[str, Any], credential_params: list[str] | None = None) -> None:
        """`credential_params` (`header:token`, a hub spec's): parameters the runtime replaces with the credential."""
        if str(document.get("openapi", "")).startswith("3.0"):
            document = _nullable_unions(document, 0)
        self.document = document
        self._credentials = {tuple(entry.lower().split(":", 1)) for entry in credential_params or () if ":" in entry}
        # API keys the runtime puts in the query string (security schemes are the runtime's business, not checked).
        schemes = _mapping(_mapping(document.get("components")).get("securitySchemes"))
        self._query_keys = {
            str(scheme.get("name", "")).lower()
            for scheme in map(self._deref, schemes.values())
            if isinstance(scheme, dict) and scheme.get("in") == "query"
        }
        self._validators: dict[tuple[str, str], OpenAPI] = {}
        self._by_id: dict[str, tuple[str, str]] | None = None
        self._patterns: dict[str, re.Pattern[str]] = {}
        self._shapes: dict[tuple[str, str], dict[str, _Shape]] = {}

    def _validator(self, method: str, template: str) -> OpenAPI:
        """openapi-core over a document of this one operation (components shared): its path finder walks every
        path per request, which on GitHub's 900 paths cost more than the rest of the check."""
        key = (method.lower(), template)
        validator = self._validators.get(key)
        if validator is None:
            item = _mapping((self.document.get("paths") or {}).get(template))
            prepared_item = {k: v for k, v in item.items() if k not in ("servers", *METHODS)}
            if "parameters" in prepared_item:
                prepared_item["parameters"] = self._without_credentials(prepared_item["parameters"])
            operation = {k: v for k, v in _mapping(item.get(key[0])).items() if k not in ("servers", "security")}
            if "parameters" in operation:
                operation["parameters"] = self._without_credentials(operation["parameters"])
            if "requestBody" in operation:
                operation["requestBody"] = self._body(operation["requestBody"])
            prepared_item[key[0]] = operation
            prepared = {k: v for k, v in self.document.items() if k not in ("servers", "security", "paths")}
            prepared["servers"] = [{"url": ORIGIN}]
            # Only this path is kept, so a `$ref` into `#/paths/…` (Codat's shared parameters) is inlined first.
            prepared_item = self._inline_path_refs(prepared_item, 0)
            prepared["paths"] = {_clean(template): self._moved_to_query(template, prepared_item, key[0])}
            # The description was checked when it was compiled; validating it again costs seconds on large ones.
            media_types = _mapping(_mapping(operation.get("requestBody")).get("content"))
            validator = self._validators[key] = OpenAPI.from_dict(prepared, config=_config(media_types))
        return validator

    def _inline_path_refs(self, node: Any, depth: int) -> Any:
        if depth > 40:
            return node
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/paths/"):
                return self._inline_path_refs(self._deref(node), depth + 1)
            return {key: self._inline_path_refs(value, depth + 1) for key, value in node.items()}
        if isinstance(node, list):
            return [self._inline_path_refs(value, depth + 1) for value in node]
        return node

    def _moved_to_query(self, template: str, item: dict[str, Any], method: str) -> dict[str, Any]:
        """A template's query string as the compiler sends it: `?name={variable}` binds a path parameter (or a new
        argument) to the query parameter `name`; literal pairs are fixed values, allowed by `_query_shape`."""
        query = template.partition("#")[0].partition("?")[2]
        if not query:
            return item
        moved = {}
        for pair in _template_query(template):
            name, value = _pair(pair)
            variable = _VARIABLE.fullmatch(value)
            if variable is not None:
                moved[variable.group(1)] = unquote(name)

        def rewrite(parameters: Any) -> Any:
            result = []
            for raw in _sequence(parameters):
                parameter = _mapping(self._deref(raw))
                if parameter.get("in") == "path" and parameter.get("name") in moved:
                    result.append({**parameter, "in": "query", "name": moved[parameter["name"]]})
                else:
                    result.append(raw)
            return result

        item = dict(item)
        if "parameters" in item:
            item["parameters"] = rewrite(item["parameters"])
        operation = dict(_mapping(item.get(method)))
        operation["parameters"] = rewrite(operation.get("parameters"))
        item[method] = operation
        return item

    def _without_credentials(self, parameters: Any) -> Any:
        if not self._credentials or not isinstance(parameters, list):
            return parameters
        kept = []
        for raw in parameters:
            parameter = self._deref(raw)
            key = (str(parameter.get("in", "")).lower(), str(parameter.get("name", "")).lower())
            if not (isinstance(parameter, dict) and key in self._credentials):
                kept.append(raw)
        return kept

    def _body(self, raw: Any) -> Any:
        """A request body as the compiler reads it: credential form fields dropped, Google's JSON metadata bodies.

        Google's Discovery conversions label the JSON metadata body of media uploads `application/octet-stream` or
        `message/*`; the compiler sends it as JSON (those services take it so), so JSON is accepted here too.
        """
        body = self._deref(raw)
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, dict):
            return raw
        content = dict(content)
        for media_type, media in list(content.items()):
            # Media types are case-insensitive (Mastercard's `application/JSON`), and JSON has no charset (Zuora's
            # `application/json; charset=utf-8`, which the runtime sends as `application/json`, RFC 8259).
            base = media_type.split(";")[0].strip().lower()
            if base != media_type:
                content.setdefault(base, media)
            schema = self._deref(media.get("schema")) if isinstance(media, dict) else None
            if not isinstance(schema, dict):
                continue
            base = media_type.split(";")[0].strip().lower()
            if base == "application/x-www-form-urlencoded" and self._credentials:
                dropped = {name for location, name in self._credentials if location == "form"}
                required = [r for r in schema.get("required", []) if str(r).lower() not in dropped]
                content[media_type] = {**media, "schema": {**schema, "required": required}}
            elif (base == "application/octet-stream" or base.startswith("message/")) and (
                schema.get("type") == "object" or "properties" in schema
            ):
                content.setdefault("application/json", {"schema": schema})
            elif is_xml(base) and _xml_schema(media, self._deref) is not None:
                # An XML body is read by `xml_body.read_xml` and checked as the JSON value it stands for.
                content.setdefault("application/json", {"schema": media["schema"]})
        return {**body, "content": content}

    def template_of(self, method: str, path: str, source_ref: str | None) -> str | None:
        """The description's own path key of a tool's operation. The compiler drops a template's fragment (AWS's
        `/#X-Amz-Target=…`) and query string, so several operations may share the tool's path: the operationId (the
        tool's `source_ref`) tells them apart."""
        paths = _mapping(self.document.get("paths"))
        if self._by_id is None:
            self._by_id = {}
            for key, item in paths.items():
                for verb, operation in _mapping(item).items():
                    if verb in METHODS and isinstance(operation, dict):
                        operation_id = operation.get("operationId")
                        if isinstance(operation_id, str):
                            self._by_id.setdefault(operation_id, (verb, str(key)))
        found = self._by_id.get(source_ref or "")
        if found is not None and found[0] == method.lower() and _clean(found[1]) == path:
            return found[1]
        if isinstance(paths.get(path), dict) and method.lower() in paths[path]:
            return path
        prefix = f"{method.upper()} "
        if source_ref and source_ref.startswith(prefix) and source_ref[len(prefix) :] in paths:
            return source_ref[len(prefix) :]
        alike = [key for key, item in paths.items() if _clean(str(key)) == path and method.lower() in _mapping(item)]
        return str(alike[0]) if len(alike) == 1 else None

    def operation(self, method: str, template: str) -> dict[str, Any] | None:
        item = (self.document.get("paths") or {}).get(template)
        operation = item.get(method.lower()) if isinstance(item, dict) else None
        return operation if isinstance(operation, dict) else None

    def check(self, received: Received, base_path: str, method: str, template: str) -> Checked:
        """What is wrong with `received` as a request of the operation `method template`."""
        problems: list[str] = []
        unchecked: list[str] = []
        if received.method != method.upper():
            problems.append(f"method {received.method}, the operation is {method.upper()}")
        split = urlsplit(received.target)
        if not split.path.startswith(base_path):
            return Checked([*problems, f"path {split.path} is outside the server's base path {base_path!r}"], [])
        relative = split.path[len(base_path) :] or "/"
        clean = _clean(template)
        match = self._pattern(clean).fullmatch(relative)
        if match is None:
            return Checked([*problems, f"path {relative} does not match the operation's template {template}"], [])
        query = ImmutableMultiDict(_query_pairs(split.query))
        values = {name: unquote(value) for name, value in zip(_VARIABLE.findall(clean), match.groups(), strict=True)}
        problems.extend(_template_query_problems(template, query))
        content_type, body = received.header("content-type") or "", received.body or None
        if body is not None and _is_json(content_type) and self._declares_xml_only(method, template):
            # The stage lets openapi-core read an XML body as JSON: a body really sent as JSON must not pass that way.
            problems.append(f"Request body error: sent as {content_type}; the description declares only XML")
        if body is not None and is_xml(content_type):
            try:
                content_type, body = self._xml_as_json(method, template, content_type, body)
            except NotXml as exc:
                return Checked([*problems, f"Request body error: {exc}"], unchecked)
        request = _Request(
            host_url=ORIGIN,
            path=relative,
            path_pattern=clean,
            method=method.lower(),
            parameters=RequestParameters(
                query=query,
                header=Headers(received.headers),
                cookie=ImmutableMultiDict(_cookies(received.header("cookie"))),
                path=values,
            ),
            content_type=content_type,
            body=body,
        )
        problems.extend(self._query_shape(method, template, query))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # "parameter is deprecated": the description's news
            try:
                errors = list(self._validator(method, template).request_validator.iter_errors(request))
            except re.error as exc:
                # A `pattern` Python cannot compile: the compiler dropped it from the tool (with a warning).
                return Checked(problems, [*unchecked, f"a pattern of the description ({exc})"])
            except (TypeError, KeyError, AttributeError, IndexError) as exc:
                # openapi-core's own reader failing (its multipart/related decoder indexes bytes by name).
                return Checked(problems, [*unchecked, f"a part openapi-core failed to read ({type(exc).__name__})"])
        nested_query = _nested_keys(query.keys())
        nested_body: set[str] = set()
        if request.content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded" and received.body:
            nested_body = _nested_keys(name for name, _ in _query_pairs(received.body.decode("latin-1")))
        faults: list[str] = []
        shapes = self._parameter_shapes(method, template)
        sent = {k.lower() for k in query} | {k.lower() for k, _ in received.headers} | set(values)
        for error in errors:
            # openapi-core reads deepObject for flat objects only (not arrays, unions or nesting, which Stripe and
            # Airtable use): such a parameter or body is reported as not checked instead of failing every request.
            described = _describe(error)
            name = _parameter_name(described)
            shape = shapes.get(name) if name is not None else None
            if (
                _unreadable(error)
                or _misread(error, nested_query, nested_body)
                or (shape is not None and shape.nested_deep)
            ):
                # openapi-core reads a deepObject of scalars only (PandaScore's `filter[id][]=1`).
                unchecked.append(described)
            elif shape is not None and shape.union and self._union_accepts(shape, name, query, received, values):
                pass  # openapi-core casts a union's text to its first type only (`"0"`, a slug, read as integer 0)
            elif shape is not None and shape.undefined:
                faults.append(f"{described} ({shape.undefined})")
            elif shape is not None and shape.bad_default and name is not None and name.lower() not in sent:
                # openapi-core checks the `default` of a parameter left out; the request itself is right (the
                # parameter is optional), so only that default, the description's error, is left unchecked.
                unchecked.append(f"{described} (not sent; its `default` in the description breaks its schema)")
            elif undefined_required := self._undefined_required(error, method, template):
                faults.append(
                    f"{described} (the description requires {', '.join(undefined_required)} but defines no such "
                    "property, so no argument can carry it)"
                )
            elif shape is not None and shape.exploded_object and name == _missing(described):
                # openapi-core finds a form-exploded object by its property names only: a free-form map (AWS's
                # `Tags`) has none, so its pairs were checked by `_query_shape` alone.
                unchecked.append(f"query parameter {name} (a form-exploded map openapi-core cannot read)")
            else:
                problems.append(described)
        return Checked(problems, unchecked, faults)

    def _undefined_required(self, error: BaseException, method: str, template: str) -> list[str]:
        """The names of a body error that are all `required` properties the schema never defines (Turbine Labs'
        `host`, Plaid's `payment_limits`): JSON Schema lets them be anything, the tool has no argument for them."""
        schema_errors = _schema_errors(error)
        if not schema_errors:
            return []
        operation = _mapping(self.operation(method, template))
        content = _mapping(_mapping(self._deref(operation.get("requestBody"))).get("content"))
        defined: set[str] = set()
        for media in content.values():
            defined.update(_mapping(resolved_schema(_mapping(media).get("schema"), self._deref).get("properties")))
        names = []
        for schema_error in schema_errors:
            match = re.fullmatch(r"'(.+)' is a required property", str(getattr(schema_error, "message", "")))
            own = _mapping(getattr(schema_error, "schema", None)).get("properties")
            if getattr(schema_error, "validator", None) != "required" or match is None:
                return []
            if match.group(1) in defined or match.group(1) in _mapping(own):
                return []
            names.append(match.group(1))
        return names

    def _union_accepts(
        self,
        shape: _Shape,
        name: str | None,
        query: ImmutableMultiDict[str, str],
        received: Received,
        path: dict[str, str],
    ) -> bool:
        """Whether the text sent for a union parameter is a value of one of its scalar branches, read as that
        branch's type (what the API does); openapi-core tries the first type only."""
        if name is None:
            return False
        text = path.get(name) if name in path else query.get(name) if name in query else received.header(name)
        if text is None:
            return False
        for branch in shape.union:
            value: Any = text
            kind = kind_of(branch)
            if kind == "integer" and re.fullmatch(r"-?\d+", text):
                value = int(text)
            elif kind == "number" and re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", text):
                value = float(text)
            elif kind == "boolean" and text in ("true", "false"):
                value = text == "true"
            elif kind != "string":
                continue
            if OAS30Validator(branch, format_checker=oas30_format_checker).is_valid(value):
                return True
        return False

    def _parameter_shapes(self, method: str, template: str) -> dict[str, _Shape]:
        """The operation's query, header, cookie and path parameters by name, with how OpenAPI serialises each."""
        cached = self._shapes.get((method, template))
        if cached is not None:
            return cached
        item = _mapping((self.document.get("paths") or {}).get(template))
        shapes: dict[str, _Shape] = self._shapes.setdefault((method, template), {})
        for raw in [
            *_sequence(item.get("parameters")),
            *_sequence(_mapping(item.get(method.lower())).get("parameters")),
        ]:
            parameter = _mapping(self._deref(raw))
            name, location = parameter.get("name"), parameter.get("in")
            if not isinstance(name, str) or location not in ("query", "header", "cookie", "path"):
                continue
            default = "form" if location in ("query", "cookie") else "simple"
            style = str(parameter.get("style", default))
            explode = parameter.get("explode", style == "form") is True
            schema = resolved_schema(parameter.get("schema"), self._deref)
            branches = [
                resolved_schema(b, self._deref) for key in ("oneOf", "anyOf") for b in _sequence(schema.get(key))
            ]
            # The object a form-exploded parameter may be: itself, or one branch of a union (`page`: 2 or an object).
            whole = schema if kind_of(schema) == "object" else next((b for b in branches if kind_of(b) == "object"), {})
            shapes[name] = _Shape(
                undefined=_undefined_form(schema, self._deref)
                if style != "deepObject" and "schema" in parameter
                else "",
                exploded_object=location == "query" and style == "form" and explode and bool(whole),
                properties=frozenset(_mapping(whole.get("properties"))),
                free_form=bool(whole) and whole.get("additionalProperties", True) is not False,
                nested_deep=style == "deepObject"
                and any(
                    kind_of(resolved_schema(p, self._deref)) in ("object", "array")
                    for p in _mapping(schema.get("properties")).values()
                ),
                union=[b for b in branches if kind_of(b) in ("string", "integer", "number", "boolean")]
                if branches and all(kind_of(b) in ("string", "integer", "number", "boolean") for b in branches)
                else [],
                bad_default="default" in schema and not _fits(schema["default"], kind_of(schema)),
            )
        return shapes

    def _declares_xml_only(self, method: str, template: str) -> bool:
        operation = _mapping(self.operation(method, template))
        content = _mapping(_mapping(self._deref(operation.get("requestBody"))).get("content"))
        return bool(content) and all(is_xml(media_type) for media_type in content)

    def _xml_as_json(self, method: str, template: str, content_type: str, body: bytes) -> tuple[str, bytes]:
        """An XML body of an object or array schema as the JSON openapi-core can check (NotXml if it is no XML)."""
        operation = _mapping(self.operation(method, template))
        content = _mapping(_mapping(self._deref(operation.get("requestBody"))).get("content"))
        base = content_type.split(";")[0].strip().lower()
        media = next((m for t, m in content.items() if t.split(";")[0].strip().lower() == base), None)
        schema = _xml_schema(_mapping(media), self._deref)
        if schema is None:
            return content_type, body  # text, or a media type the operation does not declare: openapi-core says so
        return "application/json", json.dumps(read_xml(body, schema, self._deref)).encode()

    def _query_shape(self, method: str, template: str, query: ImmutableMultiDict[str, str]) -> list[str]:
        """What openapi-core lets through: repeated keys of a parameter that is one value, undeclared keys.

        openapi-core reads the first of repeated keys and ignores unknown ones, so `tag=a&tag=b` passes for a
        `tag` declared `explode: false` (the API reads only `a`) and a misspelt name passes too.
        """
        item = _mapping((self.document.get("paths") or {}).get(template))
        declared: dict[str, tuple[str, bool]] = {}
        for raw in [
            *_sequence(item.get("parameters")),
            *_sequence(_mapping(item.get(method.lower())).get("parameters")),
        ]:
            parameter = _mapping(self._deref(raw))
            if parameter.get("in") == "query" and isinstance(parameter.get("name"), str):
                style = str(parameter.get("style", "form"))
                explode = parameter.get("explode", style == "form")
                declared[parameter["name"]] = (style, explode is True)
        allowed = {name for location, name in self._credentials if location == "query"} | self._query_keys
        allowed |= {unquote(_pair(pair)[0]).lower() for pair in _template_query(template)}
        # A form-exploded object sends its properties as pairs of their own (`page[number]` is deepObject's form; `form`
        # with explode sends `number=1`): those names are the object's, and any name when it is a free-form map.
        exploded = [s for s in self._parameter_shapes(method, template).values() if s.exploded_object]
        allowed |= {p.lower() for s in exploded for p in s.properties}
        any_name = any(s.free_form for s in exploded)
        problems = []
        for key in dict.fromkeys(query.keys()):
            count = len(query.getlist(key))
            if key in declared:
                style, explode = declared[key]
                if count > 1 and not (style == "form" and explode):
                    problems.append(
                        f"query parameter {key} sent {count} times; style {style} explode {explode} is one value"
                    )
            elif (
                not any_name
                and key.lower() not in allowed
                and not any(
                    key.startswith(f"{name}[") for name, (style, _) in declared.items() if style == "deepObject"
                )
            ):
                problems.append(f"query parameter {key} is not a parameter of this operation")
        return problems

    def _pattern(self, template: str) -> re.Pattern[str]:
        pattern = self._patterns.get(template)
        if pattern is None:
            parts = re.split(r"(\{[^{}]+\})", template)
            pattern = re.compile("".join("([^/]+?)" if p.startswith("{") else re.escape(p) for p in parts))
            self._patterns[template] = pattern
        return pattern

    def answer(self, operation: dict[str, Any]) -> Answer:
        """A success answer of `operation` from its examples, else made from its schema; empty when it has none."""
        responses = _mapping(operation.get("responses"))
        codes = sorted((str(code) for code in responses if str(code).startswith("2")), key=str)
        if not codes:
            return Answer()
        code = codes[0]
        response = self._deref(next((value for key, value in responses.items() if str(key) == code), None))
        status = int(code) if code.isdigit() else 200
        content = response.get("content") if isinstance(response, dict) else None
        if not isinstance(content, dict) or not content or status == 204:
            return Answer(status=status, content_type=None, body=b"")
        media_type = next((m for m in content if _is_json(m)), next(iter(content)))
        media = self._deref(content[media_type]) if isinstance(content[media_type], dict) else {}
        value = _example(media)
        if value is _NONE:
            value = self.sample(media.get("schema"), 0)
        if value is None:
            value = {}  # a schema too loose to sample (no type): any JSON will do
        if "*" in media_type:
            media_type = "application/json" if not isinstance(value, str) else "text/plain"
        if _is_json(media_type):
            return Answer(status=status, content_type=media_type, body=json.dumps(value).encode())
        text = value if isinstance(value, str) else json.dumps(value)
        return Answer(status=status, content_type=media_type, body=text.encode())

    def sample(self, schema: Any, depth: int) -> Any:
        """A small instance of `schema`: its example or default, else the least a validator accepts."""
        schema = self._deref(schema)
        if not isinstance(schema, dict) or depth > _MAX_DEPTH:
            return None
        for key in ("example", "default"):
            if key in schema:
                return schema[key]
        if isinstance(schema.get("examples"), list) and schema["examples"]:
            return schema["examples"][0]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return schema["enum"][0]
        if "const" in schema:
            return schema["const"]
        for key in ("allOf", "oneOf", "anyOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                if key == "allOf":
                    merged: dict[str, Any] = {}
                    for part in schema[key]:
                        value = self.sample(part, depth + 1)
                        if isinstance(value, dict):
                            merged.update(value)
                    return merged
                return self.sample(schema[key][0], depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), None)
        if kind == "object" or (kind is None and "properties" in schema):
            properties = _mapping(schema.get("properties"))
            required = _sequence(schema.get("required"))
            return {name: self.sample(properties.get(name), depth + 1) for name in required if name in properties}
        if kind == "array":
            return []
        if kind == "string":
            return "string"
        if kind in ("integer", "number"):
            minimum = schema.get("minimum")
            return minimum if isinstance(minimum, int | float) else 0
        if kind == "boolean":
            return False
        return None

    def _deref(self, node: Any) -> Any:
        for _ in range(20):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/")):
                return node
            target: Any = self.document
            for part in node["$ref"][2:].split("/"):
                part = unquote(part).replace("~1", "/").replace("~0", "~")
                if isinstance(target, list):  # `#/paths/~1keys/get/parameters/0` (DigitalOcean)
                    target = target[int(part)] if part.isdigit() and int(part) < len(target) else None
                else:
                    target = target.get(part) if isinstance(target, dict) else None
            node = target
        return node


_NONE = object()
_UNIONS = ("oneOf", "anyOf", "allOf")
_NULL_ONLY = {"type": "string", "nullable": True, "enum": [None]}


def _nullable_unions(node: Any, depth: int) -> Any:
    """OpenAPI 3.0's `nullable: true` read as its definition says, "adds null to the allowed values", everywhere.

    openapi-core follows the later clarification instead (nullable acts only beside `type`, and an `enum` must
    list null itself), so it refuses the null such schemas exist to allow: GitHub's project field `value` ("To
    clear the field, set this to null"), custom property values, `values_editable_by`. The compiler reads them
    as the definition says (the tool takes null), and so does the check: a nullable union without `type` becomes
    `anyOf: [<the union>, <null only>]` and a nullable `enum` gets null. Copies only what changes; the document
    is not modified.
    """
    if depth > 200:
        return node
    if isinstance(node, list):
        items = [_nullable_unions(value, depth + 1) if isinstance(value, dict | list) else value for value in node]
        return items if any(a is not b for a, b in zip(items, node, strict=True)) else node
    if not isinstance(node, dict):
        return node
    copy: dict[str, Any] | None = None
    for key, value in node.items():
        if isinstance(value, dict | list):
            new = _nullable_unions(value, depth + 1)
            if new is not value:
                copy = copy if copy is not None else dict(node)
                copy[key] = new
    node = copy if copy is not None else node
    if node.get("nullable") is True:
        if "type" not in node and any(key in node for key in _UNIONS):
            inner = {key: value for key, value in node.items() if key != "nullable"}
            return {"anyOf": [inner, _NULL_ONLY]}
        enum = node.get("enum")
        if isinstance(enum, list) and None not in enum:
            return {**node, "enum": [*enum, None]}
    return node


def _clean(template: str) -> str:
    """A path key without its fragment or query string: the path the request goes to."""
    return template.partition("#")[0].partition("?")[0] or "/"


def _template_query(template: str) -> list[str]:
    query = template.partition("#")[0].partition("?")[2]
    return [pair for pair in query.split("&") if pair]


def _pair(pair: str) -> tuple[str, str]:
    """A pair of a template's query string as the compiler reads it: `{search}=1` is `search={search}`."""
    name, _, value = pair.partition("=")
    named = _VARIABLE.fullmatch(name)
    return (named.group(1), name) if named is not None else (name, value)


def _template_query_problems(template: str, query: ImmutableMultiDict[str, str]) -> list[str]:
    """The literal pairs of a template's query string (`?op=LIST`) must be sent as they are."""
    problems = []
    for pair in _template_query(template):
        name, value = _pair(pair)
        if _VARIABLE.fullmatch(value) is None and unquote(value) not in query.getlist(unquote(name)):
            problems.append(f"query parameter {unquote(name)}={unquote(value)} of the path template was not sent")
    return problems


@dataclass(slots=True)
class _Shape:
    undefined: str  # why OpenAPI leaves this parameter's wire form undefined, "" when it defines it
    exploded_object: bool  # a query object of style form, explode true: its properties are pairs of their own
    properties: frozenset[str]
    free_form: bool  # more properties than those named may come
    bad_default: bool = False  # its `default` is not of its own type (Snyk's "false" for a boolean)
    nested_deep: bool = False  # a deepObject holding objects or arrays, which openapi-core cannot read
    union: list[dict[str, Any]] = field(default_factory=list)  # the scalar branches of a oneOf/anyOf parameter


def _fits(value: Any, kind: str | None) -> bool:
    expected = {
        "string": str,
        "integer": int,
        "number": int | float,
        "boolean": bool,
        "array": list,
        "object": dict,
    }.get(kind or "")
    if expected is None:
        return True
    return isinstance(value, expected) and not (kind in ("integer", "number") and isinstance(value, bool))


def _undefined_form(schema: dict[str, Any], deref: Any) -> str:
    """OpenAPI defines styles for scalars, arrays of scalars and objects of scalars only (deepObject aside)."""
    kind = kind_of(schema)
    if kind == "array":
        items = resolved_schema(schema.get("items"), deref)
        if kind_of(items) in ("object", "array"):
            return f"the description sends an array of {kind_of(items)}s in a style OpenAPI leaves undefined"
    if kind == "object":
        for name, raw in _mapping(schema.get("properties")).items():
            if kind_of(resolved_schema(raw, deref)) in ("object", "array"):
                return f"the description sends an object holding an {kind_of(resolved_schema(raw, deref))} ({name}) in a style OpenAPI leaves undefined"
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and kind_of(resolved_schema(extra, deref)) in ("object", "array"):
            return "the description sends a map of objects or arrays in a style OpenAPI leaves undefined"
    return ""


_PARAMETER_NAME = re.compile(r"(?:Invalid |Missing required )?(?:\w+ parameter(?: error)?:?) ([^:]+?)(?::|$)")


def _parameter_name(described: str) -> str | None:
    """`Query parameter error: Tags: ...`, `Invalid query parameter: p: ...`, `Missing required query parameter: Tags`."""
    match = _PARAMETER_NAME.match(described)
    return match.group(1).strip() if match else None


def _missing(described: str) -> str:
    return described.rsplit(":", 1)[-1].strip() if described.startswith("Missing required") else ""


def _xml_schema(media: dict[str, Any], deref: Any) -> Any:
    """The schema of an XML media type when it describes an object or array (then the body is read as one)."""
    schema = media.get("schema")
    return schema if kind_of(resolved_schema(schema, deref)) in ("object", "array") else None


def _example(media: dict[str, Any]) -> Any:
    if "example" in media:
        return media["example"]
    examples = media.get("examples")
    if isinstance(examples, dict):
        for example in examples.values():
            if isinstance(example, dict) and "value" in example:
                return example["value"]
    return _NONE


def _is_json(media_type: str) -> bool:
    base = media_type.split(";")[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


def _query_pairs(query: str) -> list[tuple[str, str]]:
    # Not parse_qsl: a `+` the hub sends is a plus (it encodes spaces as %20), never a space.
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def _cookies(header: str | None) -> list[tuple[str, str]]:
    if not header:
        return []
    pairs = []
    for item in header.split(";"):
        name, _, value = item.strip().partition("=")
        if name:
            pairs.append((name, unquote(value)))
    return pairs


def _unreadable(error: BaseException) -> bool:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ValueError) and str(cause) == "not available":
            return True
        # A parameter whose schema is a response component marked readOnly (GitHub's `alert-number`): openapi-core
        # refuses every value, which says nothing about the request.
        if "parameter" in str(error).lower() and "read-only property" in str(cause):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _nested_keys(keys: Any) -> set[str]:
    """The parameters sent as nested brackets (`a[b][c]`, `a[b][]`, `a[0][b]`): Stripe's encoding of nested objects."""
    return {key.partition("[")[0] for key in keys if key.count("[") >= 2}


def _misread(error: BaseException, nested_query: set[str], nested_body: set[str]) -> bool:
    """An error about a value sent as nested brackets, which openapi-core decodes one level deep only.

    It reads `default_price_data[recurring][interval]=day` as `recurring[interval]` → "day" and then fails to cast
    "day" to an object, so its verdict on such a value says nothing about the request: not checked, like the
    deepObject values it cannot read at all (`_unreadable`). An error about any other field still fails the tool.
    """
    text = str(error)
    if nested_body and text.startswith(("Request body validation error", "Request body deserialize error")):
        causes: list[BaseException] = []
        cause = error.__cause__ or error.__context__
        while cause is not None and len(causes) < 8:
            causes.append(cause)
            cause = cause.__cause__ or cause.__context__
        if any("Failed to cast value" in str(c) for c in causes):
            return True
        paths = [list(e.absolute_path) for c in causes for e in getattr(c, "schema_errors", ())]
        return bool(paths) and all(path and path[0] in nested_body for path in paths)
    match = re.match(r"(?:Invalid query parameter|Query parameter error): ([^:]+)(?::|$)", text)
    return match is not None and match.group(1).strip() in nested_query


def _schema_errors(error: BaseException) -> list[Any]:
    """The jsonschema errors under an openapi-core body error (none for other errors)."""
    if "body" not in str(error).lower():
        return []
    cause = error.__cause__
    while cause is not None:
        found = list(getattr(cause, "schema_errors", ()))
        if found:
            return found
        cause = cause.__cause__
    return []


def _describe(error: BaseException) -> str:
    """An openapi-core error with its causes (the schema errors say which field and why)."""
    parts = [str(error) or type(error).__name__]
    cause = error.__cause__
    while cause is not None and len(parts) < 4:
        details = [str(e.message) for e in getattr(cause, "schema_errors", ())][:3]
        parts.append("; ".join(details) if details else str(cause) or type(cause).__name__)
        cause = cause.__cause__
    return ": ".join(part for part in parts if part)


def _config(media_types: dict[str, Any]) -> Any:
    from openapi_core import Config

    # openapi-core reads `application/json` and `*+json` it knows; other JSON types of the operation
    # (`application/merge-patch+json`, `application/vnd.api+json`) are JSON too.
    bases = {m.split(";")[0].strip().lower() for m in media_types}
    deserializers: dict[str, Any] = {m: json.loads for m in bases if _is_json(m) and m != "application/json"}
    # A body of any other type openapi-core has no reader for reaches the schema as bytes, which no `type: string`
    # accepts: text types are read as UTF-8 (bytes that are no UTF-8 stay bytes, and fail), others as the bytes
    # they are (Latin-1 maps each byte to one character: LGTM's YAML, Zuora's CSV, Docker's tar archives).
    for base in bases:
        if base in deserializers or base in _READ_BY_OPENAPI_CORE or "*" in base or is_xml(base):
            continue
        deserializers[base] = _text_body if _is_text(base) else _bytes_body
    # `byte` as Google's descriptions use it: base64 in either alphabet (Gmail's `raw` is base64url, as its API
    # documentation says and the runtime sends it).
    return Config(
        spec_validator_cls=None,
        extra_format_validators={"byte": _base64_text},
        extra_media_type_deserializers=deserializers,
    )


_READ_BY_OPENAPI_CORE = (
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
    "text/html",
)


def _is_text(media_type: str) -> bool:
    return media_type.startswith("text/") or any(t in media_type for t in ("yaml", "csv", "javascript", "graphql"))


def _text_body(value: bytes, **_: Any) -> Any:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


def _bytes_body(value: bytes, **_: Any) -> str:
    return value.decode("latin-1")


def _base64_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    padded = value + "=" * (-len(value) % 4)
    try:
        base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
