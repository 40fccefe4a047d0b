"""`mcphub export`: one compiled integration as a standalone, pip-installable MCP server.

The export reads only a compiled package (`manifest.json`, the IR, and the package's `server.py` to work out the
request its own test expects) and writes a project that never imports mcphub:

    pyproject.toml            mcp-<slug>: the mcp SDK as the hub pins it, httpx2, pydantic; a console script
    README.md                 running it, the credential variables, the tool reference
    mcp_<slug>/server.py      the MCP server (SDK lowlevel Server, like the hub): stdio or streamable HTTP
    mcp_<slug>/models.py      pydantic models of every tool's input (datamodel-code-generator, at export time)
    mcp_<slug>/runtime.py     the hub's request building, copied from its runtime (see wire.py), sent with httpx2
    mcp_<slug>/transforms.py  the hub's response shaping, when a tool declares `response:`
    mcp_<slug>/integration.json  the manifest's HTTP tools, auth, servers and policy
    tests/test_server.py      the official MCP client over stdio and HTTP against a local stand-in

Only HTTP tools export (OpenAPI, Postman, repo, docs and text sources); GraphQL, SQL and upstream-MCP
integrations need executors the export does not carry yet.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import jinja2

from mcphub.compiler.codegen import format_python, python_type
from mcphub.compiler.ir import ArgBinding, HttpBinding, Integration, Tool

__all__ = ["ExportError", "ExportResult", "export_integration", "find_package"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
VERSION = "0.1.0"
_UNSUPPORTED = {
    "graphql": "a GraphQL",
    "sql": "an SQL",
    "mcp": "an upstream MCP",
}


class ExportError(Exception):
    """The package cannot be exported; the message says which and what to do."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    directory: Path
    project: str  # the pip name, mcp-<slug>
    script: str
    tools: int
    sample_tool: str


def find_package(target: str | Path, generated: Path = Path("generated")) -> Path:
    """A compiled package folder from a folder path or a slug (looked up in `generated/`)."""
    path = Path(target)
    for candidate in (path, generated / str(target)):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise ExportError(
        f"{target}: no compiled package here (no manifest.json in {path} or {generated / str(target)}); "
        "pass a package folder, or a slug after `mcphub compile` has built generated/<slug>/"
    )


def _load(directory: Path) -> Integration:
    manifest = directory / "manifest.json"
    try:
        return Integration.from_manifest(manifest.read_bytes())
    except ValueError as exc:
        raise ExportError(f"{manifest}: {exc}") from exc


def _exportable(integration: Integration, directory: Path) -> list[Tool]:
    kind = integration.source.kind
    if kind in _UNSUPPORTED:
        raise ExportError(
            f"{directory}: {integration.slug} is {_UNSUPPORTED[kind]} integration (source kind {kind!r}); "
            "export supports HTTP integrations only (OpenAPI, Postman, repo, docs and text sources) for now. "
            "Serve it with `mcphub serve` instead."
        )
    # A standalone server has no search view: it serves the flat list (a `search: all` spec's curated tools).
    tools = [tool for tool in integration.tools if tool.enabled and tool.listed]
    other = [tool.name for tool in tools if tool.http is None]
    if other:
        raise ExportError(f"{directory}: tools {', '.join(other)} have no HTTP binding; only HTTP tools export")
    if not tools:
        raise ExportError(f"{directory}: {integration.slug} has no enabled tools; enable some in its spec")
    return tools


# --- models ---------------------------------------------------------------------------------------------------


def _class_name(tool: str, taken: set[str]) -> str:
    base = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", tool) if part) or "Tool"
    if base[0].isdigit():
        base = "T" + base
    name, n = f"{base}Input", 2
    while name in taken:
        name, n = f"{base}Input{n}", n + 1
    taken.add(name)
    return name


def _models(tools: list[Tool]) -> tuple[str, list[tuple[str, str]]]:
    """models.py (datamodel-code-generator over all input schemas at once) and tool name -> class name."""
    from datamodel_code_generator import generate
    from datamodel_code_generator.enums import DataModelType, InputFileType

    taken: set[str] = {"Inputs"}
    names = [(tool.name, _class_name(tool.name, taken)) for tool in tools]
    definitions: dict[str, Any] = {}
    for (_, class_name), tool in zip(names, tools, strict=True):
        schema = dict(tool.input_schema)
        # A tool's own $defs move next to the classes, so its "#/$defs/X" references still resolve.
        local = schema.pop("$defs", None) or schema.pop("definitions", None) or {}
        text = json.dumps(schema)
        for key, value in local.items():
            moved = f"{class_name}_{key}"
            text = text.replace(f'"#/$defs/{key}"', f'"#/$defs/{moved}"').replace(
                f'"#/definitions/{key}"', f'"#/$defs/{moved}"'
            )
            definitions[moved] = value
        definitions[class_name] = {"type": "object", **json.loads(text), "title": class_name}
    document = {"title": "Inputs", "type": "object", "properties": {}, "$defs": definitions}
    # It warns about formats it maps to plain str (`repo.nwo`, `binary`): fine for argument checks, noise here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            source = generate(
                json.dumps(document),
                input_file_type=InputFileType.JsonSchema,
                output_model_type=DataModelType.PydanticV2BaseModel,
                disable_timestamp=True,
                use_annotated=True,
                field_constraints=True,
                formatters=[],
            )
        except Exception as exc:  # the generator's own error types vary by version; name the step
            raise ExportError(
                f"datamodel-code-generator could not turn the tools' input schemas into models: {exc}"
            ) from exc
    if not isinstance(source, str):
        raise ExportError("datamodel-code-generator returned several modules; expected one models.py")
    header = (
        '"""Pydantic models of every tool\'s input, generated by datamodel-code-generator from the input schemas."""\n'
        "# ruff: noqa\n# mypy: ignore-errors\n"
    )
    if source.startswith("# generated"):  # the generator's banner names <stdin>; ours says where it came from
        source = source.split("\n", 2)[-1]
    return header + source, names


# --- the sample call the export's own test makes ----------------------------------------------------------------


def _example(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return "example"
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    if schema.get("examples") and isinstance(schema["examples"], list):
        return schema["examples"][0]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((t for t in kind if t != "null"), None)
    if kind == "object" or "properties" in schema:
        required = schema.get("required", [])
        return {name: _example(schema.get("properties", {}).get(name)) for name in required}
    return {"integer": 7, "number": 1.5, "boolean": True, "array": []}.get(str(kind), "example")


def _sample(directory: Path, integration: Integration, tools: list[Tool]) -> dict[str, Any]:
    """The first tool (path parameters preferred) whose example arguments the hub accepts, and the request the hub
    sends for them: the hub's own generated function and runtime build it here, without sending."""
    import anyio
    import httpx2
    import jsonschema

    from mcphub.runtime.package import Call, ToolOutput, load_package
    from mcphub.runtime.upstream.client import UpstreamClient
    from mcphub.runtime.upstream.credentials import Credential

    package = load_package(directory, module_prefix="mcphub_export")
    variables = {name: variable.default for name, variable in integration.server_variables.items()}
    credential = Credential(
        token="exported-test-credential",
        api_key="exported-test-credential",
        username="user",
        password="exported-test-credential",
        server_variables=variables,
    )
    base = re.sub(r"\{([^{}]+)\}", lambda m: variables.get(m.group(1), m.group(0)), integration.base_url).rstrip("/")
    client = UpstreamClient(integration, transport=httpx2.MockTransport(lambda request: httpx2.Response(500)))

    class Recorder:
        prepared: Any = None

        def __init__(self, tool: Tool) -> None:
            self.tool = tool

        async def http(self, *, full: bool = False, **parts: Any) -> ToolOutput:
            unset = dict.fromkeys(("path", "query", "headers", "cookies", "body", "form", "multipart"))
            self.prepared = client.prepare(self.tool, credential, **(unset | parts))
            return ToolOutput()

    ordered = sorted(tools, key=lambda t: not any(a.location == "path" for a in (t.http.args if t.http else [])))
    try:
        for tool in ordered:
            schema = tool.input_schema
            arguments = {name: _example(schema.get("properties", {}).get(name)) for name in schema.get("required", [])}
            if (
                tool.http is None
                or tool.http.server_url
                or jsonschema.validators.validator_for(schema)(schema).is_valid(arguments) is False
            ):
                continue
            recorder = Recorder(tool)
            try:
                anyio.run(package.invoke, cast("Call", recorder), tool.name, arguments)
            except Exception:  # the hub's own function refuses these arguments: try the next tool
                continue
            prepared = recorder.prepared
            if prepared is None or not prepared.url.startswith(base):
                continue
            return {
                "tool": tool.name,
                "arguments": arguments,
                "expected": {
                    "method": prepared.method,
                    "target": prepared.url[len(base) :],
                    "body": prepared.content.decode() if prepared.content is not None else None,
                    "headers": dict(prepared.headers),
                    "variables": variables,
                },
            }
    finally:
        anyio.run(client.aclose)
    raise ExportError(f"{directory}: no tool could be called with example arguments for the export's own test")


# --- rendering ----------------------------------------------------------------------------------------------------


def _env_vars(integration: Integration, prefix: str) -> list[tuple[str, str]]:
    types = {scheme.type for scheme in integration.auth}
    rows: list[tuple[str, str]] = []
    if types & {"bearer", "oauth2", "openid_connect", "api_key"}:
        rows.append((f"{prefix}TOKEN", "bearer or OAuth access token (also the API key when no API_KEY is set)"))
    if "api_key" in types:
        rows.append((f"{prefix}API_KEY", "API key"))
    if "basic" in types:
        rows += [(f"{prefix}USERNAME", "basic auth user name"), (f"{prefix}PASSWORD", "basic auth password")]
    if len(integration.auth) > 1:
        ids = ", ".join(f"`{scheme.id}`" for scheme in integration.auth)
        rows.append((f"{prefix}SCHEME", f"use this scheme only: one of {ids}"))
    names = list(integration.server_variables) + [n for s in integration.auth for n in s.discover]
    for name in dict.fromkeys(names):
        variable = integration.server_variables.get(name)
        default = f" (default `{variable.default}`)" if variable is not None else ""
        rows.append((f"{prefix}VAR_{name.upper()}", f"server variable `{{{name}}}`{default}"))
    rows.append(
        (f"{prefix}BASE_URL", f"send every request here instead of `{integration.base_url}` (a proxy, a sandbox)")
    )
    return rows


def _integration_json(integration: Integration, tools: list[Tool]) -> str:
    data = integration.model_dump(mode="json", by_alias=True, exclude={"warnings", "resources", "prompts"})
    data["tools"] = [_complete_bindings(tool.model_dump(mode="json", by_alias=True)) for tool in tools]
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _complete_bindings(tool: dict[str, Any]) -> dict[str, Any]:
    """The tool with every field of its HTTP binding and arguments present: a manifest leaves some out while unset
    (the IR's `_omit_unset`), and the export's copied runtime reads them as attributes."""
    http = tool.get("http")
    if http is not None:
        _with_defaults(http, HttpBinding)
        for arg in http["args"]:
            _with_defaults(arg, ArgBinding)
    return tool


def _with_defaults(dumped: dict[str, Any], model: type[HttpBinding] | type[ArgBinding]) -> None:
    for name, field in model.model_fields.items():
        if name not in dumped and not field.is_required():
            dumped[name] = field.get_default(call_default_factory=True)


def _hub_requirements(*names: str) -> list[str]:
    """The export's dependencies as mcphub itself requires them (the same pins and ranges)."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        declared = requires("mcphub") or []
    except PackageNotFoundError as exc:
        raise ExportError("mcphub's own metadata is missing; install it (`pip install -e .` or `make`)") from exc
    found = {re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0].lower(): line.split(";")[0].strip() for line in declared}
    return [found[name] for name in names]


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,  # Python, TOML and Markdown
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["pystr"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    env.filters["pyrepr"] = repr
    env.filters["oneline"] = lambda value: " ".join(str(value).split())
    return env


def export_integration(target: str | Path, out: Path, *, generated: Path = Path("generated")) -> ExportResult:
    """Write the standalone server of `target` (a slug or package folder) into `out` (new or empty)."""
    from mcphub.export.wire import transforms_source, wire_source

    directory = find_package(target, generated)
    integration = _load(directory)
    tools = _exportable(integration, directory)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out}: exists and is not an empty folder; choose a new --out folder")
    slug = integration.slug
    package_name = "mcp_" + slug.replace("-", "_")
    prefix = f"MCPHUB_CRED_{slug.upper().replace('-', '_')}_"
    models, inputs = _models(tools)
    sample = _sample(directory, integration, tools)
    context = {
        "integration": integration,
        "project": f"mcp-{slug}",
        "script": f"mcp-{slug}",
        "package_name": package_name,
        "version": VERSION,
        "prefix": prefix,
        "wire": wire_source(),
        "inputs": inputs,
        "sample": sample,
        "tool_names": [tool.name for tool in tools],
        "env_vars": _env_vars(integration, prefix),
        # anyio comes with mcp (>=4.9); named because server.py and runtime.py use it directly.
        "dependencies": [*_hub_requirements("mcp", "httpx2", "pydantic", "uvicorn"), "anyio>=4.9"],
        "tools": [
            {
                "name": tool.name,
                "title": tool.title,
                "description": tool.description.strip(),
                "http": tool.http,
                "arguments": [
                    {
                        "name": name,
                        "type": python_type(schema).replace("|", "or"),
                        "required": name in tool.input_schema.get("required", []),
                        "description": " ".join(str(schema.get("description", "")).split()).replace("|", "\\|")
                        if isinstance(schema, dict)
                        else "",
                    }
                    for name, schema in tool.input_schema.get("properties", {}).items()
                ],
            }
            for tool in tools
        ],
    }
    env = _environment()
    code = out / package_name
    files = {
        out / "pyproject.toml": env.get_template("pyproject.toml.j2").render(context),
        out / "README.md": env.get_template("README.md.j2").render(context),
        out / "tests" / "test_server.py": env.get_template("test_server.py.j2").render(context),
        code / "__init__.py": f'"""{integration.name} MCP server, exported from MCP Hub."""\n',
        code / "__main__.py": "from .server import main\n\nmain()\n",
        code / "server.py": env.get_template("server.py.j2").render(context),
        code / "runtime.py": env.get_template("runtime.py.j2").render(context),
        code / "models.py": models,
        code / "integration.json": _integration_json(integration, tools),
    }
    files[code / "transforms.py"] = transforms_source()  # response shaping and input transforms (`input:`)
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    format_python(code)
    format_python(out / "tests")
    return ExportResult(
        directory=out, project=f"mcp-{slug}", script=f"mcp-{slug}", tools=len(tools), sample_tool=sample["tool"]
    )
