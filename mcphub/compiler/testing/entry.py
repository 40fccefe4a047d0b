"""Where the test stage's inputs come from: a package's source description, for the CLI and for the pipeline."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Protocol

from mcphub.compiler.errors import CompileError
from mcphub.compiler.ir import Integration
from mcphub.compiler.testing.stage import COMPILE_EXAMPLES, Source, StageReport, ToolReport, check_package


class StageObserver(Protocol):
    """Who watches the pipeline's test stage from outside (the corpus run): each package, each tool, each report."""

    def package(self, package_dir: Path) -> None: ...
    def tool(self, report: ToolReport) -> None: ...
    def report(self, report: StageReport) -> None: ...


# Set by a caller of the pipeline that wants the stage's per-tool reports (`mcphub compile` itself only needs the
# verdict); unset, the stage reports nothing beyond the build's error.
stage_observer: ContextVar[StageObserver | None] = ContextVar("mcphub_stage_observer", default=None)


def load_source(integration: Integration, specs_dir: Path, *, spec_path: Path | None = None) -> Source:
    """The OpenAPI document `integration` was compiled from, as its hub spec read it, with a label.

    Built-in sources come from the npm cache (`source.package`, verified by sha256) or from a path relative to the
    folder of hub specs. The hub spec (`spec_path`, else `<specs_dir>/<slug>.yaml` when there is one) adds its
    `source.supplement` operations and says which parameters carry the credential. Raises CompileError saying what
    is missing.
    """
    from mcphub.compiler.fetch import npm_file
    from mcphub.compiler.sources.openapi import load_document
    from mcphub.compiler.sources.openapi.load import merge_supplement
    from mcphub.compiler.spec import load_spec

    source = integration.source
    if source.kind != "openapi" or not source.path:
        raise CompileError(
            f"{integration.slug}: the test stage checks tools compiled from OpenAPI descriptions; "
            f"this package's source is {source.kind}"
        )
    if source.package:
        path = npm_file(source.package, source.path, sha256=source.sha256, where=f"{integration.slug}: ")
        label = f"{source.package}/{source.path}"
    else:
        path = (specs_dir / source.path).resolve()
        label = str(path)
        if not path.is_file():
            raise CompileError(
                f"{integration.slug}: its source {source.path} is not in {specs_dir}; "
                "pass --specs with the folder of its hub spec, or test the description's path"
            )
    document, _format = load_document(path)
    spec_path = spec_path or specs_dir / f"{integration.slug}.yaml"
    if not spec_path.is_file():
        return Source(document, label)
    spec = load_spec(spec_path)
    if spec.source.supplement is not None:
        supplement = spec_path.parent / spec.source.supplement
        merge_supplement(document, load_document(supplement)[0], supplement)
        label += f" + {spec.source.supplement}"
    return Source(document, label, list(spec.credential_params))


def check_built(
    package_dir: Path, target_path: Path, *, is_spec: bool, examples: int = COMPILE_EXAMPLES
) -> StageReport | None:
    """The pipeline's test stage for a package it just built from `target_path` (None: not an OpenAPI source)."""
    from mcphub.compiler.sources.openapi import load_document

    observer = stage_observer.get()
    if observer is not None:
        observer.package(package_dir)
    integration = Integration.from_manifest((package_dir / "manifest.json").read_bytes())
    if integration.source.kind != "openapi":
        return None
    if is_spec:
        source = load_source(integration, target_path.parent, spec_path=target_path)
    else:
        source = Source(load_document(target_path)[0], str(target_path))
    if not str(source.document.get("openapi", "")).startswith("3.") and str(source.document.get("swagger")) != "2.0":
        return None  # neither OpenAPI 3.x nor Swagger 2.0 (converted to 3.0 for openapi-core): nothing to check with
    # A spec's `search: all` operations (the whole API as published, off the flat list) are left to `mcphub test`:
    # the compile checks the tools the spec curates, and a whole API would multiply its time.
    listed = {tool.name for tool in integration.tools if tool.listed}
    only = listed if len(listed) < len(integration.tools) else None
    report = check_package(
        package_dir, source, examples=examples, only=only, progress=observer.tool if observer is not None else None
    )
    if observer is not None:
        observer.report(report)
    return report


class _Target(Protocol):
    @property
    def path(self) -> Path: ...
    @property
    def is_spec(self) -> bool: ...


class _Report(Protocol):
    @property
    def target(self) -> _Target: ...

    error: str | None


class _Build(Protocol):
    """What the pipeline's build carries (`pipeline._Build`); read here, its report's error set on a failure."""

    @property
    def report(self) -> _Report: ...
    @property
    def staged(self) -> Path: ...


def failure_summary(tool: ToolReport) -> str:
    """One failing tool's cause, message and counter-example's arguments, short enough for a line of output."""
    assert tool.failure is not None
    arguments = json.dumps(tool.failure.arguments, ensure_ascii=False)[:300]
    return f"{tool.failure.cause}: {tool.failure.message[:400]} with arguments {arguments}"


def check_builds(
    builds: Sequence[_Build], progress: Callable[[str, str], None] | None = None, *, leave_out: bool = False
) -> dict[Path, list[ToolReport]]:
    """The pipeline's test stage: every built package that passed the scan is tested; a failing tool fails its build.

    The error names the tool, the cause and the counter-example's arguments; `mcphub test` shows the request too.
    With `leave_out` a raw description's failing tools do not fail its build: they are returned (by staged package)
    for the pipeline to disable, as long as at least one tested tool passed. A hub spec's build always fails: a
    reviewed integration must not lose tools silently.
    """
    left_out: dict[Path, list[ToolReport]] = {}
    for build in builds:
        if build.report.error is not None:
            continue
        if progress:
            progress(str(build.report.target.path), "test")
        try:
            report = check_built(build.staged, build.report.target.path, is_spec=build.report.target.is_spec)
        except CompileError as exc:
            build.report.error = f"the test stage could not run: {exc}"
            continue
        if report is None or report.passed:
            continue
        if report.error is not None:
            build.report.error = f"the test stage could not run: {report.error}"
            continue
        failed = report.failed
        if leave_out and not build.report.target.is_spec and any(t.status == "passed" for t in report.tools):
            left_out[build.staged] = failed
            continue
        first = failed[0]
        count = len(failed)
        build.report.error = (
            f"the test stage failed {count} tool{'s' if count != 1 else ''}; first: {first.name} "
            f"({first.operation}): {failure_summary(first)}; "
            f"`mcphub test {build.report.target.path}` shows every failure and the requests sent"
        )
    return left_out
