"""OpenAPI source kind: Swagger 2.0 / OpenAPI 3.0 / 3.1 descriptions → `Integration` (one tool per operation).

`load_document` reads JSON or YAML and bundles relative-file `$ref`s into the document, so everything
after it resolves references locally. `openapi_to_integration` walks the operations once; schemas
are normalised by `schemas.SchemaNormalizer`, which memoises per `$ref` and shares results between
tools (so tools' schemas may share sub-objects: copy before modifying).
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
import yaml

from mcphub.compiler.errors import SourceError
from mcphub.compiler.ir import (
    ArgBinding,
    ArgLocation,
    AuthScheme,
    HttpBinding,
    Integration,
    JsonSchema,
    OAuthFlow,
    ServerVariable,
    SourceInfo,
    Tool,
    ToolAnnotations,
)
from mcphub.compiler.naming import (
    DEFAULT_MAX_FULL_LENGTH,
    name_budget,
    operation_name,
    python_identifier,
    safe_property_name,
    snake_case,
    unique_names,
)
from mcphub.compiler.schemas import Dialect, Normalized, SchemaNormalizer

__all__ = ["detect_format", "load_document", "openapi_to_integration"]

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Handled by the runtime (content negotiation, auth): never tool arguments.
SKIPPED_HEADERS = frozenset({"accept", "content-type", "authorization"})
# Python names the generated function already uses for itself.
RESERVED_PYTHON_NAMES = frozenset({"call"})
MAX_DESCRIPTION_CHARS = 1200
# Beyond this many schema nodes a tool's input schema is cut in depth (a few huge APIs, e.g. DocuSign,
# would otherwise produce hundred-kilobyte schemas that no model can use and that slow every client).
MAX_SCHEMA_NODES = 1500
_GENERIC_RESPONSE = re.compile(
    r"^(response|ok|success|successful( response| operation)?|\d{3}( response)?|default response)\.?$", re.I
)
_PLACEHOLDER_LABEL = re.compile(r"^your[-_]?([a-z0-9][a-z0-9_-]*)$", re.I)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of acyclic objects.

    Parsing GitHub's description allocates ~2M dicts/lists/strings; generation-0 collections
    triggered by those allocations cost as much as the parsing itself, and find nothing to free.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# -- loading ---------------------------------------------------------------------------------


class _YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML without implicit timestamps: `version: 2024-01-01` stays the string OpenAPI means."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _YamlLoader.yaml_implicit_resolvers.items()
}


def _parse(data: bytes, path: Path) -> Any:
    stripped = data.lstrip()
    if path.suffix.lower() == ".json" or stripped.startswith((b"{", b"[")):
        try:
            # orjson parses the bytes without first decoding them to a str: GitHub's 13 MB description
            # loads in half the time and with ~15 MB less peak memory. It refuses a few things json accepts
            # (NaN, integers beyond 64 bits), so json gets the last word, and gives the line and column.
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        try:
            return json.loads(data)
        except json.JSONDecodeError as exc:
            if path.suffix.lower() == ".json":
                raise SourceError(
                    f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg}); fix the syntax there"
                ) from None
            # YAML is a superset of JSON in spirit; fall through for flow-style YAML.
        except RecursionError:
            raise SourceError(f"{path}: nested too deeply to read; is it really an API description?") from None
    try:
        return yaml.load(data, Loader=_YamlLoader)  # a safe loader (no arbitrary objects)
    except RecursionError:
        raise SourceError(f"{path}: nested too deeply to read; is it really an API description?") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SourceError(f"{path}: {where}invalid YAML ({problem}); fix the syntax there") from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found; check the source path") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror}); check the path and its permissions") from None


def detect_format(document: Any, where: str = "document") -> tuple[Dialect, str]:
    """The dialect and a label ("openapi 3.1.0", "swagger 2.0"); SourceError if it is neither."""
    if not isinstance(document, dict):
        raise SourceError(f"{where}: not an OpenAPI description (the top level is not a mapping)")
    if "swagger" in document:
        version = str(document["swagger"])
        if not version.startswith("2"):
            raise SourceError(f"{where}: unsupported Swagger version {version!r}; only 2.0 is supported")
        return "swagger2", f"swagger {version}"
    if "openapi" in document:
        version = str(document["openapi"])
        if version.startswith("3.0"):
            return "oas30", f"openapi {version}"
        if version.startswith("3."):
            return "oas31", f"openapi {version}"
        raise SourceError(f"{where}: unsupported OpenAPI version {version!r}; use 2.0, 3.0 or 3.1")
    raise SourceError(
        f"{where}: not an OpenAPI description (no 'openapi' or 'swagger' field at the top); "
        "check that the file is an OpenAPI/Swagger document"
    )


class _Bundler:
    """Rewrites relative-file `$ref`s into local ones; each referenced file is copied once under `x-bundled`."""

    def __init__(self, root: Path, document: dict[str, Any]) -> None:
        self.root = root.resolve()
        self.document = document
        self.keys: dict[Path, str] = {self.root: ""}
        self.bundled: dict[str, Any] = {}
        self.rewritten: dict[tuple[int, Path], Any] = {}

    def key_for(self, path: Path, referrer: Path) -> str:
        path = path.resolve()
        key = self.keys.get(path)
        if key is None:
            key = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.name) or "file"
            while key in self.bundled:
                key += "_"
            self.keys[path] = key
            self.bundled[key] = None  # reserve before recursing (files may reference each other)
            content = _parse(_read(path), path) if path.exists() else None
            if content is None and not path.exists():
                raise SourceError(f"{referrer}: $ref to missing file {path}; fix the reference or add the file")
            self.bundled[key] = self.rewrite(content, path)
        return key

    def rewrite(self, node: Any, current: Path) -> Any:
        if not isinstance(node, dict | list):
            return node
        done = self.rewritten.get((id(node), current))
        if done is not None:
            return done  # YAML anchors share (even contain) nodes: keep the sharing, never loop
        if isinstance(node, list):
            out_list: list[Any] = []
            self.rewritten[(id(node), current)] = out_list
            out_list.extend(self.rewrite(v, current) for v in node)
            return out_list
        out: dict[str, Any] = {}
        self.rewritten[(id(node), current)] = out
        for key, value in node.items():
            out[key] = (
                self.local_ref(value, current)
                if key == "$ref" and isinstance(value, str)
                else self.rewrite(value, current)
            )
        return out

    def local_ref(self, ref: str, current: Path) -> str:
        file_part, _, fragment = ref.partition("#")
        if "://" in file_part:
            return ref  # remote: left for the resolver to report
        if not file_part:
            key = self.keys.get(current.resolve(), "")
        else:
            key = self.key_for(current.parent / file_part, current)
        prefix = f"#/x-bundled/{key}" if key else "#"
        return prefix + fragment if fragment.startswith("/") or not fragment else f"{prefix}/{fragment}"


def _has_external_ref(data: bytes) -> bool:
    """Whether any `$ref` value does not start with '#' (a plain scan: a regex is ten times slower here)."""
    find = data.find
    start = find(b"$ref")
    while start != -1:
        i = start + 4
        window = data[i : i + 16].lstrip(b"\"' \t")
        # A key `$ref` (not "/owners/$ref" inside a path) whose value is a string not starting with '#'.
        if window.startswith(b":") and data[start - 1 : start] in (b'"', b"'", b" ", b"\n", b"{", b",", b"\t", b""):
            value = window[1:].lstrip(b"\"' \t")
            if value and value[:1] not in (b"#", b"{", b"["):
                return True
        start = find(b"$ref", i)
    return False


def load_document(path: Path) -> tuple[dict[str, Any], str]:
    """Read an OpenAPI/Swagger description (JSON or YAML) with relative-file `$ref`s bundled in.

    Returns the document and its format label ("openapi 3.1.0", "swagger 2.0").
    """
    path = Path(path)
    data = _read(path)
    with _gc_paused():
        document = _parse(data, path)
    _dialect, label = detect_format(document, str(path))
    if _has_external_ref(data):
        bundler = _Bundler(path, document)
        document = bundler.rewrite(document, path)
        if bundler.bundled:
            document["x-bundled"] = bundler.bundled
    return document, label


# -- compiling -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Arg:
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


@dataclass(slots=True)
class _Operation:
    method: str
    path: str
    op: dict[str, Any]
    item: dict[str, Any]
    raw_name: str
    key: str
    where: str
    args: list[_Arg] = field(default_factory=list)
    deps: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)  # extra text for the tool description


def _mapping(value: Any) -> dict[str, Any]:
    """`value` if it is a mapping, else an empty one (descriptions in the wild put anything anywhere)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _trim(text: str, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    """Cut long text at a paragraph or sentence boundary."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    for sep in ("\n\n", ". ", "\n", " "):
        cut = head.rfind(sep)
        if cut > limit // 2:
            return head[: cut + (1 if sep == ". " else 0)].rstrip() + " …"
    return head.rstrip() + " …"


def _with_description(schema: JsonSchema, text: str) -> JsonSchema:
    """`schema` with `text` as its description (copy on write: schemas are shared)."""
    if not text or schema.get("description") == text:
        return schema
    out = dict(schema)
    if "$ref" in out and len(out) == 1:
        return {"$ref": out["$ref"], "description": text}
    out["description"] = text
    return out


class _Compiler:
    def __init__(
        self, document: dict[str, Any], *, slug: str, name: str | None, source: SourceInfo, max_full_length: int
    ) -> None:
        self.document = document
        self.dialect, self.format_label = detect_format(document, source.path or "document")
        self.slug = slug
        self.name = name
        self.source = source
        self.max_full_length = max_full_length
        self.warnings: list[str] = []
        self.normalizer = SchemaNormalizer(document, self.dialect, warn=self.warnings.append)
        self.schemes: dict[str, AuthScheme] = {}
        self.scheme_scopes: dict[str, set[str]] = {}
        self.api_key_params: set[tuple[str, str]] = set()
        self.server_variables: dict[str, ServerVariable] = {}
        self.param_cache: dict[int, tuple[dict[str, Any], tuple[_Arg, frozenset[str]]]] = {}

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{where}: {message}" if where else message)

    # -- document level ----------------------------------------------------------------------

    def run(self) -> Integration:
        info = _mapping(self.document.get("info"))
        self._security_schemes()
        base_url = self._base_url()
        default_security = self._security(self.document.get("security"), "document") or []

        operations = list(self._operations())
        try:
            names = unique_names(
                [o.raw_name for o in operations],
                name_budget(self.slug, self.max_full_length),
                keys=[o.key for o in operations],
            )
        except ValueError as exc:
            raise SourceError(f"{self.source.path or self.slug}: {exc}") from None
        tools = []
        for operation, tool_name in zip(operations, names, strict=True):
            self.normalizer.where = operation.where
            tools.append(self._tool(operation, tool_name, base_url))
        self.normalizer.where = ""

        for scheme_id, scopes in self.scheme_scopes.items():
            if scheme_id in self.schemes and scopes:
                self.schemes[scheme_id].scopes = sorted(scopes)
        source = self.source
        if source.format is None:
            source = source.model_copy(update={"format": self.format_label})
        description = _text(info.get("summary")) or _text(info.get("description"))
        return Integration(
            slug=self.slug,
            name=self.name or _text(info.get("title")) or self.slug,
            description=_trim(description, 500),
            api_version=str(info["version"]) if info.get("version") is not None else None,
            source=source,
            base_url=base_url,
            server_variables=self.server_variables,
            auth=list(self.schemes.values()),
            default_security=default_security,
            tools=tools,
            warnings=self.warnings,
        )

    def _operations(self) -> Iterator[_Operation]:
        paths = self.document.get("paths")
        if paths is None:
            self.warn("document", "no 'paths': the description defines no operations")
            return
        if not isinstance(paths, dict):
            raise SourceError(f"{self.source.path or 'document'}: 'paths' must be a mapping of path → operations")
        for path, raw_item in paths.items():
            item = self.normalizer.deref(raw_item)
            if not isinstance(item, dict):
                self.warn(f"paths.{path}", "path item is not a mapping; skipped")
                continue
            for method in item:
                if method not in HTTP_METHODS:
                    continue
                op = item[method]
                where = f"{method.upper()} {path}"
                if not isinstance(op, dict):
                    self.warn(where, "operation is not a mapping; skipped")
                    continue
                operation_id = op.get("operationId")
                operation_id = operation_id if isinstance(operation_id, str) and operation_id.strip() else None
                if operation_id:
                    where = f"{where} ({operation_id})"
                yield _Operation(
                    method=method,
                    path=str(path),
                    op=op,
                    item=item,
                    raw_name=operation_name(operation_id, method, str(path)),
                    key=f"{method.upper()} {path}",
                    where=where,
                )

    def _base_url(self) -> str:
        if self.dialect == "swagger2":
            host = _text(self.document.get("host"))
            base_path = _text(self.document.get("basePath")) or ""
            schemes = self.document.get("schemes") or []
            scheme = "https" if "https" in schemes or not schemes else str(schemes[0])
            if not host:
                self.warn("document", "no 'host': base URL is relative; set base_url in the hub spec")
                return base_path.rstrip("/")
            return self._placeholders(f"{scheme}://{host}{base_path}".rstrip("/"))
        servers = self.document.get("servers")
        if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
            self.warn("document", "no 'servers': base URL unknown; set base_url in the hub spec")
            return ""
        return self._server_url(servers[0], "servers[0]")

    def _server_url(self, server: dict[str, Any], where: str) -> str:
        url = _text(server.get("url")).rstrip("/")
        variables = server.get("variables")
        if isinstance(variables, dict):
            for var_name, var in variables.items():
                if not isinstance(var, dict):
                    continue
                enum = var.get("enum")
                new = ServerVariable(
                    default=str(var.get("default", "")),
                    enum=[str(e) for e in enum] if isinstance(enum, list) and enum else None,
                    description=_text(var.get("description")),
                )
                old = self.server_variables.get(var_name)
                if old is not None and old.default != new.default:
                    self.warn(where, f"server variable {var_name!r} redefined with another default; kept the first")
                    continue
                self.server_variables.setdefault(var_name, new)
        if url and not urlsplit(url).scheme:
            self.warn(where, f"server URL {url!r} is relative; set base_url in the hub spec")
        return self._placeholders(url)

    def _placeholders(self, url: str) -> str:
        """Turn a placeholder host label ("your-domain.atlassian.net") into a server variable."""
        parts = urlsplit(url)
        if not parts.hostname:
            return url
        labels = parts.netloc.split(".")
        changed = False
        for i, label in enumerate(labels):
            match = _PLACEHOLDER_LABEL.match(label)
            if match and "{" not in label:
                var = snake_case(match.group(1)) or "host"
                self.server_variables.setdefault(
                    var,
                    ServerVariable(
                        default=label,
                        description=f"Placeholder `{label}` in the published server URL: set it to your own value.",
                    ),
                )
                labels[i] = "{" + var + "}"
                changed = True
        if not changed:
            return url
        self.warn("servers", f"server URL {url!r} has a placeholder host; it is now the server variable(s) shown")
        return url.replace(parts.netloc, ".".join(labels), 1)

    # -- security ----------------------------------------------------------------------------

    def _security_schemes(self) -> None:
        if self.dialect == "swagger2":
            raw = self.document.get("securityDefinitions")
        else:
            components = self.document.get("components")
            raw = components.get("securitySchemes") if isinstance(components, dict) else None
        if not isinstance(raw, dict):
            return
        for scheme_id, value in raw.items():
            scheme = self.normalizer.deref(value)
            if not isinstance(scheme, dict):
                continue
            converted = self._scheme(str(scheme_id), scheme)
            if converted is not None:
                self.schemes[str(scheme_id)] = converted

    def _scheme(self, scheme_id: str, scheme: dict[str, Any]) -> AuthScheme | None:
        kind = scheme.get("type")
        description = _trim(_text(scheme.get("description")), 500)
        where = f"security scheme {scheme_id!r}"
        if kind == "apiKey":
            location = scheme.get("in")
            param = _text(scheme.get("name"))
            if location not in ("header", "query", "cookie") or not param:
                self.warn(where, "apiKey without a valid 'in'/'name'; skipped")
                return None
            self.api_key_params.add((str(location), param.lower()))
            return AuthScheme(
                id=scheme_id,
                type="api_key",
                label=f"API key ({param} {location})",
                description=description,
                location=location,
                param_name=param,
            )
        if kind == "basic" or (kind == "http" and _text(scheme.get("scheme")).lower() == "basic"):
            return AuthScheme(id=scheme_id, type="basic", label="Username and password", description=description)
        if kind == "http":
            http_scheme = _text(scheme.get("scheme")).lower()
            if http_scheme != "bearer":
                self.warn(where, f"HTTP auth scheme {http_scheme!r} is not supported; skipped")
                return None
            return AuthScheme(
                id=scheme_id,
                type="bearer",
                label="Bearer token",
                description=description,
                bearer_format=_text(scheme.get("bearerFormat")) or None,
            )
        if kind == "oauth2":
            flows = self._flows(scheme)
            if not flows:
                self.warn(where, "OAuth2 scheme without a usable flow; skipped")
                return None
            return AuthScheme(id=scheme_id, type="oauth2", label="OAuth 2.0", description=description, flows=flows)
        if kind == "openIdConnect":
            return AuthScheme(
                id=scheme_id,
                type="openid_connect",
                label="OpenID Connect",
                description=description,
                openid_connect_url=_text(scheme.get("openIdConnectUrl")) or None,
            )
        self.warn(where, f"security scheme type {kind!r} is not supported; skipped")
        return None

    def _flows(self, scheme: dict[str, Any]) -> list[OAuthFlow]:
        if self.dialect == "swagger2":
            kinds = {"accessCode": "authorization_code", "implicit": "implicit", "password": "password"}
            kinds["application"] = "client_credentials"
            raw_flows: dict[str, Any] = {str(scheme.get("flow")): scheme}
        else:
            kinds = {
                "authorizationCode": "authorization_code",
                "clientCredentials": "client_credentials",
                "implicit": "implicit",
                "password": "password",
                "deviceAuthorization": "device_code",
            }
            raw_flows = _mapping(scheme.get("flows"))
        flows = []
        for flow_name, flow in raw_flows.items():
            kind = kinds.get(str(flow_name))
            if kind is None or not isinstance(flow, dict):
                continue
            scopes = _mapping(flow.get("scopes"))
            flows.append(
                OAuthFlow(
                    kind=kind,
                    authorization_url=_text(flow.get("authorizationUrl")) or None,
                    token_url=_text(flow.get("tokenUrl")) or None,
                    refresh_url=_text(flow.get("refreshUrl")) or None,
                    scopes={str(k): str(v) if v is not None else "" for k, v in scopes.items()},
                )
            )
        return flows

    def _security(self, value: Any, where: str) -> list[list[str]] | None:
        """Security requirements → alternatives of scheme ids (None when absent)."""
        if value is None:
            return None
        if not isinstance(value, list):
            self.warn(where, "'security' is not a list; ignored")
            return None
        alternatives: list[list[str]] = []
        for requirement in value:
            if not isinstance(requirement, dict):
                continue
            ids = []
            usable = True
            for scheme_id, scopes in requirement.items():
                if scheme_id not in self.schemes:
                    self.warn(where, f"security requirement names unknown or unsupported scheme {scheme_id!r}")
                    usable = False
                    break
                ids.append(str(scheme_id))
                if isinstance(scopes, list):
                    self.scheme_scopes.setdefault(str(scheme_id), set()).update(str(s) for s in scopes)
            if usable and ids not in alternatives:
                alternatives.append(ids)
        if value and not alternatives:
            # Every alternative needs an unsupported scheme: "no auth" ([]) would be wrong, so defer to the default.
            self.warn(where, "no usable security requirement; the integration's default applies")
            return None
        return alternatives

    # -- operations --------------------------------------------------------------------------

    def _tool(self, o: _Operation, tool_name: str, base_url: str) -> Tool:
        op = o.op
        http = HttpBinding(method=o.method.upper(), path=o.path)
        self._parameters(o)
        if self.dialect == "swagger2":
            self._swagger_body(o, http)
        else:
            self._request_body(o, http)
        http.args, properties, required = self._bind(o)
        dependent = _body_dependencies(o, http.args)
        http.security = self._security(op.get("security"), o.where)
        http.response_content_type, returns = self._response(o)
        http.server_url = self._operation_server(o, base_url)

        schema: JsonSchema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        if dependent:
            schema["dependentRequired"] = dependent
        # o.deps over-approximates (a root body unwrapped from $defs stays listed); the walk is exact.
        deps = self.normalizer.dependencies(properties) if o.deps else set()
        if deps:
            schema["$defs"] = self.normalizer.definitions(deps)
        size = self.normalizer.size(properties) + sum(self.normalizer.size(d) for d in schema.get("$defs", {}).values())
        if size > MAX_SCHEMA_NODES:
            schema, depth = self.normalizer.compact(schema, MAX_SCHEMA_NODES)
            self.warn(
                o.where, f"input schema of {size} nodes cut to nesting depth {depth} to stay under {MAX_SCHEMA_NODES}"
            )

        method = o.method.upper()
        deprecated = op.get("deprecated") is True
        summary = _text(op.get("summary"))
        # HTTP semantics as MCP hints: safe methods read, DELETE destroys, PUT and DELETE are idempotent.
        annotations = ToolAnnotations(
            title=summary or None,
            read_only_hint=method in ("GET", "HEAD", "OPTIONS"),
            destructive_hint=True if method == "DELETE" else None,
            idempotent_hint=True if method in ("PUT", "DELETE") else None,
            open_world_hint=True,
        )
        tags = (
            [str(t) for t in op.get("tags", []) if isinstance(t, str | int)] if isinstance(op.get("tags"), list) else []
        )
        return Tool(
            name=tool_name,
            title=summary or None,
            description=self._description(o, summary, deprecated, returns),
            input_schema=schema,
            annotations=annotations,
            enabled=method != "DELETE",
            deprecated=deprecated,
            source_ref=_text(op.get("operationId")) or o.key,
            tags=tags,
            http=http,
        )

    def _description(self, o: _Operation, summary: str, deprecated: bool, returns: str) -> str:
        body = _text(o.op.get("description"))
        parts = []
        if deprecated:
            parts.append("Deprecated: the API marks this operation as deprecated and may remove it.")
        if summary and not body.startswith(summary.rstrip(".")):
            parts.append(summary if summary.endswith((".", "!", "?")) else summary + ".")
        if body:
            parts.append(_trim(body))
        if not summary and not body:
            parts.append(f"{o.method.upper()} {o.path}.")
        parts.extend(_trim(note, 600) for note in o.notes)
        if returns:
            parts.append(returns)
        docs = o.op.get("externalDocs")
        if isinstance(docs, dict) and _text(docs.get("url")):
            parts.append(f"Docs: {_text(docs.get('url'))}")
        return "\n\n".join(parts)

    def _operation_server(self, o: _Operation, base_url: str) -> str | None:
        if self.dialect == "swagger2":
            return None
        for holder in (o.op, o.item):
            servers = holder.get("servers")
            if isinstance(servers, list) and servers and isinstance(servers[0], dict):
                url = self._server_url(servers[0], o.where)
                return url if url != base_url else None
        return None

    # -- parameters --------------------------------------------------------------------------

    def _parameters(self, o: _Operation) -> None:
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for holder in (o.item, o.op):
            params = holder.get("parameters")
            if params is None:
                continue
            if not isinstance(params, list):
                self.warn(o.where, "'parameters' is not a list; ignored")
                continue
            for raw in params:
                param = self.normalizer.deref(raw)
                if not isinstance(param, dict) or not isinstance(param.get("name"), str) or "in" not in param:
                    self.warn(o.where, "parameter without 'name'/'in'; ignored")
                    continue
                merged[(str(param["in"]), param["name"])] = param
        for (location, wire_name), param in merged.items():
            if location == "header" and wire_name.lower() in SKIPPED_HEADERS:
                continue
            if (location, wire_name.lower()) in self.api_key_params:
                continue  # the runtime injects the credential
            if location in ("body", "formData"):
                continue  # Swagger 2.0, handled with the body
            if location not in ("path", "query", "header", "cookie"):
                self.warn(o.where, f"parameter {wire_name!r} has unknown location {location!r}; ignored")
                continue
            cached = self.param_cache.get(id(param))
            if cached is None or cached[0] is not param:
                # Shared parameters ($ref'd by hundreds of operations) are converted once.
                cached = self.param_cache[id(param)] = (param, self._parameter(param, location, wire_name))
            arg, deps = cached[1]
            o.args.append(arg)
            o.deps.update(deps)

    def _parameter(self, param: dict[str, Any], location: str, wire_name: str) -> tuple[_Arg, frozenset[str]]:
        """One parameter as an argument (never mutated afterwards: it may be shared between operations)."""
        content_type = None
        style = param.get("style") if isinstance(param.get("style"), str) else None
        explode = param.get("explode") if isinstance(param.get("explode"), bool) else None
        if self.dialect == "swagger2":
            normal = self.normalizer.normalize(_swagger_param_schema(param))
            style, explode = _collection_format(param, location)
        elif isinstance(param.get("schema"), dict | bool):
            normal = self.normalizer.normalize(param["schema"])
        elif isinstance(param.get("content"), dict) and param["content"]:
            content_type, media = next(iter(param["content"].items()))
            schema = media.get("schema") if isinstance(media, dict) else None
            normal = self.normalizer.normalize(schema if schema is not None else {})
        else:
            normal = self.normalizer.normalize({})
        schema = normal.schema
        # An empty query value is invalid unless the description allows it (`?q=` is no search at all); an empty
        # path value would make another path (`/repos//issues`), so the runtime refuses it.
        empty_refused = location == "path" or (location == "query" and param.get("allowEmptyValue") is not True)
        if empty_refused and _types(schema) == ["string"] and "enum" not in schema and not schema.get("minLength"):
            schema = {**schema, "minLength": 1}
        notes = [_text(param.get("description"))]
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
            schema = _with_description(schema, text)
        return _Arg(
            location=ArgLocation(location),
            wire_name=wire_name,
            schema=schema,
            required=location == "path" or param.get("required") is True,
            prefix=location,
            style=style,
            explode=explode,
            allow_reserved=param.get("allowReserved") is True,
            content_type=content_type,
        ), normal.deps

    # -- request bodies ----------------------------------------------------------------------

    def _request_body(self, o: _Operation, http: HttpBinding) -> None:
        raw = o.op.get("requestBody")
        if raw is None:
            return
        body = self.normalizer.deref(raw)
        if not isinstance(body, dict):
            self.warn(o.where, "requestBody is not a mapping; ignored")
            return
        content = body.get("content")
        if not isinstance(content, dict) or not content:
            self.warn(o.where, "requestBody has no content; ignored")
            return
        media_type = _pick_media_type(list(content))
        media = _mapping(content[media_type])
        normal = self.normalizer.normalize(media.get("schema", {}))
        required = body.get("required") is True
        http.body_required = required
        encoding = _mapping(media.get("encoding"))
        base = media_type.split(";")[0].strip().lower()
        if base == "application/x-www-form-urlencoded":
            self._object_body(o, http, normal, required, "form", ArgLocation.FORM, encoding, body)
        elif base.startswith("multipart/"):
            self._object_body(o, http, normal, required, "multipart", ArgLocation.MULTIPART, encoding, body)
        elif _is_json(base) or (base == "*/*" and _types(normal.schema) in (None, ["object"], ["array"])):
            self._object_body(o, http, normal, required, "json", ArgLocation.BODY, encoding, body)
        elif (base == "application/octet-stream" or base.startswith("message/")) and self.normalizer.object_shape(
            normal
        ) is not None:
            # Google's Discovery conversions label metadata bodies of media-upload methods with these media types;
            # the services take the object as JSON at these paths.
            self._object_body(o, http, normal, required, "json", ArgLocation.BODY, encoding, body)
        else:
            self._raw_body(o, http, normal, required, media_type, _text(body.get("description")))

    def _swagger_body(self, o: _Operation, http: HttpBinding) -> None:
        params = [self.normalizer.deref(p) for p in (*_list(o.item.get("parameters")), *_list(o.op.get("parameters")))]
        consumes = o.op.get("consumes") or self.document.get("consumes") or []
        consumes = [str(c).lower() for c in consumes] if isinstance(consumes, list) else []
        body_params = [p for p in params if isinstance(p, dict) and p.get("in") == "body"]
        form_params: dict[str, dict[str, Any]] = {}
        for p in params:
            if isinstance(p, dict) and p.get("in") == "formData" and isinstance(p.get("name"), str):
                form_params[p["name"]] = p
        if body_params:
            param = body_params[-1]
            normal = self.normalizer.normalize(param.get("schema", {}))
            required = param.get("required") is True
            http.body_required = required
            json_ok = not consumes or any(_is_json(c) or c == "*/*" for c in consumes)
            if json_ok:
                self._object_body(o, http, normal, required, "json", ArgLocation.BODY, {}, param)
            else:
                self._raw_body(o, http, normal, required, consumes[0], _text(param.get("description")))
        elif form_params:
            has_file = any(p.get("type") == "file" for p in form_params.values())
            multipart = has_file or (
                any(c.startswith("multipart/") for c in consumes)
                and "application/x-www-form-urlencoded" not in consumes
            )
            http.body_encoding = "multipart" if multipart else "form"
            location = ArgLocation.MULTIPART if multipart else ArgLocation.FORM
            http.body_required = any(p.get("required") is True for p in form_params.values())
            for wire_name, p in form_params.items():
                normal = self.normalizer.normalize(_swagger_param_schema(p))
                o.deps.update(normal.deps)
                schema = _with_description(normal.schema, _text(p.get("description")))
                arg = _Arg(location, wire_name, schema, p.get("required") is True, "body")
                arg.style, arg.explode = _collection_format(p, "formData")
                if multipart:
                    self._file_part(arg, {})
                o.args.append(arg)

    def _object_body(
        self,
        o: _Operation,
        http: HttpBinding,
        normal: Normalized,
        required: bool,
        encoding_kind: Literal["json", "form", "multipart"],
        location: ArgLocation,
        encoding: dict[str, Any],
        holder: dict[str, Any],
    ) -> None:
        http.body_encoding = encoding_kind
        shape = self.normalizer.object_shape(normal)
        if shape is None:
            o.deps.update(normal.deps)
            schema = _with_description(
                normal.schema, _text(holder.get("description")) or _text(normal.schema.get("description"))
            )
            o.args.append(_Arg(ArgLocation.BODY_ROOT, "", schema, required, "body"))
            return
        o.deps.update(shape.deps)
        if shape.description and shape.description != _text(normal.schema.get("description")):
            o.notes.append(f"Request body: {shape.description}")
        required_props = set(shape.required) if required else set()
        for prop, schema in shape.properties.items():
            arg = _Arg(location, prop, schema, prop in required_props, "body")
            arg.with_body = not required and prop in shape.required
            enc = encoding.get(prop) if isinstance(encoding.get(prop), dict) else None
            if enc is not None:
                if isinstance(enc.get("style"), str):
                    arg.style = enc["style"]
                if isinstance(enc.get("explode"), bool):
                    arg.explode = enc["explode"]
                if enc.get("allowReserved") is True:
                    arg.allow_reserved = True
            if location is ArgLocation.MULTIPART:
                self._file_part(arg, enc or {})
                if arg.content_type is None and enc is not None and _text(enc.get("contentType")):
                    arg.content_type = _text(enc["contentType"]).split(",")[0].strip()  # a typed part (JSON metadata)
            o.args.append(arg)

    @staticmethod
    def _file_part(arg: _Arg, encoding: dict[str, Any]) -> None:
        schema = arg.schema
        items = schema.get("items") if isinstance(schema.get("items"), dict) else None
        target = items if items is not None and _types(schema) == ["array"] else schema
        if target.get("format") not in ("binary", "base64") and "contentMediaType" not in target:
            return
        file_schema: JsonSchema = {
            "type": "string",
            "format": "binary",
            "contentEncoding": "base64",
            "description": (_text(target.get("description")) + " File content, base64-encoded.").strip(),
        }
        content_type = _text(encoding.get("contentType")) or _text(target.get("contentMediaType"))
        arg.content_type = content_type.split(",")[0].strip() if content_type else "application/octet-stream"
        if target is items:
            arg.schema = {**schema, "items": file_schema}
        else:
            arg.schema = {
                **file_schema,
                "description": (_text(schema.get("description")) + " File content, base64-encoded.").strip(),
            }

    def _raw_body(
        self, o: _Operation, http: HttpBinding, normal: Normalized, required: bool, media_type: str, description: str
    ) -> None:
        http.body_encoding = None
        schema = normal.schema
        binary = not media_type.startswith("text/") and (
            schema.get("format") in ("binary", "base64") or not schema or media_type == "application/octet-stream"
        )
        if binary:
            schema = {"type": "string", "contentEncoding": "base64", "format": "binary"}
            description = (description + f" Request body ({media_type}), base64-encoded.").strip()
        else:
            o.deps.update(normal.deps)
            if not schema or _types(schema) == ["string"]:
                schema = {k: v for k, v in schema.items() if k != "format"} or {"type": "string"}
                description = (description + f" Request body ({media_type}).").strip()
        if required and _types(schema) == ["string"] and not schema.get("minLength"):
            schema = {**schema, "minLength": 1}  # a required body of no bytes is no body (servers refuse it)
        o.args.append(
            _Arg(
                ArgLocation.BODY_ROOT,
                "",
                _with_description(schema, description),
                required,
                "body",
                content_type=media_type,
            )
        )

    # -- naming and binding ------------------------------------------------------------------

    def _bind(self, o: _Operation) -> tuple[list[ArgBinding], dict[str, JsonSchema], list[str]]:
        bindings: list[ArgBinding] = []
        properties: dict[str, JsonSchema] = {}
        required: list[str] = []
        taken_python: set[str] = set(RESERVED_PYTHON_NAMES)
        for arg in o.args:
            name = "body" if arg.location is ArgLocation.BODY_ROOT else safe_property_name(arg.wire_name)
            if name in properties:
                clash = name
                name = safe_property_name(f"{arg.prefix}_{name}", properties)
                self.warn(
                    o.where,
                    f"{arg.location.value} argument {arg.wire_name or 'body'!r} is named {name!r} "
                    f"because {clash!r} is taken by another argument",
                )
            python_name = python_identifier(name, taken_python)
            taken_python.add(python_name)
            properties[name] = arg.schema
            if arg.required:
                required.append(name)
            bindings.append(
                ArgBinding(
                    name=name,
                    python_name=python_name,
                    location=arg.location,
                    wire_name=arg.wire_name,
                    required=arg.required,
                    style=arg.style,
                    explode=arg.explode,
                    allow_reserved=arg.allow_reserved,
                    content_type=arg.content_type,
                )
            )
        return bindings, properties, required

    # -- responses ---------------------------------------------------------------------------

    def _response(self, o: _Operation) -> tuple[str | None, str]:
        responses = o.op.get("responses")
        if not isinstance(responses, dict):
            return None, ""
        codes = sorted((str(c) for c in responses if str(c).startswith("2")), key=lambda c: (not c.isdigit(), c))
        if "default" in responses and not codes:
            codes = ["default"]
        for code in codes:
            response = self.normalizer.deref(responses.get(code) if code in responses else responses.get(int(code)))
            if not isinstance(response, dict):
                continue
            description = _text(response.get("description"))
            if self.dialect == "swagger2":
                produces = o.op.get("produces") or self.document.get("produces") or []
                schema = response.get("schema")
                media_type = None
                if schema is not None:
                    media_type = _pick_media_type([str(p) for p in produces]) if produces else "application/json"
            else:
                content = response.get("content")
                if not isinstance(content, dict) or not content:
                    return None, self._returns(description, None, code)
                media_type = _pick_media_type(list(content))
                media = content[media_type]
                schema = media.get("schema") if isinstance(media, dict) else None
            return media_type, self._returns(description, schema, code)
        return None, ""

    def _returns(self, description: str, schema: Any, code: str) -> str:
        if code == "204" and schema is None:
            return "Returns no content on success."
        label = self._schema_label(schema)
        meaningful = description and not _GENERIC_RESPONSE.match(description)
        if label and meaningful:
            return f"Returns {label}: {_trim(description, 300).rstrip('.')}."
        if label:
            return f"Returns {label}."
        if meaningful:
            return f"Returns: {_trim(description, 300)}"
        return ""

    def _schema_label(self, schema: Any, depth: int = 0) -> str:
        if not isinstance(schema, dict) or depth > 2:
            return ""
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~")
            target = self.normalizer.deref(schema)
            if isinstance(target, dict) and target.get("type") == "array":
                inner = self._schema_label(target.get("items"), depth + 1)
                return f"a list of {inner}" if inner else f"`{name}` (a list)"
            if not name or name[:1].isdigit():
                return "an object"
            return f"{'an' if name[0].lower() in 'aeiou' else 'a'} `{name}` object"
        if schema.get("type") == "array":
            inner = self._schema_label(schema.get("items"), depth + 1)
            return f"a list of {inner.removeprefix('a ').removeprefix('an ')}s" if inner else "a list"
        props = schema.get("properties")
        if isinstance(props, dict) and props:
            names = list(props)[:6]
            more = ", …" if len(props) > 6 else ""
            return "an object with " + ", ".join(f"`{n}`" for n in names) + more
        return ""


def _types(schema: JsonSchema) -> list[str] | None:
    t = schema.get("type")
    if isinstance(t, str):
        return [t]
    if isinstance(t, list):
        return [x for x in t if x != "null"]
    return None


def _is_json(media_type: str) -> bool:
    base = media_type.split(";")[0].strip().lower()
    return base == "application/json" or base.endswith("+json") or base == "text/json"


def _pick_media_type(media_types: list[str]) -> str:
    """Prefer JSON, then forms, then whatever comes first."""
    for test in (
        _is_json,
        lambda m: m.lower().startswith("application/x-www-form-urlencoded"),
        lambda m: m.lower().startswith("multipart/form-data"),
    ):
        for media_type in media_types:
            if test(media_type):
                return media_type
    return media_types[0]


_SWAGGER_SCHEMA_KEYS = (
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


def _body_dependencies(o: _Operation, bindings: list[ArgBinding]) -> dict[str, list[str]]:
    """`dependentRequired` for an optional body with required fields: any body field given needs them all.

    The description's hint is added to the tool's description too (clients that ignore the keyword read it; the
    hub's validator enforces it before anything is sent).
    """
    body = (ArgLocation.BODY, ArgLocation.FORM, ArgLocation.MULTIPART)
    pairs = list(zip(o.args, bindings, strict=True))
    needed = [binding.name for arg, binding in pairs if arg.with_body]
    if not needed:
        return {}
    listed = ", ".join(f"`{name}`" for name in needed)
    o.notes.append(f"The request body is optional, but when any of its fields is given, {listed} must be too.")
    dependent = {}
    for arg, binding in pairs:
        others = [name for name in needed if name != binding.name]
        if arg.location in body and others:
            dependent[binding.name] = others
    return dependent


def _swagger_param_schema(param: dict[str, Any]) -> dict[str, Any]:
    schema = {k: param[k] for k in _SWAGGER_SCHEMA_KEYS if k in param}
    if "x-example" in schema:
        schema["example"] = schema.pop("x-example")
    return schema


def _collection_format(param: dict[str, Any], location: str) -> tuple[str | None, bool | None]:
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


def openapi_to_integration(
    document: dict[str, Any],
    *,
    slug: str,
    name: str | None = None,
    source: SourceInfo,
    max_full_length: int = DEFAULT_MAX_FULL_LENGTH,
) -> Integration:
    """Compile a loaded OpenAPI/Swagger document into an `Integration`: one tool per operation.

    Raises SourceError for a document that cannot be compiled; problems confined to one
    operation or schema become `Integration.warnings` entries naming the operation.
    """
    try:
        name_budget(slug, max_full_length)
    except ValueError as exc:
        raise SourceError(f"{source.path or slug}: {exc}") from None
    with _gc_paused():
        return _Compiler(document, slug=slug, name=name, source=source, max_full_length=max_full_length).run()
