"""One tool per operation: walks the paths, asks each concern (servers, security, parameters, bodies, responses)
for its part, and names the tools and their arguments."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from mcphub.compiler.errors import SourceError
from mcphub.compiler.ir import (
    ArgBinding,
    ArgLocation,
    HttpBinding,
    Integration,
    JsonSchema,
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
    unique_names,
)
from mcphub.compiler.sources.openapi.bodies import Bodies
from mcphub.compiler.sources.openapi.common import Arg, Context, Operation, as_mapping, text_of, trim
from mcphub.compiler.sources.openapi.load import detect_format
from mcphub.compiler.sources.openapi.parameters import Parameters
from mcphub.compiler.sources.openapi.responses import Responses
from mcphub.compiler.sources.openapi.security import Security
from mcphub.compiler.sources.openapi.servers import Servers
from mcphub.compiler.wire_names import client_safe_schema

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Python names the generated function already uses for itself.
RESERVED_PYTHON_NAMES = frozenset({"call"})
# Beyond this many schema nodes a tool's input schema is cut in depth (a few huge APIs, e.g. DocuSign,
# would otherwise produce hundred-kilobyte schemas that no model can use and that slow every client).
MAX_SCHEMA_NODES = 1500
_TEMPLATE_VARIABLE = re.compile(r"\{([^{}]+)\}")
_NAMED = (ArgLocation.PATH, ArgLocation.QUERY, ArgLocation.HEADER, ArgLocation.COOKIE)


class _Compiler:
    def __init__(
        self,
        document: dict[str, Any],
        *,
        slug: str,
        name: str | None,
        source: SourceInfo,
        max_full_length: int,
        base_url_given: bool,
    ) -> None:
        dialect, self.format_label = detect_format(document, source.path or "document")
        self.ctx = Context(document, dialect)
        self.slug = slug
        self.name = name
        self.source = source
        self.max_full_length = max_full_length
        self.servers = Servers(self.ctx, overridden=base_url_given)
        self.security = Security(self.ctx)
        self.parameters = Parameters(self.ctx, self.security)
        self.bodies = Bodies(self.ctx)
        self.responses = Responses(self.ctx)

    def run(self) -> Integration:
        info = as_mapping(self.ctx.document.get("info"))
        self.security.read_schemes()
        base_url = self.servers.base_url()
        default_security = self.security.requirements(self.ctx.document.get("security"), "document") or []

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
            self.ctx.normalizer.where = operation.where
            tools.append(self._tool(operation, tool_name, base_url))
        self.ctx.normalizer.where = ""

        source = self.source
        if source.format is None:
            source = source.model_copy(update={"format": self.format_label})
        description = text_of(info.get("summary")) or text_of(info.get("description"))
        return Integration(
            slug=self.slug,
            name=self.name or text_of(info.get("title")) or self.slug,
            description=trim(description, 500),
            api_version=str(info["version"]) if info.get("version") is not None else None,
            source=source,
            base_url=base_url,
            server_variables=self.servers.variables,
            auth=self.security.auth_schemes(),
            default_security=default_security,
            tools=tools,
            warnings=self.ctx.warnings,
        )

    def _operations(self) -> Iterator[Operation]:
        paths = self.ctx.document.get("paths")
        if paths is None:
            self.ctx.warn("document", "no 'paths': the description defines no operations")
            return
        if not isinstance(paths, dict):
            raise SourceError(f"{self.source.path or 'document'}: 'paths' must be a mapping of path → operations")
        for path, raw_item in paths.items():
            item = self.ctx.normalizer.deref(raw_item)
            if not isinstance(item, dict):
                self.ctx.warn(f"paths.{path}", "path item is not a mapping; skipped")
                continue
            for method in item:
                if method not in HTTP_METHODS:
                    continue
                op = item[method]
                where = f"{method.upper()} {path}"
                if not isinstance(op, dict):
                    self.ctx.warn(where, "operation is not a mapping; skipped")
                    continue
                operation_id = op.get("operationId")
                operation_id = operation_id if isinstance(operation_id, str) and operation_id.strip() else None
                if operation_id:
                    where = f"{where} ({operation_id})"
                yield Operation(
                    method=method,
                    path=str(path),
                    op=op,
                    item=item,
                    raw_name=operation_name(operation_id, method, str(path)),
                    key=f"{method.upper()} {path}",
                    where=where,
                )

    def _tool(self, o: Operation, tool_name: str, base_url: str) -> Tool:
        op = o.op
        http = HttpBinding(method=o.method.upper(), path=o.path)
        self.parameters.collect(o)
        self.bodies.read(o, http)
        http.path = self._template(o, http)
        http.args, properties, required = self._bind(o)
        dependent = _body_dependencies(o, http.args)
        http.body_needs_one_of = _body_needs_one_of(o, http.args)
        http.security = self.security.requirements(op.get("security"), o.where)
        http.response_content_type, returns = self.responses.read(o)
        http.server_url = self.servers.operation_server(o, base_url)

        schema: JsonSchema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        if dependent:
            schema["dependentRequired"] = dependent
        # o.deps over-approximates (a root body unwrapped from $defs stays listed); the walk is exact.
        deps = self.ctx.normalizer.dependencies(properties) if o.deps else set()
        if deps:
            schema["$defs"] = self.ctx.normalizer.definitions(deps)
        size = self.ctx.normalizer.size(properties) + sum(
            self.ctx.normalizer.size(d) for d in schema.get("$defs", {}).values()
        )
        if size > MAX_SCHEMA_NODES:
            schema, depth = self.ctx.normalizer.compact(schema, MAX_SCHEMA_NODES)
            self.ctx.warn(
                o.where, f"input schema of {size} nodes cut to nesting depth {depth} to stay under {MAX_SCHEMA_NODES}"
            )

        # Names below the top level made client-safe too, with the map back to the wire on each binding.
        schema, wire_maps, http.wire_defs = client_safe_schema(schema)
        if wire_maps:
            for binding in http.args:
                binding.wire_names = wire_maps.get(binding.name)
            self.ctx.warn(o.where, f"nested property names renamed to client-safe ones under {', '.join(wire_maps)}")

        method = o.method.upper()
        deprecated = op.get("deprecated") is True
        summary = text_of(op.get("summary"))
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
            source_ref=text_of(op.get("operationId")) or o.key,
            tags=tags,
            http=http,
        )

    def _template(self, o: Operation, http: HttpBinding) -> str:
        """The path template the runtime fills in: a fragment dropped, a query string made query parameters, and an
        undeclared path variable made a required string argument (each with a warning, except AWS's `#X-Amz-Target`
        fragments, which only tell operations on one path apart and never reach the wire)."""
        path, _, fragment = o.path.partition("#")
        path, _, query = path.partition("?")
        if fragment and not fragment.startswith("X-Amz-Target="):
            self.ctx.warn(o.where, f"the path template ends in a fragment (#{fragment}), which is never sent; left out")
        if query:
            moved = []
            for pair in query.split("&"):
                name, _, value = pair.partition("=")
                if not name:
                    continue
                named = _TEMPLATE_VARIABLE.fullmatch(name)
                if named is not None:  # `?{search}=1`: the parameter is named after the variable, `1` an example
                    name, value = named.group(1), name
                variable = _TEMPLATE_VARIABLE.fullmatch(value)
                if variable is None:
                    http.fixed.setdefault(ArgLocation.QUERY, {})[unquote(name)] = unquote(value)
                    moved.append(f"{name}={value} always")
                    continue
                arg = next((a for a in o.args if a.wire_name == variable.group(1) and a.location in _NAMED), None)
                if arg is None:
                    o.args.append(Arg(ArgLocation.QUERY, unquote(name), {"type": "string"}, True, "query"))
                    moved.append(f"{name} from a new required argument")
                elif arg.location is not ArgLocation.QUERY or arg.wire_name != name:
                    arg.location, arg.wire_name, arg.prefix = ArgLocation.QUERY, unquote(name), "query"
                    arg.style, arg.explode = None, None
                    moved.append(f"{name} from argument {variable.group(1)!r}")
            self.ctx.warn(
                o.where,
                f"the path template holds a query string (?{query}), which the runtime does not read from a path; "
                f"sent as query parameters instead: {', '.join(moved) or 'nothing'}",
            )
        declared = {a.wire_name for a in o.args if a.location is ArgLocation.PATH}
        for variable in dict.fromkeys(_TEMPLATE_VARIABLE.findall(path)):
            if variable not in declared:
                o.args.append(Arg(ArgLocation.PATH, variable, {"type": "string"}, True, "path"))
                self.ctx.warn(
                    o.where,
                    f"path variable {{{variable}}} is not declared as a path parameter; the tool takes it as a "
                    f"required string argument {variable!r} (declare it in the description to give it a type)",
                )
        return path or "/"

    def _description(self, o: Operation, summary: str, deprecated: bool, returns: str) -> str:
        body = text_of(o.op.get("description"))
        parts = []
        if deprecated:
            parts.append("Deprecated: the API marks this operation as deprecated and may remove it.")
        if summary and not body.startswith(summary.rstrip(".")):
            parts.append(summary if summary.endswith((".", "!", "?")) else summary + ".")
        if body:
            parts.append(trim(body))
        if not summary and not body:
            parts.append(f"{o.method.upper()} {o.path}.")
        parts.extend(trim(note, 600) for note in o.notes)
        if returns:
            parts.append(returns)
        docs = o.op.get("externalDocs")
        if isinstance(docs, dict) and text_of(docs.get("url")):
            parts.append(f"Docs: {text_of(docs.get('url'))}")
        return "\n\n".join(parts)

    def _bind(self, o: Operation) -> tuple[list[ArgBinding], dict[str, JsonSchema], list[str]]:
        bindings: list[ArgBinding] = []
        properties: dict[str, JsonSchema] = {}
        required: list[str] = []
        taken_python: set[str] = set(RESERVED_PYTHON_NAMES)
        for arg in o.args:
            name = "body" if arg.location is ArgLocation.BODY_ROOT else safe_property_name(arg.wire_name)
            if name in properties:
                clash = name
                name = safe_property_name(f"{arg.prefix}_{name}", properties)
                self.ctx.warn(
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
                    xml=arg.xml,
                )
            )
        return bindings, properties, required


def openapi_to_integration(
    document: dict[str, Any],
    *,
    slug: str,
    name: str | None = None,
    source: SourceInfo,
    max_full_length: int = DEFAULT_MAX_FULL_LENGTH,
    base_url_given: bool = False,
) -> Integration:
    """Compile a loaded OpenAPI/Swagger document into an `Integration`: one tool per operation.

    `base_url_given`: the hub spec sets its own base URL, so what the description's servers lack is no warning.

    Raises SourceError for a document that cannot be compiled; problems confined to one
    operation or schema become `Integration.warnings` entries naming the operation.
    """
    try:
        name_budget(slug, max_full_length)
    except ValueError as exc:
        raise SourceError(f"{source.path or slug}: {exc}") from None
    return _Compiler(
        document,
        slug=slug,
        name=name,
        source=source,
        max_full_length=max_full_length,
        base_url_given=base_url_given,
    ).run()


def _body_needs_one_of(o: Operation, bindings: list[ArgBinding]) -> list[str]:
    """The arguments of a body that must not be empty (`minProperties: 1`, nothing required): one must be given.

    The runtime refuses a call giving none of them before anything is sent (`HttpBinding.body_needs_one_of`), and
    the description says so (JSON Schema could only with a root `anyOf`, which clients refuse).
    """
    if not o.body_needs_one:
        return []
    body = (ArgLocation.BODY, ArgLocation.FORM, ArgLocation.MULTIPART)
    names = [binding.name for arg, binding in zip(o.args, bindings, strict=True) if arg.location in body]
    if names:
        listed = ", ".join(f"`{name}`" for name in names)
        o.notes.append(f"Give at least one of {listed}: the request body cannot be empty.")
    return names


def _body_dependencies(o: Operation, bindings: list[ArgBinding]) -> dict[str, list[str]]:
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
