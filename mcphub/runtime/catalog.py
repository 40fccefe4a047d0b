"""Discovering, loading and hot-swapping the packages the hub mounts.

A catalog directory holds compiled packages (`<dir>/<slug>/manifest.json` + `server.py`). A scan
loads every package into a `Mount` — the package plus everything the request path needs prebuilt
(MCP `Tool` objects with and without the `<slug>__` prefix, resource and prompt lists, the
integration's executor) — and the result is published as one immutable `Snapshot`.
Reloading builds a complete new snapshot next to the old one and swaps a single reference, so a
request sees one consistent catalog; calls already running keep their old `Mount`, whose executor
(HTTP pool, database pools, upstream session) is closed only after its last call finishes. Unchanged packages (same file contents) are
carried over as they are; a package that fails to load keeps serving its previous version.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import mcp_types as types
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from mcphub.compiler.ir import ArgLocation, Integration
from mcphub.compiler.ir import Prompt as IrPrompt
from mcphub.compiler.ir import Resource as IrResource
from mcphub.compiler.ir import Tool as IrTool
from mcphub.runtime.package import SEPARATOR, Package, PackageError, load_package
from mcphub.runtime.upstream.client import UpstreamClient
from mcphub.runtime.upstream.executors.base import Executor
from mcphub.runtime.upstream.executors.registry import Executors

__all__ = ["SEPARATOR", "Catalog", "Mount", "ReloadReport", "Snapshot", "ToolEntry"]

logger = logging.getLogger(__name__)

_MAX_REPORTED_ERRORS = 10
_MAX_LISTED_ARGUMENTS = 25


def _validation_messages(validator: Draft202012Validator, arguments: Mapping[str, Any]) -> list[str]:
    errors = sorted(validator.iter_errors(arguments), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    messages = []
    for error in errors[:_MAX_REPORTED_ERRORS]:
        where = ".".join(str(p) for p in error.absolute_path)
        messages.append(f"{where}: {error.message}" if where else error.message)
    if len(errors) > _MAX_REPORTED_ERRORS:
        messages.append(f"... and {len(errors) - _MAX_REPORTED_ERRORS} more")
    return messages


@dataclass(slots=True)
class ToolEntry:
    """One enabled tool, with its MCP descriptions built once and its validator compiled on first use."""

    tool: IrTool
    plain: types.Tool
    prefixed: types.Tool
    _validator: Draft202012Validator | None = None
    _schema_error: str | None = None

    def validate(self, arguments: Mapping[str, Any]) -> list[str]:
        """Problems with `arguments` against the input schema, one readable line each; [] when valid."""
        if self._validator is None and self._schema_error is None:
            try:
                Draft202012Validator.check_schema(self.tool.input_schema)
                self._validator = Draft202012Validator(self.tool.input_schema)
            except SchemaError as exc:
                self._schema_error = f"the tool's input schema is invalid ({exc.message}); recompile the package"
        if self._schema_error is not None:
            return [self._schema_error]
        assert self._validator is not None
        problems = [] if self._validator.is_valid(arguments) else _validation_messages(self._validator, arguments)
        properties = self.tool.input_schema.get("properties")
        if self.tool.http is not None and isinstance(properties, dict):
            # A generated function takes declared keywords only: an undeclared argument would be dropped
            # silently, which hides the caller's mistake, so name it instead.
            unknown = [key for key in arguments if key not in properties]
            if unknown:
                names = ", ".join(list(properties)[:_MAX_LISTED_ARGUMENTS])
                more = ", ..." if len(properties) > _MAX_LISTED_ARGUMENTS else ""
                problems.extend(
                    f"{key!r} is not an argument of this tool (it takes: {names or 'no arguments'}{more})"
                    for key in unknown
                )
            problems.extend(_empty_body(self.tool, arguments))
        return problems


def _empty_body(tool: IrTool, arguments: Mapping[str, Any]) -> list[str]:
    """A call giving none of a must-not-be-empty body's arguments (`HttpBinding.body_needs_one_of`), as a problem.

    JSON Schema cannot say "at least one of" without a root `anyOf` (clients refuse it), so the hub checks it here,
    with the schema: the upstream would refuse the empty body anyway, after the request had gone out. A spec's fixed
    body field or default fills the body, so no check then. None is "not given" (generated functions' default).
    """
    http = tool.http
    if http is None or not http.body_needs_one_of:
        return []
    body = (ArgLocation.BODY, ArgLocation.FORM, ArgLocation.MULTIPART)
    if any(http.fixed.get(location) for location in body) or any(n in tool.defaults for n in http.body_needs_one_of):
        return []
    if any(arguments.get(name) is not None for name in http.body_needs_one_of):
        return []
    names = ", ".join(repr(name) for name in http.body_needs_one_of[:_MAX_LISTED_ARGUMENTS])
    more = ", ..." if len(http.body_needs_one_of) > _MAX_LISTED_ARGUMENTS else ""
    return [f"the request body cannot be empty: give at least one of {names}{more}"]


def _mcp_tool(tool: IrTool, name: str) -> types.Tool:
    hints = tool.annotations.model_dump(exclude_none=True)
    description = tool.description
    if tool.deprecated:
        description = f"Deprecated. {description}".strip()
    return types.Tool(
        name=name,
        title=tool.title,
        description=description or None,
        input_schema=tool.input_schema,
        annotations=types.ToolAnnotations(**hints) if hints else None,
    )


def _mcp_resource(resource: IrResource, name: str) -> types.Resource:
    return types.Resource(
        uri=resource.uri, name=name, description=resource.description or None, mime_type=resource.mime_type
    )


def _mcp_prompt(prompt: IrPrompt, name: str) -> types.Prompt:
    return types.Prompt(
        name=name,
        description=prompt.description or None,
        arguments=[
            types.PromptArgument(name=a.name, description=a.description or None, required=a.required)
            for a in prompt.arguments
        ]
        or None,
    )


@dataclass(eq=False)
class Mount:
    """A mounted package and everything the request path needs, prebuilt."""

    package: Package
    fingerprint: str
    executor: Executor
    tools: dict[str, ToolEntry]
    plain_tools: list[types.Tool]
    resources: dict[str, IrResource]
    plain_resources: list[types.Resource]
    prompts: dict[str, IrPrompt]
    plain_prompts: list[types.Prompt]
    _inflight: int = 0
    _retired: bool = False
    _closed: bool = False

    @property
    def slug(self) -> str:
        return self.package.slug

    @property
    def integration(self) -> Integration:
        return self.package.integration

    @property
    def client(self) -> UpstreamClient:
        """The integration's egress policy and HTTP pool (its executor's)."""
        return self.executor.client

    @classmethod
    def build(cls, package: Package, fingerprint: str, executors: Executors) -> Mount:
        slug = package.slug
        tools = {
            tool.name: ToolEntry(tool, _mcp_tool(tool, tool.name), _mcp_tool(tool, f"{slug}{SEPARATOR}{tool.name}"))
            for tool in package.integration.tools
            if tool.enabled
        }
        resources = {r.uri: r for r in package.integration.resources}
        prompts = {p.name: p for p in package.integration.prompts}
        return cls(
            package=package,
            fingerprint=fingerprint,
            executor=executors.build(package.integration),
            tools=tools,
            plain_tools=[entry.plain for entry in tools.values() if entry.tool.listed],
            resources=resources,
            plain_resources=[_mcp_resource(r, r.name) for r in resources.values()],
            prompts=prompts,
            plain_prompts=[_mcp_prompt(p, p.name) for p in prompts.values()],
        )

    @asynccontextmanager
    async def use(self) -> AsyncIterator[Mount]:
        """Hold the mount for one call, so a reload cannot close its executor underneath it."""
        self._inflight += 1
        try:
            yield self
        finally:
            self._inflight -= 1
            if self._retired and self._inflight == 0:
                await self._close()

    async def retire(self) -> None:
        """Taken out of service: close now if idle, else when the last call finishes."""
        self._retired = True
        if self._inflight == 0:
            await self._close()

    async def _close(self) -> None:
        if not self._closed:
            self._closed = True
            with anyio.CancelScope(shield=True):
                await self.executor.aclose()


@dataclass(frozen=True)
class Snapshot:
    """One consistent view of the catalog; never mutated after it is published."""

    mounts: dict[str, Mount] = field(default_factory=dict)
    tools: list[types.Tool] = field(default_factory=list)  # aggregated, prefixed
    tool_index: dict[str, tuple[Mount, ToolEntry]] = field(default_factory=dict)
    resources: list[types.Resource] = field(default_factory=list)
    resource_index: dict[str, tuple[Mount, IrResource]] = field(default_factory=dict)
    prompts: list[types.Prompt] = field(default_factory=list)
    prompt_index: dict[str, tuple[Mount, IrPrompt]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # package directory -> why it is not (re)loaded

    @classmethod
    def of(cls, mounts: Iterable[Mount], errors: Mapping[str, str]) -> Snapshot:
        ordered = {m.slug: m for m in sorted(mounts, key=lambda m: m.slug)}
        tools: list[types.Tool] = []
        tool_index: dict[str, tuple[Mount, ToolEntry]] = {}
        resources: list[types.Resource] = []
        resource_index: dict[str, tuple[Mount, IrResource]] = {}
        prompts: list[types.Prompt] = []
        prompt_index: dict[str, tuple[Mount, IrPrompt]] = {}
        for mount in ordered.values():
            for entry in mount.tools.values():
                if entry.tool.listed:  # a `search: all` operation is callable by name, found by search, not listed
                    tools.append(entry.prefixed)
                tool_index[entry.prefixed.name] = (mount, entry)
            for resource in mount.resources.values():
                if resource.uri in resource_index:
                    continue  # the first integration (by slug) owns a URI both declare
                resources.append(_mcp_resource(resource, f"{mount.slug}{SEPARATOR}{resource.name}"))
                resource_index[resource.uri] = (mount, resource)
            for prompt in mount.prompts.values():
                name = f"{mount.slug}{SEPARATOR}{prompt.name}"
                prompts.append(_mcp_prompt(prompt, name))
                prompt_index[name] = (mount, prompt)
        return cls(ordered, tools, tool_index, resources, resource_index, prompts, prompt_index, dict(errors))

    def tool_count(self) -> int:
        return len(self.tools)


@dataclass(frozen=True, slots=True)
class ReloadReport:
    loaded: list[str]  # slugs mounted after the reload
    added: list[str]
    removed: list[str]
    updated: list[str]
    errors: dict[str, str]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.updated)

    def as_dict(self) -> dict[str, Any]:
        return {
            "loaded": self.loaded,
            "added": self.added,
            "removed": self.removed,
            "updated": self.updated,
            "errors": self.errors,
            "changed": self.changed,
        }


def _fingerprint(directory: Path) -> str:
    digest = hashlib.sha256()
    for name in ("manifest.json", "server.py"):
        path = directory / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def _package_dirs(catalog_dirs: Iterable[Path]) -> list[Path]:
    found = []
    for root in catalog_dirs:
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            if child.is_dir() and not child.name.startswith((".", "_")) and (child / "manifest.json").exists():
                found.append(child)
    return found


def _scan(
    catalog_dirs: list[Path], current: Mapping[str, str], extra: Iterable[Path] = ()
) -> tuple[dict[str, tuple[str, Path, Package | None]], dict[str, str]]:
    """Load changed packages (blocking: imports); an unchanged one comes back as None, to be carried over."""
    results: dict[str, tuple[str, Path, Package | None]] = {}
    errors: dict[str, str] = {}
    for directory in [*_package_dirs(catalog_dirs), *extra]:
        try:
            fingerprint = _fingerprint(directory)
            key = str(directory.resolve())
            package = None if current.get(key) == fingerprint else load_package(directory)
        except (PackageError, OSError) as exc:
            errors[str(directory)] = str(exc)
            continue
        results[key] = (fingerprint, directory, package)
    return results, errors


class Catalog:
    """The mounted packages of a hub; `reload()` rescans and swaps atomically."""

    def __init__(
        self,
        catalog_dirs: Iterable[Path],
        *,
        executors: Executors | None = None,
        extra_dirs: Callable[[], Iterable[Path]] | None = None,
    ) -> None:
        self.catalog_dirs = [Path(d) for d in catalog_dirs]
        # Package folders besides the catalog dirs' children: the deployed built integrations (tenancy/builds.py).
        self.extra_dirs = extra_dirs
        self.executors = executors if executors is not None else Executors()
        self.snapshot = Snapshot()
        self._lock = anyio.Lock()

    async def reload(self) -> ReloadReport:
        """Rescan the catalog directories and publish a new snapshot in one assignment."""
        async with self._lock:
            old = self.snapshot
            by_dir = {str(m.package.directory.resolve()): m for m in old.mounts.values()}
            fingerprints = {key: mount.fingerprint for key, mount in by_dir.items()}
            extra = list(self.extra_dirs()) if self.extra_dirs is not None else []
            scanned, errors = await anyio.to_thread.run_sync(_scan, self.catalog_dirs, fingerprints, extra)

            mounts: dict[str, Mount] = {}
            fresh: list[Mount] = []
            for key, (fingerprint, directory, package) in scanned.items():
                if package is None:
                    mount = by_dir[key]
                else:
                    try:
                        mount = Mount.build(package, fingerprint, self.executors)
                    except Exception as exc:  # a bad manifest must fail its own package, never the hub
                        logger.exception("could not mount %s", directory)
                        errors[str(directory)] = f"{type(exc).__name__}: {exc}"
                        continue
                    fresh.append(mount)
                if mount.slug in mounts:
                    errors[str(directory)] = (
                        f"slug {mount.slug!r} is already mounted from {mounts[mount.slug].package.directory}"
                    )
                    if package is not None:
                        fresh.remove(mount)
                        await mount.retire()
                    continue
                mounts[mount.slug] = mount
            # A package that fails to (re)load keeps serving its previous version.
            failed_dirs = set(errors)
            for mount in by_dir.values():
                if mount.slug not in mounts and str(mount.package.directory) in failed_dirs:
                    mounts[mount.slug] = mount

            new = Snapshot.of(mounts.values(), errors)
            self.snapshot = new  # the swap

            kept = {id(m) for m in new.mounts.values()}
            retired = [m for m in old.mounts.values() if id(m) not in kept]
            for mount in retired:
                await mount.retire()
            added = sorted(set(new.mounts) - set(old.mounts))
            removed = sorted(set(old.mounts) - set(new.mounts))
            updated = sorted(s for s in set(new.mounts) & set(old.mounts) if new.mounts[s] is not old.mounts[s])
            for failed, message in errors.items():
                logger.warning("package %s not loaded: %s", failed, message)
            return ReloadReport(sorted(new.mounts), added, removed, updated, errors)

    async def aclose(self) -> None:
        """Retire every mount (each closes its executor after its last call), then what executors share."""
        async with self._lock:
            old, self.snapshot = self.snapshot, Snapshot()
            try:
                for mount in old.mounts.values():
                    await mount.retire()
            finally:
                await self.executors.aclose()
