"""The builder in the browser: a source in, a review, a build with its stages, deploy, then iterate and roll back.

Every signed-in user builds their own integrations (private to them until an admin shares one); the pages are a
face of `mcphub.servers.Servers`, the same service as `/api/v1/servers` and `mcphub servers`:

  /build                          step 1: upload a file (OpenAPI, Postman), an OpenAPI URL, a docs URL (with an
                                  LLM), a git repository URL, or a text (with an LLM);
                                  the fetch and analyze stages run, version 1 (a draft) is stored → the review
  /build/<slug>/review            step 2: every operation grouped by tag (search, select all/none, destructive ones
                                  unticked), tool names checked live against the naming rules, descriptions with
                                  the linter's findings, the auth picker pre-filled with what was detected, base
                                  URL, allowed hosts and methods, rate limit, timeout → a new version, built
  /build/<slug>                   step 3 and on: the deployed version, the last build's stages (time, LLM tokens,
                                  what failed and what to do), the tools, Deploy; the spec in Monaco (checked against
                                  the spec format's JSON Schema as you type; save → a new version, built); versions
                                  with diffs and one-click rollback; the docs page and the connect snippet
  /build/<slug>/diff?a=N&b=M      two versions' specs side by side (unified diff) and the tools each one makes

A failed build never touches the deployed version, and nothing is lost: every version is stored with its run,
and an upload whose source cannot be read is kept in `<data dir>/builds/`. The JSON Schema of the spec format is
public at `/schema/spec.json` and `/schema/spec/v<N>.json`.
"""

from __future__ import annotations

import difflib
import hmac
import io
import json
import re
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread
import yaml
from mcp import types
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcphub.compiler.ir import Integration
from mcphub.compiler.naming import DEFAULT_MAX_FULL_LENGTH
from mcphub.compiler.spec import HTTP_METHODS
from mcphub.compiler.spec_schema import SPEC_SCHEMA_VERSION, Problem, check_spec_text, committed_schema, problems_of
from mcphub.runtime.errors import HubError
from mcphub.runtime.tenancy.builds import BuildNotFound, BuiltInfo, RunInfo, VersionInfo
from mcphub.servers import BuildFailed, Improved, Review, ReviewTool, Servers, SourceInput
from mcphub.web.dashboard.core import Dashboard, Visitor
from mcphub.web.dashboard.monaco import editor_csp, monaco_version, new_nonce

__all__ = ["MAX_UPLOAD_BYTES", "Builder", "schema_routes"]

MAX_SPEC_BYTES = 512 * 1024  # a spec curating a thousand operations is ~200 KB
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # an OpenAPI description of a large API (GitHub's is ~10 MB: use its URL)
TABS = ("file", "url", "docs", "repo", "text")
# The tabs that take a URL: what the source is, the schemes accepted, and what to ask for when the URL is not one.
URL_TABS: dict[str, tuple[Literal["openapi", "docs", "repo"], str, str]] = {
    "url": ("openapi", r"^https?://", "Enter the URL of an OpenAPI description."),
    "docs": ("docs", r"^https?://", "Enter the URL of a page of the API's documentation."),
    "repo": (
        "repo",
        r"^(https?|file)://",
        "Enter the URL of a git repository (https://…, or file:///… on the hub's machine).",
    ),
}
LLM_TABS = ("docs", "text")  # drafted by the LLM: the tab says what to set when none is configured
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
AUTH_CHOICES = ("none", "api_key", "bearer", "basic", "oauth2")
# What a person does when a stage fails (the error itself says what and where).
ADVICE = {
    "fetch": "Check the file or the URL: a URL must answer with the description itself, and an address on this "
    "machine or a private network needs “Let the tools reach private addresses” (admins).",
    "analyze": "The source could not be understood. Fix the place named above in your file (or ask its authors "
    "for a valid export) and upload it again; an OpenAPI 3.x or Swagger 2.0 document or a Postman v2 collection "
    "is what this page reads.",
    "check": "The spec refers to something a built integration may not use: change the line named above.",
    "parse": "The spec and its source were read, but part of them cannot become tools: fix the place named above "
    "(in the editor below) and build again.",
    "augment": "A tool name or description could not be made: fix the operation named above.",
    "codegen": "The package could not be written. This is likely a bug of the hub: report it with the version.",
    "scan": "The security scan refused the generated code: the finding names the rule and the tool. Change the "
    "operation it names and build again.",
    "test": "A tool made a request its description does not allow (the report names the tool and why). Fix the "
    "description of that operation, or untick it in the review, and build again.",
}


@dataclass(slots=True)
class ToolRow:
    name: str
    description: str
    method: str
    path: str
    destructive: bool
    enabled: bool


@dataclass(slots=True)
class OpRow:
    """One operation on the review page."""

    index: int
    operation: str
    method: str
    path: str
    name: str
    proposed_name: str
    description: str
    selected: bool
    destructive: bool
    lint_score: int | None
    findings: list[str] = field(default_factory=list)
    origin: str = ""  # the docs page or `file:line` a drafting source recorded
    guessed: list[str] = field(default_factory=list)

    @property
    def origin_is_link(self) -> bool:
        return self.origin.startswith(("https://", "http://"))


def tool_rows(integration: Integration) -> list[ToolRow]:
    return [
        ToolRow(
            name=tool.name,
            description=tool.description,
            method=tool.http.method if tool.http else "",
            path=tool.http.path if tool.http else "",
            destructive=bool(tool.annotations.destructive_hint),
            enabled=tool.enabled,
        )
        for tool in integration.tools
    ]


def llm_configured() -> bool:
    from mcphub.compiler.llm import llm_available

    return llm_available()


def _web_wording(message: str) -> str:
    """The engine speaks CLI and JSON (`--base-url`, `base_url`); the page has fields of those names."""
    return (
        message.replace("pass --base-url URL", "fill in “Base URL”")
        .replace("give a base URL (base_url)", "fill in “Base URL”")
        .replace("--kind text", "the Text tab")
        .replace(
            "only when private sources are allowed",
            "only when “Let the build and the tools reach private addresses” is ticked (admins)",
        )
    )


# What a person does when the fetch or analyze stage of a docs or git source fails (the error says what and where).
TAB_ADVICE = {
    ("docs", "fetch"): "Check the URL: it must be a page of the API's documentation (HTML or Markdown); the crawl "
    "stays on that site and under that page's folder, and obeys robots.txt. An address on this machine or a private "
    "network needs “Let the build and the tools reach private addresses” (admins).",
    ("docs", "analyze"): "The LLM could not draft the API from these pages: point at the page that lists the "
    "endpoints (or its reference section), or paste what matters in the Text tab.",
    ("repo", "fetch"): "Check the URL: an https:// git URL the hub can clone without credentials. A repository on "
    "this machine (file://) or a private network needs “Let the build and the tools reach private addresses” "
    "(admins).",
    ("repo", "analyze"): "Nothing in the repository describes the API: it needs an OpenAPI or Swagger file, or "
    "FastAPI, Flask, Express, Fastify or NestJS routes (read, never run).",
}


def _advice(tab: str, failed: str) -> str:
    return TAB_ADVICE.get((tab, failed)) or ADVICE.get(failed, "")


def _failed_stage(run: RunInfo | None) -> str:
    for stage in run.stages if run else []:
        if stage.get("status") == "failed":
            return str(stage["stage"])
    return "parse"


def _lines(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _diff_rows(before: str, after: str, fromfile: str, tofile: str) -> list[tuple[str, str]]:
    """A unified diff as (kind, line) rows for the page: kind is add, del, hunk or empty (context)."""
    lines = difflib.unified_diff(
        _lines(before).splitlines(keepends=True), _lines(after).splitlines(keepends=True), fromfile, tofile
    )
    kinds = {"+": "add", "-": "del", "@": "hunk"}
    return [(kinds.get(line[:1], ""), line.rstrip("\n")) for line in list(lines)[2:]]


class Builder:
    def __init__(self, dash: Dashboard, uploads: Path, servers: Servers) -> None:
        self.d = dash
        self.uploads = uploads  # uploads whose source could not be read: kept, never lost
        self.servers = servers

    # --- step 1: the source ----------------------------------------------------------------------------

    async def page(self, request: Request, visitor: Visitor) -> Response:
        tab = request.query_params.get("tab", "file")
        return await self._form(request, visitor, tab=tab if tab in TABS else "file")

    async def _form(
        self,
        request: Request,
        visitor: Visitor,
        *,
        status: int = 200,
        problem: str = "",
        tab: str = "file",
        stages: list[dict[str, Any]] | None = None,
        failed: str = "",
        kept: str | None = None,
    ) -> Response:
        mine = await self.servers.listing(visitor.user)
        return self.d.render(
            request,
            "build.html",
            visitor=visitor,
            title="Build an integration",
            status=status,
            problem=problem,
            tab=tab,
            llm=llm_configured(),
            needs_llm=tab in LLM_TABS,
            max_upload_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
            max_upload_bytes=MAX_UPLOAD_BYTES,
            mine=mine,
            stages=stages or [],
            failed=failed,
            advice=_advice(tab, failed),
            kept=kept,
        )

    async def start(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        tab = str(form.get("source") or "file")
        slug = str(form.get("slug") or "").strip() or None
        base_url = str(form.get("base_url") or "").strip() or None
        allow_private = form.get("allow_private") == "on"
        if allow_private and not visitor.user.is_admin:
            return await self._form(
                request, visitor, status=403, tab=tab, problem="Only admins may let tools reach private addresses."
            )
        kept: str | None = None
        if tab == "file":
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                return await self._form(request, visitor, status=400, tab=tab, problem="Choose a file to upload first.")
            data = await upload.read(MAX_UPLOAD_BYTES + 1)
            if len(data) > MAX_UPLOAD_BYTES:
                return await self._too_large(request, visitor)
            source = SourceInput("file", data=data, filename=upload.filename)
            kept = str(self._keep(upload.filename, data))
        elif tab in URL_TABS:
            as_kind, schemes, ask = URL_TABS[tab]
            url = str(form.get("url") or "").strip()
            if not re.match(schemes, url):
                return await self._form(request, visitor, status=400, tab=tab, problem=ask)
            source = SourceInput("url", url=url, as_kind=as_kind)
        elif tab == "text":
            # Browsers send a textarea's line breaks as CRLF: the LLM gets the text as it was typed.
            text = str(form.get("text") or "").replace("\r\n", "\n")
            if not text.strip():
                return await self._form(
                    request, visitor, status=400, tab=tab, problem="Describe the API in the text box first."
                )
            source = SourceInput("text", data=text.encode(), as_kind="text")
            kept = str(self._keep("description.txt", text.encode()))
        else:
            return await self._form(request, visitor, status=400, problem=f"Unknown source “{tab}”: pick a tab.")
        stages: list[dict[str, Any]] = []
        try:
            created = await self.servers.create(
                visitor.user,
                source,
                slug=slug,
                base_url=base_url,
                allow_private=allow_private,
                progress=stages.append,
            )
        except HubError as exc:
            message = _web_wording(str(exc))
            failed = "fetch" if not stages else "analyze"
            return await self._form(
                request, visitor, status=422, tab=tab, problem=message, stages=stages, failed=failed, kept=kept
            )
        return await self._review(request, visitor, created.info.slug, stages=created.stages, warnings=created.warnings)

    # --- step 2: the review ----------------------------------------------------------------------------

    async def review_page(self, request: Request, visitor: Visitor) -> Response:
        return await self._review(request, visitor, str(request.path_params["slug"]))

    async def _review(
        self,
        request: Request,
        visitor: Visitor,
        slug: str,
        *,
        stages: list[dict[str, Any]] | None = None,
        warnings: list[str] | None = None,
        status: int = 200,
        problem: str = "",
        improved: Improved | None = None,
        improve_failed: tuple[str, str] | None = None,
    ) -> Response:
        try:
            draft = await self.servers.draft(visitor.user, slug)
        except HubError as exc:
            return self._missing(request, visitor, slug, exc)
        findings: dict[str, list[str]] = {}
        for finding in (draft.lint or {}).get("findings", []):
            findings.setdefault(str(finding["tool"]), []).append(str(finding["message"]))
        groups: dict[str, list[OpRow]] = {}
        for index, op in enumerate(draft.operations):
            row = OpRow(
                index=index,
                operation=op.operation,
                method=op.method,
                path=op.path,
                name=op.name,
                proposed_name=op.proposed_name,
                description=op.description,
                selected=op.selected,
                destructive=op.destructive,
                lint_score=op.lint_score,
                findings=findings.get(op.name, []) if op.selected else [],
                origin=op.origin,
                guessed=op.guessed,
            )
            groups.setdefault(op.tags[0] if op.tags else "Other operations", []).append(row)
        auth = _picked(draft.auth[0]) if draft.auth else {}
        policy = draft.policy or {}
        spec = yaml.safe_load(draft.spec_yaml) or {}
        max_full = int(spec.get("max_name_length") or DEFAULT_MAX_FULL_LENGTH)
        return self.d.render(
            request,
            "build_review.html",
            visitor=visitor,
            status=status,
            title=f"Review {draft.name}",
            draft=draft,
            groups=groups,
            auth=auth,
            auth_type=str(auth.get("type") or "none"),
            auth_choices=AUTH_CHOICES,
            detected=bool(draft.auth),
            policy=policy,
            methods=HTTP_METHODS,
            allowed_methods=set(policy.get("allowed_methods") or []),
            hosts=" ".join(policy.get("allowed_hosts") or []),
            name_budget=max_full - len(slug) - 2,
            stages=stages or [],
            warnings=warnings if warnings is not None else draft.warnings,
            problem=problem,
            llm=llm_configured(),
            improved=improved,
            improve_failed=improve_failed,
        )

    async def submit_review(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        slug = str(request.path_params["slug"])
        try:
            draft = await self.servers.draft(visitor.user, slug)
        except HubError as exc:
            return self._missing(request, visitor, slug, exc)
        tools: list[ReviewTool] = []
        for index, op in enumerate(draft.operations):
            if form.get(f"use-{index}") != "on":
                continue
            name = str(form.get(f"name-{index}") or "").strip()
            description = str(form.get(f"desc-{index}") or "").replace("\r\n", "\n").strip()
            tools.append(
                ReviewTool(
                    op.operation,
                    name=name or None,
                    description=description if description != op.description.strip() else None,
                )
            )
        review = Review(
            tools=tools,
            name=str(form.get("name") or "").strip() or None,
            base_url=str(form.get("base_url") or "").strip(),
            auth=_auth_from(form, draft.auth),
            policy=_policy_from(form, draft.policy),
            message=str(form.get("message") or "").strip() or "reviewed in the browser",
        )
        try:
            version = await self.servers.review(visitor.user, slug, review)
        except HubError as exc:
            return await self._review(request, visitor, slug, status=422, problem=_web_wording(str(exc)))
        # The page streams the build's stages (build.js over the API's server-sent events); without
        # JavaScript its "Build" button builds here and comes back.
        return await self.d.redirect(
            request, f"/build/{slug}?build={version.number}", f"Version {version.number} is saved: building it."
        )

    async def improve(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        """POST `/build/<slug>/review/improve`: the LLM's description for one row, shown beside the current one.

        The review page comes back with the proposal under that row (htmx swaps only that row's proposal box); the
        person accepts it into the description field or keeps theirs. Nothing is saved."""
        slug = str(request.path_params["slug"])
        operation = str(form.get("improve") or form.get("operation") or "")
        try:
            improved = await self.servers.improve_description(visitor.user, slug, operation)
        except BuildNotFound as exc:
            return self._missing(request, visitor, slug, exc)
        except HubError as exc:
            # 200: htmx swaps only successful answers, and the message belongs in the row
            return await self._review(request, visitor, slug, improve_failed=(operation, str(exc)))
        return await self._review(request, visitor, slug, improved=improved)

    async def build_now(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        """POST `/build/<slug>/build`: build a version here and come back (the page without JavaScript)."""
        slug = str(request.path_params["slug"])
        try:
            version = await self.servers.version(visitor.user, slug, _int(form.get("version")))
        except HubError as exc:
            return self._missing(request, visitor, slug, exc)
        return await self._build_then_show(request, visitor, slug, version.number)

    async def _build_then_show(self, request: Request, visitor: Visitor, slug: str, number: int) -> Response:
        try:
            run = await self.servers.build(visitor.user, slug, number)
        except BuildFailed as exc:
            stage = _failed_stage(exc.run)
            return await self.d.redirect(
                request,
                f"/build/{slug}",
                f"Version {number} did not build (the {stage} stage failed); the deployed version is unchanged.",
                kind="error",
            )
        tools = len((await self.servers.version(visitor.user, slug, number)).tools or [])
        seconds = sum(float(stage.get("seconds") or 0) for stage in run.stages)
        return await self.d.redirect(
            request,
            f"/build/{slug}",
            f"Version {number} is built: {tools} tools in {seconds:.1f} s. Deploy it to serve it.",
        )

    # --- step 3 and on: the integration ----------------------------------------------------------------

    async def built(self, request: Request, visitor: Visitor) -> Response:
        slug = str(request.path_params["slug"])
        try:
            info = await self.servers.owned(visitor.user, slug)
        except HubError as exc:
            return self._missing(request, visitor, slug, exc)
        latest = await self.servers.version(visitor.user, slug)
        return await self._built_page(request, visitor, info, latest, latest.spec_yaml)

    async def _built_page(
        self,
        request: Request,
        visitor: Visitor,
        info: BuiltInfo,
        latest: VersionInfo,
        text: str,
        *,
        status: int = 200,
        problems: list[Problem] | None = None,
        failure: str = "",
        feedback: str = "",
        regen_problem: str = "",
    ) -> Response:
        slug = info.slug
        versions = await self.servers.versions(visitor.user, slug)
        mount = self.d.hub.snapshot.mounts.get(slug)
        deployed = info.deployed_version is not None and mount is not None
        run = latest.last_run
        failed = run is not None and run.status == "failed"
        stage = _failed_stage(run) if failed else ""
        nonce = new_nonce()
        response = self.d.render(
            request,
            "build_done.html",
            visitor=visitor,
            status=status,
            title=f"{info.name}: build",
            info=info,
            latest=latest,
            run=run,
            failed=failed,
            failed_stage=stage,
            advice=ADVICE.get(stage, ""),
            versions=versions,
            deployed=deployed,
            tools=tool_rows(mount.integration) if deployed and mount is not None else [],
            mcp_url=self.d.mcp_url(request),
            autobuild=request.query_params.get("build") == str(latest.number) and latest.status == "draft",
            spec_name=f"{slug}.yaml",
            spec_text=text,
            problems=problems or [],
            problems_json=json.dumps([problem.as_dict() for problem in problems or []]),
            failure=failure,
            monaco=monaco_version(),
            schema_url=f"/schema/spec/v{SPEC_SCHEMA_VERSION}.json",
            nonce=nonce,
            llm=llm_configured(),
            feedback=feedback,
            regen_problem=regen_problem,
        )
        response.headers["Content-Security-Policy"] = editor_csp(nonce)
        return response

    async def deploy(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        slug = str(request.path_params["slug"])
        number = _int(form.get("version"))
        try:
            info = await self.servers.deploy(visitor.user, slug, number)
        except BuildFailed as exc:
            stage = _failed_stage(exc.run)
            return await self.d.redirect(
                request,
                f"/build/{slug}",
                f"Not deployed: the {stage} stage failed; the deployed version is unchanged.",
                kind="error",
            )
        except HubError as exc:
            return await self.d.redirect(request, f"/build/{slug}", f"Not deployed: {exc}", kind="error")
        tools = len(self.d.hub.snapshot.mounts[slug].integration.tools) if slug in self.d.hub.snapshot.mounts else 0
        return await self.d.redirect(
            request,
            f"/build/{slug}",
            f"{info.name} version {info.deployed_version} is deployed: {tools} tools are on for your clients.",
        )

    async def rollback(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        slug = str(request.path_params["slug"])
        number = _int(form.get("version"))
        if number is None:
            return await self.d.redirect(request, f"/build/{slug}", "Pick a version to roll back to.", kind="error")
        try:
            info = await self.servers.rollback(visitor.user, slug, number)
        except HubError as exc:
            return await self.d.redirect(request, f"/build/{slug}", f"Not rolled back: {exc}", kind="error")
        return await self.d.redirect(
            request, f"/build/{slug}", f"Rolled back: version {info.deployed_version} of {info.name} is live again."
        )

    async def diff(self, request: Request, visitor: Visitor) -> Response:
        slug = str(request.path_params["slug"])
        try:
            info = await self.servers.owned(visitor.user, slug)
            a = await self.servers.version(visitor.user, slug, _int(request.query_params.get("a")) or 1)
            b = await self.servers.version(visitor.user, slug, _int(request.query_params.get("b")))
        except HubError as exc:
            return self._missing(request, visitor, slug, exc)
        rows = _diff_rows(a.spec_yaml, b.spec_yaml, f"version {a.number}", f"version {b.number}")
        before, after = set(a.tools or []), set(b.tools or [])
        versions = await self.servers.versions(visitor.user, slug)
        return self._with_monaco(
            request,
            "build_diff.html",
            visitor=visitor,
            title=f"{info.name}: version {a.number} → {b.number}",
            info=info,
            a=a,
            b=b,
            rows=rows,
            added=sorted(after - before),
            removed=sorted(before - after),
            versions=versions,
        )

    async def propose(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        """POST `/build/<slug>/propose`: the LLM's spec changed from the user's feedback, as a diff to apply or
        discard (apply posts the proposed text to `/build/<slug>/spec`, which checks and saves it as any edit)."""
        slug = str(request.path_params["slug"])
        feedback = str(form.get("feedback") or "").replace("\r\n", "\n").strip()
        try:
            info = await self.servers.owned(visitor.user, slug)
            latest = await self.servers.version(visitor.user, slug)
        except HubError as exc:
            return self._missing(request, visitor, slug, exc)
        if not feedback:
            return await self._built_page(
                request, visitor, info, latest, latest.spec_yaml, status=400, regen_problem="Say what should change."
            )
        try:
            proposed = await self.servers.propose_change(visitor.user, slug, feedback)
        except HubError as exc:
            return await self._built_page(
                request,
                visitor,
                info,
                latest,
                latest.spec_yaml,
                status=422,
                feedback=feedback,
                regen_problem=f"No change proposed: {exc}",
            )
        return self._with_monaco(
            request,
            "build_propose.html",
            visitor=visitor,
            title=f"{info.name}: proposed change",
            info=info,
            feedback=feedback,
            proposed=proposed,
            rows=_diff_rows(proposed.current_yaml, proposed.spec_yaml, f"version {proposed.version}", "proposed"),
            next_version=latest.number + 1,
            message=f"regenerated: {feedback}"[:200],
        )

    def _with_monaco(
        self, request: Request, template: str, *, visitor: Visitor, title: str, **context: Any
    ) -> Response:
        """A page with Monaco's diff editor: its version and a style nonce in the page, the editor's CSP."""
        nonce = new_nonce()
        response = self.d.render(
            request, template, visitor=visitor, title=title, monaco=monaco_version(), nonce=nonce, **context
        )
        response.headers["Content-Security-Policy"] = editor_csp(nonce)
        return response

    # --- export ----------------------------------------------------------------------------------------

    async def export(self, request: Request, visitor: Visitor) -> Response:
        """GET `/build/<slug>/export[?version=N]`: the standalone MCP server of a built version, as a zip."""
        slug = str(request.path_params["slug"])
        try:
            info = await self.servers.owned(visitor.user, slug)
            number = _int(request.query_params.get("version")) or info.deployed_version
            version = await self.servers.version(visitor.user, slug, number)
        except HubError as exc:
            return self._missing(request, visitor, slug, exc)
        package = await self.servers.builds.package(slug, version.number) if version.status == "built" else None
        if package is None:
            return await self.d.redirect(
                request,
                f"/build/{slug}",
                f"Version {version.number} is not built: build it to export it.",
                kind="error",
            )
        try:
            data = await anyio.to_thread.run_sync(_export_zip, slug, package)
        except Exception as exc:  # the exporter names what it cannot carry (e.g. a non-HTTP tool)
            return await self.d.redirect(request, f"/build/{slug}", f"Not exported: {exc}", kind="error")
        name = f"mcp-{slug}-v{version.number}.zip"
        return Response(
            data,
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    # --- the playground --------------------------------------------------------------------------------

    async def playground(self, request: Request, visitor: Visitor) -> Response:
        version = _int(request.query_params.get("version"))
        return await self._playground(request, visitor, request.query_params.get("tool") or "", version=version)

    async def _playground(
        self,
        request: Request,
        visitor: Visitor,
        chosen: str,
        *,
        status: int = 200,
        arguments: str = "",
        call: dict[str, Any] | None = None,
        problem: str = "",
        version: int | None = None,
        sandbox_url: str = "",
    ) -> Response:
        """The deployed tools with the user's stored credential, or (`version`, or nothing deployed) the tools of
        a built version against a sandbox base URL the user gives (`Servers.sandbox_call`)."""
        slug = str(request.path_params["slug"])
        try:
            info = await self.servers.owned(visitor.user, slug)
            built = [v for v in await self.servers.versions(visitor.user, slug) if v.status == "built"]
        except HubError as exc:
            return self._missing(request, visitor, slug, exc)
        mount = self.d.hub.snapshot.mounts.get(slug) if info.deployed_version is not None else None
        sandbox = version is not None or mount is None
        number = version if version is not None else (built[0].number if built else None)
        if sandbox and number is not None and any(v.number == number for v in built):
            integration = await self.servers.version_tools(visitor.user, slug, number)
            tools = [tool for tool in integration.tools if tool.enabled]
        elif sandbox:
            tools, number = [], None
        else:
            tools = [tool for tool in mount.integration.tools if tool.enabled] if mount is not None else []
        tool = next((t for t in tools if t.name == chosen), tools[0] if tools else None)
        return self.d.render(
            request,
            "build_playground.html",
            visitor=visitor,
            status=status,
            title=f"{info.name}: playground",
            info=info,
            tools=tools,
            tool=tool,
            schema_json=json.dumps(tool.input_schema if tool else {}),
            arguments=arguments or "{}",
            call=call,
            problem=problem,
            deployed=mount is not None,
            sandbox=sandbox,
            sandbox_version=number if sandbox else None,
            built=built,
            sandbox_url=sandbox_url,
        )

    async def play(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        """POST `/build/<slug>/playground`: call one tool as this user and show what went upstream."""
        slug = str(request.path_params["slug"])
        name = str(form.get("tool") or "")
        text = str(form.get("arguments") or "").strip() or "{}"
        version = _int(form.get("version"))
        if version is not None:
            return await self._play_sandbox(request, visitor, form, name, text, version)
        try:
            info = await self.servers.owned(visitor.user, slug)
        except HubError as exc:
            return self._missing(request, visitor, slug, exc)
        mount = self.d.hub.snapshot.mounts.get(slug) if info.deployed_version is not None else None
        entry = mount.tools.get(name) if mount is not None else None
        if mount is None or entry is None:
            return await self._playground(
                request,
                visitor,
                name,
                status=404,
                arguments=text,
                problem=f"{info.name} has no deployed tool “{name}”: deploy a version first, or call a built "
                "version against a sandbox base URL.",
            )
        arguments, problem = _arguments(text)
        if arguments is None:
            return await self._playground(request, visitor, name, status=400, arguments=text, problem=problem)
        from mcphub.runtime.tenancy.accounts import KeyPrincipal
        from mcphub.runtime.upstream import trace

        # The dashboard acts as the user through the same pipeline as their keys (policy, credential, usage).
        principal = KeyPrincipal(visitor.user.id, 0, "dashboard", visitor.user.is_admin, None, None)
        started = time.perf_counter()
        with trace.recording() as sent:
            result = await self.d.hub.call(principal, mount, entry, arguments)
        seconds = time.perf_counter() - started
        requests = trace.shown(sent, mount.integration.auth)
        texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
        structured = getattr(result, "structured_content", None) or getattr(result, "structuredContent", None)
        call = {
            "ok": not result.is_error,
            "ms": round(seconds * 1000, 1),
            "requests": [
                {
                    "method": r.method,
                    "url": r.url,
                    "headers": r.headers,
                    "body": r.body.decode("utf-8", errors="replace") if r.body else "",
                    "status": r.status,
                }
                for r in requests
            ],
            "text": "\n".join(texts)[:20000],
            "structured": json.dumps(structured, indent=2, ensure_ascii=False)[:20000] if structured else "",
        }
        return await self._playground(request, visitor, name, arguments=text, call=call)

    async def _play_sandbox(
        self, request: Request, visitor: Visitor, form: FormData, name: str, text: str, version: int
    ) -> Response:
        """A built version's tool against the sandbox base URL from the form, with the credential typed there."""
        slug = str(request.path_params["slug"])
        base_url = str(form.get("sandbox_url") or "").strip()
        secret = str(form.get("sandbox_secret") or "").strip() or None
        arguments, problem = _arguments(text)
        if arguments is None:
            return await self._playground(
                request, visitor, name, status=400, problem=problem, **_again(text, version, base_url)
            )
        try:
            done = await self.servers.sandbox_call(
                visitor.user, slug, version, base_url=base_url, tool=name, arguments=arguments, secret=secret
            )
        except BuildNotFound as exc:
            return self._missing(request, visitor, slug, exc)
        except HubError as exc:
            return await self._playground(
                request, visitor, name, status=422, problem=str(exc), **_again(text, version, base_url)
            )
        call = {
            "ok": done.ok,
            "ms": done.ms,
            "requests": [
                {"method": r.method, "url": r.url, "headers": r.headers, "body": r.body, "status": r.status}
                for r in done.requests
            ],
            "text": done.text[:20000],
            "structured": json.dumps(done.structured, indent=2, ensure_ascii=False)[:20000] if done.structured else "",
        }
        return await self._playground(request, visitor, name, call=call, **_again(text, version, base_url))

    # --- the editor ------------------------------------------------------------------------------------

    async def check_spec(self, request: Request) -> Response:
        """POST `/build/<slug>/spec/check`: the editor's markers for a spec text (changes nothing, so not audited)."""
        visitor = await self.d.visitor(request)
        if visitor is None:
            return JSONResponse({"error": "sign in first"}, status_code=403)
        sent = request.headers.get("x-csrf-token") or ""
        if self.d.foreign_origin(request) or not hmac.compare_digest(sent.encode(), visitor.csrf.encode()):
            return JSONResponse({"error": "the security token is missing or wrong: reload the page"}, status_code=403)
        text = (await request.body()).decode("utf-8", errors="replace")
        if len(text) > MAX_SPEC_BYTES:
            return JSONResponse({"problems": [self._too_long().as_dict()]})
        slug = str(request.path_params["slug"])
        try:
            latest = await self.servers.version(visitor.user, slug)
        except HubError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        _, _, pinned = await self.servers.builds.source(slug, latest.source_id)
        problems = await anyio.to_thread.run_sync(_check_with_source, slug, text, pinned)
        return JSONResponse({"problems": [problem.as_dict() for problem in problems]})

    async def save_spec(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        """POST `/build/<slug>/spec`: a new version from the editor, built at once; a failure keeps the text."""
        slug = str(request.path_params["slug"])
        try:
            info = await self.servers.owned(visitor.user, slug)
            latest = await self.servers.version(visitor.user, slug)
        except HubError as exc:
            return self._missing(request, visitor, slug, exc)
        text = str(form.get("spec") or "").replace("\r\n", "\n")
        message = str(form.get("message") or "").strip() or "edited in the browser"
        if len(text) > MAX_SPEC_BYTES:
            return await self._built_page(request, visitor, info, latest, text, status=413, problems=[self._too_long()])
        try:
            version = await self.servers.save_spec(visitor.user, slug, text, message)
        except HubError as exc:
            problems = problems_of(str(exc), Path(f"{slug}.yaml"))
            return await self._built_page(
                request,
                visitor,
                info,
                latest,
                text,
                status=422,
                problems=problems,
                failure=f"Not saved: {slug}.yaml has {len(problems)} problem{'s' if len(problems) != 1 else ''}; "
                "nothing changed.",
            )
        try:
            await self.servers.build(visitor.user, slug, version.number)
        except BuildFailed as exc:
            error = exc.run.error if exc.run else str(exc)
            problems = problems_of(error, Path(f"{slug}.yaml"))
            version = await self.servers.version(visitor.user, slug, version.number)
            return await self._built_page(
                request,
                visitor,
                await self.servers.owned(visitor.user, slug),
                version,
                text,
                status=422,
                problems=problems,
                failure=f"Saved as version {version.number}, but it does not build (the {_failed_stage(exc.run)} "
                "stage failed); the deployed version is unchanged.",
            )
        return await self._build_then_show_done(request, visitor, slug, version.number)

    async def _build_then_show_done(self, request: Request, visitor: Visitor, slug: str, number: int) -> Response:
        tools = len((await self.servers.version(visitor.user, slug, number)).tools or [])
        return await self.d.redirect(
            request, f"/build/{slug}", f"Version {number} is saved and built: {tools} tools. Deploy it to serve it."
        )

    @staticmethod
    def _too_long() -> Problem:
        return Problem(0, 0, "", f"the spec is longer than {MAX_SPEC_BYTES // 1024} KB", "spec")

    # --- helpers ---------------------------------------------------------------------------------------

    def _missing(self, request: Request, visitor: Visitor, slug: str, exc: HubError) -> Response:
        status = 404 if isinstance(exc, BuildNotFound) else 403
        return self.d.notice(
            request,
            status,
            "No such build" if status == 404 else "Not yours to change",
            str(exc) if status == 403 else f"You have no integration “{slug}”: build one, or pick one of yours.",
            visitor=visitor,
            next_url="/build",
            next_label="Build an integration",
        )

    async def _too_large(self, request: Request, visitor: Visitor) -> Response:
        return await self._form(
            request,
            visitor,
            status=413,
            problem=f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB: give its URL instead "
            "(the URL tab), or build it with `mcphub build FILE` on the hub's machine.",
        )

    def too_large(self, request: Request) -> bool:
        """Refuse an upload by its Content-Length before reading it (the form parser would spool it all)."""
        length = request.headers.get("content-length", "")
        return length.isdigit() and int(length) > MAX_UPLOAD_BYTES + 64 * 1024  # room for the other fields

    async def refuse_too_large(self, request: Request) -> Response:
        visitor = await self.d.visitor(request)
        if visitor is None:
            return Response("upload too large", status_code=413)
        return await self._too_large(request, visitor)

    def _keep(self, filename: str, data: bytes) -> Path:
        """The uploaded source, kept whatever happens next: `<data dir>/builds/<time>/<name>`."""
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(filename).name).strip(".-") or "upload"
        folder = self.uploads / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        folder.mkdir(parents=True)
        path = folder / name
        path.write_bytes(data)
        return path


def _arguments(text: str) -> tuple[dict[str, Any] | None, str]:
    """The playground's arguments JSON as an object, or None and what is wrong with it."""
    try:
        arguments = json.loads(text)
    except ValueError as exc:
        return None, f"The arguments are not JSON: {exc}"
    if not isinstance(arguments, dict):
        return None, 'The arguments must be a JSON object, e.g. {"id": 7}.'
    return arguments, ""


def _again(arguments: str, version: int, sandbox_url: str) -> dict[str, Any]:
    """What the sandbox form showed, to show it again with the answer."""
    return {"arguments": arguments, "version": version, "sandbox_url": sandbox_url}


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def _picked(scheme: dict[str, Any]) -> dict[str, Any]:
    """A detected scheme (the compiled integration's fields) in the picker's terms (the spec's `auth:` fields)."""
    flows = scheme.get("flows") or [{}]
    picked = {
        "type": scheme.get("type"),
        "in": scheme.get("location"),
        "name": scheme.get("param_name"),
        "prefix": scheme.get("prefix"),
        "flow": flows[0].get("kind"),
        "authorization_url": flows[0].get("authorization_url"),
        "token_url": flows[0].get("token_url"),
        "scopes": scheme.get("scopes"),
    }
    return {key: value for key, value in picked.items() if value}


def _auth_from(form: FormData, detected: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The auth picker's choice as hub-spec auth entries (None: keep what the source declares)."""
    kind = str(form.get("auth_type") or "")
    if kind not in AUTH_CHOICES:
        return None
    if kind == "none":
        return []
    label = {"api_key": "API key", "bearer": "Token", "basic": "Username and password", "oauth2": "OAuth"}[kind]
    entry: dict[str, Any] = {"type": kind, "label": label}
    if kind == "api_key":
        entry["in"] = str(form.get("auth_in") or "header")
        entry["name"] = str(form.get("auth_name") or "").strip()
    elif kind == "bearer":
        prefix = str(form.get("auth_prefix") or "").strip()
        if prefix and prefix != "Bearer":
            entry["prefix"] = prefix
    elif kind == "oauth2":
        flow = str(form.get("oauth_flow") or "authorization_code")
        entry["flow"] = flow
        for key in ("authorization_url", "token_url"):
            value = str(form.get(f"oauth_{key}") or "").strip()
            if value:
                entry[key] = value
        scopes = str(form.get("oauth_scopes") or "").split()
        if scopes:
            entry["scopes"] = scopes
    for scheme in detected:  # the detected scheme, as picked: keep the label its source gave it
        if scheme.get("label") and all(_picked(scheme).get(k) == v for k, v in entry.items() if k != "label"):
            entry["label"] = scheme["label"]
    return [entry]


def _policy_from(form: FormData, current: dict[str, Any]) -> dict[str, Any]:
    policy: dict[str, Any] = {}
    hosts = str(form.get("allowed_hosts") or "").replace(",", " ").split()
    if hosts:
        policy["allowed_hosts"] = hosts
    methods = [str(method) for method in form.getlist("allowed_methods")]
    if methods:
        policy["allowed_methods"] = methods
    rate = str(form.get("rate_limit") or "").strip()
    if rate:
        policy["rate_limit"] = rate
    timeout = str(form.get("timeout_s") or "").strip()
    if timeout:
        try:
            policy["timeout_s"] = float(timeout)
        except ValueError:
            policy["timeout_s"] = timeout  # the spec check names the field and what it must be
    if current.get("allow_private_network"):
        policy["allow_private_network"] = True  # an admin's choice at step 1 stays
    return policy


def _export_zip(slug: str, package: bytes) -> bytes:
    """`mcphub export` of a stored package: the standalone project, zipped under `mcp-<slug>/`."""
    from mcphub.export import export_integration
    from mcphub.runtime.tenancy.builds import unpack

    with tempfile.TemporaryDirectory(prefix="mcphub-export-") as scratch:
        folder = Path(scratch)
        unpack(package, folder / "package" / slug)
        result = export_integration(folder / "package" / slug, folder / "out")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(result.directory.rglob("*")):
                if path.is_file():
                    archive.write(path, f"mcp-{slug}/{path.relative_to(result.directory).as_posix()}")
        return buffer.getvalue()


def _check_with_source(slug: str, text: str, pinned: bytes) -> list[Problem]:
    """The editor's problems for a spec over its pinned source (laid out as the build lays it out)."""
    with tempfile.TemporaryDirectory(prefix="mcphub-check-") as scratch:
        folder = Path(scratch)
        (folder / slug).mkdir()
        with zipfile.ZipFile(io.BytesIO(pinned)) as archive:
            for name in archive.namelist():
                if "/" not in name and not name.startswith("."):
                    (folder / slug / name).write_bytes(archive.read(name))
        spec = folder / f"{slug}.yaml"
        return check_spec_text(text, spec)


async def _schema(request: Request) -> Response:
    version = request.path_params.get("version", f"v{SPEC_SCHEMA_VERSION}")
    if version != f"v{SPEC_SCHEMA_VERSION}":
        return JSONResponse(
            {"error": f"no spec schema {version}; the current one is /schema/spec/v{SPEC_SCHEMA_VERSION}.json"},
            status_code=404,
        )
    headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"}
    return Response(committed_schema(), media_type="application/schema+json", headers=headers)


def schema_routes() -> list[Route]:
    """The spec format's JSON Schema, public: `/schema/spec.json` (newest) and `/schema/spec/v<N>.json` (stable)."""
    return [
        Route("/schema/spec.json", _schema, methods=["GET"]),
        Route("/schema/spec/{version}.json", _schema, methods=["GET"]),
    ]
