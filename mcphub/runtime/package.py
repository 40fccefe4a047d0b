"""The mount interface: the small public API that generated packages import, and their loader.

A generated package is `generated/<slug>/` with `manifest.json` (the IR) and `server.py`, whose
functions are registered on a `ToolRegistry` and receive a `Call` — the runtime's handle for one
tool invocation. Generated code touches nothing else of the runtime, so the runtime can change
freely behind `Call` without recompiling packages.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from mcphub.compiler.ir import Integration, Tool
from mcphub.runtime.errors import HubError

__all__ = [
    "SEPARATOR",
    "Call",
    "Package",
    "PackageError",
    "ToolFunction",
    "ToolOutput",
    "ToolRegistry",
    "load_package",
]

# Between a package's slug and its tool's name in the hub's names (`github__create_issue`). Here, with the mount
# interface, rather than in the catalog: the compiler's search-index writer needs it without loading the catalog
# (MCP types, jsonschema, the executors).
SEPARATOR = "__"


@dataclass(slots=True)
class ToolOutput:
    """What a tool call produced, independent of the MCP wire types (the hub converts it)."""

    text: str = ""
    structured: Any = None  # JSON value when the upstream answered JSON
    is_error: bool = False
    binary: bytes | None = None  # non-text upstream bodies, served as an embedded resource
    mime_type: str | None = None
    upstream_status: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # Already-built MCP content blocks (dicts in wire shape), used by proxied upstream MCP tools.
    content: list[dict[str, Any]] | None = None


class Call(Protocol):
    """One tool invocation, as generated code sees it. Values of None are omitted from requests."""

    tool: Tool

    async def http(
        self,
        *,
        path: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        cookies: Mapping[str, Any] | None = None,
        body: Any = None,
        form: Mapping[str, Any] | None = None,
        multipart: Mapping[str, Any] | None = None,
        full: bool = False,
    ) -> ToolOutput:
        """Send the tool's HTTP request (method and path come from its binding); keys are wire names.

        `full` returns the upstream's answer untouched by the spec's response shaping (`response:`).
        """
        ...

    async def graphql(self, variables: Mapping[str, Any]) -> ToolOutput: ...

    async def sql(self, arguments: Mapping[str, Any]) -> ToolOutput: ...

    async def mcp(self, arguments: Mapping[str, Any]) -> ToolOutput: ...


ToolFunction = Callable[..., Awaitable[ToolOutput]]


class ToolRegistry:
    """Collects a generated module's tool functions by tool name."""

    def __init__(self) -> None:
        self.functions: dict[str, ToolFunction] = {}

    def tool(self, name: str) -> Callable[[ToolFunction], ToolFunction]:
        def register(function: ToolFunction) -> ToolFunction:
            if name in self.functions:
                raise ValueError(f"tool {name!r} registered twice")
            self.functions[name] = function
            return function

        return register


class PackageError(HubError):
    """A package on disk cannot be mounted; the message says which file and why."""


@dataclass(slots=True)
class Package:
    """A loaded package: its IR and the function behind each tool."""

    directory: Path
    integration: Integration
    functions: dict[str, ToolFunction]
    # tool name -> {input property name -> python keyword}, so calls need no per-call lookups.
    keywords: dict[str, dict[str, str]]

    @property
    def slug(self) -> str:
        return self.integration.slug

    async def invoke(self, call: Call, tool_name: str, arguments: Mapping[str, Any]) -> ToolOutput:
        """Run one tool with already-validated arguments."""
        function = self.functions[tool_name]
        names = self.keywords.get(tool_name, {})
        return await function(call, **{names.get(key, key): value for key, value in arguments.items()})


def _import_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PackageError(f"{path}: not an importable Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a broken generated file must not take the hub down
        sys.modules.pop(name, None)
        raise PackageError(f"{path}: import failed: {type(exc).__name__}: {exc}") from exc
    return module


def load_package(directory: str | Path, *, module_prefix: str = "mcphub_generated") -> Package:
    """Load `directory` (a compiled package) exactly as the hub mounts it."""
    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    try:
        integration = Integration.from_manifest(manifest_path.read_bytes())
    except FileNotFoundError as exc:
        raise PackageError(f"{manifest_path}: missing; is {directory} a compiled package?") from exc
    except ValueError as exc:
        raise PackageError(f"{manifest_path}: {exc}") from exc

    # A unique module name per directory lets two versions of one slug coexist during a hot swap.
    module_name = f"{module_prefix}.{integration.slug.replace('-', '_')}_{abs(hash(str(directory.resolve()))):x}"
    module = _import_module(module_name, directory / "server.py")
    registry = getattr(module, "registry", None)
    if not isinstance(registry, ToolRegistry):
        raise PackageError(f"{directory / 'server.py'}: defines no `registry = ToolRegistry()`")

    functions: dict[str, ToolFunction] = {}
    keywords: dict[str, dict[str, str]] = {}
    for tool in integration.tools:
        function = registry.functions.get(tool.name)
        if function is None:
            raise PackageError(f"{directory / 'server.py'}: no function for tool {tool.name!r} in manifest.json")
        functions[tool.name] = function
        if tool.http is not None:
            renamed = {arg.name: arg.python_name for arg in tool.http.args if arg.name != arg.python_name}
            if renamed:
                keywords[tool.name] = renamed
    return Package(directory=directory, integration=integration, functions=functions, keywords=keywords)
