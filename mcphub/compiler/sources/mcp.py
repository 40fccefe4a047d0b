"""Source kind `mcp`: an upstream MCP server (stdio command or streamable-HTTP URL) -> IR.

The tools are recorded at compile time: `integration_from_spec` starts the server (or connects to
its URL), lists its tools, and writes them into the package like any other source. So a package
always says exactly which tools it serves, `mcphub compile --check` notices an upstream that
changed, curation (`tools:` in the spec) works on upstream tools as on operations, and mounting
needs no network. Tools the upstream adds later are picked up by recompiling; the runtime logs
when a running upstream says its tool list changed (and passes on its prompt and resource list
changes, which the hub serves live). Calls are proxied by `mcphub.runtime.upstream.executors.mcp`.

`command:` is run as written, with one exception (`stdio_command`): a first word `python` or
`python3` means the Python interpreter running mcphub (`sys.executable`), at compile time and at run
time alike, so `command: [python, -m, mcp_server_time]` runs a server installed next to the hub (in
its virtualenv) whatever `python` on PATH is, and no machine's path is written into the package. Give
an absolute path (or another name, such as `python3.12`) to run some other interpreter.

Each upstream tool becomes an IR tool bound by `McpBinding(upstream_name=...)`: its name made
client-safe and fitted to the slug's budget (`naming.py`), its input schema checked with
`schemas.tool_schema_problems` (a tool whose schema some client would reject is left out with a
warning), its output schema and annotations kept. Upstream prompts and resources are not
recorded: the IR's resources are static text and its prompts templates rendered by the hub, so the
runtime proxies them live from the upstream session instead (`mcphub.runtime.mcp.hub`), with their
templates, binary contents, subscriptions and rich prompt messages intact.

Recording declares the client capabilities the runtime's session declares (sampling, elicitation,
roots), because some servers register tools only for clients that can answer them.

Stdio servers get only the spec's `env` plus the SDK's safe basics (HOME, LOGNAME, PATH, SHELL,
TERM, USER), exactly as at run time. This stage does I/O by nature; everything after
`record_upstream` is pure (`listing_to_integration`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO, cast

import anyio
import httpx2
import mcp_types as types
from mcp.client.client import Client
from mcp.client.session import ClientRequestContext
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from mcphub.compiler.errors import SourceError
from mcphub.compiler.ir import Integration, McpBinding, SourceInfo, Tool, ToolAnnotations
from mcphub.compiler.naming import is_legal_tool_name, name_budget, snake_case, unique_names
from mcphub.compiler.schemas import tool_schema_problems
from mcphub.compiler.spec import HubSpec

__all__ = [
    "COMPILE_TIMEOUT_S",
    "UpstreamListing",
    "integration_from_spec",
    "interpreted",
    "listing_to_integration",
    "record_upstream",
    "stdio_command",
]

COMPILE_TIMEOUT_S = 60.0  # start + initialize + tools/list; `npx -y` servers may download first
_MAX_PAGES = 100
_STDERR_TAIL = 600
_ANNOTATION_KEYS = ("title", "readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")
# First words of `command:` that mean the interpreter running mcphub.
_THIS_PYTHON = frozenset({"python", "python3"})


def stdio_command(command: Sequence[str]) -> list[str]:
    """The argv that starts a stdio server: `command` with a first word `python`/`python3` made `sys.executable`.

    The interpreter running mcphub has the servers installed with it (a dev dependency, `pip install` into the
    same virtualenv); `python` on PATH may be another one (a system Python without them), or missing.
    """
    argv = list(command)
    if argv and argv[0] in _THIS_PYTHON and sys.executable:
        argv[0] = sys.executable
    return argv


@dataclass(slots=True)
class UpstreamListing:
    """What an upstream server said about itself: identity, instructions, and its tools (wire dicts)."""

    server_name: str
    server_version: str
    instructions: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)


def interpreted(source: SourceInfo) -> SourceInfo:
    """`source` with the reading of its command recorded (`hub_python`), so the runtime runs what was compiled."""
    command = source.command or []
    hub_python = bool(command) and command[0] in _THIS_PYTHON
    return source.model_copy(update={"hub_python": hub_python})


def integration_from_spec(spec: HubSpec, spec_path: Path) -> Integration:
    """Record the upstream's tools (connecting now) and convert them; curation is applied by the pipeline."""
    source = interpreted(spec.source.to_source_info())
    listing = record_upstream(source, spec=spec, spec_path=spec_path)
    return listing_to_integration(
        listing, slug=spec.slug, name=spec.name, source=source, max_full_length=spec.max_name_length
    )


# --- recording (I/O) -------------------------------------------------------------------------------


def record_upstream(
    source: SourceInfo, *, spec: HubSpec, spec_path: Path, timeout_s: float | None = None
) -> UpstreamListing:
    """Connect to the upstream, list its tools, disconnect; a failure is a SourceError saying what to fix."""
    timeout = COMPILE_TIMEOUT_S if timeout_s is None else timeout_s
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        try:
            return _run_sync(source, errlog, timeout)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            errlog.seek(0)
            stderr = errlog.read()
            raise _explain(exc, source, spec, spec_path, timeout, stderr) from None


def _run_sync(source: SourceInfo, errlog: IO[str], timeout: float) -> UpstreamListing:
    """Run the async recording from sync code, also when called inside a running event loop."""

    async def main() -> UpstreamListing:
        with anyio.fail_after(timeout):
            return await _record(source, errlog)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(main)
    # Inside an event loop (e.g. the builder compiling from a request): use a loop of our own on a worker thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, main).result()


async def _record(source: SourceInfo, errlog: IO[str]) -> UpstreamListing:
    if source.command:
        command, *args = stdio_command(source.command)
        params = StdioServerParameters(command=command, args=args, env=dict(source.env))
        transport: Any = stdio_client(params, errlog=cast(TextIO, errlog))
    else:
        assert source.url is not None  # the spec model requires one of command or url
        transport = streamable_http_client(source.url, http_client=httpx2.AsyncClient(trust_env=False))
    # Declare what the runtime's session declares (sampling, elicitation, roots): servers such as server-everything
    # register some tools only for clients that can answer them, and the recorded list must be the one served.
    async with Client(
        transport,
        mode="legacy",
        cache=None,
        sampling_callback=_no_sampling,
        elicitation_callback=_no_elicitation,
        list_roots_callback=_no_roots,
    ) as client:
        info = client.server_info
        tools: list[dict[str, Any]] = []
        capabilities = client.server_capabilities
        if capabilities.tools is not None:
            cursor: str | None = None
            for _ in range(_MAX_PAGES):
                page = await client.session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
                tools.extend(tool.model_dump(by_alias=True, mode="json", exclude_none=True) for tool in page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    break
        return UpstreamListing(
            server_name=info.name if info else "",
            server_version=info.version if info else "",
            instructions=client.instructions,
            tools=tools,
        )


_NO_CLIENT = types.ErrorData(code=types.INVALID_REQUEST, message="mcphub is recording tools; no client is connected")


# At compile time there is no client to relay a server request to.
async def _no_sampling(
    context: ClientRequestContext, params: types.CreateMessageRequestParams
) -> types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData:
    return _NO_CLIENT


async def _no_elicitation(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ErrorData:
    return _NO_CLIENT


async def _no_roots(context: ClientRequestContext) -> types.ErrorData:
    return _NO_CLIENT


def _innermost(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _explain(
    exc: BaseException, source: SourceInfo, spec: HubSpec, spec_path: Path, timeout: float, stderr: str
) -> SourceError:
    exc = _innermost(exc)
    tail = stderr.strip()[-_STDERR_TAIL:]
    said = f"; its stderr ends with: {tail!r}" if tail else ""
    if source.command:
        field_name, what = "source.command", f"the upstream MCP server `{' '.join(source.command)}`"
        if isinstance(exc, FileNotFoundError):
            message = (
                f"'{source.command[0]}' was not found (searched PATH={os.environ.get('PATH', '')!r}); "
                "install it, or give its full path as the first item of command:"
            )
        elif isinstance(exc, PermissionError):
            message = (
                f"'{source.command[0]}' is not executable ({exc}); fix its permissions or run it through an interpreter"
            )
        elif isinstance(exc, TimeoutError):
            message = (
                f"{what} did not answer initialize and tools/list within {timeout:g} s{said}; check that the command "
                "starts an MCP server on stdio (some servers need an argument such as `stdio`)"
            )
        elif isinstance(exc, MCPError) and exc.code == types.CONNECTION_CLOSED:
            message = (
                f"{what} exited (or closed its stdout) before answering{said}; run the command by hand to see why, "
                "and declare any variables it needs under source.env"
            )
        else:
            message = f"{what} failed: {type(exc).__name__}: {exc}{said}"
    else:
        field_name, what = "source.url", f"the upstream MCP server at {source.url}"
        if isinstance(exc, TimeoutError):
            message = (
                f"{what} did not answer initialize and tools/list within {timeout:g} s; is the URL an MCP endpoint?"
            )
        elif isinstance(exc, httpx2.HTTPError | OSError):
            message = f"{what} could not be reached ({type(exc).__name__}: {exc}); start the server or fix the URL"
        elif isinstance(exc, MCPError):
            message = (
                f"{what} refused the session (error {exc.code}: {exc.message}); check that the URL is the server's "
                "streamable-HTTP MCP endpoint (often ending in /mcp)"
            )
        else:
            message = f"{what} failed: {type(exc).__name__}: {exc}"
    return SourceError(str(spec.error(field_name, message, spec_path)))


# --- conversion (pure) -----------------------------------------------------------------------------


def _client_safe(name: str) -> str:
    if is_legal_tool_name(name):
        return name
    safe = snake_case(name)
    return safe if safe and safe[0].isalpha() else f"tool_{safe}" if safe else "tool"


def _normalize_schema(schema: Any) -> Any:
    """Draft-07 habits of upstream servers, fixed where it is lossless: `definitions` -> `$defs`, no root `$schema`."""
    if not isinstance(schema, dict):
        return schema
    result = {key: value for key, value in schema.items() if key != "$schema"}
    if "definitions" in result and "$defs" not in result:
        result["$defs"] = result.pop("definitions")
        result = _rewrite_refs(result)
    return result


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                re.sub(r"^#/definitions/", "#/$defs/", value)
                if key == "$ref" and isinstance(value, str)
                else _rewrite_refs(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return node


def _annotations(raw: Any) -> ToolAnnotations:
    if not isinstance(raw, Mapping):
        return ToolAnnotations()
    known = {key: raw[key] for key in _ANNOTATION_KEYS if key in raw}
    try:
        return ToolAnnotations.model_validate(known)
    except ValueError:
        return ToolAnnotations()


def listing_to_integration(
    listing: UpstreamListing, *, slug: str, name: str, source: SourceInfo, max_full_length: int
) -> Integration:
    """The Integration of an upstream's listing: one McpBinding tool per usable upstream tool."""
    warnings: list[str] = []
    usable: list[tuple[str, Tool]] = []
    for raw in listing.tools:
        upstream_name = str(raw.get("name", ""))
        schema = _normalize_schema(raw.get("inputSchema") or {"type": "object", "properties": {}})
        problems = tool_schema_problems(schema) if isinstance(schema, dict) else ["input schema is not an object"]
        if problems:
            warnings.append(
                f"tool '{upstream_name}' ({upstream_name}) left out: its input schema would be rejected by some "
                f"clients: {'; '.join(problems)}"
            )
            continue
        output = _normalize_schema(raw.get("outputSchema"))
        if output is not None and (not isinstance(output, dict) or tool_schema_problems(output)):
            warnings.append(
                f"tool '{upstream_name}' ({upstream_name}): output schema dropped, it is not a valid object schema"
            )
            output = None
        annotations = _annotations(raw.get("annotations"))
        usable.append(
            (
                upstream_name,
                Tool(
                    name=upstream_name,
                    title=raw.get("title") or annotations.title,
                    description=str(raw.get("description") or ""),
                    input_schema=schema,
                    output_schema=output,
                    annotations=annotations,
                    source_ref=upstream_name,
                    mcp=McpBinding(upstream_name=upstream_name),
                ),
            )
        )
    upstream_names = [upstream for upstream, _ in usable]
    names = unique_names(
        [_client_safe(n) for n in upstream_names], name_budget(slug, max_full_length), keys=upstream_names
    )
    tools = []
    for (upstream_name, tool), final in zip(usable, names, strict=True):
        if final != upstream_name:
            warnings.append(f"tool '{upstream_name}' ({upstream_name}) is served as '{final}' to fit client name rules")
        tools.append(tool.model_copy(update={"name": final}))
    server = " ".join(part for part in (listing.server_name, listing.server_version) if part)
    description = (listing.instructions or "").strip() or (f"Tools of the MCP server {server}." if server else "")
    return Integration(
        slug=slug,
        name=name,
        description=description,
        api_version=listing.server_version or None,
        source=source,
        base_url=source.url or "",  # an HTTP upstream's host is what the egress policy allows
        tools=tools,
        warnings=warnings,
    )
