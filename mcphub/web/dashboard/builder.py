"""The builder in the browser, first slice (admins): a source in, the build's stages and tools out, then deploy.

`/build` takes an uploaded file (OpenAPI JSON/YAML or a Postman collection), an OpenAPI URL or, when an LLM is
configured, a plain text, and runs the same engine as `mcphub build` (`mcphub.builder.build`) in a worker thread
(it parses, compiles, scans and tests synchronously). The spec and its pinned source go to the hub's specs dir
(`mcphub serve --specs`, MCPHUB_SPECS_DIR) and the package to its first catalog dir, exactly where the CLI would
put them, so `mcphub compile` rebuilds the result offline. Every uploaded file is kept in `<data dir>/builds/`,
whether the build worked or not, so a failed build loses nothing.

"Deploy" is the reload `/admin/reload` runs (`Hub.reload`: rescan, swap, `list_changed`) and turns the
integration on for the admin, whose connected clients then hear `tools/list_changed`. Builds are files of the
hub, not data of a user: per-user builds, versions and rollback come with issue 15, which is why only admins
may build here.

`/build/<slug>` edits the spec with Monaco (monaco.py): every change is checked against the spec format's JSON
Schema and the compiler's own rules (`spec_schema.check_spec_text`, markers at their lines); "Save and compile"
writes the spec and compiles it, and a spec that does not compile is put back as it was (the live package is
untouched) while the edited text stays in the editor with the errors at their lines. The JSON Schema itself is
public at `/schema/spec.json` and `/schema/spec/v<N>.json`.
"""

from __future__ import annotations

import functools
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcphub.builder.build import BuildOptions, BuildResult, StageReport, build
from mcphub.compiler.errors import CompileError
from mcphub.compiler.ir import Integration
from mcphub.compiler.spec_schema import SPEC_SCHEMA_VERSION, Problem, check_spec_text, committed_schema, problems_of
from mcphub.web.dashboard.core import Dashboard, Page, Visitor
from mcphub.web.dashboard.monaco import editor_csp, monaco_version, new_nonce

__all__ = ["MAX_UPLOAD_BYTES", "BuildDirs", "Builder", "schema_routes"]

MAX_SPEC_BYTES = 512 * 1024  # a spec curating a thousand operations is ~200 KB
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # an OpenAPI description of a large API (GitHub's is ~10 MB: use its URL)
_SLUG = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
_BUILT_MARK = "# Built by `mcphub build`"  # the first line the engine writes: a spec it may replace
TABS = ("file", "url", "text")
STAGES = ("fetch", "analyze", "parse", "augment", "codegen", "scan", "test")
# What a person does when a stage fails (the error itself says what and where).
ADVICE = {
    "fetch": "Check the file or the URL: a URL must answer with the description itself, and an address on this "
    "machine or a private network needs “Let the tools reach private addresses”.",
    "analyze": "The source could not be understood. Fix the place named above in your file (or ask its authors "
    "for a valid export) and upload it again; an OpenAPI 3.x or Swagger 2.0 document or a Postman v2 collection "
    "is what this page reads.",
    "parse": "The description was read, but part of it cannot become tools: fix the place named above and build again.",
    "augment": "A tool name or description could not be made from the description: fix the operation named above.",
    "codegen": "The package could not be written. This is likely a bug of the hub: report it with the source kept "
    "below.",
    "scan": "The security scan refused the generated code: the finding names the rule and the tool. Change the "
    "operation it names and build again.",
    "test": "A tool made a request its description does not allow (the test report names the tool and why). Fix "
    "the description of that operation and build again.",
}


@dataclass(frozen=True, slots=True)
class BuildDirs:
    """Where the builder writes: specs (and their pinned sources), compiled packages, kept uploads."""

    specs: Path
    catalog: Path
    uploads: Path


@dataclass(slots=True)
class ToolRow:
    name: str
    description: str
    method: str
    path: str
    destructive: bool
    enabled: bool


@dataclass(slots=True)
class Failure:
    stage: str
    message: str
    advice: str
    kept: str | None  # where the uploaded source was kept


@dataclass(slots=True)
class Outcome:
    """One build as the result page shows it."""

    source: str
    stages: list[StageReport] = field(default_factory=list)
    result: BuildResult | None = None
    tools: list[ToolRow] = field(default_factory=list)
    failure: Failure | None = None

    @property
    def total_seconds(self) -> float:
        return sum(stage.seconds for stage in self.stages)


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
    from mcphub.compiler.llm import llm_from_env

    try:
        llm_from_env()
    except CompileError:
        return False
    return True


def _failed_stage(done: list[StageReport], message: str) -> str:
    """The stage a build stopped in: compile stages report themselves even when they fail; fetch/analyze do not."""
    names = [stage.stage for stage in done]
    if "fetch" not in names:
        return "fetch"
    if "analyze" not in names:
        return "analyze"
    compiled = [name for name in names if name in STAGES[2:]]
    if compiled:
        return compiled[-1]
    return "analyze" if "base-url" in message or "exists already" in message else "parse"


def _web_wording(message: str) -> str:
    """The engine speaks CLI (`--slug`, `--base-url`, `--force`); the page has fields of those names."""
    return (
        message.replace("pass --base-url URL", "fill in “Base URL”")
        .replace("choose another --slug, or pass --force to replace it", "type another slug in “Slug”")
        .replace("--kind text", "the Text tab")
    )


class Builder:
    def __init__(self, dash: Dashboard, dirs: BuildDirs) -> None:
        self.d = dash
        self.dirs = dirs

    # --- pages -----------------------------------------------------------------------------------------

    def admins_only(self, handler: Page) -> Page:
        """A builder page for admins; anyone else gets 403 and why (the form actions use `Dashboard.admin_only`)."""

        async def run(request: Request, visitor: Visitor) -> Response:
            if visitor.user.is_admin:
                return await handler(request, visitor)
            return self.d.notice(
                request,
                403,
                "Admins only",
                "Building integrations is for the hub's admins for now: builds are files of the hub, shared by "
                "everyone. Per-user builds (your own integrations, versions, rollback) are coming.",
                visitor=visitor,
            )

        return run

    async def page(self, request: Request, visitor: Visitor) -> Response:
        tab = request.query_params.get("tab", "file")
        return self._form(request, visitor, tab=tab if tab in TABS else "file")

    def _form(
        self, request: Request, visitor: Visitor, *, status: int = 200, problem: str = "", tab: str = "file"
    ) -> Response:
        return self.d.render(
            request,
            "build.html",
            visitor=visitor,
            title="Build an integration",
            status=status,
            problem=problem,
            tab=tab,
            llm=llm_configured(),
            max_upload_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
            max_upload_bytes=MAX_UPLOAD_BYTES,
            specs_dir=str(self.dirs.specs),
            catalog_dir=str(self.dirs.catalog),
        )

    async def built(self, request: Request, visitor: Visitor) -> Response:
        """`/build/<slug>`: a build of this hub, deployed or not."""
        slug = str(request.path_params["slug"])
        integration = self._package(slug)
        if integration is None:
            return self.d.notice(
                request,
                404,
                "No such build",
                f"Nothing was built under the slug “{slug}” in {self.dirs.catalog}.",
                visitor=visitor,
                next_url="/build",
                next_label="Build an integration",
            )
        spec = self.dirs.specs / f"{slug}.yaml"
        text = spec.read_text(encoding="utf-8") if spec.is_file() else ""
        return self._built_page(request, visitor, integration, text)

    def _built_page(
        self,
        request: Request,
        visitor: Visitor,
        integration: Integration,
        text: str,
        *,
        status: int = 200,
        problems: list[Problem] | None = None,
        failure: str = "",
    ) -> Response:
        slug = integration.slug
        mount = self.d.hub.snapshot.mounts.get(slug)
        nonce = new_nonce()
        response = self.d.render(
            request,
            "build_done.html",
            visitor=visitor,
            status=status,
            title=f"{integration.name}: build",
            integration=integration,
            tools=tool_rows(mount.integration if mount is not None else integration),
            deployed=mount is not None,
            current=mount is not None and mount.integration == integration,
            spec=str(self.dirs.specs / f"{slug}.yaml"),
            spec_name=f"{slug}.yaml",
            spec_text=text,
            editable=self._built_here(slug) if (self.dirs.specs / f"{slug}.yaml").is_file() else False,
            problems=problems or [],
            problems_json=json.dumps([problem.as_dict() for problem in problems or []]),
            failure=failure,
            monaco=monaco_version(),
            schema_url=f"/schema/spec/v{SPEC_SCHEMA_VERSION}.json",
            nonce=nonce,
        )
        response.headers["Content-Security-Policy"] = editor_csp(nonce)
        return response

    # --- actions ---------------------------------------------------------------------------------------

    async def start(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        tab = str(form.get("source") or "file")
        slug = str(form.get("slug") or "").strip() or None
        base_url = str(form.get("base_url") or "").strip() or None
        if slug is not None and not _SLUG.match(slug):
            return self._form(
                request,
                visitor,
                status=400,
                tab=tab,
                problem=f"“{slug}” cannot be a slug: 2–32 lower-case letters, digits and dashes, starting with a "
                "letter (it prefixes every tool name).",
            )
        force = False
        if slug is not None and (self.dirs.specs / f"{slug}.yaml").exists():
            if not self._built_here(slug):
                return self._form(
                    request,
                    visitor,
                    status=409,
                    tab=tab,
                    problem=f"{self.dirs.specs / slug}.yaml is a spec this page did not make: choose another slug "
                    "(the builder replaces only its own builds).",
                )
            force = True  # rebuilding a build of this page replaces it
        options = BuildOptions(
            source="",
            slug=slug,
            out_dir=self.dirs.specs,
            catalog_dir=self.dirs.catalog,
            base_url=base_url,
            allow_private=form.get("allow_private") == "on",
            force=force,
        )
        kept: str | None = None
        if tab == "file":
            upload = form.get("file")
            if not isinstance(upload, UploadFile) or not upload.filename:
                return self._form(request, visitor, status=400, tab=tab, problem="Choose a file to upload first.")
            data = await upload.read(MAX_UPLOAD_BYTES + 1)
            if len(data) > MAX_UPLOAD_BYTES:
                return self._too_large(request, visitor)
            kept = str(self._keep(upload.filename, data))
            options.source = kept
        elif tab == "url":
            url = str(form.get("url") or "").strip()
            if not re.match(r"^https?://", url):
                return self._form(
                    request,
                    visitor,
                    status=400,
                    tab=tab,
                    problem="Enter the URL of an OpenAPI description (http or https).",
                )
            options.source, options.kind = url, "openapi"
        elif tab == "text":
            # Browsers send a textarea's line breaks as CRLF: the LLM gets the text as it was typed.
            text = str(form.get("text") or "").replace("\r\n", "\n")
            if not text.strip():
                return self._form(
                    request, visitor, status=400, tab=tab, problem="Describe the API in the text box first."
                )
            kept = str(self._keep("description.txt", text.encode()))
            options.source, options.kind, options.text = "-", "text", text
        else:
            return self._form(request, visitor, status=400, problem=f"Unknown source “{tab}”: pick a tab.")
        self.dirs.specs.mkdir(parents=True, exist_ok=True)
        outcome = await self._run(options, kept)
        return self.d.render(
            request,
            "build_result.html",
            visitor=visitor,
            title="Build failed" if outcome.failure else "Build finished",
            status=422 if outcome.failure else 200,
            outcome=outcome,
        )

    async def deploy(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        slug = str(request.path_params["slug"])
        integration = self._package(slug)
        if integration is None:
            return await self.d.redirect(request, "/build", f"Nothing was built under “{slug}”.", kind="error")
        report = await self.d.hub.reload()  # what POST /admin/reload does: rescan, swap, list_changed
        if slug in report.errors or slug not in self.d.hub.snapshot.mounts:
            why = report.errors.get(slug, "the catalog did not load it")
            return await self.d.redirect(request, f"/build/{slug}", f"Not deployed: {why}", kind="error")
        await self.d.t.integrations.set_enabled(visitor.user.id, slug, True)
        tools = len([tool for tool in integration.tools if tool.enabled])
        return await self.d.redirect(
            request, f"/build/{slug}", f"{integration.name} is deployed: {tools} tools are on for your clients."
        )

    async def check_spec(self, request: Request) -> Response:
        """POST `/build/<slug>/spec/check`: the editor's markers for a spec text (changes nothing, so not audited)."""
        visitor = await self.d.visitor(request)
        if visitor is None or not visitor.user.is_admin:
            return JSONResponse({"error": "sign in as an admin"}, status_code=403)
        sent = request.headers.get("x-csrf-token") or ""
        if self.d.foreign_origin(request) or not hmac.compare_digest(sent.encode(), visitor.csrf.encode()):
            return JSONResponse({"error": "the security token is missing or wrong: reload the page"}, status_code=403)
        text = (await request.body()).decode("utf-8", errors="replace")
        if len(text) > MAX_SPEC_BYTES:
            return JSONResponse({"problems": [self._too_long().as_dict()]})
        slug = str(request.path_params["slug"])
        problems = await anyio.to_thread.run_sync(check_spec_text, text, self.dirs.specs / f"{slug}.yaml")
        return JSONResponse({"problems": [problem.as_dict() for problem in problems]})

    async def save_spec(self, request: Request, visitor: Visitor, form: FormData) -> Response:
        """POST `/build/<slug>/spec`: write the edited spec and compile it; a failure puts the old spec back."""
        slug = str(request.path_params["slug"])
        integration = self._package(slug)
        spec = self.dirs.specs / f"{slug}.yaml"
        if integration is None or not spec.is_file():
            return await self.d.redirect(request, "/build", f"Nothing was built under “{slug}”.", kind="error")
        if not self._built_here(slug):
            return await self.d.redirect(
                request, f"/build/{slug}", f"{spec} is not a spec this page made: edit it on the hub.", kind="error"
            )
        text = str(form.get("spec") or "").replace("\r\n", "\n")
        if not text.startswith(_BUILT_MARK):  # keep the mark: the spec stays one this page may replace
            text = f"{_BUILT_MARK} (edited in the browser).\n{text}"
        if len(text) > MAX_SPEC_BYTES:
            return self._built_page(request, visitor, integration, text, status=413, problems=[self._too_long()])
        problems = await anyio.to_thread.run_sync(check_spec_text, text, spec)
        declared = re.search(r"^slug:\s*['\"]?([a-z0-9-]+)", text, flags=re.MULTILINE)
        if declared is not None and declared.group(1) != slug:
            line = text[: declared.start()].count("\n") + 1
            problems.append(
                Problem(line, 0, "slug", f"must stay '{slug}' here; build a new integration for another slug", "spec")
            )
        if problems:
            return self._built_page(
                request,
                visitor,
                integration,
                text,
                status=422,
                problems=problems,
                failure="Not saved: "
                f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {spec.name}; the build is unchanged.",
            )
        previous = spec.read_bytes()
        spec.write_text(text, encoding="utf-8")
        report = await anyio.to_thread.run_sync(self._compile, spec)
        if report.error is not None:
            spec.write_bytes(previous)
            found = problems_of(report.error, spec) or [Problem(0, 0, "", report.error, "spec")]
            return self._built_page(
                request,
                visitor,
                integration,
                text,
                status=422,
                problems=found,
                failure=f"Not saved: {spec.name} does not compile; the previous spec and build are kept.",
            )
        built = self._package(slug) or integration
        on = len([tool for tool in built.tools if tool.enabled])
        live = " Deploy it to serve it." if slug in self.d.hub.snapshot.mounts else ""
        return await self.d.redirect(request, f"/build/{slug}", f"Saved and compiled: {on} tools.{live}")

    def _compile(self, spec: Path) -> Any:
        from mcphub.compiler.pipeline import Target, compile_targets

        [report] = compile_targets([Target(spec, is_spec=True)], self.dirs.catalog)
        return report

    @staticmethod
    def _too_long() -> Problem:
        return Problem(0, 0, "", f"the spec is longer than {MAX_SPEC_BYTES // 1024} KB", "spec")

    # --- helpers ---------------------------------------------------------------------------------------

    def _too_large(self, request: Request, visitor: Visitor) -> Response:
        return self._form(
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
        if visitor is None or not visitor.user.is_admin:
            return Response("upload too large", status_code=413)
        return self._too_large(request, visitor)

    def _keep(self, filename: str, data: bytes) -> Path:
        """The uploaded source, kept whatever happens next: `<data dir>/builds/<time>/<name>`."""
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(filename).name).strip(".-") or "upload"
        folder = self.dirs.uploads / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        folder.mkdir(parents=True)
        path = folder / name
        path.write_bytes(data)
        return path

    def _built_here(self, slug: str) -> bool:
        with (self.dirs.specs / f"{slug}.yaml").open(encoding="utf-8", errors="replace") as spec:
            return spec.readline().startswith(_BUILT_MARK)

    def _package(self, slug: str) -> Integration | None:
        if not _SLUG.match(slug):
            return None
        manifest = self.dirs.catalog / slug / "manifest.json"
        return Integration.from_manifest(manifest.read_bytes()) if manifest.is_file() else None

    async def _run(self, options: BuildOptions, kept: str | None) -> Outcome:
        shown = Path(kept).name if kept and options.kind != "text" else options.source
        outcome = Outcome(source="a text" if options.kind == "text" else shown)
        # The engine parses, compiles, scans and tests synchronously: a worker thread keeps the hub answering.
        run = functools.partial(anyio.run, build, options, outcome.stages.append)
        try:
            result: BuildResult = await anyio.to_thread.run_sync(run)
        except CompileError as exc:
            message = _web_wording(str(exc))
            if kept is not None:  # name the user's file, not the folder it is kept in (shown apart)
                message = message.replace(f"{Path(kept).parent}/", "")
            stage = _failed_stage(outcome.stages, message)
            outcome.failure = Failure(stage, message, ADVICE[stage], kept)
            return outcome
        outcome.result = result
        integration = self._package(result.slug)
        outcome.tools = tool_rows(integration) if integration is not None else []
        return outcome


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
