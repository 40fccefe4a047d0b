"""Routes of Express, Fastify and NestJS applications, read statically with tree-sitter (the code is never run).

What is understood, each operation recording the `file:line` it was declared at:

- **Express**: `express()` apps and `express.Router()` / `Router()` routers; `app.get('/users/:id', …)` and the
  other methods, `router.route('/book').get(…).post(…)`, `app.use('/prefix', router)` with the router a variable
  or a module of the tree (`require('./routes/users')`, `import users from './routes/users'`, exported as
  `module.exports = router` or `export default router`); handlers are read for `req.query.x`, `req.body.x`,
  `req.get('x')` and `const { x } = req.query` — inline, functions of the file, or functions of another file of
  the tree (`users.list` of `require('./controllers/users')`, `const { list } = require(…)`, `import { list }`,
  a default export, `import * as users`; exported as `exports.list = …`, `module.exports = { list }`,
  `export function list` / `export const list = …`).
- **Fastify**: instances from `fastify()` / `Fastify()` / `require('fastify')()`, `fastify.get(url, [options],
  handler)`, `fastify.route({method, url, schema})`, plugins registered with `register(plugin, {prefix})` — inline,
  local, or modules exporting `async function (fastify, opts)` (also wrapped in `fastify-plugin`). A route's
  `schema` written as a literal (or a `const` of the same file) gives its querystring, params, body and response.
- **NestJS**: `@Controller('cats')` classes with `@Get(':id')`-style methods, `@Param('id')`, `@Query('x')` and
  `@Body()` parameters, and `app.setGlobalPrefix('api')`. The parameters' TypeScript types (`@Body() dto:
  CreateCatDto`, `@Param('id', ParseIntPipe) id: number`, a `@Query()` DTO) give the schemas of the body and the
  parameters: classes, interfaces and type aliases of the same file or imported from the tree (`ts_types.py`).

Path parameters `:id` become `{id}` (`:id(\\d+)` keeps its pattern, `:id?` is reported); what cannot be resolved
statically (a computed path, a router from outside the tree) is a warning naming its place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tree_sitter
import tree_sitter_javascript
import tree_sitter_typescript

from mcphub.compiler.sources.python_routes import RouteScan
from mcphub.compiler.sources.ts_types import DECLARATIONS, TypeResolver, decorator_name, type_schema

__all__ = ["FRAMEWORK_NAMES", "scan_js_routes"]

MAX_FILES = 5_000
MAX_FILE_BYTES = 1024 * 1024
_SUFFIXES = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx")
_SKIPPED_DIRS = {
    "node_modules",
    "dist",
    "build",
    "coverage",
    "vendor",
    "bower_components",
    "__tests__",
    "test",
    "tests",
}
_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}
_NEST_METHODS = {"Get": "get", "Post": "post", "Put": "put", "Patch": "patch", "Delete": "delete", "Head": "head",
                 "Options": "options"}  # fmt: skip
_LANGUAGES: dict[str, tree_sitter.Language] = {}
FRAMEWORK_NAMES = {"express": "Express", "fastify": "Fastify", "nestjs": "NestJS"}
# NestJS parameter decorators whose TypeScript type describes part of the request, by the route-schema key it fills.
_NEST_SCHEMA_PARTS = {"Param": "params", "Query": "querystring", "Headers": "headers", "Body": "body"}


def _language(suffix: str) -> tree_sitter.Language:
    key = "tsx" if suffix == ".tsx" else "ts" if suffix in (".ts", ".mts", ".cts") else "js"
    if key not in _LANGUAGES:
        raw = {
            "js": tree_sitter_javascript.language,
            "ts": tree_sitter_typescript.language_typescript,
            "tsx": tree_sitter_typescript.language_tsx,
        }[key]()
        _LANGUAGES[key] = tree_sitter.Language(raw)
    return _LANGUAGES[key]


@dataclass(eq=False)
class _Container:
    """An Express app or router, a Fastify instance (or plugin's instance), or a NestJS controller."""

    framework: str
    where: str
    root: bool = False  # an app / a top-level instance: its routes are served at its own paths
    prefix: str = ""
    mounts: list[tuple[_Container, str]] = field(default_factory=list)  # (parent, prefix under it)


@dataclass
class _Route:
    container: _Container
    method: str
    path: str
    where: str
    name: str | None  # the handler's name, when it has one
    schema: dict[str, Any] = field(default_factory=dict)  # Fastify's route schema, evaluated
    query: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    body_whole: bool = False
    # TypeScript types of NestJS parameters: (where: params/querystring/headers/body, the name or None for the
    # whole object, the type annotation), turned into `schema` once every file has been read (imports resolved).
    typed: list[tuple[str, str | None, tree_sitter.Node]] = field(default_factory=list)
    module: _Module | None = None


@dataclass
class _Module:
    path: Path
    relative: str
    source: bytes
    tree: tree_sitter.Tree
    export: _Container | None = None
    export_plugin: tuple[tree_sitter.Node, str] | None = None  # an exported Fastify plugin function, unvisited
    functions: dict[str, tree_sitter.Node] = field(default_factory=dict)
    constants: dict[str, tree_sitter.Node] = field(default_factory=dict)
    plugins: set[str] = field(default_factory=set)  # local functions registered or exported as Fastify plugins
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> "express-app" / "express-router" / …
    imports: dict[str, str] = field(default_factory=dict)  # local name -> the module specifier it came from
    types: dict[str, tree_sitter.Node] = field(default_factory=dict)  # classes, interfaces, type aliases by name
    # What the module exports by name ("default" for the default export): handlers other files route to.
    exported: dict[str, tree_sitter.Node] = field(default_factory=dict)


def scan_js_routes(root: Path, *, title: str = "API") -> RouteScan:
    """Read every JavaScript/TypeScript file under `root` and describe the Express, Fastify and NestJS routes."""
    scanner = _Scanner(root)
    for path in _files(root, scanner.warnings):
        scanner.parse(path)
    return scanner.run(title)


def _files(root: Path, warnings: list[str]) -> Iterable[Path]:
    count = 0
    for path in sorted(root.rglob("*")):
        if path.suffix not in _SUFFIXES or path.name.endswith(".d.ts"):
            continue
        relative = path.relative_to(root)
        if any(part.startswith(".") or part in _SKIPPED_DIRS for part in relative.parts[:-1]):
            continue
        if path.is_symlink() or not path.is_file() or ".test." in path.name or ".spec." in path.name:
            continue
        count += 1
        if count > MAX_FILES:
            warnings.append(f"{root}: more than {MAX_FILES:,} JavaScript/TypeScript files; the rest were not read")
            return
        if path.stat().st_size > MAX_FILE_BYTES:
            warnings.append(f"{relative}: over 1 MiB, not read")
            continue
        yield path


def _text(node: tree_sitter.Node | None) -> str:
    return "" if node is None or node.text is None else node.text.decode("utf-8", errors="replace")


def _string(node: tree_sitter.Node | None) -> str | None:
    """The value of a string literal (or a template without substitutions), else None."""
    if node is None:
        return None
    if node.type == "string":
        return "".join(_text(c) for c in node.named_children if c.type in ("string_fragment", "escape_sequence"))
    if node.type == "template_string" and not any(c.type == "template_substitution" for c in node.named_children):
        return _text(node)[1:-1]
    return None


def _args(call: tree_sitter.Node) -> list[tree_sitter.Node]:
    arguments = call.child_by_field_name("arguments")
    return [] if arguments is None else [a for a in arguments.named_children if a.type != "comment"]


def _member(node: tree_sitter.Node | None) -> tuple[tree_sitter.Node, str] | None:
    """(object, property) of `object.property`."""
    if node is None or node.type != "member_expression":
        return None
    obj, prop = node.child_by_field_name("object"), node.child_by_field_name("property")
    if obj is None or prop is None:
        return None
    return obj, _text(prop)


def _is_function(node: tree_sitter.Node | None) -> bool:
    return node is not None and node.type in (
        "arrow_function",
        "function_expression",
        "function",
        "function_declaration",
        "generator_function_declaration",
    )


def _parameters(function: tree_sitter.Node) -> list[str]:
    single = function.child_by_field_name("parameter")
    if single is not None:
        return [_text(single)]
    parameters = function.child_by_field_name("parameters")
    names = []
    for parameter in [] if parameters is None else parameters.named_children:
        pattern = parameter.child_by_field_name("pattern") or parameter.child_by_field_name("left") or parameter
        names.append(_text(pattern) if pattern.type == "identifier" else "")
    return names


def _snake(name: str) -> str:
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return re.sub(r"[^a-zA-Z0-9]+", "_", name).strip("_").lower()


def _join(prefix: str, path: str) -> str:
    if path in ("", "/"):
        return prefix or "/"
    return prefix.rstrip("/") + "/" + path.lstrip("/")


_PARAM = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)(\([^)]*\))?(\?)?")


class _Scanner:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.warnings: list[str] = []
        self.modules: dict[Path, _Module] = {}
        self.routes: list[_Route] = []
        self.containers: list[_Container] = []
        self.global_prefix = ""
        self.pending: list[tuple[_Container, str, tree_sitter.Node, _Module, str]] = []  # (parent, prefix, ref,…)

    # --- parsing --------------------------------------------------------------------------------------------------

    def parse(self, path: Path) -> None:
        source = path.read_bytes()
        tree = tree_sitter.Parser(_language(path.suffix)).parse(source)
        relative = path.relative_to(self.root).as_posix()
        module = _Module(path, relative, source, tree)
        for child in tree.root_node.named_children:
            node = child.child_by_field_name("declaration") if child.type == "export_statement" else child
            if node is not None and node.type in ("function_declaration", "generator_function_declaration"):
                module.functions[_text(node.child_by_field_name("name"))] = node
            if node is not None and node.type in DECLARATIONS:
                module.types[_text(node.child_by_field_name("name"))] = node
            if node is not None and node.type in ("lexical_declaration", "variable_declaration"):
                for declarator in node.named_children:
                    name, value = declarator.child_by_field_name("name"), declarator.child_by_field_name("value")
                    if name is not None and value is not None and name.type == "identifier":
                        module.constants[_text(name)] = value
        stack = [tree.root_node]
        while stack:  # names given to register() or exported: those functions are plugins, walked as such
            node = stack.pop()
            stack.extend(node.named_children)
            if node.type == "call_expression":
                member = _member(node.child_by_field_name("function"))
                args = _args(node)
                if member and member[1] == "register" and args and args[0].type == "identifier":
                    module.plugins.add(_text(args[0]))
            elif node.type == "assignment_expression" and _text(node.child_by_field_name("left")) == "module.exports":
                module.plugins.add(_text(node.child_by_field_name("right")))
                _remember_exports(module, node)
            elif node.type == "assignment_expression":
                _remember_exports(module, node)
            elif node.type == "export_statement" and any(c.type == "default" for c in node.children):
                module.plugins.add(_text(node.child_by_field_name("value")))
                value = node.child_by_field_name("value") or node.child_by_field_name("declaration")
                if value is not None:
                    module.exported["default"] = value
            elif node.type == "export_statement":
                declaration = node.child_by_field_name("declaration")
                if declaration is not None:
                    for exported in _declared_names(declaration):
                        found = module.functions.get(exported) or module.constants.get(exported)
                        module.exported[exported] = found or declaration
        module.plugins &= set(module.functions)
        self.modules[path] = module

    def run(self, title: str) -> RouteScan:
        for module in self.modules.values():
            _Walk(self, module).visit(module.tree.root_node, {})
        for parent, prefix, reference, module, where in self.pending:
            child = self._resolve_mount(reference, module, where)
            if child is not None:
                child.mounts.append((parent, prefix))
        return self._document(title)

    def where(self, module: _Module, node: tree_sitter.Node) -> str:
        return f"{module.relative}:{node.start_point[0] + 1}"

    def resolve_import(self, module: _Module, specifier: str) -> _Module | None:
        if not specifier.startswith("."):
            return None
        base = (module.path.parent / specifier).resolve()
        candidates = [base, *(base.with_name(base.name + s) for s in _SUFFIXES)]
        candidates += [base / f"index{s}" for s in _SUFFIXES]
        if base.suffix == ".js":  # TypeScript imports name the compiled file
            candidates += [base.with_suffix(s) for s in (".ts", ".tsx")]
        for candidate in candidates:
            if candidate in self.modules:
                return self.modules[candidate]
        return None

    def module_export(self, target: _Module) -> _Container | None:
        if target.export is None and target.export_plugin is not None:
            function, where = target.export_plugin
            target.export_plugin = None
            target.export = self.plugin(function, target, where)
        return target.export

    def plugin(self, function: tree_sitter.Node, module: _Module, where: str) -> _Container:
        """A Fastify plugin function: its first parameter is an instance, visited now."""
        container = _Container("fastify", where)
        self.containers.append(container)
        names = _parameters(function)
        body = function.child_by_field_name("body")
        if names and names[0] and body is not None:
            _Walk(self, module).visit(body, {names[0]: container})
        return container

    def _resolve_mount(self, reference: tree_sitter.Node, module: _Module, where: str) -> _Container | None:
        walk = _Walk(self, module)
        target = walk.imported_module(reference)
        if target is not None:
            export = self.module_export(target)
            if export is None:
                self.warnings.append(f"{where}: {target.relative} exports no router or plugin that was recognised")
            return export
        return None

    # --- the document ---------------------------------------------------------------------------------------------

    def prefixes(self, container: _Container, seen: frozenset[int] = frozenset()) -> list[str]:
        if id(container) in seen:
            return []
        if not container.mounts:
            if not container.root and container.framework != "nestjs":
                self.warnings.append(
                    f"{container.where}: a {FRAMEWORK_NAMES[container.framework]} "
                    f"{'router' if container.framework == 'express' else 'plugin'} that is never mounted where it "
                    "could be followed; its routes are read from /"
                )
                container.root = True  # warn once
            base = self.global_prefix if container.framework == "nestjs" else ""
            return [_join(base, container.prefix) if container.prefix else base]
        found: list[str] = []
        for parent, prefix in container.mounts:
            for above in self.prefixes(parent, seen | {id(container)}):
                found.append(
                    _join(_join(above, prefix), container.prefix) if container.prefix else _join(above, prefix)
                )
        return found

    def _document(self, title: str) -> RouteScan:
        scan = RouteScan({"openapi": "3.0.3", "info": {"title": title, "version": "from source"}, "paths": {}})
        scan.warnings = self.warnings
        used_ids: set[str] = set()
        for route in self.routes:
            self._typed(route)
        for route in self.routes:
            scan.frameworks.add(route.container.framework)
            for prefix in self.prefixes(route.container) or [""]:
                full = _join(prefix, route.path) if prefix else route.path or "/"
                converted = self._path(full, route)
                if converted is None:
                    continue
                path, patterns = converted
                methods = scan.document["paths"].setdefault(path, {})
                if route.method in methods:
                    self.warnings.append(
                        f"{route.where}: {route.method.upper()} {path} is declared twice; kept the first"
                    )
                    continue
                methods[route.method] = self._operation(route, path, patterns, used_ids)
        scan.document["paths"] = {p: item for p, item in scan.document["paths"].items() if item}
        return scan

    def type_resolver(self, module: _Module) -> TypeResolver:
        """Finds a type name as `module` sees it: declared there, else imported from a file of the tree."""

        def resolve(name: str) -> tuple[tree_sitter.Node, TypeResolver] | None:
            if name in module.types:
                return module.types[name], resolve
            specifier = module.imports.get(name)
            target = self.resolve_import(module, specifier) if specifier else None
            if target is not None and name in target.types:
                return target.types[name], self.type_resolver(target)
            return None

        return resolve

    def _typed(self, route: _Route) -> None:
        """NestJS parameters' TypeScript types → the route's schema, in Fastify's shape (params, querystring, …)."""
        if route.module is None:
            return
        resolve = self.type_resolver(route.module)
        for where, name, annotation in route.typed:
            value = type_schema(annotation, resolve)
            if name is None:  # `@Body() dto: CreateCatDto`, `@Query() filter: ListDto`: the whole object
                if value.get("properties") or value.get("type") not in (None, "object"):
                    route.schema[where] = value
                continue
            if value:
                part = route.schema.setdefault(where, {"type": "object"})
                part.setdefault("properties", {}).setdefault(name, value)  # a ParseIntPipe's integer stays
                optional = annotation.parent is not None and annotation.parent.type == "optional_parameter"
                if where == "body" and not optional:  # a query parameter is never required by its type alone
                    part.setdefault("required", []).append(name)

    def _path(self, path: str, route: _Route) -> tuple[str, dict[str, str]] | None:
        if "*" in path or "(" in _PARAM.sub("", path):
            self.warnings.append(
                f"{route.where}: {route.method.upper()} {path}: a wildcard or regular expression path; left out"
            )
            return None
        patterns: dict[str, str] = {}

        def replace(match: re.Match[str]) -> str:
            name, pattern, optional = match.groups()
            if pattern:
                patterns[name] = "^" + pattern[1:-1].replace("\\\\", "\\") + "$"
            if optional:
                self.warnings.append(
                    f"{route.where}: {route.method.upper()} {path}: the optional parameter :{name}? is made required"
                )
            return "{" + name + "}"

        converted = _PARAM.sub(replace, path)
        if not converted.startswith("/"):
            converted = "/" + converted
        return (converted.rstrip("/") or "/") if converted != "/" else "/", patterns

    def _operation(self, route: _Route, path: str, patterns: dict[str, str], used: set[str]) -> dict[str, Any]:
        if route.name:
            base = _snake(route.name)
        else:
            words = [
                f"by_{segment[1:-1]}" if segment.startswith("{") else segment
                for segment in path.strip("/").split("/")
                if segment
            ]
            base = _snake("_".join([route.method, *words]) if words else f"{route.method}_root")
        operation_id, number = base, 2
        while operation_id in used:
            operation_id, number = f"{base}_{number}", number + 1
        used.add(operation_id)
        operation: dict[str, Any] = {
            "operationId": operation_id,
            "summary": operation_id.replace("_", " ").capitalize(),
            "x-mcphub-source": route.where,
        }
        schema = route.schema
        if isinstance(schema.get("summary"), str):
            operation["summary"] = schema["summary"]
        if isinstance(schema.get("description"), str):
            operation["description"] = schema["description"]
        if isinstance(schema.get("tags"), list):
            operation["tags"] = [str(t) for t in schema["tags"]]
        parameters: list[dict[str, Any]] = []
        declared_params = _properties(schema.get("params"))
        for name in re.findall(r"\{([^}]+)\}", path):
            value = declared_params.get(name) or {"type": "string"}
            if name in patterns and "pattern" not in value:
                value = {**value, "pattern": patterns[name]}
            parameters.append({"name": name, "in": "path", "required": True, "schema": value})
        query = _properties(schema.get("querystring") or schema.get("query"))
        required = set(_required(schema.get("querystring") or schema.get("query")))
        for name in route.query:
            query.setdefault(name, {"type": "string"})
        for name, value in query.items():
            parameters.append({"name": name, "in": "query", "required": name in required, "schema": value})
        headers = _properties(schema.get("headers"))
        for name in route.headers:
            headers.setdefault(name, {"type": "string"})
        header_required = set(_required(schema.get("headers")))
        for name, value in headers.items():
            parameters.append({"name": name, "in": "header", "required": name in header_required, "schema": value})
        if parameters:
            operation["parameters"] = parameters
        body = schema.get("body")
        if isinstance(body, dict) and body:
            if "type" not in body and "properties" not in body and "$ref" not in body:
                body = {"type": "object", "properties": body}
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        elif route.body or route.body_whole:
            properties: dict[str, Any] = {name: {} for name in route.body}
            body_schema: dict[str, Any] = {"type": "object"}
            if properties:
                body_schema["properties"] = properties
            operation["requestBody"] = {"content": {"application/json": {"schema": body_schema}}}
        operation["responses"] = _responses(schema.get("response"))
        return operation


def _properties(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    if isinstance(schema.get("properties"), dict):
        return {str(k): v if isinstance(v, dict) else {} for k, v in schema["properties"].items()}
    if "type" in schema or "$ref" in schema:
        return {}
    return {str(k): v for k, v in schema.items() if isinstance(v, dict)}  # Fastify's shorthand


def _required(schema: Any) -> list[str]:
    return [str(n) for n in schema.get("required", [])] if isinstance(schema, dict) else []


def _responses(response: Any) -> dict[str, Any]:
    if not isinstance(response, dict) or not response:
        return {"200": {"description": "Success"}}
    out: dict[str, Any] = {}
    for status, schema in response.items():
        code = str(status).upper()
        if not re.fullmatch(r"[1-5](\d\d|XX)|default", code):
            continue
        entry: dict[str, Any] = {"description": "Success" if code.startswith("2") else "Response"}
        if isinstance(schema, dict) and schema:
            if "type" not in schema and "properties" not in schema and "$ref" not in schema:
                schema = {"type": "object", "properties": schema}
            entry["content"] = {"application/json": {"schema": schema}}
        out[code] = entry
    return out or {"200": {"description": "Success"}}


Scope = dict[str, _Container]


class _Walk:
    """One pass over a module (or a plugin's body): containers, routes, mounts."""

    def __init__(self, scanner: _Scanner, module: _Module) -> None:
        self.scanner = scanner
        self.module = module

    # names ---------------------------------------------------------------------------------------------------------

    def container_of(self, node: tree_sitter.Node | None, scope: Scope) -> tuple[_Container, str] | None:
        """The container an expression evaluates to, and the path of a `route('/x')` chain."""
        if node is None:
            return None
        if node.type == "identifier":
            found = scope.get(_text(node))
            return (found, "") if found is not None else None
        if node.type in ("this",):
            return None
        if node.type == "call_expression":
            member = _member(node.child_by_field_name("function"))
            if member is None:
                return None
            owner = self.container_of(member[0], scope)
            if owner is None:
                return None
            container, path = owner
            if member[1] == "route" and container.framework == "express":
                args = _args(node)
                route_path = _string(args[0]) if args else None
                return (container, route_path) if route_path is not None else None
            if member[1] in _METHODS or member[1] in ("use", "register", "all", "addHook", "decorate"):
                return container, path  # chaining returns the same app, router or instance
        return None

    def factory(self, node: tree_sitter.Node | None, scope: Scope) -> str | None:
        """'express-app', 'express-router' or 'fastify' when `node` makes one."""
        if node is None:
            return None
        if node.type == "await_expression" and node.named_children:
            return self.factory(node.named_children[0], scope)
        if node.type == "new_expression":
            return None
        if node.type != "call_expression":
            return None
        function = node.child_by_field_name("function")
        if function is None:
            return None
        name = _text(function)
        if function.type == "call_expression":  # require('fastify')(…), require('express')()
            required = self.required(function)
            if required is not None:
                if required.rstrip("/").endswith("fastify"):
                    return "fastify"
                if required == "express":
                    return "express-app"
            return None
        aliases = self.aliases
        if function.type == "identifier":
            kind = aliases.get(name)
            if kind is not None:
                return kind
            if name in ("express",):
                return "express-app"
            if name in ("fastify", "Fastify"):
                return "fastify"
            if name == "Router":
                return "express-router"
        member = _member(function)
        if member is not None and member[1] == "Router" and _text(member[0]) in ("express", *aliases):
            return "express-router"
        if member is not None and member[1] == "Router" and member[0].type == "call_expression":
            required = self.required(member[0])
            if required == "express":
                return "express-router"
        return None

    @property
    def aliases(self) -> dict[str, str]:
        return self.module.aliases

    def required(self, node: tree_sitter.Node | None) -> str | None:
        """The specifier of `require('x')`."""
        if node is None or node.type != "call_expression" or _text(node.child_by_field_name("function")) != "require":
            return None
        args = _args(node)
        return _string(args[0]) if args else None

    def imported_module(self, node: tree_sitter.Node) -> _Module | None:
        """The module of the tree an expression names: `require('./x')`, an imported or required identifier."""
        specifier = self.required(node)
        if specifier is None and node.type == "identifier":
            specifier = self.module.imports.get(_text(node))
        if specifier is None and node.type == "await_expression" and node.named_children:
            return self.imported_module(node.named_children[0])
        if specifier is None and node.type == "call_expression":  # import('./x') or fp(require('./x'))
            args = _args(node)
            if _text(node.child_by_field_name("function")) == "import" and args:
                specifier = _string(args[0])
            elif len(args) >= 1:
                return self.imported_module(args[0])
        if specifier is None:
            return None
        return self.scanner.resolve_import(self.module, specifier)

    def remember_import(self, name: str, specifier: str) -> None:
        self.module.imports[name] = specifier
        if specifier == "express":
            self.aliases[name] = "express-app"
        elif specifier.rstrip("/").endswith("fastify"):
            self.aliases[name] = "fastify"

    # the walk ------------------------------------------------------------------------------------------------------

    def visit(self, node: tree_sitter.Node, scope: Scope) -> None:
        stack: list[tuple[tree_sitter.Node, Scope]] = [(node, scope)]
        while stack:
            current, current_scope = stack.pop()
            if self.handle(current, current_scope):
                continue
            stack.extend((child, current_scope) for child in reversed(current.named_children))

    def handle(self, node: tree_sitter.Node, scope: Scope) -> bool:
        """Act on one node; True when its children need no further walk."""
        kind = node.type
        if kind == "import_statement":
            self.import_statement(node)
            return True
        if kind == "variable_declarator":
            self.declarator(node, scope)
            return False
        if kind == "assignment_expression":
            return self.assignment(node, scope)
        if kind == "export_statement":
            value = node.child_by_field_name("value")
            if value is not None and any(c.type == "default" for c in node.children):
                self.export(value, scope)
            declaration = node.child_by_field_name("declaration")
            if (
                declaration is not None
                and any(c.type == "default" for c in node.children)
                and _is_function(declaration)
            ):
                self.export(declaration, scope)
                return True
            return False
        if kind in ("function_declaration", "generator_function_declaration"):
            return _text(node.child_by_field_name("name")) in self.module.plugins  # walked as a plugin instead
        if kind == "class_declaration" or kind == "abstract_class_declaration":
            self.nest_controller(node)
            return False
        if kind == "call_expression":
            return self.call(node, scope)
        return False

    def import_statement(self, node: tree_sitter.Node) -> None:
        specifier = _string(node.child_by_field_name("source"))
        if specifier is None:
            return
        for clause in node.named_children:
            if clause.type != "import_clause":
                continue
            for part in clause.named_children:
                if part.type == "identifier":
                    self.remember_import(_text(part), specifier)
                elif part.type == "named_imports":
                    for spec in part.named_children:
                        name = spec.child_by_field_name("alias") or spec.child_by_field_name("name")
                        original = _text(spec.child_by_field_name("name"))
                        if specifier == "express" and original == "Router":
                            self.aliases[_text(name)] = "express-router"
                        elif specifier.rstrip("/").endswith("fastify") and original in ("fastify", "default"):
                            self.aliases[_text(name)] = "fastify"
                        elif name is not None:
                            self.remember_import(_text(name), specifier)
                elif part.type == "namespace_import":
                    for ident in part.named_children:
                        self.remember_import(_text(ident), specifier)

    def declarator(self, node: tree_sitter.Node, scope: Scope) -> None:
        name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
        if name is None or value is None:
            return
        if name.type == "object_pattern":  # const { Router } = require('express'), const { list } = require('./users')
            specifier = self.required(value)
            if specifier == "express":
                for part in name.named_children:
                    if _text(part) == "Router":
                        self.aliases["Router"] = "express-router"
            elif specifier is not None and specifier.startswith("."):
                for part in name.named_children:
                    if part.type == "shorthand_property_identifier_pattern":
                        self.module.imports[_text(part)] = specifier
            return
        if name.type != "identifier":
            return
        variable = _text(name)
        specifier = self.required(value)
        if specifier is not None:
            self.remember_import(variable, specifier)
            return
        made = self.factory(value, scope)
        if made is not None:
            framework = "fastify" if made == "fastify" else "express"
            container = _Container(framework, self.scanner.where(self.module, node), root=made != "express-router")
            self.scanner.containers.append(container)
            scope[variable] = container
            return
        chained = self.container_of(value, scope)
        if chained is not None and not chained[1]:
            scope[variable] = chained[0]

    def assignment(self, node: tree_sitter.Node, scope: Scope) -> bool:
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if _text(left) in ("module.exports", "exports.default") and right is not None:
            self.export(right, scope)
            return right.type != "identifier"  # an exported function is walked as a plugin
        return False

    def export(self, value: tree_sitter.Node, scope: Scope) -> None:
        where = self.scanner.where(self.module, value)
        if value.type == "identifier":
            found = scope.get(_text(value))
            if found is not None:
                self.module.export = found
                return
            function = self.module.functions.get(_text(value)) or self.module.constants.get(_text(value))
            if function is not None and _is_function(function):
                self.module.export_plugin = (function, where)
            return
        if value.type == "call_expression" and not _is_function(value):  # fp(async function (fastify) {…})
            args = _args(value)
            if args and _is_function(args[0]):
                self.module.export_plugin = (args[0], where)
            return
        if _is_function(value):
            self.module.export_plugin = (value, where)

    def call(self, node: tree_sitter.Node, scope: Scope) -> bool:
        function = node.child_by_field_name("function")
        member = _member(function)
        if member is None:
            return False
        owner = self.container_of(member[0], scope)
        method = member[1]
        if owner is None:
            if method == "setGlobalPrefix":
                args = _args(node)
                prefix = _string(args[0]) if args else None
                if prefix is not None:
                    self.scanner.global_prefix = "/" + prefix.strip("/")
            return False
        container, chain_path = owner
        args = _args(node)
        prop = function.child_by_field_name("property") if function is not None else None
        where = self.scanner.where(self.module, prop or node)  # a chain's line is the method's, not the chain's
        if method in _METHODS or (method == "all" and container.framework == "express"):
            if method == "all":
                self.scanner.warnings.append(f"{where}: {method}() answers every method; left out")
                return False
            self.route(container, method, node, args, chain_path, where, scope)
            return False
        if method == "route" and container.framework == "fastify" and args and args[0].type == "object":
            options = self.literal(args[0])
            methods = options.get("method") if isinstance(options, dict) else None
            url = options.get("url") or options.get("path") if isinstance(options, dict) else None
            for one in [methods] if isinstance(methods, str) else methods if isinstance(methods, list) else []:
                if isinstance(one, str) and one.lower() in _METHODS and isinstance(url, str):
                    handler = _pair(args[0], "handler")
                    self.add_route(container, one.lower(), url, where, handler, options.get("schema"))
            return False
        if method == "use" and container.framework == "express":
            self.mount(container, args, where, scope)
            return False
        if method == "register" and container.framework == "fastify" and args:
            options = self.literal(args[1]) if len(args) > 1 else None
            prefix = options.get("prefix", "") if isinstance(options, dict) else ""
            plugin = args[0]
            if plugin.type == "call_expression" and not self.required(plugin):  # fp(fn)
                inner = _args(plugin)
                plugin = inner[0] if inner and _is_function(inner[0]) else plugin
            if _is_function(plugin):
                child = self.scanner.plugin(plugin, self.module, where)
                child.mounts.append((container, str(prefix)))
                return True
            local = self.module.functions.get(_text(plugin)) if plugin.type == "identifier" else None
            if local is not None:
                child = self.scanner.plugin(local, self.module, where)
                child.mounts.append((container, str(prefix)))
                return True
            self.scanner.pending.append((container, str(prefix), plugin, self.module, where))
            return False
        return False

    def mount(self, container: _Container, args: list[tree_sitter.Node], where: str, scope: Scope) -> None:
        prefix = ""
        if args and args[0].type in ("string", "template_string"):
            value = _string(args[0])
            if value is None:
                self.scanner.warnings.append(f"{where}: use() with a computed path; what it mounts is not followed")
                return
            prefix, args = value, args[1:]
        elif args and args[0].type in ("array",):
            return
        for argument in args:
            child = self.container_of(argument, scope)
            if child is not None and child[0] is not container:
                child[0].mounts.append((container, prefix))
            elif (
                argument.type in ("identifier", "call_expression")
                and not _is_function(argument)
                and self.imported_module(argument) is not None
            ):
                self.scanner.pending.append((container, prefix, argument, self.module, where))

    def route(
        self,
        container: _Container,
        method: str,
        node: tree_sitter.Node,
        args: list[tree_sitter.Node],
        chain_path: str,
        where: str,
        scope: Scope,
    ) -> None:
        if chain_path:
            path: str | None = chain_path
            rest = args
        else:
            if not args:
                return
            path = _string(args[0])
            if path is None:
                if args[0].type not in ("identifier", "member_expression") or container.framework == "fastify":
                    self.scanner.warnings.append(f"{where}: {method}() with a computed path; left out")
                else:
                    self.scanner.warnings.append(f"{where}: {method}() with the path in a variable; left out")
                return
            rest = args[1:]
        if not rest and container.framework == "express":
            return  # app.get('setting'): a setting, not a route
        schema = None
        handler = rest[-1] if rest else None
        if container.framework == "fastify" and len(rest) >= 2 and rest[0].type in ("object", "identifier"):
            options = self.literal(rest[0])
            schema = options.get("schema") if isinstance(options, dict) else None
        elif container.framework == "fastify" and len(rest) == 1 and rest[0].type == "object":
            options = self.literal(rest[0])
            schema = options.get("schema") if isinstance(options, dict) else None
            handler = _pair(rest[0], "handler")
        if path is not None:
            self.add_route(container, method, path, where, handler, schema)

    def add_route(
        self,
        container: _Container,
        method: str,
        path: str,
        where: str,
        handler: tree_sitter.Node | None,
        schema: Any,
    ) -> None:
        name = None
        function = handler
        if handler is not None and handler.type in ("identifier", "member_expression"):
            name = _text(handler.child_by_field_name("property") if handler.type == "member_expression" else handler)
            local = handler.type == "identifier" and name not in self.module.imports
            function = (self.module.functions.get(name) or self.module.constants.get(name)) if local else None
            if function is None:
                function = self.imported_handler(handler)
        elif handler is not None and handler.type in ("function_expression", "function"):
            named = handler.child_by_field_name("name")
            name = _text(named) if named is not None else None
        route = _Route(container, method, path, where, name, schema if isinstance(schema, dict) else {})
        if function is not None and (_is_function(function) or function.type == "method_definition"):
            self.request_use(function, route)
        self.scanner.routes.append(route)

    def imported_handler(self, handler: tree_sitter.Node) -> tree_sitter.Node | None:
        """The function a handler names in another file of the tree: `list` imported or destructured from a
        `require`, `users.list` of an imported or required module, `require('./users').list`."""
        module_node: tree_sitter.Node | None
        if handler.type == "identifier":
            name, module_node = _text(handler), handler
        else:
            name, module_node = _text(handler.child_by_field_name("property")), handler.child_by_field_name("object")
        if module_node is None:
            return None
        specifier = self.required(module_node) or self.module.imports.get(_text(module_node))
        target = self.scanner.resolve_import(self.module, specifier) if specifier else None
        if target is None:
            return None
        found = target.exported.get(name)
        if found is None and handler.type == "identifier":  # `import list from './list'`: the default export
            found = target.exported.get("default")
        if found is not None and found.type == "identifier":  # `exports.list = list`: the module's own function
            found = target.functions.get(_text(found)) or target.constants.get(_text(found))
        usable = found is not None and (_is_function(found) or found.type == "method_definition")
        return found if usable else None

    def request_use(self, function: tree_sitter.Node, route: _Route) -> None:
        """`req.query.x`, `req.body.x`, `req.get('x')`, `const { x } = req.query` in a handler's body."""
        names = _parameters(function)
        if not names or not names[0]:
            return
        request = names[0]
        body = function.child_by_field_name("body")
        stack = [] if body is None else [body]
        while stack:
            node = stack.pop()
            stack.extend(node.named_children)
            if node.type == "member_expression":
                inner = _member(node)
                if inner is None:
                    continue
                outer = _member(inner[0])
                if outer is not None and _text(outer[0]) == request:
                    if outer[1] == "query" and inner[1] not in route.query:
                        route.query.append(inner[1])
                    elif outer[1] == "body" and inner[1] not in route.body:
                        route.body.append(inner[1])
                elif _text(inner[0]) == request and inner[1] == "body":
                    route.body_whole = True
            elif node.type == "variable_declarator":
                pattern, value = node.child_by_field_name("name"), node.child_by_field_name("value")
                source = _member(value)
                if pattern is not None and pattern.type == "object_pattern" and source and _text(source[0]) == request:
                    keys = [_text(p.child_by_field_name("key") or p) for p in pattern.named_children]
                    keys = [k for k in keys if re.fullmatch(r"[A-Za-z_$][\w$]*", k)]
                    target = {"query": route.query, "body": route.body}.get(source[1], [])
                    target.extend(key for key in keys if key not in target)
            elif node.type == "call_expression":
                member = _member(node.child_by_field_name("function"))
                if member and _text(member[0]) == request and member[1] in ("get", "header"):
                    args = _args(node)
                    header = _string(args[0]) if args else None
                    if (
                        header
                        and header.lower() not in ("content-type", "authorization")
                        and header not in route.headers
                    ):
                        route.headers.append(header)

    # literals ------------------------------------------------------------------------------------------------------

    def literal(self, node: tree_sitter.Node | None, depth: int = 0) -> Any:
        """A JavaScript literal (objects, arrays, strings, numbers, booleans, null, `const`s of the module) as data;
        None where it is not one."""
        if node is None or depth > 40:
            return None
        kind = node.type
        if kind in ("string", "template_string"):
            return _string(node)
        if kind == "number":
            text = _text(node).replace("_", "")
            try:
                return int(text, 0) if re.fullmatch(r"0[xob][\da-f]+|\d+", text, re.I) else float(text)
            except ValueError:
                return None
        if kind in ("true", "false"):
            return kind == "true"
        if kind == "null":
            return None
        if kind in ("parenthesized_expression", "as_expression", "satisfies_expression") and node.named_children:
            return self.literal(node.named_children[0], depth + 1)
        if kind == "identifier":
            constant = self.module.constants.get(_text(node))
            return self.literal(constant, depth + 1) if constant is not None else None
        if kind == "array":
            return [self.literal(item, depth + 1) for item in node.named_children if item.type != "comment"]
        if kind == "object":
            out: dict[str, Any] = {}
            for pair in node.named_children:
                if pair.type == "pair":
                    key_node = pair.child_by_field_name("key")
                    key = (_string(key_node) if key_node is not None and key_node.type == "string" else None) or _text(
                        key_node
                    )
                    value = self.literal(pair.child_by_field_name("value"), depth + 1)
                    if value is not None:
                        out[key] = value
                elif pair.type == "shorthand_property_identifier":
                    value = self.literal(self.module.constants.get(_text(pair)), depth + 1)
                    if value is not None:
                        out[_text(pair)] = value
                elif pair.type == "spread_element" and pair.named_children:
                    spread = self.literal(pair.named_children[0], depth + 1)
                    if isinstance(spread, dict):
                        out.update(spread)
            return out
        return None

    # NestJS --------------------------------------------------------------------------------------------------------

    def nest_controller(self, node: tree_sitter.Node) -> None:
        decorators = [c for c in node.children if c.type == "decorator"]
        parent = node.parent
        if parent is not None and parent.type == "export_statement":
            decorators += [c for c in parent.children if c.type == "decorator"]
        controller = next((d for d in decorators if decorator_name(d) == "Controller"), None)
        if controller is None:
            return
        args = _decorator_args(controller)
        prefix = ""
        if args:
            value = self.literal(args[0])
            prefix = value if isinstance(value, str) else value.get("path", "") if isinstance(value, dict) else ""
        container = _Container("nestjs", self.scanner.where(self.module, node), prefix="/" + str(prefix).strip("/"))
        self.scanner.containers.append(container)
        body = node.child_by_field_name("body")
        pending: list[tree_sitter.Node] = []
        for member in [] if body is None else body.children:
            if member.type == "decorator":
                pending.append(member)
                continue
            if member.type != "method_definition":
                continue
            method_decorators = pending + [c for c in member.children if c.type == "decorator"]
            pending = []
            for decorator in method_decorators:
                verb = _NEST_METHODS.get(decorator_name(decorator))
                if verb is None:
                    continue
                route_args = _decorator_args(decorator)
                path = self.literal(route_args[0]) if route_args else ""
                if not isinstance(path, str):
                    self.scanner.warnings.append(
                        f"{self.scanner.where(self.module, decorator)}: a computed path; left out"
                    )
                    continue
                name = _text(member.child_by_field_name("name"))
                route = _Route(container, verb, path, self.scanner.where(self.module, decorator), name)
                route.module = self.module
                self.nest_parameters(member, route)
                self.scanner.routes.append(route)

    def nest_parameters(self, method: tree_sitter.Node, route: _Route) -> None:
        parameters = method.child_by_field_name("parameters")
        for parameter in [] if parameters is None else parameters.named_children:
            annotation = parameter.child_by_field_name("type")
            for decorator in [c for c in parameter.children if c.type == "decorator"]:
                kind = decorator_name(decorator)
                args = _decorator_args(decorator)
                name = self.literal(args[0]) if args else None
                where = _NEST_SCHEMA_PARTS.get(kind)
                if where is not None and annotation is not None:
                    route.typed.append((where, name if isinstance(name, str) else None, annotation))
                if kind == "Param" and isinstance(name, str) and any(_text(a) == "ParseIntPipe" for a in args[1:]):
                    route.schema.setdefault("params", {}).setdefault("properties", {})[name] = {"type": "integer"}
                if kind == "Query" and isinstance(name, str):
                    route.query.append(name)
                elif kind == "Headers" and isinstance(name, str):
                    route.headers.append(name)
                elif kind == "Body":
                    if isinstance(name, str):
                        route.body.append(name)
                    else:
                        route.body_whole = True


def _remember_exports(module: _Module, assignment: tree_sitter.Node) -> None:
    """`exports.list = …`, `module.exports.list = …`, `module.exports = { list, get: … }` / `= function …`."""
    left, right = _text(assignment.child_by_field_name("left")), assignment.child_by_field_name("right")
    if right is None:
        return
    if left == "module.exports":
        if right.type == "object":
            for pair in right.named_children:
                if pair.type == "shorthand_property_identifier":
                    module.exported[_text(pair)] = pair
                elif pair.type == "pair" and (value := pair.child_by_field_name("value")) is not None:
                    module.exported[_text(pair.child_by_field_name("key")).strip("'\"")] = value
                elif pair.type == "method_definition":
                    module.exported[_text(pair.child_by_field_name("name"))] = pair
        else:
            module.exported["default"] = right
        return
    for prefix in ("module.exports.", "exports."):
        if left.startswith(prefix) and re.fullmatch(r"[A-Za-z_$][\w$]*", left[len(prefix) :]):
            module.exported[left[len(prefix) :]] = right


def _declared_names(declaration: tree_sitter.Node) -> list[str]:
    """The names an `export` declaration introduces: `export function list`, `export const list = …, get = …`."""
    if declaration.type in ("function_declaration", "generator_function_declaration"):
        return [_text(declaration.child_by_field_name("name"))]
    if declaration.type in ("lexical_declaration", "variable_declaration"):
        names = [d.child_by_field_name("name") for d in declaration.named_children]
        return [_text(n) for n in names if n is not None and n.type == "identifier"]
    return []


def _pair(node: tree_sitter.Node, key: str) -> tree_sitter.Node | None:
    for pair in node.named_children:
        if pair.type == "pair" and _text(pair.child_by_field_name("key")).strip("'\"") == key:
            return pair.child_by_field_name("value")
        if pair.type == "method_definition" and _text(pair.child_by_field_name("name")) == key:
            return pair
    return None


def _decorator_args(decorator: tree_sitter.Node) -> list[tree_sitter.Node]:
    for child in decorator.named_children:
        if child.type == "call_expression":
            return _args(child)
    return []
