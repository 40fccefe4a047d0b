"""The hub's own request code, lifted out of `mcphub.runtime` as source text for the exported runtime module.

An export must send exactly the requests the hub sends, and must run without mcphub installed. Rather than keep a
second implementation of parameter serialisation, auth injection, server URLs, input transforms and response
shaping in step with the hub's by hand, the exporter copies the hub's modules into the export's `runtime.py` and
`transforms.py`: every top-level definition of the upstream room's request and response modules
(`credentials.py`, `serialization.py`, `xml_body.py`, `response.py`, `request.py`, `client.py`, with their
imports) except the few
listed below, which need the hub itself; from `egress.py` only the per-request `EgressPolicy` (the connect-time
address checks need the hub's transports); `ToolOutput`; and the MCP result conversion.
Imports of mcphub inside the copied code are rewritten to the export's own modules; the template supplies the names
the copied code takes from elsewhere in mcphub (`ArgLocation`, `EgressDenied`, IR objects). A new helper in those
modules travels along by itself; one that needs more of mcphub fails the export's own tests, which tests/export runs.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WireSource", "transforms_source", "wire_source"]

_UPSTREAM = "mcphub.runtime.upstream"
# The modules copied whole, in dependency order (all land in one module of the export, so their top-level names
# must not clash).
_WHOLE = ("credentials", "serialization", "xml_body", "response", "request")
_CLIENT = f"{_UPSTREAM}.client"
# What stays behind: the hub's own fetches (FetchFailed derives from the runtime's error root, fetch_json serves
# OAuth discovery) and the export lists.
_CLIENT_LEFT_OUT = frozenset({"__all__", "FetchFailed"})
_CLIENT_METHODS_LEFT_OUT = frozenset({"fetch_json"})
# The per-request policy of egress.py; the rest of it (address checks, pools) is the hub's own transport.
_EGRESS_ONLY = ("_host_pattern", "_compile_host", "EgressPolicy")
# Imports inside the copied code that point into mcphub, and what they become in the export.
_IMPORTS = {
    "from mcphub.runtime.upstream.transforms import": "from .transforms import",
    "from mcphub.compiler.ir import InputShape, ResponseShape\n": "InputShape = ResponseShape = Any  # plain objects\n",
    "from mcphub.runtime.package import ToolOutput\n": "from .runtime import ToolOutput\n",
}
_MCPHUB_IMPORT = re.compile(r"^\s*(from|import) mcphub\b.*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class WireSource:
    imports: str  # the copied modules' own imports (standard library, httpx2, anyio), mcphub's left out
    module_level: str  # definitions for runtime.py, in their modules' order
    results: str  # ToolOutput -> CallToolResult, for server.py


def _source(module: str) -> str:
    # Read, not imported: the hub's MCP layer need not load to copy a function out of it.
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{module} is missing from this mcphub installation")
    return Path(spec.origin).read_text(encoding="utf-8")


def _name(node: ast.stmt) -> str | None:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return None


def _start(node: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    return min([d.lineno for d in decorators] + [node.lineno])


def _class_without(lines: list[str], node: ast.ClassDef, left_out: frozenset[str]) -> str:
    """The class's source with the methods in `left_out` removed (comments between members kept)."""
    kept = lines[_start(node) - 1 : node.body[0].lineno - 1]
    previous_end = node.body[0].lineno - 1
    for member in node.body:
        if _name(member) in left_out:
            previous_end = member.end_lineno or previous_end
            continue
        kept += lines[previous_end : member.end_lineno]
        previous_end = member.end_lineno or previous_end
    return "\n".join(kept)


def _module(
    module: str,
    *,
    only: tuple[str, ...] = (),
    left_out: frozenset[str] = frozenset(),
    methods_left_out: frozenset[str] = frozenset(),
) -> tuple[list[str], list[str]]:
    """(imports, definitions) of `module`: every top-level definition (or `only` these), in source order."""
    source = _source(module)
    lines = source.splitlines()
    imports: list[str] = []
    found: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            if only:  # a few names taken: the template imports what they need
                continue
            origin = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if origin and origin != "__future__" and not origin.startswith("mcphub"):
                imports.append("\n".join(lines[node.lineno - 1 : node.end_lineno]))
            continue
        name = _name(node)
        if name is None or name in left_out or (only and name not in only):
            continue
        if isinstance(node, ast.ClassDef) and methods_left_out:
            found[name] = _class_without(lines, node, methods_left_out)
        else:
            found[name] = "\n".join(lines[_start(node) - 1 : node.end_lineno])
    missing = [name for name in only if name not in found]
    if missing:
        raise RuntimeError(f"{module} no longer defines {', '.join(missing)}; update mcphub/export/wire.py")
    return imports, list(found.values())


def _rewrite_imports(source: str, where: str, *, required: tuple[str, ...] = ()) -> str:
    for old in required:
        if old not in source:
            raise RuntimeError(f"{where}: the import {old.strip()!r} changed; update mcphub/export/wire.py")
    for old, new in _IMPORTS.items():
        source = source.replace(old, new)
    leftover = _MCPHUB_IMPORT.search(source)
    if leftover is not None:
        raise RuntimeError(
            f"{where}: copied code imports mcphub ({leftover.group().strip()}); update mcphub/export/wire.py"
        )
    return source


def wire_source() -> WireSource:
    """The hub's request and response code as source text (see the module docstring)."""
    imports: list[str] = []
    parts: list[str] = []
    for more_imports, definitions in (
        _module("mcphub.runtime.package", only=("ToolOutput",)),
        *(_module(f"{_UPSTREAM}.{name}", left_out=frozenset({"__all__"})) for name in _WHOLE),
        _module(f"{_UPSTREAM}.egress", only=_EGRESS_ONLY),
        _module(_CLIENT, left_out=_CLIENT_LEFT_OUT, methods_left_out=_CLIENT_METHODS_LEFT_OUT),
    ):
        imports += more_imports
        parts += definitions
    _, results = _module("mcphub.runtime.mcp.pipeline", only=("_CONTENT_BLOCK", "to_call_result"))
    return WireSource(
        imports="\n".join(dict.fromkeys(imports)),
        module_level=_rewrite_imports("\n\n\n".join(parts), _UPSTREAM),
        results=_rewrite_imports("\n\n\n".join(results), "mcphub.runtime.mcp.pipeline"),
    )


def transforms_source() -> str:
    """The hub's transforms module (response shaping, input transforms) with its mcphub imports made local."""
    module = "mcphub.runtime.upstream.transforms"
    # The IR names are only annotations there (postponed evaluation); the export passes its own objects.
    required = tuple(key for key in _IMPORTS if not key.startswith("from mcphub.runtime.upstream.transforms"))
    return _rewrite_imports(_source(module), module, required=required)
