"""Routes of Python web applications (FastAPI, Flask), read statically with libcst → an OpenAPI 3.0 document.

The code is never imported or run: a repository is untrusted input. What a static reading can know it takes —
decorated route functions (`@app.get("/x")`, `@router.post(...)`, `@bp.route("/x", methods=[...])`,
`@app.api_route`), router and blueprint prefixes (`APIRouter(prefix=…)`, `include_router(…, prefix=…)`,
`Blueprint(url_prefix=…)`, `register_blueprint(…, url_prefix=…)`), path parameters with their converters or type
hints, FastAPI parameters (plain type hints are query parameters, `Query/Header/Cookie/Path/Body/Form/File`
say so, pydantic models in the tree are JSON bodies), Flask's `request.args.get("q")`, `request.form[...]` and
`request.get_json()` in the function body, docstrings as descriptions. Every operation records the `file:line`
it came from (`x-mcphub-source`), and what cannot be resolved (a router whose module is not in the tree, a
dependency's parameters) is a warning naming the place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

__all__ = ["MAX_FILES", "RouteScan", "scan_python_routes"]

MAX_FILES = 5_000
MAX_FILE_BYTES = 1024 * 1024
_HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
_APP_FACTORIES = {"FastAPI": "fastapi", "APIRouter": "fastapi", "Flask": "flask", "Blueprint": "flask"}
_FASTAPI_LOCATIONS = {
    "Query": "query",
    "Header": "header",
    "Cookie": "cookie",
    "Path": "path",
    "Body": "body",
    "Form": "form",
    "File": "file",
    "UploadFile": "file",
}
_SKIPPED_ANNOTATIONS = {
    "Request",
    "Response",
    "BackgroundTasks",
    "WebSocket",
    "HTTPConnection",
    "Session",
    "AsyncSession",
    "SecurityScopes",
    "HTTPAuthorizationCredentials",
}
_SCALARS = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "bytes": "string",
    "UUID": "string",
    "uuid.UUID": "string",
    "datetime": "string",
    "date": "string",
    "Decimal": "number",
    "EmailStr": "string",
    "HttpUrl": "string",
    "AnyUrl": "string",
}
_FLASK_CONVERTERS = {"int": "integer", "float": "number", "string": "string", "path": "string", "uuid": "string"}


_Dependency = tuple[str, cst.BaseExpression]  # (module the `Depends(f)` is written in, the call)


@dataclass
class _Container:
    """An app, router or blueprint object: where its routes hang and under which prefix."""

    module: str
    name: str
    framework: str
    prefix: str = ""
    dependencies: list[_Dependency] = field(default_factory=list)  # `dependencies=[Depends(f)]`
    tags: list[str] = field(default_factory=list)
    # Each time it is included: (prefix, the includer's dependencies + the include call's, its tags)
    mounted: list[tuple[str, list[_Dependency], list[str]]] = field(default_factory=list)


@dataclass
class _Route:
    module: str
    owner: str  # the container variable's name in its module
    method: str
    path: str
    function: cst.FunctionDef | cst.Module
    where: str  # file:line
    options: dict[str, cst.BaseExpression]


@dataclass
class RouteScan:
    """What the scan found: an OpenAPI document (possibly without paths), and what it could not resolve."""

    document: dict[str, Any]
    frameworks: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)

    @property
    def operations(self) -> int:
        return sum(len(item) for item in self.document.get("paths", {}).values())


def scan_python_routes(root: Path, *, title: str = "API") -> RouteScan:
    """Read every Python file under `root` and describe the HTTP routes of the FastAPI and Flask apps in it."""
    scanner = _Scanner(root)
    for path in _python_files(root, scanner.warnings):
        scanner.read(path)
    return scanner.document(title)


def _python_files(root: Path, warnings: list[str]) -> Iterable[Path]:
    count = 0
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if any(
            part.startswith(".") or part in ("node_modules", "venv", ".venv", "site-packages")
            for part in relative.parts
        ):
            continue
        if path.is_symlink() or not path.is_file():
            continue
        count += 1
        if count > MAX_FILES:
            warnings.append(f"{root}: more than {MAX_FILES:,} Python files; the rest were not read")
            return
        if path.stat().st_size > MAX_FILE_BYTES:
            warnings.append(f"{relative}: over 1 MiB, not read")
            continue
        yield path


class _Scanner:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.warnings: list[str] = []
        self.containers: dict[tuple[str, str], _Container] = {}
        self.routes: list[_Route] = []
        self.models: dict[str, dict[str, Any]] = {}  # pydantic model name -> object schema
        self.includes: list[tuple[str, cst.Call, str]] = []  # (module, include call, where)
        self.imports: dict[str, dict[str, str]] = {}  # module -> local name -> module it refers to
        self.functions: dict[tuple[str, str], cst.FunctionDef] = {}  # (module, name): dependency candidates
        self.aliases: dict[tuple[str, str], cst.BaseExpression] = {}  # `ItemDep = Annotated[Item, Depends(f)]`

    def read(self, path: Path) -> None:
        relative = path.relative_to(self.root)
        module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        try:
            tree = cst.parse_module(path.read_text(encoding="utf-8"))
        except (cst.ParserSyntaxError, UnicodeDecodeError) as exc:
            self.warnings.append(f"{relative}: not readable as Python ({type(exc).__name__}); skipped")
            return
        wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
        positions = wrapper.resolve(PositionProvider)
        self.imports[module] = {}
        for statement in tree.body:
            self._statement(statement, module, str(relative), positions, path.name == "__init__.py")

    # --- module level ---------------------------------------------------------------------------------------------

    def _statement(self, node: cst.CSTNode, module: str, file: str, positions: Any, package: bool) -> None:
        line = positions[node].start.line
        if isinstance(node, cst.SimpleStatementLine):
            for small in node.body:
                if isinstance(small, cst.ImportFrom):
                    self._import_from(small, module, package)
                elif isinstance(small, cst.Assign) and isinstance(small.value, cst.Call):
                    self._assignment(small, module)
                elif isinstance(small, cst.Assign) and isinstance(small.value, cst.Subscript):
                    for target in small.targets:
                        if isinstance(target.target, cst.Name):
                            self.aliases[module, target.target.value] = small.value
                elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
                    self._call(small.value, module, f"{file}:{line}")
        elif isinstance(node, cst.FunctionDef):
            self._function(node, module, f"{file}:{line}")
        elif isinstance(node, cst.ClassDef):
            self._class(node)
        elif isinstance(node, cst.If):  # `if __name__ == "__main__":` and feature switches
            for child in node.body.body:
                self._statement(child, module, file, positions, package)

    def _import_from(self, node: cst.ImportFrom, module: str, package: bool) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        base = _dotted(node.module) if node.module is not None else ""
        dots = len(node.relative)
        if dots:
            parts = module.split(".")
            parent = parts if package else parts[:-1]
            parent = parent[: len(parent) - (dots - 1)] if dots > 1 else parent
            base = ".".join([*parent, base] if base else parent)
        for alias in node.names:
            name = _dotted(alias.name)
            local = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else name
            self.imports[module][local] = f"{base}.{name}" if base else name

    def _assignment(self, node: cst.Assign, module: str) -> None:
        call = node.value
        assert isinstance(call, cst.Call)
        factory = _dotted(call.func).rsplit(".", 1)[-1]
        if factory not in _APP_FACTORIES:
            return
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                name = target.target.value
                prefix_arg = "url_prefix" if factory == "Blueprint" else "prefix"
                prefix = _string(_keyword(call, prefix_arg)) or ""
                dependencies = [(module, d) for d in _depends_list(_keyword(call, "dependencies"))]
                tags = _strings(_keyword(call, "tags"))
                self.containers[module, name] = _Container(
                    module, name, _APP_FACTORIES[factory], prefix, dependencies, tags
                )

    def _call(self, call: cst.Call, module: str, where: str) -> None:
        method = _dotted(call.func).rsplit(".", 1)[-1]
        if method in ("include_router", "register_blueprint") and call.args:
            self.includes.append((module, call, where))

    def _class(self, node: cst.ClassDef) -> None:
        bases = {_dotted(base.value).rsplit(".", 1)[-1] for base in node.bases}
        if not bases & {"BaseModel", "SQLModel", "Schema"}:
            return
        properties: dict[str, Any] = {}
        required: list[str] = []
        for statement in node.body.body:
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    name = small.target.value
                    schema, optional = self._schema(small.annotation.annotation)
                    properties[name] = schema
                    if small.value is None and not optional:
                        required.append(name)
        schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        docstring = node.get_docstring()
        if docstring:
            schema["description"] = docstring
        self.models[node.name.value] = schema

    def _function(self, node: cst.FunctionDef, module: str, where: str) -> None:
        self.functions[module, node.name.value] = node
        for decorator in node.decorators:
            call = decorator.decorator
            if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
                continue
            owner = _dotted(call.func.value)
            verb = call.func.attr.value
            path = _string(call.args[0].value) if call.args and call.args[0].keyword is None else None
            path = path if path is not None else _string(_keyword(call, "path"))
            if path is None:
                continue
            options = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
            hidden = options.get("include_in_schema")
            if isinstance(hidden, cst.Name) and hidden.value == "False":
                continue  # FastAPI leaves it out of its own description too
            if verb in _HTTP_METHODS:
                self.routes.append(_Route(module, owner, verb, path, node, where, options))
            elif verb in ("route", "api_route"):
                methods = _strings(options.get("methods")) or ["GET"]
                for method in methods:
                    self.routes.append(_Route(module, owner, method.lower(), path, node, where, options))

    # --- resolving ------------------------------------------------------------------------------------------------

    def _container(self, module: str, name: str) -> _Container | None:
        """The container `name` (as written in `module`: `router`, `items.router`, an imported name) refers to."""
        if (module, name) in self.containers:
            return self.containers[module, name]
        head, _, rest = name.partition(".")
        target = self.imports.get(module, {}).get(head)
        if target is None:
            return None
        if rest:  # `items.router` where `items` is an imported module
            return self.containers.get((target, rest))
        owner, _, leaf = target.rpartition(".")  # `from .routers.items import router`
        return self.containers.get((owner, leaf))

    def document(self, title: str) -> RouteScan:
        for module, call, where in self.includes:
            parent = self._container(module, _dotted(_owner(call.func)))
            child = self._container(module, _dotted(call.args[0].value))
            if child is None:
                self.warnings.append(
                    f"{where}: {_dotted(call.args[0].value)} is not a router or blueprint found in "
                    "the tree; its routes are not included"
                )
                continue
            argument = "url_prefix" if child.framework == "flask" else "prefix"
            prefix = _string(_keyword(call, argument)) or ""
            parent_prefix = parent.prefix if parent is not None else ""
            inherited = [
                *(parent.dependencies if parent is not None else []),
                *[(module, d) for d in _depends_list(_keyword(call, "dependencies"))],
            ]
            child.mounted.append((parent_prefix + prefix, inherited, _strings(_keyword(call, "tags"))))
        scan = RouteScan({"openapi": "3.0.3", "info": {"title": title, "version": "from source"}, "paths": {}})
        scan.warnings = self.warnings
        used_ids: set[str] = set()
        for route in self.routes:
            container = self._container(route.module, route.owner)
            if container is None:
                continue  # a decorator on something that is not an app or router we know (e.g. a CLI)
            scan.frameworks.add(container.framework)
            for prefix, inherited, mount_tags in container.mounted or [("", [], [])]:
                path, path_types = _openapi_path(prefix + container.prefix + route.path, container.framework)
                own = [(route.module, d) for d in _depends_list(route.options.get("dependencies"))]
                dependencies = [*inherited, *container.dependencies, *own]
                operation = self._operation(route, container.framework, path_types, used_ids, dependencies)
                tags = [*mount_tags, *container.tags, *operation.get("tags", [])]
                if tags:
                    operation["tags"] = list(dict.fromkeys(tags))
                methods = scan.document["paths"].setdefault(path, {})
                if route.method in methods:
                    self.warnings.append(
                        f"{route.where}: {route.method.upper()} {path} is declared twice; kept the first"
                    )
                    continue
                methods[route.method] = operation
        return scan

    def _operation(
        self,
        route: _Route,
        framework: str,
        path_types: dict[str, str],
        used_ids: set[str],
        dependencies: list[_Dependency],
    ) -> dict[str, Any]:
        function = route.function
        assert isinstance(function, cst.FunctionDef)
        name = function.name.value
        operation_id = name if name not in used_ids else f"{name}_{route.method}"
        used_ids.add(operation_id)
        operation: dict[str, Any] = {"operationId": operation_id, "x-mcphub-source": route.where}
        summary = _string(route.options.get("summary"))
        description = _string(route.options.get("description")) or function.get_docstring() or ""
        operation["summary"] = summary or name.replace("_", " ").capitalize()
        if description:
            operation["description"] = description
        tags = _strings(route.options.get("tags"))
        if tags:
            operation["tags"] = tags
        parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": t}} for p, t in path_types.items()]
        body: dict[str, Any] | None = None
        if framework == "fastapi":
            body = self._fastapi_parameters(function, route.module, parameters, dependencies, depth=0)
        elif route.method in ("get", "head", "delete", "options"):
            self._flask_request_use(function, parameters)  # a form read under `if request.method == "POST"`
            body = None
        else:
            body = self._flask_request_use(function, parameters)
        if parameters:
            operation["parameters"] = parameters
        if body is not None:
            operation["requestBody"] = body
        response_model = route.options.get("response_model")
        response: dict[str, Any] = {"description": "Success"}
        if response_model is not None:
            schema, _ = self._schema(response_model)
            response["content"] = {"application/json": {"schema": schema}}
        operation["responses"] = {"200": response}
        return operation

    def _fastapi_parameters(
        self,
        function: cst.FunctionDef,
        module: str,
        parameters: list[dict[str, Any]],
        dependencies: list[_Dependency],
        depth: int,
    ) -> dict[str, Any] | None:
        """Add the function's parameters (and its dependencies', recursively) to `parameters`; return its body."""
        in_path = {p["name"]: p for p in parameters if p["in"] == "path"}
        known = {(p["in"], p["name"]) for p in parameters}
        body_fields: dict[str, Any] = {}
        body_required: list[str] = []
        form = False
        model_body: dict[str, Any] | None = None
        model_param = ""
        for written_in, dependency in dependencies:
            self._dependency(dependency, written_in, parameters, depth)
        for param in [*function.params.params, *function.params.kwonly_params]:
            name = param.name.value
            annotation = param.annotation.annotation if param.annotation else None
            if isinstance(annotation, cst.Name) and (module, annotation.value) in self.aliases:
                annotation = self.aliases[module, annotation.value]
            marker = _fastapi_marker(param.default, annotation)
            inner = marker.inner
            if marker.name == "Depends":
                if marker.call is not None:
                    self._dependency(marker.call, module, parameters, depth)
                continue
            if inner is not None and _base_name(inner) in _SKIPPED_ANNOTATIONS:
                continue
            hidden = marker.option("include_in_schema")
            if isinstance(hidden, cst.Name) and hidden.value == "False":
                continue
            schema = self._schema(inner)[0] if inner is not None else {"type": "string"}
            required = not marker.has_default  # FastAPI: `str | None` without a default is still required
            wire = _string(marker.option("alias"))
            if name in in_path:
                if schema.get("type"):
                    in_path[name]["schema"] = schema
                continue
            location = _FASTAPI_LOCATIONS.get(marker.name or "")
            model = self._model_name(inner)
            if location in ("query", "header", "cookie") and model is not None:
                fields = self.models[model]
                if not required:  # an optional parameter model: none of its fields is required then
                    fields = {k: v for k, v in fields.items() if k != "required"}
                self._model_parameters(fields, location, parameters, known)
                continue
            if location is None and inner is not None and (model is not None or _is_body_container(inner, self.models)):
                location = "body"
            if location is None and inner is not None and _mentions(inner, ("UploadFile",)):
                location = "file"
            if location in ("body", "form", "file"):
                form = form or location in ("form", "file")
                if location == "body" and model is not None and model_body is None and marker.option("embed") is None:
                    model_body, model_param = self.models[model], name
                    continue
                body_fields[name] = {"type": "string", "format": "binary"} if location == "file" else schema
                if required:
                    body_required.append(name)
                continue
            underscores = marker.option("convert_underscores")
            if (
                location == "header"
                and wire is None
                and not (isinstance(underscores, cst.Name) and underscores.value == "False")
            ):
                wire = name.replace("_", "-")  # FastAPI's convert_underscores
            parameter: dict[str, Any] = {"name": wire or name, "in": location or "query", "schema": schema}
            if required:
                parameter["required"] = True
            if (parameter["in"], parameter["name"]) not in known:
                known.add((parameter["in"], parameter["name"]))
                parameters.append(parameter)
        if model_body is not None and body_fields:  # several body parameters: FastAPI embeds each by its name
            body_fields = {model_param: model_body, **body_fields}
            body_required.append(model_param)
            model_body = None
        if model_body is not None:
            return {"required": True, "content": {"application/json": {"schema": model_body}}}
        if body_fields:
            schema = {"type": "object", "properties": body_fields}
            if body_required:
                schema["required"] = body_required
            media = "multipart/form-data" if form else "application/json"
            return {"required": bool(body_required), "content": {media: {"schema": schema}}}
        return None

    def _model_name(self, annotation: cst.BaseExpression | None) -> str | None:
        """The pydantic model a type hint names, through Optional/Union/`| None`/Annotated; None if it names none."""
        if annotation is None:
            return None
        if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
            return self._model_name(annotation.left) or self._model_name(annotation.right)
        if isinstance(annotation, cst.Subscript) and _dotted(annotation.value).rsplit(".", 1)[-1] in (
            "Optional",
            "Union",
            "Annotated",
        ):
            first = annotation.slice[0].slice
            return self._model_name(first.value) if isinstance(first, cst.Index) else None
        name = _dotted(annotation).rsplit(".", 1)[-1]
        return name if name in self.models else None

    @staticmethod
    def _model_parameters(
        model: dict[str, Any], location: str, parameters: list[dict[str, Any]], known: set[tuple[str, str]]
    ) -> None:
        """A parameter model (`Annotated[Cookies, Cookie()]`): each field is a parameter of that location."""
        required = set(model.get("required", []))
        for field_name, schema in model.get("properties", {}).items():
            wire = field_name.replace("_", "-") if location == "header" else field_name
            if (location, wire) in known:
                continue
            known.add((location, wire))
            parameter: dict[str, Any] = {"name": wire, "in": location, "schema": schema}
            if field_name in required:
                parameter["required"] = True
            parameters.append(parameter)

    def _dependency(
        self, depends: cst.BaseExpression, module: str, parameters: list[dict[str, Any]], depth: int
    ) -> None:
        """`Depends(get_token)`: the parameters `get_token` asks for are the operation's too."""
        if depth > 8 or not isinstance(depends, cst.Call) or not depends.args:
            return
        name = _dotted(depends.args[0].value)
        function = self.functions.get((module, name))
        target_module = module
        if function is None:
            imported = self.imports.get(module, {}).get(name.partition(".")[0])
            if imported is not None:
                owner, _, leaf = imported.rpartition(".")
                function = self.functions.get((owner, leaf))
                target_module = owner
        if function is not None:
            self._fastapi_parameters(function, target_module, parameters, [], depth + 1)

    def _flask_request_use(self, function: cst.FunctionDef, parameters: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Query, form and JSON use of Flask's `request` inside the view function."""
        finder = _RequestUse()
        function.body.visit(finder)
        for name in sorted(finder.args):
            parameters.append({"name": name, "in": "query", "schema": {"type": "string"}})
        if finder.form:
            properties = {name: {"type": "string"} for name in sorted(finder.form)}
            return {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": properties}}
                },
            }
        if finder.json:
            return {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
        return None

    def _schema(self, annotation: cst.BaseExpression | None) -> tuple[dict[str, Any], bool]:
        """(JSON Schema, optional?) of a type hint; models found in the tree are inlined, the rest become strings."""
        if annotation is None:
            return {}, False
        if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
            sides = [annotation.left, annotation.right]
            kept = [s for s in sides if _dotted(s) != "None"]
            inner, _ = self._schema(kept[0]) if kept else ({}, True)
            return inner, len(kept) < len(sides)
        if isinstance(annotation, cst.Subscript):
            outer = _dotted(annotation.value).rsplit(".", 1)[-1]
            args = [e.slice.value for e in annotation.slice if isinstance(e.slice, cst.Index)]
            if outer == "Optional" and args:
                return self._schema(args[0])[0], True
            if outer == "Union" and args:
                kept = [a for a in args if _dotted(a) != "None"]
                return self._schema(kept[0])[0] if kept else {}, len(kept) < len(args)
            if outer in ("list", "List", "set", "Set", "Sequence", "tuple", "Tuple", "frozenset"):
                return {"type": "array", "items": self._schema(args[0])[0] if args else {}}, False
            if outer in ("dict", "Dict", "Mapping"):
                return {"type": "object"}, False
            if outer == "Annotated" and args:
                return self._schema(args[0])
            if outer == "Literal":
                values = [_literal(a) for a in args]
                return {"enum": [v for v in values if v is not None]}, False
            return {}, False
        name = _dotted(annotation)
        short = name.rsplit(".", 1)[-1]
        if name in _SCALARS or short in _SCALARS:
            schema: dict[str, Any] = {"type": _SCALARS.get(name, _SCALARS.get(short, "string"))}
            if short in ("datetime",):
                schema["format"] = "date-time"
            elif short == "date":
                schema["format"] = "date"
            return schema, False
        if short in self.models:
            return dict(self.models[short]), False
        if short in ("Any", "object"):
            return {}, False
        return {"type": "string"}, False


class _RequestUse(cst.CSTVisitor):
    """Finds `request.args.get("q")`, `request.args["q"]`, `request.form[...]`, `request.get_json()`, `request.json`."""

    def __init__(self) -> None:
        self.args: set[str] = set()
        self.form: set[str] = set()
        self.json = False

    def visit_Call(self, node: cst.Call) -> None:
        name = _dotted(node.func)
        if name in ("request.args.get", "request.values.get", "request.args.getlist") and node.args:
            value = _string(node.args[0].value)
            if value:
                self.args.add(value)
        elif name == "request.form.get" and node.args:
            value = _string(node.args[0].value)
            if value:
                self.form.add(value)
        elif name == "request.get_json":
            self.json = True

    def visit_Subscript(self, node: cst.Subscript) -> None:
        owner = _dotted(node.value)
        if owner in ("request.args", "request.form") and node.slice and isinstance(node.slice[0].slice, cst.Index):
            value = _string(node.slice[0].slice.value)
            if value:
                (self.args if owner == "request.args" else self.form).add(value)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if _dotted(node) == "request.json":
            self.json = True


# --- small readers ------------------------------------------------------------------------------------------------


def _dotted(node: cst.CSTNode | None) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    if isinstance(node, cst.Call):
        return _dotted(node.func)
    return ""


def _depends_list(node: cst.CSTNode | None) -> list[cst.BaseExpression]:
    """The `Depends(...)` calls of a `dependencies=[...]` argument."""
    if not isinstance(node, (cst.List, cst.Tuple)):
        return []
    return [
        e.value for e in node.elements if isinstance(e.value, cst.Call) and _dotted(e.value.func).endswith("Depends")
    ]


def _mentions(annotation: cst.BaseExpression, names: tuple[str, ...]) -> bool:
    """Whether a type hint names one of `names` anywhere (`UploadFile | None`, `list[UploadFile]`)."""
    if isinstance(annotation, (cst.Name, cst.Attribute)):
        return _dotted(annotation).rsplit(".", 1)[-1] in names
    if isinstance(annotation, cst.BinaryOperation):
        return _mentions(annotation.left, names) or _mentions(annotation.right, names)
    if isinstance(annotation, cst.Subscript):
        return any(isinstance(e.slice, cst.Index) and _mentions(e.slice.value, names) for e in annotation.slice)
    return False


def _is_body_container(annotation: cst.BaseExpression, models: dict[str, Any]) -> bool:
    """FastAPI reads `list[Model]` and `dict[...]` parameters from the body (a `list[str]` is a query list)."""
    if isinstance(annotation, cst.BinaryOperation):
        return _is_body_container(annotation.left, models) or _is_body_container(annotation.right, models)
    if not isinstance(annotation, cst.Subscript):
        return False
    outer = _dotted(annotation.value).rsplit(".", 1)[-1]
    args = [e.slice.value for e in annotation.slice if isinstance(e.slice, cst.Index)]
    if outer in ("dict", "Dict", "Mapping"):
        return True
    if outer == "Annotated":
        return bool(args) and _is_body_container(args[0], models)
    if outer in ("Optional", "Union"):
        return any(_is_body_container(a, models) for a in args)
    if outer in ("list", "List", "set", "Set", "Sequence", "tuple", "Tuple"):
        return any(_dotted(a).rsplit(".", 1)[-1] in models or _is_body_container(a, models) for a in args)
    return False


def _owner(func: cst.BaseExpression) -> cst.BaseExpression:
    return func.value if isinstance(func, cst.Attribute) else func


def _string(node: cst.CSTNode | None) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(node, cst.ConcatenatedString):
        left, right = _string(node.left), _string(node.right)
        return None if left is None or right is None else left + right
    return None


def _strings(node: cst.CSTNode | None) -> list[str]:
    if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
        return [s for s in (_string(e.value) for e in node.elements) if s is not None]
    single = _string(node)
    return [single] if single is not None else []


def _literal(node: cst.BaseExpression) -> Any:
    if isinstance(node, cst.Integer):
        return int(node.value)
    return _string(node)


def _keyword(call: cst.CSTNode | None, name: str) -> cst.BaseExpression | None:
    if not isinstance(call, cst.Call):
        return None
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None


def _base_name(annotation: cst.BaseExpression | None) -> str:
    if isinstance(annotation, cst.Subscript):
        if _dotted(annotation.value).rsplit(".", 1)[-1] in ("Annotated", "Optional"):
            first = annotation.slice[0].slice
            return _base_name(first.value) if isinstance(first, cst.Index) else ""
        return _dotted(annotation.value).rsplit(".", 1)[-1]
    return _dotted(annotation).rsplit(".", 1)[-1]


@dataclass(frozen=True)
class _Marker:
    """How FastAPI is told where a parameter comes from: `Query(...)` as default or inside `Annotated[...]`."""

    name: str | None  # Query, Header, Body, Depends, ... or None for a plain type hint
    call: cst.Call | None
    inner: cst.BaseExpression | None  # the type hint without Annotated
    has_default: bool

    def option(self, keyword: str) -> cst.BaseExpression | None:
        return _keyword(self.call, keyword)


def _fastapi_marker(default: cst.BaseExpression | None, annotation: cst.BaseExpression | None) -> _Marker:
    """Where one parameter comes from, its type hint, and whether FastAPI would find a default for it."""
    if isinstance(annotation, cst.Subscript) and _dotted(annotation.value).rsplit(".", 1)[-1] == "Annotated":
        elements = [e.slice.value for e in annotation.slice if isinstance(e.slice, cst.Index)]
        inner = elements[0] if elements else None
        for extra in elements[1:]:
            marker = _dotted(extra).rsplit(".", 1)[-1]
            if isinstance(extra, cst.Call) and (marker in _FASTAPI_LOCATIONS or marker == "Depends"):
                return _Marker(marker, extra, inner, default is not None or _call_has_default(extra))
        return _Marker(None, None, inner, default is not None)
    if isinstance(default, cst.Call):
        marker = _dotted(default.func).rsplit(".", 1)[-1]
        if marker in _FASTAPI_LOCATIONS or marker == "Depends":
            return _Marker(marker, default, annotation, _call_has_default(default))
    return _Marker(None, None, annotation, default is not None)


def _call_has_default(call: cst.Call) -> bool:
    """`Query(None)`, `Query(default=3)`, `Query(default_factory=list)`: a default; `Query(...)`, `Query()`: none."""
    positional = [a for a in call.args if a.keyword is None]
    if positional:
        return not isinstance(positional[0].value, cst.Ellipsis)
    return _keyword(call, "default") is not None or _keyword(call, "default_factory") is not None


def _openapi_path(path: str, framework: str) -> tuple[str, dict[str, str]]:
    """`/items/<int:item_id>` → (`/items/{item_id}`, {item_id: integer}); FastAPI's `{x}` and `{x:path}` kept."""
    types: dict[str, str] = {}
    path = re.sub(r"/{2,}", "/", path) or "/"
    if not path.startswith("/"):
        path = "/" + path

    def flask(match: re.Match[str]) -> str:
        converter, name = match.group(1), match.group(2)
        types[name] = _FLASK_CONVERTERS.get(converter or "string", "string")
        return f"{{{name}}}"

    def fastapi(match: re.Match[str]) -> str:
        types.setdefault(match.group(1), "string")
        return f"{{{match.group(1)}}}"

    if framework == "flask":
        path = re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", flask, path)
    return re.sub(r"\{(\w+)(?::\w+)?\}", fastapi, path), types
