"""`Servers`: a user's built integrations — create from a source, review, build, deploy, roll back, share, delete.

Every version is an ordinary hub spec (YAML) over the source pinned when the integration was created, so a build is
the compiler's own pipeline (parse → augment → codegen → scan → test) run in a scratch folder; what it produced
(each stage's time and log, the scan's findings, the test stage's verdict, the description linter's report, and
the package itself) is stored with the version (`runtime/tenancy/builds.py`). Deploying points the integration at
a built version and tells every hub process, which mount the stored package at once (atomic swap, `list_changed`);
a failing build never touches the live version, and a rollback is a deploy of an earlier, already built version.

Untrusted input: anyone may build, so a stored spec may only read the files pinned with it (kind openapi or
postman, `source.path` inside the integration's folder, no URL, command or npm package), its slug is fixed, and
only an admin may let its tools reach private addresses (`policy.allow_private_network`) — unless the operator
lets every user do so (`MCPHUB_BUILDS_PRIVATE_NETWORK=1`: a hub inside a private network wrapping internal APIs). Network steps go through
the builder's egress rules; the tools get the same sandbox as built-ins (allowed hosts from the servers, methods
the tools use — DELETE only when a destructive tool is turned on —, rate limit, timeout).
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.from_thread
import anyio.to_thread
import yaml

from mcphub.compiler.errors import CompileError
from mcphub.runtime.errors import HubError
from mcphub.runtime.tenancy.accounts import UserInfo
from mcphub.runtime.tenancy.builds import BuildConflict, BuildNotFound, BuiltInfo, RunInfo, VersionInfo, pack
from mcphub.runtime.tenancy.services import Tenancy

if TYPE_CHECKING:
    from mcphub.compiler.ir import Integration
    from mcphub.servers.sandbox import SandboxCall

__all__ = [
    "SLUG_RULE",
    "AssistFailed",
    "BuildFailed",
    "Created",
    "Draft",
    "DraftOperation",
    "Forbidden",
    "Improved",
    "Progress",
    "Proposed",
    "Review",
    "ReviewTool",
    "Servers",
    "SourceInput",
]

SLUG_RULE = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
_RESERVED = frozenset({"search"})  # /mcp/search is a view
MAX_SOURCE_BYTES = 20 * 1024 * 1024
PRIVATE_NETWORK_ENV = "MCPHUB_BUILDS_PRIVATE_NETWORK"
Progress = Callable[[dict[str, Any]], None]  # one stage as it ends: {stage, status, seconds, log}


class Forbidden(HubError):
    """The user may not do this to this integration (the message says who may)."""


class BuildFailed(HubError):
    """A build failed; the live version (if any) keeps serving. `run` holds every stage's result."""

    def __init__(self, message: str, run: RunInfo | None = None) -> None:
        super().__init__(message)
        self.run = run


class InvalidInput(HubError):
    """What the user sent cannot be built (the source, the slug, the spec): the message says what to change."""


class AssistFailed(HubError):
    """The LLM could not help (none configured, the API failed, or its answer never passed the checks)."""


@dataclass(slots=True)
class SourceInput:
    """What a user brings: an uploaded file, a URL (an OpenAPI description, a docs page, a git repository) or text."""

    kind: Literal["file", "url", "text"]
    data: bytes = b""
    filename: str = "upload"
    url: str = ""
    as_kind: Literal["openapi", "postman", "docs", "repo", "text"] | None = None  # what it is, when known

    @property
    def provenance(self) -> str:
        if self.kind == "file":
            return f"upload {self.filename}"
        if self.kind == "url":
            return self.url
        return "text"


@dataclass(slots=True)
class Created:
    info: BuiltInfo
    version: VersionInfo
    stages: list[dict[str, Any]]
    warnings: list[str]
    llm: dict[str, Any] | None


@dataclass(slots=True)
class DraftOperation:
    """One operation of the source, as the review shows it."""

    operation: str  # operationId or "METHOD /path": what the spec's `tools[].operation` names
    method: str
    path: str
    tags: list[str]
    name: str  # the tool name (the reviewed one, else the proposed one)
    proposed_name: str
    description: str
    selected: bool
    destructive: bool
    lint_score: int | None = None
    origin: str = ""  # where a drafting source found it: a docs page's URL or `file:line`
    guessed: list[str] = field(default_factory=list)  # what the LLM guessed (path, method, parameters, body)


@dataclass(slots=True)
class Draft:
    slug: str
    name: str
    version: int
    source_kind: str
    provenance: str
    base_url: str | None  # the spec's, else the source's first server
    auth: list[dict[str, Any]]
    policy: dict[str, Any]
    operations: list[DraftOperation]
    warnings: list[str]
    lint: dict[str, Any] | None
    spec_yaml: str


@dataclass(slots=True)
class ReviewTool:
    operation: str
    name: str | None = None
    description: str | None = None


@dataclass(slots=True)
class Review:
    """What a person decided: which operations become tools, under which names and descriptions, auth and policy."""

    tools: list[ReviewTool]
    name: str | None = None
    base_url: str | None = None
    auth: list[dict[str, Any]] | None = None  # hub-spec auth entries; None keeps what the source declares
    # hub-spec policy fields (allowed_hosts, allowed_methods, rate_limit, timeout_s…), merged into the version's
    policy: dict[str, Any] | None = None
    message: str = "reviewed"


@dataclass(slots=True)
class Improved:
    """A description the LLM proposes for one operation, beside the current one; nothing is saved."""

    operation: str
    current: str
    proposed: str
    reason: str
    llm: dict[str, Any]


@dataclass(slots=True)
class Proposed:
    """A spec the LLM proposes from feedback (checked), against the version it changes; nothing is saved."""

    version: int
    current_yaml: str
    spec_yaml: str
    summary: str
    problems_fixed: list[str]
    llm: dict[str, Any]


@dataclass
class _Stages:
    progress: Progress | None
    done: list[dict[str, Any]] = field(default_factory=list)
    _current: tuple[str, float] | None = None

    def start(self, stage: str) -> None:
        self.finish()
        self._current = (stage, time.perf_counter())

    def finish(self, status: str = "ok", log: str = "") -> None:
        if self._current is None:
            return
        stage, started = self._current
        self._current = None
        entry = {"stage": stage, "status": status, "seconds": round(time.perf_counter() - started, 3), "log": log}
        self.done.append(entry)
        if self.progress is not None:
            self.progress(entry)

    @property
    def current(self) -> str | None:
        return self._current[0] if self._current else None


class Servers:
    """The service over the store of built integrations (see the module docstring)."""

    def __init__(self, tenancy: Tenancy, *, taken: Callable[[], Iterable[str]] = tuple) -> None:
        self.t = tenancy
        self.builds = tenancy.builds
        self._taken = taken  # slugs the hub mounts from its catalog dirs (built-ins): not available

    # --- reading --------------------------------------------------------------------------------------

    async def listing(self, user: UserInfo, *, everyone: bool = False) -> list[BuiltInfo]:
        """The user's own and the shared integrations (admins with `everyone`: all of them)."""
        if everyone and not user.is_admin:
            raise Forbidden("only admins can list every user's integrations")
        return await self.builds.listing(None if everyone else user.id)

    async def get(self, user: UserInfo, slug: str) -> BuiltInfo:
        """Owner, admins, and everyone for a shared one; anyone else gets 'no such integration'."""
        info = await self.builds.find(slug)
        if info is None or not (info.owner_id == user.id or user.is_admin or info.visibility == "shared"):
            raise BuildNotFound(f"no built integration {slug!r} of yours; `mcphub servers list` shows them")
        return info

    async def owned(self, user: UserInfo, slug: str) -> BuiltInfo:
        """What only the owner (or an admin) may change or inspect in depth."""
        info = await self.get(user, slug)
        if info.owner_id != user.id and not user.is_admin:
            raise Forbidden(f"{slug} is shared with you by an admin; only its owner ({info.owner_email}) changes it")
        return info

    async def versions(self, user: UserInfo, slug: str) -> list[VersionInfo]:
        await self.owned(user, slug)
        return await self.builds.versions(slug)

    async def version(self, user: UserInfo, slug: str, number: int | None = None) -> VersionInfo:
        await self.owned(user, slug)
        return await self.builds.version(slug, number)

    async def run(self, user: UserInfo, slug: str, run_id: int) -> RunInfo:
        await self.owned(user, slug)
        return await self.builds.run(slug, run_id)

    async def readme(self, user: UserInfo | None, slug: str) -> str | None:
        """The deployed version's tool reference (README.md), for its owner, admins, or anyone if shared."""
        info = await self.builds.find(slug)
        if info is None or info.deployed_version is None:
            return None
        if info.visibility != "shared" and (user is None or not (user.is_admin or user.id == info.owner_id)):
            return None
        package = await self.builds.package(slug, info.deployed_version)
        if package is None:
            return None
        with zipfile.ZipFile(io.BytesIO(package)) as archive:
            return archive.read("README.md").decode("utf-8", errors="replace")

    # --- create ---------------------------------------------------------------------------------------

    async def create(
        self,
        user: UserInfo,
        source: SourceInput,
        *,
        slug: str | None = None,
        name: str | None = None,
        base_url: str | None = None,
        allow_private: bool = False,
        progress: Progress | None = None,
    ) -> Created:
        """Fetch and analyze the source (the builder's stages), store it, and make version 1 (a draft: every
        operation, destructive ones off) ready for review or a build."""
        from mcphub.builder.build import BuildOptions, _describe, _slugify  # the builder's fetch + analyze
        from mcphub.builder.build import _Stages as BuilderStages

        if allow_private and not _may_reach_private(user.is_admin):
            raise Forbidden(
                "only admins may let an integration reach private addresses (the operator can let every user: "
                f"{PRIVATE_NETWORK_ENV}=1)"
            )
        if slug is not None:
            self._check_slug(slug)
        if len(source.data) > MAX_SOURCE_BYTES:
            raise InvalidInput(f"the source is larger than {MAX_SOURCE_BYTES >> 20} MB: give its URL instead")
        reports: list[dict[str, Any]] = []

        def stage_done(report: Any) -> None:
            entry = {
                "stage": report.stage,
                "status": "ok",
                "seconds": round(report.seconds, 3),
                "log": report.detail,
                **({"tokens": report.tokens} if report.tokens else {}),
            }
            reports.append(entry)
            if progress is not None:
                progress(entry)

        with tempfile.TemporaryDirectory(prefix="mcphub-create-") as scratch_name:
            scratch = Path(scratch_name)
            options = BuildOptions(source="", slug=slug, allow_private=allow_private, kind=source.as_kind)
            data = source.data
            filename = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(source.filename).name).strip(".-") or "upload"
            if source.kind == "file":
                (scratch / "in").mkdir()
                options.source = str(scratch / "in" / filename)
                (scratch / "in" / filename).write_bytes(data)
            elif source.kind == "url":
                # A git repository may also be a `file://` path on the hub's machine; the clone allows it only
                # with private sources allowed (`builder.git.clone_repository`), as it does for `mcphub build`.
                schemes = r"^(https?|file)://" if source.as_kind == "repo" else r"^https?://"
                if not re.match(schemes, source.url):
                    what = "a git URL (https://, or file:// on the hub's machine)" if source.as_kind == "repo" else ""
                    raise InvalidInput(f"{source.url!r} is not {what or 'an http(s) URL'}")
                # Reading the hub machine's disk is an operator's power, not a user's: even where the operator
                # lets every user reach private addresses, a file:// clone stays with admins.
                if source.url.startswith("file://") and not user.is_admin:
                    raise Forbidden("only admins may build from a file:// repository on the hub's machine")
                options.source = source.url
                filename = source.url.rstrip("/").rsplit("/", 1)[-1][:200] or "source"
            else:
                text = data.decode("utf-8", errors="replace")
                if not text.strip():
                    raise InvalidInput("the text is empty: describe the API (its base URL, endpoints, auth)")
                options.source, options.kind, options.text, filename = "-", "text", text, "description.txt"
            (scratch / "work").mkdir()
            try:
                described = await _describe(options, scratch / "work", BuilderStages(stage_done))
            except CompileError as exc:
                raise InvalidInput(str(exc).replace(f"{scratch}/in/", "")) from None
            if described.kind == "repo" and not described.files:
                raise InvalidInput("a local folder cannot be built here: give a git URL or upload a file")
            slug = slug or _slugify(described.title)
            self._check_slug(slug)
            if not described.servers and not base_url:
                raise InvalidInput(
                    f"the {described.kind} source does not say where the API runs: give a base URL (base_url)"
                )
            if source.kind == "url" and not data:
                data = next(iter(described.files.values()), b"")
            spec: dict[str, Any] = {
                "slug": slug,
                "name": name or described.title,
                "source": {**described.source, "path": f"{slug}/{described.source['path']}"},
                **({"base_url": base_url} if base_url else {}),
                **({"policy": {"allow_private_network": True}} if allow_private else {}),
            }
            if described.destructive:
                spec["tools"] = [
                    {"operation": op, "annotations": {"destructive": True}} for op in described.destructive
                ]
                spec["include"] = "all"
            info = await self.builds.create(user.id, slug, str(spec["name"])[:200])
            try:
                stored = await self.builds.add_source(
                    slug,
                    kind=described.kind,
                    provenance=source.provenance,
                    filename=filename,
                    data=data,
                    pinned=_zip(described.files),
                )
                version = await self.builds.add_version(
                    slug,
                    _dump(spec, f"from {described.kind} source {source.provenance}"),
                    author_id=user.id,
                    message=f"created from {source.provenance}",
                    source_id=stored.id,
                )
            except Exception:
                await self.builds.delete(slug)
                raise
        return Created(info, version, reports, list(described.warnings), described.llm)

    def _check_slug(self, slug: str) -> None:
        if not SLUG_RULE.match(slug) or slug in _RESERVED:
            raise InvalidInput(
                f"{slug!r} cannot be a slug: 2–32 lower-case letters, digits and dashes, starting with a letter "
                "(it prefixes every tool name), and not 'search'"
            )
        if slug in set(self._taken()):
            raise BuildConflict(f"the slug {slug!r} is an integration of this hub's catalog: choose another one")

    # --- review ---------------------------------------------------------------------------------------

    async def draft(self, user: UserInfo, slug: str, number: int | None = None) -> Draft:
        """Every operation of the source with what the version (default: the latest) makes of it, for review."""
        info = await self.owned(user, slug)
        version = await self.builds.version(slug, number)
        source, _, pinned = await self.builds.source(slug, version.source_id)
        return await anyio.to_thread.run_sync(_draft, info, version, source.kind, source.provenance, pinned)

    async def review(self, user: UserInfo, slug: str, review: Review) -> VersionInfo:
        """A new version from a review of the latest one: only the selected operations, named and described as
        reviewed (a selected destructive operation is turned on), with the auth and policy chosen."""
        info = await self.owned(user, slug)
        latest = await self.builds.version(slug)
        spec = yaml.safe_load(latest.spec_yaml) or {}
        if not review.tools:
            raise InvalidInput("select at least one operation (tools: [{operation: …}])")
        known = {op.operation for op in (await self.draft(user, slug)).operations}
        unknown = [tool.operation for tool in review.tools if tool.operation not in known]
        if unknown:
            raise InvalidInput(f"the source has no operation {', '.join(map(repr, unknown[:5]))}: see the draft")
        previous = {entry.get("operation"): entry for entry in spec.get("tools") or [] if isinstance(entry, dict)}
        tools = []
        for choice in review.tools:
            entry: dict[str, Any] = {"operation": choice.operation}
            kept = previous.get(choice.operation) or {}
            entry.update({k: v for k, v in kept.items() if k not in ("operation", "name", "description", "enabled")})
            if choice.name:
                entry["name"] = choice.name
            if choice.description is not None and choice.description.strip():
                entry["description"] = choice.description.strip()
            entry["enabled"] = True  # the person ticked it: destructive or not, it is on
            tools.append(entry)
        spec["tools"] = tools
        spec.pop("include", None)
        if review.name:
            spec["name"] = review.name
        if review.base_url is not None:
            if review.base_url:
                spec["base_url"] = review.base_url
            else:
                spec.pop("base_url", None)
        if review.auth is not None:
            spec["auth"] = review.auth
        if review.policy is not None:  # merged into the version's policy; a field set to null is removed
            merged = {**(spec.get("policy") or {}), **review.policy}
            spec["policy"] = {k: v for k, v in merged.items() if v is not None}
        spec["slug"] = info.slug
        text = _dump(spec, f"reviewed by {user.email}")
        return await self.save_spec(user, slug, text, review.message)

    async def save_spec(self, user: UserInfo, slug: str, spec_yaml: str, message: str = "") -> VersionInfo:
        """A new version from a spec written by hand (the editor): checked now, built later."""
        info = await self.owned(user, slug)
        latest = await self.builds.version(slug)
        _, _, pinned = await self.builds.source(slug, latest.source_id)
        owner = await self.t.accounts.get_user(info.owner_id)
        private_ok = _may_reach_private(bool(owner and owner.is_admin))
        await anyio.to_thread.run_sync(_checked_spec, info.slug, spec_yaml, pinned, private_ok)
        version = await self.builds.add_version(
            slug, spec_yaml, author_id=user.id, message=message or "edited", source_id=latest.source_id
        )
        name = (yaml.safe_load(spec_yaml) or {}).get("name")
        if isinstance(name, str) and name and name != info.name:
            await self.builds.rename(slug, name[:200])
        return version

    # --- the LLM's help: a better description, a spec changed from feedback ----------------------------

    async def improve_description(self, user: UserInfo, slug: str, operation: str) -> Improved:
        """The LLM's better description for one operation of the latest version (with the linter's findings)."""
        from mcphub.servers.assist import OperationFacts, improve_description

        draft = await self.draft(user, slug)
        op = next((candidate for candidate in draft.operations if candidate.operation == operation), None)
        if op is None:
            raise InvalidInput(f"{slug} has no operation {operation!r}: see the review's list")
        findings = [
            str(f["message"]) for f in (draft.lint or {}).get("findings", []) if op.selected and f["tool"] == op.name
        ]
        facts = OperationFacts(op.operation, op.method, op.path, op.name, op.description)

        def ask() -> tuple[Any, dict[str, Any]]:
            llm = _llm()
            answer = improve_description(llm, integration=draft.name, operation=facts, findings=findings)
            return answer, llm.usage.as_dict()

        answer, usage = await _assisted(ask)
        return Improved(op.operation, op.description, answer.description, answer.reason, usage)

    async def propose_change(self, user: UserInfo, slug: str, feedback: str) -> Proposed:
        """A new spec the LLM writes from the user's feedback, checked as a saved spec is (self-healed at most
        `MAX_HEAL_ROUNDS` times); shown as a diff, saved only by `save_spec`."""
        from mcphub.servers.assist import OperationFacts, propose_spec_change

        info = await self.owned(user, slug)
        draft = await self.draft(user, slug)
        latest = await self.builds.version(slug)
        _, _, pinned = await self.builds.source(slug, latest.source_id)
        owner = await self.t.accounts.get_user(info.owner_id)
        private_ok = _may_reach_private(bool(owner and owner.is_admin))
        operations = [OperationFacts(o.operation, o.method, o.path, o.name, o.description) for o in draft.operations]

        def ask() -> tuple[Any, dict[str, Any]]:
            llm = _llm()
            proposal = propose_spec_change(
                llm,
                spec_yaml=latest.spec_yaml,
                feedback=feedback,
                operations=operations,
                problems=lambda text: spec_problems(info.slug, text, pinned, private_ok),
            )
            return proposal, llm.usage.as_dict()

        proposal, usage = await _assisted(ask)
        return Proposed(
            latest.number, latest.spec_yaml, proposal.spec_yaml, proposal.summary, proposal.problems_fixed, usage
        )

    # --- the playground before deploy -----------------------------------------------------------------

    async def version_tools(self, user: UserInfo, slug: str, number: int | None = None) -> Integration:
        """The compiled integration (IR) of a built version, read from its stored package."""
        from mcphub.compiler.ir import Integration

        version = await self.version(user, slug, number)
        package = await self.builds.package(slug, version.number) if version.status == "built" else None
        if package is None:
            raise BuildConflict(f"{slug} version {version.number} is not built: build it to try its tools")
        with zipfile.ZipFile(io.BytesIO(package)) as archive:
            return Integration.from_manifest(archive.read("manifest.json"))

    async def sandbox_call(
        self,
        user: UserInfo,
        slug: str,
        number: int,
        *,
        base_url: str,
        tool: str,
        arguments: dict[str, Any],
        secret: str | None = None,
    ) -> SandboxCall:
        """Call one tool of a built version (deployed or not) against a sandbox base URL (`servers/sandbox.py`)."""
        from mcphub.runtime.tenancy.builds import unpack
        from mcphub.servers.sandbox import SandboxRefused, call_in_sandbox, check_sandbox_url

        info = await self.owned(user, slug)
        version = await self.builds.version(slug, number)
        try:
            check_sandbox_url(base_url)
        except SandboxRefused as exc:
            raise InvalidInput(str(exc)) from None
        package = await self.builds.package(slug, version.number) if version.status == "built" else None
        if package is None:
            raise BuildConflict(f"{slug} version {version.number} is not built: build it to try its tools")
        owner = await self.t.accounts.get_user(info.owner_id)
        private_ok = _may_reach_private(bool(owner and owner.is_admin))
        with tempfile.TemporaryDirectory(prefix="mcphub-sandbox-") as scratch:
            folder = Path(scratch) / info.slug
            await anyio.to_thread.run_sync(unpack, package, folder)
            try:
                return await call_in_sandbox(
                    folder, base_url=base_url, allow_private=private_ok, tool=tool, arguments=arguments, secret=secret
                )
            except SandboxRefused as exc:
                raise InvalidInput(str(exc)) from None

    # --- build, deploy, rollback ----------------------------------------------------------------------

    async def build(
        self,
        user: UserInfo,
        slug: str,
        number: int | None = None,
        progress: Progress | None = None,
        *,
        on_start: Callable[[int], None] | None = None,
    ) -> RunInfo:
        """Compile, scan and test one version (default: the latest) and store the package; raises BuildFailed.

        `on_start(run_id)` runs once the build is recorded (the API answers with the id, then streams the run)."""
        info = await self.owned(user, slug)
        version = await self.builds.version(slug, number)
        _, _, pinned = await self.builds.source(slug, version.source_id)
        run_id = await self.builds.start_run(slug, version.number)
        if on_start is not None:
            on_start(run_id)
        stages = _Stages(None)

        def report(entry: dict[str, Any]) -> None:
            if progress is not None:
                progress(entry)
            anyio.from_thread.run(self.builds.update_run, run_id, list(stages.done))

        stages.progress = report
        # The owner's right to private addresses decides, not the editor's: an admin's build of a user's spec does
        # not lend it the admin's rights.
        owner = await self.t.accounts.get_user(info.owner_id)
        owner_admin = _may_reach_private(bool(owner and owner.is_admin))
        try:
            outcome = await anyio.to_thread.run_sync(
                _compile, info.slug, version.spec_yaml, pinned, owner_admin, stages
            )
        except BaseException:
            await self.builds.finish_run(
                run_id, ok=False, stages=stages.done, findings=[], test_report=None, lint=None, error="interrupted"
            )
            raise
        run = await self.builds.finish_run(run_id, **outcome)
        if run.status != "ok":
            raise BuildFailed(f"{slug} version {version.number} did not build: {run.error}", run)
        return run

    async def deploy(
        self, user: UserInfo, slug: str, number: int | None = None, progress: Progress | None = None
    ) -> BuiltInfo:
        """Make a version (default: the latest) live: built first if it is not; every hub mounts it at once."""
        info = await self.owned(user, slug)
        version = await self.builds.version(slug, number)
        if version.status != "built":
            await self.build(user, slug, version.number, progress)
        deployed = await self.builds.set_deployed(slug, version.number)
        await self.t.integrations.set_enabled(info.owner_id, slug, True)
        return deployed

    async def rollback(self, user: UserInfo, slug: str, number: int) -> BuiltInfo:
        """Deploy an earlier version (already built: nothing is compiled)."""
        await self.owned(user, slug)
        version = await self.builds.version(slug, number)
        if version.status != "built":
            raise BuildConflict(f"{slug} version {number} was never built successfully: nothing to roll back to")
        return await self.deploy(user, slug, number)

    async def undeploy(self, user: UserInfo, slug: str) -> BuiltInfo:
        await self.owned(user, slug)
        return await self.builds.set_deployed(slug, None)

    async def share(self, user: UserInfo, slug: str, shared: bool) -> BuiltInfo:
        if not user.is_admin:
            raise Forbidden("only admins share an integration with every user")
        await self.get(user, slug)
        return await self.builds.set_visibility(slug, "shared" if shared else "private", user.id)

    async def delete(self, user: UserInfo, slug: str) -> None:
        await self.owned(user, slug)
        await self.builds.delete(slug)


# --- the blocking parts (run in a worker thread) ----------------------------------------------------------------


def _llm() -> Any:
    from mcphub.compiler.llm import llm_from_env

    return llm_from_env()


async def _assisted(ask: Callable[[], Any]) -> Any:
    """Run a blocking LLM step in a worker thread; its failures become AssistFailed (the message says why)."""
    from mcphub.compiler.llm import LLMError

    try:
        return await anyio.to_thread.run_sync(ask)
    except LLMError as exc:
        raise AssistFailed(str(exc)) from None


def spec_problems(slug: str, spec_yaml: str, pinned: bytes, admin: bool) -> list[str]:
    """Every reason a spec would be refused or fail its build's parse stage (the built-integration rules, the
    compiler's checks at `<slug>.yaml:line`, then the parse over the pinned source); empty when it would do."""
    from mcphub.compiler.spec_schema import check_spec_text

    try:
        _checked_spec(slug, spec_yaml, pinned, admin)
    except InvalidInput as exc:
        return [str(exc)]
    from mcphub.compiler.pipeline import parse_spec

    with tempfile.TemporaryDirectory(prefix="mcphub-check-") as scratch:
        spec_path = _write(Path(scratch), slug, spec_yaml, pinned)
        found = check_spec_text(spec_yaml, spec_path)
        if found:
            return [f"{slug}.yaml:{p.line}: {p.field + ' ' if p.field else ''}{p.message}" for p in found]
        try:  # the build's parse stage: every tool's operation exists in the source, names are legal and unique
            parse_spec(spec_path)
        except CompileError as exc:
            return [str(exc).replace(f"{scratch}/", "")]
    return []


def _may_reach_private(admin: bool) -> bool:
    return admin or os.environ.get(PRIVATE_NETWORK_ENV, "").strip().lower() in ("1", "true", "yes")


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def _pinned_names(pinned: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(pinned)) as archive:
        return [name for name in archive.namelist() if "/" not in name and not name.startswith(".")]


def _dump(spec: dict[str, Any], origin: str) -> str:
    header = f"# A built integration ({origin}). An ordinary hub spec over the source pinned beside it.\n"
    return header + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


def _write(folder: Path, slug: str, spec_yaml: str, pinned: bytes) -> Path:
    """The version's spec and its pinned source, laid out as `mcphub build` writes them."""
    (folder / slug).mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(pinned)) as archive:
        for name in _pinned_names(pinned):
            (folder / slug / name).write_bytes(archive.read(name))
    spec_path = folder / f"{slug}.yaml"
    spec_path.write_text(spec_yaml, encoding="utf-8")
    return spec_path


def _checked_spec(slug: str, spec_yaml: str, pinned: bytes, admin: bool) -> None:
    """Refuse a spec that reads anything but its pinned source, renames the slug, or (not an admin) reaches private
    addresses. Raises InvalidInput naming the line (spec errors carry `file:line: field`)."""
    from mcphub.compiler.spec import load_spec

    with tempfile.TemporaryDirectory(prefix="mcphub-spec-") as scratch:
        folder = Path(scratch)
        spec_path = _write(folder, slug, spec_yaml, pinned)
        try:
            spec = load_spec(spec_path, root=folder)
        except CompileError as exc:
            raise InvalidInput(str(exc).replace(f"{folder}/", "")) from None
    allowed = {f"{slug}/{name}" for name in _pinned_names(pinned)}
    source = spec.source
    if spec.slug != slug:
        raise InvalidInput(f"{slug}.yaml: slug: stays {slug!r} (a new slug is a new integration)")
    if source.kind not in ("openapi", "postman"):
        raise InvalidInput(f"{slug}.yaml: source.kind: a built integration is openapi or postman, not {source.kind}")
    if source.url or source.command or source.npm or source.env or source.supplement:
        raise InvalidInput(f"{slug}.yaml: source: only `kind` and `path` (the pinned file: {', '.join(allowed)})")
    if source.path not in allowed:
        raise InvalidInput(f"{slug}.yaml: source.path: must be the pinned source ({', '.join(sorted(allowed))})")
    if spec.policy is not None and spec.policy.allow_private_network and not admin:
        raise InvalidInput(
            f"{slug}.yaml: policy.allow_private_network: only admins may let tools reach private addresses"
        )


def _draft(info: BuiltInfo, version: VersionInfo, kind: str, provenance: str, pinned: bytes) -> Draft:
    from mcphub.compiler.lint import lint_integration
    from mcphub.compiler.pipeline import parse_spec
    from mcphub.servers.provenance import Origin, operation_origins

    spec = yaml.safe_load(version.spec_yaml) or {}
    source_path = str((spec.get("source") or {}).get("path") or "")
    origins = operation_origins(pinned, source_path) if source_path else {}
    every = {k: v for k, v in spec.items() if k not in ("tools", "include")}  # no `tools:`: every operation
    with tempfile.TemporaryDirectory(prefix="mcphub-draft-") as scratch:
        folder = Path(scratch)
        try:
            full = parse_spec(_write(folder, info.slug, yaml.safe_dump(every, sort_keys=False), pinned))
            current = parse_spec(_write(folder / "current", info.slug, version.spec_yaml, pinned))
        except CompileError as exc:
            raise InvalidInput(str(exc).replace(f"{folder}/current/", "").replace(f"{folder}/", "")) from None
    chosen = {tool.source_ref: tool for tool in current.tools}
    lint = lint_integration(current)
    operations = []
    for tool in full.tools:
        mine = chosen.get(tool.source_ref)
        http = tool.http
        destructive = bool(tool.annotations.destructive_hint) or bool(mine and mine.annotations.destructive_hint)
        origin = origins.get((http.method, http.path), Origin()) if http else Origin()
        operations.append(
            DraftOperation(
                operation=tool.source_ref,
                method=http.method if http else "",
                path=http.path if http else "",
                tags=list(tool.tags),
                name=mine.name if mine else tool.name,
                proposed_name=tool.name,
                description=(mine or tool).description,
                selected=mine is not None and mine.enabled,
                destructive=destructive,
                lint_score=lint.tool_scores.get(mine.name) if mine else None,
                origin=origin.where,
                guessed=list(origin.guessed),
            )
        )
    return Draft(
        slug=info.slug,
        name=current.name,
        version=version.number,
        source_kind=kind,
        provenance=provenance,
        base_url=current.base_url or None,
        auth=[scheme.model_dump(exclude_defaults=True) for scheme in current.auth],
        policy=current.policy.model_dump(),
        operations=operations,
        warnings=list(current.warnings),
        lint=lint.as_dict(),
        spec_yaml=version.spec_yaml,
    )


def _compile(slug: str, spec_yaml: str, pinned: bytes, admin: bool, stages: _Stages) -> dict[str, Any]:
    """The compiler's pipeline over one version in a scratch folder: what `Builds.finish_run` stores."""
    from mcphub.compiler.ir import Integration
    from mcphub.compiler.pipeline import Target, compile_targets

    stages.start("check")
    try:
        _checked_spec(slug, spec_yaml, pinned, admin)
    except InvalidInput as exc:
        stages.finish("failed", str(exc))
        return {
            "ok": False,
            "stages": stages.done,
            "findings": [],
            "test_report": None,
            "lint": None,
            "error": str(exc),
        }
    with tempfile.TemporaryDirectory(prefix="mcphub-compile-") as scratch:
        folder = Path(scratch)
        spec_path = _write(folder / "spec", slug, spec_yaml, pinned)
        out = folder / "out"
        try:
            [report] = compile_targets(  # vectors: embedded by the hub in the background (see builder.build)
                [Target(spec_path, is_spec=True)],
                out,
                embed=False,
                progress=lambda _label, stage: stages.start(stage),
            )
        except CompileError as exc:  # a failure outside one target's report (the scan tool itself)
            error = str(exc)
            stages.finish("failed", error)
            return {
                "ok": False,
                "stages": stages.done,
                "findings": [],
                "test_report": None,
                "lint": None,
                "error": error,
            }
        error = (report.error or "").replace(f"{folder}/spec/", "").replace(f"{folder}/out/", "")
        findings = [
            {**finding.to_json(), "file": str(finding.path).replace(f"{out}/", "")} for finding in report.findings
        ]
        tested = "test" in {entry["stage"] for entry in stages.done} or stages.current == "test"
        failed_stage = "scan" if findings else stages.current
        if report.error is not None:
            stages.finish("failed", error)
        else:
            stages.finish("ok")
        test_report: dict[str, Any] | None = None
        if tested:
            failed = failed_stage == "test" and report.error is not None
            test_report = {"passed": not failed, "detail": error if failed else "every HTTP tool passed"}
        result: dict[str, Any] = {
            "ok": report.error is None,
            "stages": stages.done,
            "findings": findings,
            "test_report": test_report,
            "lint": report.lint.as_dict() if report.lint is not None else None,
            "error": error,
        }
        if report.error is None:
            package_dir = out / slug
            integration = Integration.from_manifest((package_dir / "manifest.json").read_bytes())
            result["package"] = pack(package_dir)
            result["tools"] = [tool.name for tool in integration.tools if tool.enabled]
            for entry in stages.done:
                if entry["stage"] == "codegen" and not entry["log"]:
                    entry["log"] = f"{len(result['tools'])} tools; {report.lint.summary() if report.lint else ''}"
        return result
