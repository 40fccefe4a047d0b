"""Postman Collection v2.0 / v2.1 → an OpenAPI 3.0 document, deterministically (no LLM), then the OpenAPI source.

A collection is a tree of folders and requests. Each request becomes an operation: folders become tags, the
request's name its operationId and summary, `:name` and `{{variable}}` path segments path parameters, the query
list query parameters, headers header parameters (credential-like ones become API-key auth instead), raw JSON,
urlencoded, form-data, file and GraphQL bodies request bodies, and saved example responses the responses with
their examples and a schema inferred from them. Auth is inherited the Postman way (request, else nearest folder,
else collection; `noauth` stops it) and becomes security schemes. The host part of the URLs becomes the server:
a `{{baseUrl}}`-style variable is resolved from the collection's variables when it has a value.

Everything Postman knows that OpenAPI cannot say (pre-request scripts, tests, unsupported auth types, requests
that clash on method + path) is reported as a warning naming the item's path in the collection, e.g.
`Users / Get user`. The collection is untrusted input: its size, nesting and item count are bounded.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcphub.compiler.errors import SourceError
from mcphub.compiler.fetch import sha256_of
from mcphub.compiler.ir import Integration
from mcphub.compiler.untrusted import check_tree, read_bounded

if TYPE_CHECKING:
    from mcphub.compiler.spec import HubSpec

__all__ = ["Conversion", "integration_from_spec", "is_postman_collection", "load_collection", "postman_to_openapi"]

MAX_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 32  # folder nesting; deeper is either generated garbage or hostile
MAX_ITEMS = 20_000
MAX_SCHEMA_DEPTH = 16  # of a schema inferred from an example body

_VARIABLE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
_SCHEMA_URL = re.compile(r"schema\.getpostman\.com/json/collection/v(2\.[01])")
_CREDENTIAL_HEADER = re.compile(r"(^|[-_])(api[-_]?key|apikey|token|secret|access[-_]?key|auth)([-_]|$)", re.I)
_SKIPPED_HEADERS = {"content-type", "accept", "authorization", "user-agent", "content-length", "host", "cookie"}
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
_UNSUPPORTED_AUTH = {"digest", "oauth1", "hawk", "awsv4", "ntlm", "akamai", "edgegrid", "jwt", "asap"}


@dataclass
class Conversion:
    """The OpenAPI document made from a collection, and what could not be carried over."""

    document: dict[str, Any]
    version: str  # "2.0" or "2.1"
    warnings: list[str] = field(default_factory=list)


def is_postman_collection(document: Any) -> bool:
    """A Postman v2.x collection: `info.schema` names Postman's collection schema, or `info._postman_id` + `item`."""
    if not isinstance(document, dict) or not isinstance(document.get("info"), dict):
        return False
    info = document["info"]
    return bool(_SCHEMA_URL.search(str(info.get("schema", "")))) or (
        "_postman_id" in info and isinstance(document.get("item"), list)
    )


def load_collection(path: Path) -> Any:
    """Read a collection file (JSON), bounded in size, with the file named in every error."""
    data = read_bounded(path, MAX_BYTES, what="collection", hint="split it, or leave out its saved responses")
    try:
        collection = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise SourceError(
            f"{path}:{where} not valid JSON ({exc.args[0] if exc.args else exc}); export the collection "
            "from Postman as 'Collection v2.1'"
        ) from None
    except RecursionError:
        raise SourceError(f"{path}: nested too deeply to be a Postman collection") from None
    check_tree(collection, str(path))
    return collection


def integration_from_spec(spec: HubSpec, spec_path: Path) -> Integration:
    """Source stage for `kind: postman`: the collection's requests as tools (the spec curates them)."""
    from mcphub.compiler.sources.openapi import derived_integration

    source_file = spec.source_file()
    if source_file is None:
        raise SourceError(f"{spec_path}: source.path is required for source kind 'postman' (the collection file)")
    collection = load_collection(source_file)
    conversion = postman_to_openapi(collection, where=str(source_file))
    info = spec.source.to_source_info().model_copy(
        update={"sha256": sha256_of(source_file), "format": f"postman collection v{conversion.version}"}
    )
    return derived_integration(conversion.document, spec, info, conversion.warnings)


def postman_to_openapi(collection: Any, *, where: str = "collection") -> Conversion:
    """Convert a parsed Postman v2.0/v2.1 collection into an OpenAPI 3.0.3 document."""
    if not is_postman_collection(collection):
        raise SourceError(
            f"{where}: not a Postman collection (no 'info.schema' naming collection v2.0/v2.1); export it from "
            "Postman as 'Collection v2.1'"
        )
    match = _SCHEMA_URL.search(str(collection["info"].get("schema", "")))
    return _Converter(collection, where, match.group(1) if match else "2.1").run()


# --------------------------------------------------------------------------------------------------------------------


@dataclass
class _Request:
    path: str  # the item's place in the collection, "Folder / Sub / Request"
    tags: list[str]
    item: dict[str, Any]
    auth: dict[str, Any] | None  # the effective (inherited) auth; None: no auth


class _Converter:
    def __init__(self, collection: dict[str, Any], where: str, version: str) -> None:
        self.collection = collection
        self.where = where
        self.version = version
        self.warnings: list[str] = []
        self.variables = _variables(collection.get("variable"))
        self.schemes: dict[str, dict[str, Any]] = {}
        self.scheme_names: dict[str, str] = {}  # canonical JSON of a scheme -> its name
        self.origins: Counter[str] = Counter()
        self.items_seen = 0

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(f"{self.where}: {path}: {message}" if path else f"{self.where}: {message}")

    def run(self) -> Conversion:
        info = self.collection["info"]
        self.open_folders: dict[int, str] = {}  # id of an item list being walked -> its folder path
        requests = list(self._walk(self.collection.get("item"), [], _auth(self.collection.get("auth")), 0))
        operations: list[tuple[str, str, dict[str, Any], str | None, str]] = []
        for request in requests:
            converted = self._operation(request)
            if converted is not None:
                operations.append(converted)
        if not operations:
            raise SourceError(f"{self.where}: the collection holds no requests to turn into tools")
        server = self.origins.most_common(1)[0][0] if self.origins else ""
        paths: dict[str, dict[str, Any]] = {}
        taken: dict[tuple[str, str], str] = {}
        used_ids: Counter[str] = Counter()
        for method, path, operation, origin, item_path in operations:
            if (method, path) in taken:
                self.warn(
                    item_path,
                    f"{method.upper()} {path} is already the request '{taken[method, path]}'; this one is left out "
                    "(OpenAPI has one operation per method and path: rename its path or merge the two)",
                )
                continue
            taken[method, path] = item_path
            operation_id = operation.get("operationId")
            if operation_id:
                used_ids[operation_id] += 1
                if used_ids[operation_id] > 1:
                    operation["operationId"] = f"{operation_id}_{used_ids[operation_id]}"
                    self.warn(
                        item_path,
                        f"another request is also named '{operation_id}'; this one became '{operation['operationId']}'",
                    )
            if origin is not None and origin != server:
                operation["servers"] = [{"url": origin}]
            paths.setdefault(path, {})[method] = operation
        document: dict[str, Any] = {
            "openapi": "3.0.3",
            "info": {
                "title": str(info.get("name") or "Postman collection"),
                "version": str(info.get("version") or "1.0.0")
                if not isinstance(info.get("version"), dict)
                else "1.0.0",
            },
            "paths": paths,
        }
        description = _description(info.get("description"))
        if description:
            document["info"]["description"] = description
        if server:
            document["servers"] = [{"url": server}]
        if self.schemes:
            document["components"] = {"securitySchemes": self.schemes}
        return Conversion(document, self.version, self.warnings)

    # --- the tree ---------------------------------------------------------------------------------------------------

    def _walk(self, items: Any, folders: list[str], auth: dict[str, Any] | None, depth: int) -> Any:
        if items is None:
            return
        where = " / ".join(folders) or "collection"
        if not isinstance(items, list):
            raise SourceError(f"{self.where}: {where}: 'item' must be a list of folders and requests")
        if id(items) in self.open_folders:  # only a loaded YAML alias (or a caller's object) can do this
            raise SourceError(
                f"{self.where}: {where}: the folder contains itself (its items are those of "
                f"'{self.open_folders[id(items)]}'): a cycle in the collection's folders; export it again from Postman"
            )
        if depth > MAX_DEPTH:
            raise SourceError(f"{self.where}: {where}: folders nested more than {MAX_DEPTH} deep")
        self.open_folders[id(items)] = where
        try:
            yield from self._items(items, folders, auth, depth, where)
        finally:
            del self.open_folders[id(items)]

    def _items(self, items: list[Any], folders: list[str], auth: dict[str, Any] | None, depth: int, where: str) -> Any:
        for index, item in enumerate(items):
            self.items_seen += 1
            if self.items_seen > MAX_ITEMS:
                raise SourceError(f"{self.where}: more than {MAX_ITEMS:,} items; split the collection")
            if not isinstance(item, dict):
                self.warn(where, f"item {index + 1} is not an object; left out")
                continue
            name = str(item.get("name") or f"item {index + 1}")
            inherited = auth if "auth" not in item or item.get("auth") is None else _auth(item["auth"])
            if self._has_scripts(item):
                self.warn(" / ".join([*folders, name]), "pre-request and test scripts do not run in the hub")
            if isinstance(item.get("item"), list):
                yield from self._walk(item["item"], [*folders, name], inherited, depth + 1)
            elif "request" in item:
                yield _Request(" / ".join([*folders, name]), list(folders), item, inherited)
            else:
                self.warn(" / ".join([*folders, name]), "neither a folder nor a request; left out")

    @staticmethod
    def _has_scripts(item: dict[str, Any]) -> bool:
        events = item.get("event")
        return isinstance(events, list) and any(
            isinstance(e, dict) and isinstance(e.get("script"), dict) and _script_text(e["script"]) for e in events
        )

    # --- one request ------------------------------------------------------------------------------------------------

    def _operation(self, request: _Request) -> tuple[str, str, dict[str, Any], str | None, str] | None:
        raw = request.item["request"]
        if isinstance(raw, str):  # the v2 shorthand: a request that is only its URL
            raw = {"url": raw, "method": "GET"}
        if not isinstance(raw, dict):
            self.warn(request.path, "'request' is neither a URL nor an object; left out")
            return None
        method = str(raw.get("method") or "GET").lower()
        if method not in _METHODS:
            self.warn(request.path, f"method {method.upper()} is not an HTTP method OpenAPI knows; left out")
            return None
        if raw.get("auth") is not None:  # the request's own auth overrides what it inherits
            request.auth = _auth(raw["auth"])
        url = _Url.parse(raw.get("url"), self.variables)
        if url is None:
            self.warn(request.path, "has no URL; left out")
            return None
        if url.origin:
            self.origins[url.origin] += 1
        for name in url.unresolved:
            self.warn(request.path, f"variable {{{{{name}}}}} has no value in the collection; it became a parameter")
        if url.origin and "{" in url.origin:
            self.warn(request.path, f"the server {url.origin} has a variable without a value: set base_url in the spec")

        operation: dict[str, Any] = {}
        name = str(request.item.get("name") or "").strip()
        if name:
            operation["summary"] = name[:200]
            operation_id = _operation_id(name)
            if operation_id:
                operation["operationId"] = operation_id
        description = _description(raw.get("description")) or _description(request.item.get("description"))
        if description:
            operation["description"] = description
        if request.tags:
            operation["tags"] = [" / ".join(request.tags)]

        parameters = [*url.path_parameters, *self._query(url, request)]
        security = self._security(request)
        credential_headers = {s["name"].lower() for s in security if s.get("in") == "header"}
        content_type = None
        for header in _entries(raw.get("header")):
            key = header["key"]
            if key.lower() == "content-type":
                content_type = _substitute(header["value"], self.variables)
                continue
            if key.lower() in _SKIPPED_HEADERS or key.lower() in credential_headers or header.get("disabled"):
                continue
            if _CREDENTIAL_HEADER.search(key) and (not header["value"] or _VARIABLE.fullmatch(header["value"])):
                scheme = {"type": "apiKey", "in": "header", "name": key}
                security.append(scheme)
                self.warn(
                    request.path,
                    f"header '{key}' looks like a credential: it is an API-key auth scheme, not a tool argument",
                )
                continue
            parameters.append(_parameter(key, "header", header, self.variables))
        if parameters:
            operation["parameters"] = parameters
        body = self._body(raw.get("body"), content_type, request.path)
        if body is not None:
            operation["requestBody"] = body
        if security:
            names = [self._scheme_name(scheme) for scheme in security]
            operation["security"] = [
                {name: scheme.get("_scopes", [])} for name, scheme in zip(names, security, strict=True)
            ]
        elif request.auth is None and self.schemes:
            operation["security"] = []
        operation["responses"] = self._responses(request.item.get("response"), request.path)
        return method, url.path, operation, url.origin or None, request.path

    def _query(self, url: _Url, request: _Request) -> list[dict[str, Any]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for entry in url.query:
            grouped.setdefault(entry["key"], []).append(entry)
        parameters = []
        for key, entries in grouped.items():
            if len(entries) > 1:  # key=a&key=b: an array, sent exploded as Postman sends it
                values = [_literal(_substitute(e["value"], self.variables)) for e in entries if e["value"]]
                schema: dict[str, Any] = {"type": "array", "items": _schema_of_literal(values[0] if values else "")}
                parameter: dict[str, Any] = {
                    "name": key,
                    "in": "query",
                    "schema": schema,
                    "style": "form",
                    "explode": True,
                }
                if values:
                    parameter["example"] = values
                description = next((d for d in (_description(e.get("description")) for e in entries) if d), "")
                if description:
                    parameter["description"] = description
                parameters.append(parameter)
            else:
                parameters.append(_parameter(key, "query", entries[0], self.variables))
        return parameters

    def _body(self, body: Any, content_type: str | None, path: str) -> dict[str, Any] | None:
        if not isinstance(body, dict) or body.get("disabled"):
            return None
        mode = body.get("mode")
        if mode == "raw":
            text = str(body.get("raw") or "")
            if not text.strip():
                return None
            options = body.get("options") if isinstance(body.get("options"), dict) else {}
            language = str(((options or {}).get("raw") or {}).get("language") or "").lower()
            media = (content_type or "").split(";")[0].strip().lower() or {
                "json": "application/json",
                "xml": "application/xml",
                "html": "text/html",
                "javascript": "application/javascript",
            }.get(language, "")
            if not media:
                media = "application/json" if _parses_as_json(text) else "text/plain"
            if media == "application/json" or media.endswith("+json"):
                example = _json_example(text, self.variables)
                if example is _INVALID:
                    self.warn(path, "the raw body is not valid JSON; it is sent as text")
                    return _content("text/plain", {"type": "string"}, _substitute(text, self.variables))
                return _content(media, _infer_schema(example), example)
            return _content(media, {"type": "string"}, _substitute(text, self.variables))
        if mode in ("urlencoded", "formdata"):
            properties: dict[str, Any] = {}
            encoding: dict[str, Any] = {}
            for entry in _entries(body.get(mode)):
                if entry.get("disabled"):
                    continue
                if mode == "formdata" and entry.get("type") == "file":
                    properties[entry["key"]] = {"type": "string", "format": "binary"}
                    part_type = entry.get("contentType")
                    if isinstance(part_type, str) and part_type:
                        encoding[entry["key"]] = {"contentType": part_type}
                else:
                    value = _literal(_substitute(entry["value"], self.variables))
                    schema = _schema_of_literal(value)
                    if entry["value"] and not _VARIABLE.search(entry["value"]):
                        schema["example"] = value
                    properties[entry["key"]] = schema
                description = _description(entry.get("description"))
                if description:
                    properties[entry["key"]]["description"] = description
            if not properties:
                return None
            media = "application/x-www-form-urlencoded" if mode == "urlencoded" else "multipart/form-data"
            content = _content(media, {"type": "object", "properties": properties}, None)
            if encoding:
                content["content"][media]["encoding"] = encoding
            return content
        if mode == "file":
            return _content(content_type or "application/octet-stream", {"type": "string", "format": "binary"}, None)
        if mode == "graphql":
            graphql = body.get("graphql") if isinstance(body.get("graphql"), dict) else {}
            query = str((graphql or {}).get("query") or "")
            schema = {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "default": query, "description": "The GraphQL document"},
                    "variables": {"type": "object", "description": "The GraphQL variables"},
                },
                "required": ["query"],
            }
            return _content("application/json", schema, None)
        if mode:
            self.warn(path, f"body mode '{mode}' is not supported; the request is sent without a body")
        return None

    def _responses(self, examples: Any, path: str) -> dict[str, Any]:
        responses: dict[str, Any] = {}
        for example in examples if isinstance(examples, list) else []:
            if not isinstance(example, dict):
                continue
            code = example.get("code")
            status = str(code) if isinstance(code, int) and 100 <= code <= 599 else "default"
            if status in responses:
                continue
            response: dict[str, Any] = {"description": str(example.get("name") or example.get("status") or "Response")}
            text = example.get("body")
            if isinstance(text, str) and text.strip():
                headers = {h["key"].lower(): h["value"] for h in _entries(example.get("header"))}
                media = headers.get("content-type", "").split(";")[0].strip().lower()
                preview = str(example.get("_postman_previewlanguage") or "").lower()
                if not media:
                    media = "application/json" if preview == "json" or _parses_as_json(text) else "text/plain"
                if media == "application/json" or media.endswith("+json"):
                    value = _json_example(text, self.variables)
                    if value is not _INVALID:
                        response["content"] = {media: {"schema": _infer_schema(value), "example": value}}
                else:
                    response["content"] = {media: {"schema": {"type": "string"}}}
            responses[status] = response
        if not responses:
            responses["default"] = {"description": "The collection saves no example response for this request"}
        return responses

    # --- auth -------------------------------------------------------------------------------------------------------

    def _security(self, request: _Request) -> list[dict[str, Any]]:
        auth = request.auth
        if auth is None:
            return []
        kind = auth["type"]
        values = auth["values"]
        if kind == "bearer":
            return [{"type": "http", "scheme": "bearer"}]
        if kind == "basic":
            return [{"type": "http", "scheme": "basic"}]
        if kind == "apikey":
            location = str(values.get("in") or "header").lower()
            name = str(values.get("key") or "")
            if not name or _VARIABLE.search(name):
                self.warn(request.path, "API-key auth names no header or query key; it became the header 'X-API-Key'")
                name = "X-API-Key"
            return [{"type": "apiKey", "in": "query" if location == "query" else "header", "name": name}]
        if kind == "oauth2":
            return [self._oauth2(values, request.path)]
        if kind in _UNSUPPORTED_AUTH:
            self.warn(
                request.path, f"'{kind}' auth is not supported by the hub; add an auth scheme to the spec by hand"
            )
        else:
            self.warn(request.path, f"auth type '{kind}' is unknown; left out")
        return []

    def _oauth2(self, values: dict[str, Any], path: str) -> dict[str, Any]:
        def resolved(key: str) -> str:
            value = _substitute(str(values.get(key) or ""), self.variables)
            if _VARIABLE.search(value):
                self.warn(path, f"OAuth 2 '{key}' is {value}, a variable without a value: set it in the spec's auth")
            return value

        scopes = {scope: "" for scope in re.split(r"[\s,]+", resolved("scope")) if scope}
        grant = str(values.get("grant_type") or "authorization_code")
        token_url = resolved("accessTokenUrl")
        if grant == "client_credentials":
            flows = {"clientCredentials": {"tokenUrl": token_url, "scopes": scopes}}
        elif grant == "password_credentials":
            flows = {"password": {"tokenUrl": token_url, "scopes": scopes}}
        elif grant == "implicit":
            flows = {"implicit": {"authorizationUrl": resolved("authUrl"), "scopes": scopes}}
        else:
            flows = {
                "authorizationCode": {"authorizationUrl": resolved("authUrl"), "tokenUrl": token_url, "scopes": scopes}
            }
        return {"type": "oauth2", "flows": flows, "_scopes": sorted(scopes)}

    def _scheme_name(self, scheme: dict[str, Any]) -> str:
        public = {k: v for k, v in scheme.items() if not k.startswith("_")}
        key = json.dumps(public, sort_keys=True)
        if key not in self.scheme_names:
            base = {
                "http": str(public.get("scheme", "http")),
                "apiKey": f"api_key_{public.get('in')}",
                "oauth2": "oauth2",
            }.get(str(public["type"]), "auth")
            name = base
            counter = 1
            while name in self.schemes:
                counter += 1
                name = f"{base}_{counter}"
            self.scheme_names[key] = name
            self.schemes[name] = public
        return self.scheme_names[key]


# --------------------------------------------------------------------------------------------------------------------
# URLs


@dataclass
class _Url:
    origin: str  # scheme://host[:port][/base] or '{var}'-templated; '' when the URL has no host
    path: str  # OpenAPI path template
    path_parameters: list[dict[str, Any]]
    query: list[dict[str, Any]]
    unresolved: list[str]

    @classmethod
    def parse(cls, url: Any, variables: dict[str, str]) -> _Url | None:
        if isinstance(url, str):
            raw, query_entries, descriptions = url, None, {}
        elif isinstance(url, dict):
            raw = str(url.get("raw") or "")
            if not raw:
                host = url.get("host")
                host_text = ".".join(map(str, host)) if isinstance(host, list) else str(host or "")
                path = url.get("path")
                path_text = "/".join(map(str, path)) if isinstance(path, list) else str(path or "")
                protocol = f"{url['protocol']}://" if url.get("protocol") else ""
                raw = f"{protocol}{host_text}/{path_text.lstrip('/')}" if host_text or path_text else ""
            query_entries = _entries(url.get("query")) if url.get("query") is not None else None
            descriptions = {
                str(v.get("key")): v for v in url.get("variable") or [] if isinstance(v, dict) and v.get("key")
            }
        else:
            return None
        raw = raw.strip().partition("#")[0]
        if not raw:
            return None
        base, _, query_text = raw.partition("?")
        if query_entries is None:
            query_entries = [
                {"key": k, "value": v, "description": "", "disabled": False}
                for k, _, v in (part.partition("=") for part in query_text.split("&") if part)
            ]
        origin, path = _split_origin(base)
        unresolved: list[str] = []
        origin = _resolve_origin(origin, variables, unresolved)
        segments = [segment for segment in path.split("/") if segment]
        template: list[str] = []
        parameters: list[dict[str, Any]] = []
        for segment in segments:
            if segment.startswith(":") and len(segment) > 1:
                name = segment[1:]
                template.append(f"{{{name}}}")
                parameters.append(_path_parameter(name, descriptions.get(name), variables))
                continue

            def replace(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in variables and variables[name] and not _VARIABLE.search(variables[name]):
                    return variables[name]  # a constant of the collection, e.g. {{apiVersion}} = v2
                if name not in {p["name"] for p in parameters}:
                    parameters.append(_path_parameter(name, descriptions.get(name), variables))
                    if name not in variables:
                        unresolved.append(name)
                return f"{{{name}}}"

            template.append(_VARIABLE.sub(replace, segment))
        return cls(
            origin,
            "/" + "/".join(template),
            parameters,
            [e for e in query_entries if not e.get("disabled")],
            unresolved,
        )


def _split_origin(url: str) -> tuple[str, str]:
    """`https://api.x.com/v1/users` → (`https://api.x.com`, `/v1/users`); `{{baseUrl}}/users` → (`{{baseUrl}}`, …)."""
    match = re.match(r"^(?P<origin>(?:[a-zA-Z][a-zA-Z0-9+.-]*://)?(?:\{\{[^{}]+\}\}|[^/{}]+)*)(?P<path>/.*)?$", url)
    if (
        not match
        or not match.group("origin")
        or (
            "://" not in match.group("origin")
            and "." not in match.group("origin")
            and "{{" not in match.group("origin")
            and ":" not in match.group("origin")
        )
    ):
        return "", url if url.startswith("/") else f"/{url}"
    return match.group("origin"), match.group("path") or "/"


def _resolve_origin(origin: str, variables: dict[str, str], unresolved: list[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        value = variables.get(name)
        if value and not _VARIABLE.search(value):
            return value.rstrip("/")
        unresolved.append(name)
        return f"{{{name}}}"

    resolved = _VARIABLE.sub(replace, origin)
    if resolved and "://" not in resolved and not resolved.startswith("{"):
        resolved = f"https://{resolved}"
    return resolved


def _path_parameter(name: str, variable: dict[str, Any] | None, variables: dict[str, str]) -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
    value = (variable or {}).get("value")
    example = str(value) if value not in (None, "") else variables.get(name)
    if example and not _VARIABLE.search(example):
        parameter["example"] = example
    description = _description((variable or {}).get("description"))
    if description:
        parameter["description"] = description
    return parameter


def _parameter(key: str, location: str, entry: dict[str, Any], variables: dict[str, str]) -> dict[str, Any]:
    value = _literal(_substitute(entry["value"], variables))
    schema = _schema_of_literal(value)
    parameter: dict[str, Any] = {"name": key, "in": location, "schema": schema}
    if entry["value"] and not _VARIABLE.search(str(value)):
        parameter["example"] = value
    description = _description(entry.get("description"))
    if description:
        parameter["description"] = description
    return parameter


# --------------------------------------------------------------------------------------------------------------------
# Small readers of Postman's loose shapes


def _variables(entries: Any) -> dict[str, str]:
    """The collection's variables that have a key and are not disabled (values as text; '' when unset)."""
    return {entry["key"]: entry["value"] for entry in _entries(entries) if not entry.get("disabled")}


def _entries(value: Any) -> list[dict[str, Any]]:
    """Postman's key/value lists (headers, query, form fields), normalised to {key, value, ...} with str values."""
    if not isinstance(value, list):
        return []
    entries = []
    for entry in value:
        if isinstance(entry, dict) and entry.get("key") not in (None, ""):
            raw = entry.get("value")
            text = "" if raw is None else raw if isinstance(raw, str) else json.dumps(raw)
            entries.append({**entry, "key": str(entry["key"]), "value": text})
    return entries


def _auth(value: Any) -> dict[str, Any] | None:
    """{type, values}: v2.1 lists [{key, value}], v2.0 objects {key: value}; `noauth` → None."""
    if not isinstance(value, dict):
        return None
    kind = str(value.get("type") or "noauth").lower()
    if kind == "noauth":
        return None
    raw = value.get(kind)
    if isinstance(raw, list):
        values = {str(e.get("key")): e.get("value") for e in raw if isinstance(e, dict)}
    elif isinstance(raw, dict):
        values = dict(raw)
    else:
        values = {}
    return {"type": kind, "values": values}


def _description(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("content")
    return value.strip() if isinstance(value, str) else ""


def _script_text(script: dict[str, Any]) -> str:
    lines = script.get("exec")
    if isinstance(lines, list):
        return "\n".join(str(line) for line in lines).strip()
    return str(lines or "").strip()


def _operation_id(name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", name)
    return "_".join(word.lower() for word in words)[:80]


def _substitute(text: str, variables: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: variables.get(m.group(1)) or m.group(0), text)


def _literal(text: str) -> Any:
    if re.fullmatch(r"-?(0|[1-9]\d{0,15})", text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def _schema_of_literal(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    return {"type": "string"}


def _content(media: str, schema: dict[str, Any], example: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"schema": schema}
    if example is not None:
        body["example"] = example
    return {"required": True, "content": {media: body}}


class _Invalid:
    pass


_INVALID = _Invalid()


def _parses_as_json(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and stripped[0] in "[{" and _json_example(stripped, {}) is not _INVALID


def _json_example(text: str, variables: dict[str, str]) -> Any:
    """Parse a JSON body whose `{{variables}}` may stand bare (`"n": {{count}}`): bare ones become null."""
    quoted = re.sub(r'"([^"\\]|\\.)*"', lambda m: _substitute(m.group(0), variables), text)
    bare = _VARIABLE.sub("null", quoted)
    try:
        return json.loads(bare)
    except (json.JSONDecodeError, RecursionError):
        return _INVALID


def _infer_schema(value: Any, depth: int = 0) -> dict[str, Any]:
    """A JSON Schema that the example satisfies; nothing required (one example says little about what must be)."""
    if depth > MAX_SCHEMA_DEPTH:
        return {}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list):
        return {"type": "array", "items": _infer_schema(value[0], depth + 1) if value else {}}
    if isinstance(value, dict):
        return {"type": "object", "properties": {str(k): _infer_schema(v, depth + 1) for k, v in value.items()}}
    return {"nullable": True}
