"""The hub's own request code, lifted out of `mcphub.runtime` as source text for the exported runtime module.

An export must send exactly the requests the hub sends, and must run without mcphub installed. Rather than keep a
second implementation of parameter serialisation, auth injection and server URLs in step with the hub's by hand,
the exporter copies the hub's functions, by name, from the runtime's source files into the export's `runtime.py`.
Only code that depends on nothing but the standard library, httpx2 and plain attribute access is taken; the
export's template supplies the few names it refers to (`ArgLocation`, `ToolOutput`'s callers, the IR as objects).
If the runtime renames one of these, the export fails loudly here (tests/export covers it) instead of drifting.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WireSource", "wire_source"]

# Module-level names taken from mcphub.runtime.upstream.http, in an order where each is defined before use.
_HTTP_NAMES = (
    "MAX_REDIRECTS",
    "_REDIRECT_STATUSES",
    "_ERROR_BODY_CHARS",
    "_TEMPLATE_VARIABLE",
    "_RESERVED",
    "_UpstreamFailure",
    "_scalar",
    "_pct",
    "serialize_path",
    "_deep_object",
    "_identity",
    "serialize_parameter",
    "encode_form",
    "_query_string",
    "_query_encoder",
    "_host_pattern",
    "_compile_host",
    "EgressPolicy",
    "_Prepared",
    "_Preset",
    "_presets",
    "_error",
    "_is_json",
    "_is_text",
    "_error_message",
    "_shape",
    "_looks_textual",
)
# Methods of UpstreamClient: building a request from a tool, its arguments and a credential; input transforms; the
# exchange (egress checks, redirects, the size cap). The export's template supplies `_send` (one httpx2 request).
_CLIENT_METHODS = (
    "_server_url",
    "_no_value",
    "_security",
    "prepare",
    "_multipart",
    "_check_destination",
    "send",
    "_build_input",
    "_exchange",
    "_read_capped",
)
# Imports inside the copied code that point into mcphub, and what they become in the export.
_IMPORTS = {
    "from mcphub.runtime.upstream.transforms import": "from .transforms import",
    "from mcphub.compiler.ir import InputShape, ResponseShape\n": "InputShape = ResponseShape = Any  # plain objects\n",
    "from mcphub.runtime.package import ToolOutput\n": "from .runtime import ToolOutput\n",
}


def _rewrite_imports(source: str, where: str, *, required: tuple[str, ...] = ()) -> str:
    for old in required:
        if old not in source:
            raise RuntimeError(f"{where}: the import {old.strip()!r} changed; update mcphub/export/wire.py")
    for old, new in _IMPORTS.items():
        source = source.replace(old, new)
    leftover = re.search(r"^\s*(from|import) mcphub\b.*$", source, re.MULTILINE)
    if leftover is not None:
        raise RuntimeError(
            f"{where}: copied code imports mcphub ({leftover.group().strip()}); update mcphub/export/wire.py"
        )
    return source


@dataclass(frozen=True, slots=True)
class WireSource:
    module_level: str  # definitions for the top of runtime.py
    methods: str  # method definitions, indented for a class body
    results: str  # ToolOutput -> CallToolResult, for server.py


def _source(module: str) -> str:
    # Read, not imported: the hub's MCP layer need not load to copy a function out of it.
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{module} is missing from this mcphub installation")
    return Path(spec.origin).read_text(encoding="utf-8")


def _segments(module: str, names: tuple[str, ...], *, within: str | None = None) -> list[str]:
    source = _source(module)
    lines = source.splitlines()
    body = ast.parse(source).body
    if within is not None:
        owner = next((n for n in body if isinstance(n, ast.ClassDef) and n.name == within), None)
        if owner is None:
            raise RuntimeError(f"{module}: class {within} is gone; update mcphub/export/wire.py")
        body = owner.body
    found: dict[str, str] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = node.name
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, start = node.targets[0].id, node.lineno
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, start = node.target.id, node.lineno
        else:
            continue
        if name in names:
            found[name] = "\n".join(lines[start - 1 : node.end_lineno])
    missing = [name for name in names if name not in found]
    if missing:
        where = f"{module}.{within}" if within else module
        raise RuntimeError(f"{where} no longer defines {', '.join(missing)}; update mcphub/export/wire.py")
    return [found[name] for name in names]


def wire_source() -> WireSource:
    """The hub's serialisation, auth and response-shaping code as source text (see the module docstring)."""
    http = "mcphub.runtime.upstream.http"
    parts = _segments("mcphub.runtime.package", ("ToolOutput",))
    parts += _segments("mcphub.runtime.upstream.credentials", ("Credential", "env_prefix"))
    parts += _segments(http, _HTTP_NAMES)
    methods = _segments(http, _CLIENT_METHODS, within="UpstreamClient")
    results = _segments("mcphub.runtime.mcp.pipeline", ("_CONTENT_BLOCK", "to_call_result"))
    return WireSource(
        module_level=_rewrite_imports("\n\n\n".join(parts), http),
        methods=_rewrite_imports("\n\n".join(methods), f"{http}.UpstreamClient"),
        results=_rewrite_imports("\n\n\n".join(results), "mcphub.runtime.mcp.pipeline"),
    )


def transforms_source() -> str:
    """The hub's transforms module (response shaping, input transforms) with its mcphub imports made local."""
    module = "mcphub.runtime.upstream.transforms"
    # The IR names are only annotations there (postponed evaluation); the export passes its own objects.
    required = (
        "from mcphub.compiler.ir import InputShape, ResponseShape\n",
        "from mcphub.runtime.package import ToolOutput\n",
    )
    return _rewrite_imports(_source(module), module, required=required)
