"""IR -> package files, through the Jinja2 templates in `mcphub/templates/`.

`render_package` is pure (Integration in, file contents out); `build_package` writes and formats them with
ruff into a staging folder. Comparing with the package in place and swapping it in belong to the pipeline.

A package is `server.py` (one typed async function per tool: its keyword-only signature is the argument
documentation for Python readers), `manifest.json` (the IR, which the runtime validates calls against),
`README.md` and `__init__.py`.
"""

from __future__ import annotations

import json
import keyword
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from mcphub.compiler.errors import CodegenError
from mcphub.compiler.ir import ArgBinding, ArgLocation, Integration, Tool, ToolAnnotations

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
PACKAGE_FILES = ("__init__.py", "server.py", "manifest.json", "README.md", "search.json", "search.npy")

# Keywords in generated functions that arguments must not shadow.
_RESERVED_PYTHON_NAMES = frozenset({"call", "registry", "Any", "Call", "ToolOutput", "ToolRegistry"})

_HTTP_KEYWORD_BY_LOCATION = {
    ArgLocation.PATH: "path",
    ArgLocation.QUERY: "query",
    ArgLocation.HEADER: "headers",
    ArgLocation.COOKIE: "cookies",
    ArgLocation.BODY: "body",
    ArgLocation.FORM: "form",
    ArgLocation.MULTIPART: "multipart",
}


@dataclass(frozen=True, slots=True)
class _Argument:
    name: str
    python_name: str
    type: str
    required: bool
    description: str


def python_type(schema: Any) -> str:
    """A readable Python annotation for a JSON Schema (unions and nested shapes collapse to Any)."""
    if not isinstance(schema, dict):
        return "Any"
    types = schema.get("type")
    nullable = False
    if isinstance(types, list):
        nullable = "null" in types
        types = [t for t in types if t != "null"]
        types = types[0] if len(types) == 1 else None
    if types is None and "enum" in schema:
        values = schema["enum"]
        if values and all(isinstance(v, str) for v in values):
            types = "string"
    simple = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "object": "dict[str, Any]"}
    if types == "array":
        result = f"list[{python_type(schema.get('items'))}]"
    elif isinstance(types, str) and types in simple:
        result = simple[types]
    else:
        result = "Any"
    return f"{result} | None" if nullable and result != "Any" else result


def _docstring(text: str) -> str:
    text = text.strip().replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if text.endswith('"'):
        text += " "
    return text


def _oneline(text: Any) -> str:
    return " ".join(str(text or "").split())


def _table_cell(text: Any) -> str:
    return _oneline(text).replace("|", "\\|")


def _pystr(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def reserve_python_names(integration: Integration) -> Integration:
    """Rename argument keywords that would shadow names the generated module itself uses (copy on write)."""
    tools = []
    for tool in integration.tools:
        if tool.http is None or not any(a.python_name in _RESERVED_PYTHON_NAMES for a in tool.http.args):
            tools.append(tool)
            continue
        taken = {arg.python_name for arg in tool.http.args}
        args = []
        for arg in tool.http.args:
            if arg.python_name in _RESERVED_PYTHON_NAMES:
                candidate = f"{arg.python_name}_"
                while candidate in taken or candidate in _RESERVED_PYTHON_NAMES:
                    candidate += "_"
                taken.add(candidate)
                arg = arg.model_copy(update={"python_name": candidate})
            args.append(arg)
        http = tool.http.model_copy(update={"args": args})
        tools.append(tool.model_copy(update={"http": http}))
    return integration.model_copy(update={"tools": tools})


def _function_names(tools: Iterable[Tool]) -> dict[str, str]:
    names: dict[str, str] = {}
    taken = set(_RESERVED_PYTHON_NAMES)
    for tool in tools:
        base = re.sub(r"\W", "_", tool.name)
        if not base or base[0].isdigit():
            base = f"tool_{base}"
        if keyword.iskeyword(base):
            base += "_"
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base}_{n}", n + 1
        taken.add(candidate)
        names[tool.name] = candidate
    return names


def _arguments(tool: Tool) -> list[_Argument]:
    properties: dict[str, Any] = tool.input_schema.get("properties", {})
    required = set(tool.input_schema.get("required", []))
    by_name: dict[str, ArgBinding] = {arg.name: arg for arg in tool.http.args} if tool.http else {}
    arguments = []
    for name, schema in properties.items():
        binding = by_name.get(name)
        description = _table_cell(schema.get("description", "")) if isinstance(schema, dict) else ""
        if name in tool.defaults:
            sent = _table_cell(json.dumps(tool.defaults[name], ensure_ascii=False))
            description = f"{description} Sent as `{sent}` when left out.".strip()
        arguments.append(
            _Argument(
                name=name,
                python_name=binding.python_name if binding else name,
                type=python_type(schema),
                required=name in required,
                description=description,
            )
        )
    return arguments


def _signature(tool: Tool, arguments: list[_Argument]) -> str:
    if tool.http is None:
        return "call: Call, **arguments: Any"
    params = ["call: Call", "*"]
    full = tool.response.full_argument if tool.response else None
    # Required first keeps the signature readable; all are keyword-only, so order is free.
    for arg in sorted(arguments, key=lambda a: not a.required):
        if arg.name == full:
            params.append(f"{arg.python_name}: bool = False")
        elif arg.required:
            params.append(f"{arg.python_name}: {arg.type}")
        else:
            annotation = arg.type if arg.type.endswith("| None") or arg.type == "Any" else f"{arg.type} | None"
            params.append(f"{arg.python_name}: {annotation} = None")
    if len(params) == 2:
        params.pop()
    return ", ".join(params)


def _call_expression(tool: Tool) -> str:
    if tool.graphql is not None:
        return "call.graphql(arguments)"
    if tool.sql is not None:
        return "call.sql(arguments)"
    if tool.mcp is not None or tool.http is None:
        return "call.mcp(arguments)"
    groups: dict[str, list[str]] = {}
    root_body: str | None = None
    for arg in tool.http.args:
        if arg.location is ArgLocation.BODY_ROOT:
            root_body = arg.python_name
            continue
        groups.setdefault(_HTTP_KEYWORD_BY_LOCATION[arg.location], []).append(
            f"{_pystr(arg.wire_name)}: {arg.python_name}"
        )
    parts = [f"{key}={{{', '.join(items)}}}" for key, items in groups.items()]
    if root_body is not None:
        parts.append(f"body={root_body}")
    if tool.response is not None and tool.response.full_argument:
        parts.append(f"full={tool.response.full_argument}")
    return f"call.http({', '.join(parts)})"


def _operation_label(tool: Tool) -> str:
    """What the tool runs, for the README: `GET /path`, a GraphQL operation, or an SQL action."""
    if tool.http is not None:
        return f"{tool.http.method} {tool.http.path}"
    if tool.graphql is not None:
        kind = tool.graphql.document.split(None, 1)[0] if tool.graphql.document.strip() else "query"
        return f"GraphQL {kind} {tool.graphql.operation_name}"
    if tool.sql is not None:
        return f"SQL {tool.sql.action}"
    return ""


def _example_value(schema: Any, name: str) -> Any:
    if not isinstance(schema, dict):
        return f"<{name}>"
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    if schema.get("examples"):
        examples = schema["examples"]
        return examples[0] if isinstance(examples, list) else next(iter(examples.values()), f"<{name}>")
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((t for t in kind if t != "null"), None)
    return {
        "integer": 1,
        "number": 1.0,
        "boolean": True,
        "array": [],
        "object": {},
    }.get(kind if isinstance(kind, str) else "", f"<{name}>")


def _example(integration: Integration, tool: Tool) -> str:
    properties = tool.input_schema.get("properties", {})
    arguments = {name: _example_value(properties.get(name), name) for name in tool.input_schema.get("required", [])}
    payload = {"name": f"{integration.slug}__{tool.name}", "arguments": arguments}
    return json.dumps(payload, indent=2, ensure_ascii=False, default=str)


def _hints(annotations: ToolAnnotations) -> str:
    words = [
        label
        for label, value in (
            ("read-only", annotations.read_only_hint),
            ("destructive", annotations.destructive_hint),
            ("idempotent", annotations.idempotent_hint),
        )
        if value
    ]
    return f" — {', '.join(words)}" if words else ""


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,  # we render Python and Markdown, never HTML
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["pystr"] = _pystr
    env.filters["oneline"] = _oneline
    env.filters["hints"] = _hints
    return env


def render_package(integration: Integration, *, source_label: str) -> dict[str, str]:
    """Render every file of the package (unformatted Python); pure and deterministic."""
    integration = reserve_python_names(integration)
    functions = _function_names(integration.tools)
    tool_views: list[dict[str, Any]] = []
    readme_tools: list[dict[str, Any]] = []
    for tool in integration.tools:
        arguments = _arguments(tool)
        summary = tool.description or tool.title or tool.name
        if tool.http is not None:
            summary = f"{tool.http.method} {tool.http.path}\n\n{summary}"
        tool_views.append(
            {
                "name": tool.name,
                "function": functions[tool.name],
                "signature": _signature(tool, arguments),
                "docstring": _docstring(summary),
                "call_expression": _call_expression(tool),
            }
        )
        readme_tools.append(
            {
                "name": f"{integration.slug}__{tool.name}",
                "title": tool.title,
                "deprecated": tool.deprecated,
                "description": tool.description.strip(),
                "http": tool.http,
                "graphql": tool.graphql,
                "operation": _operation_label(tool),
                "annotations": tool.annotations,
                "arguments": arguments,
                "example": _example(integration, tool),
                "enabled": tool.enabled,
                "listed": tool.listed,
            }
        )
    env = _environment()
    context = {"integration": integration, "source_label": source_label}
    return {
        "__init__.py": env.get_template("__init__.py.j2").render(context),
        "server.py": env.get_template("server.py.j2").render(context, tools=tool_views),
        "manifest.json": integration.to_manifest(),
        "README.md": env.get_template("README.md.j2").render(
            context,
            enabled=[t for t in readme_tools if t["enabled"] and t["listed"]],
            disabled=[t for t in readme_tools if not t["enabled"]],
            searchable=[t for t in readme_tools if t["enabled"] and not t["listed"]],  # `search: all`: one line each
        ),
    }


def _ruff_binary() -> str:
    from ruff.__main__ import find_ruff_bin  # the pinned ruff that ships with mcphub

    return str(find_ruff_bin())


def format_python(directory: Path) -> None:
    """Format the package's Python files in place with the pinned ruff (line length 120)."""
    files = sorted(str(p) for p in directory.glob("*.py"))
    result = subprocess.run(
        [_ruff_binary(), "format", "--no-cache", "--isolated", "--line-length", "120", "--quiet", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise CodegenError(f"ruff could not format the generated code in {directory}: {result.stderr.strip()}")


def build_package(integration: Integration, staging: Path, *, source_label: str) -> Path:
    """Write and format every file of the package into `staging/<slug>` (a fresh folder)."""
    target = staging / integration.slug
    target.mkdir(parents=True)
    for name, content in render_package(integration, source_label=source_label).items():
        (target / name).write_text(content, encoding="utf-8")
    format_python(target)
    return target
