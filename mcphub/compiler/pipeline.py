"""Runs the compile stages and reports progress: parse -> augment -> codegen per target, one scan, write.

A target is a hub spec (`specs/<slug>.yaml`) or a raw API description compiled with every
operation. Stages are pure functions over the IR; this module is where files are read and written:
packages are built in staging, scanned together, and swapped in only when they pass.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import importlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mcphub.compiler import augment, codegen, scan
from mcphub.compiler.errors import CompileError, SourceUnavailable
from mcphub.compiler.ir import Integration, SourceInfo
from mcphub.compiler.scan import Finding, ScanError

if TYPE_CHECKING:
    from mcphub.compiler.spec import HubSpec

DESCRIPTION_SUFFIXES = (".json", ".yaml", ".yml")

ProgressCallback = Callable[[str, str], None]  # (target label, stage name)


@dataclass(slots=True)
class Target:
    """One thing to compile: a hub spec or a raw description."""

    path: Path
    is_spec: bool
    slug: str | None = None  # forced slug (raw descriptions, or --slug)

    @property
    def label(self) -> str:
        return str(self.path)


@dataclass(slots=True)
class CompileReport:
    target: Target
    slug: str = ""
    tools: int = 0
    disabled: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stale: list[str] = field(default_factory=list)  # --check: files that would change
    error: str | None = None
    findings: list[Finding] = field(default_factory=list)  # the scan's, when it rejected this build
    scan_seconds: float | None = None  # the one scan run this package was part of (None: not scanned)
    kept: str | None = None  # why the committed package was kept instead of rebuilt (source unavailable)
    package_dir: Path | None = None


def _looks_like_hub_spec(path: Path) -> bool:
    """Hub specs are YAML with `slug` and `source`; anything with `openapi`/`swagger` is a description."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    head = path.read_text(encoding="utf-8", errors="replace")[:20_000]
    keys = set(re.findall(r"^([A-Za-z_]+):", head, flags=re.MULTILINE))
    return "source" in keys and "slug" in keys and not keys & {"openapi", "swagger"}


def discover_targets(paths: Iterable[Path], *, slug: str | None = None) -> list[Target]:
    """Expand folders (their top-level `*.yaml` hub specs) and classify files."""
    targets: list[Target] = []
    for path in paths:
        if path.is_dir():
            specs = sorted(
                p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and not p.name.endswith(".lock.yaml")
            )
            targets.extend(Target(p, is_spec=True) for p in specs if _looks_like_hub_spec(p))
        elif path.is_file():
            targets.append(Target(path, is_spec=_looks_like_hub_spec(path), slug=slug))
        else:
            raise CompileError(
                f"{path}: no such file or folder; give a hub spec, a folder of specs or an API description"
            )
    if slug and len(targets) > 1:
        raise CompileError("--slug names one integration; give exactly one spec or description with it")
    return targets


def slug_from_filename(path: Path) -> str:
    stem = path.name.split(".")[0]
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return slug[:32] or "api"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parse_description(
    path: Path, *, slug: str, source: SourceInfo, name: str | None = None, max_full_length: int | None = None
) -> Integration:
    """Source stage for OpenAPI/Swagger descriptions."""
    from mcphub.compiler.sources.openapi import load_document, openapi_to_integration

    document, fmt = load_document(path)
    source = source.model_copy(update={"sha256": _sha256(path), "format": fmt})
    extra = {} if max_full_length is None else {"max_full_length": max_full_length}
    return openapi_to_integration(document, slug=slug, name=name, source=source, **extra)


def parse_spec(spec_path: Path) -> Integration:
    """Parse a hub spec and its source, then apply the spec's curation."""
    from mcphub.compiler.curate import apply_curation
    from mcphub.compiler.spec import load_spec

    spec = load_spec(spec_path)
    kind = spec.source.kind
    if kind == "openapi":
        integration = _parse_openapi_spec(spec, spec_path)
    else:
        # Every other source kind is a module `mcphub.compiler.sources.<kind>` with
        # `integration_from_spec(spec, spec_path) -> Integration`; adding a kind touches nothing here.
        try:
            module = importlib.import_module(f"mcphub.compiler.sources.{kind}")
        except ModuleNotFoundError:
            raise CompileError(
                f"{spec_path}: source kind '{kind}' is not supported by this version of the compiler yet; "
                "change source.kind or compile the raw description"
            ) from None
        integration = module.integration_from_spec(spec, spec_path)
    curated = apply_curation(integration, spec, spec_path)
    return _drop_unselected_warnings(integration, curated)


def _parse_openapi_spec(spec: HubSpec, spec_path: Path) -> Integration:
    from mcphub.compiler.fetch import npm_file

    if spec.source.npm is not None:
        assert spec.source.path is not None  # the spec model requires path with npm
        try:
            source_file = npm_file(spec.source.npm, spec.source.path, sha256=spec.source.sha256, where=f"{spec_path}: ")
        except SourceUnavailable as exc:
            raise SourceUnavailable(str(exc), slug=spec.slug) from None
    else:
        resolved = spec.source_file()
        if resolved is None:
            raise CompileError(f"{spec_path}: source.path is required for source kind 'openapi'")
        source_file = resolved
    return parse_description(
        source_file,
        slug=spec.slug,
        name=spec.name,
        source=spec.source.to_source_info(),
        max_full_length=spec.max_name_length,
    )


def _drop_unselected_warnings(parsed: Integration, curated: Integration) -> Integration:
    """Warnings about operations the spec did not select are noise for the spec's author."""
    dropped = {t.source_ref for t in parsed.tools} - {t.source_ref for t in curated.tools}
    # Source stages name the operation as "(<source_ref>)" in each warning about it.
    kept = [w for w in curated.warnings if not any(f"({ref})" in w for ref in dropped if ref)]
    return curated.model_copy(update={"warnings": kept})


def build_integration(target: Target, progress: ProgressCallback | None = None) -> Integration:
    """parse (+ curate) -> augment, for one target."""
    if progress:
        progress(target.label, "parse")
    if target.is_spec:
        integration = parse_spec(target.path)
    else:
        slug = target.slug or slug_from_filename(target.path)
        source = SourceInfo(kind="openapi", path=target.path.name)
        integration = parse_description(target.path, slug=slug, source=source)
    if progress:
        progress(target.label, "augment")
    return augment.deterministic(integration)


def source_label(target: Target) -> str:
    return f"`{target.path.name}`" if target.is_spec else f"the API description `{target.path.name}`"


def compile_targets(
    targets: Sequence[Target], out_dir: Path, *, check: bool = False, progress: ProgressCallback | None = None
) -> list[CompileReport]:
    """Compile every target into `out_dir/<slug>/` (or, with check, only compare), in target order.

    Each target is built in a staging folder and compared with its package in `out_dir`; then one scan
    runs over every package that would change (none at all when nothing changed); only then are the
    changed packages that passed swapped in. A target that fails any stage leaves its package as it was.
    """
    if not check:
        out_dir.mkdir(parents=True, exist_ok=True)
    # Staging sits in out_dir so that the swap is a rename on one file system; --check writes nothing there.
    with tempfile.TemporaryDirectory(prefix=".mcphub-build-", dir=None if check else out_dir) as tmp:
        reports: list[CompileReport] = []
        changed: list[_Build] = []
        for index, target in enumerate(targets):
            report, build = _build(target, out_dir, Path(tmp) / str(index), check=check, progress=progress)
            reports.append(report)
            if build is not None:
                changed.append(build)
        _scan(changed, progress, check=check)
        if changed:  # the test stage, which loads the runtime: only when a package changed
            importlib.import_module("mcphub.compiler.testing").check_builds(changed, progress)
        if not check:
            for build in changed:
                if build.report.error is None:
                    _replace(build.staged, build.final)
                    build.report.package_dir = build.final
    return reports


def compile_target(
    target: Target, out_dir: Path, *, check: bool = False, progress: ProgressCallback | None = None
) -> CompileReport:
    """Compile one target (see `compile_targets`)."""
    return compile_targets([target], out_dir, check=check, progress=progress)[0]


@dataclass(slots=True)
class _Build:
    """A package built in staging that differs from the one in out_dir (or that has none yet)."""

    report: CompileReport
    staged: Path
    final: Path


def _build(
    target: Target, out_dir: Path, staging: Path, *, check: bool, progress: ProgressCallback | None
) -> tuple[CompileReport, _Build | None]:
    """parse -> augment -> codegen into `staging/<slug>`; the build is returned only if it changes the package."""
    report = CompileReport(target=target)
    build = None
    started = time.perf_counter()
    # A compile allocates millions of short-lived acyclic objects; the cyclic collector would scan them
    # over and over and free nothing. It runs again (once) when this target is done.
    gc.disable()
    try:
        integration = build_integration(target, progress)
        report.slug = integration.slug
        report.tools = sum(1 for t in integration.tools if t.enabled)
        report.disabled = len(integration.tools) - report.tools
        report.warnings = list(integration.warnings)
        if progress:
            progress(target.label, "codegen")
        staged = codegen.build_package(integration, staging, source_label=source_label(target))
        final = out_dir / integration.slug
        differing = _differing_files(staged, final)
        if check:
            report.stale = differing
        elif not differing:
            report.package_dir = final  # already what this compile would write: left untouched
        if differing:
            build = _Build(report, staged, final)
    except SourceUnavailable as exc:
        committed = out_dir / exc.slug if exc.slug else None
        if not check and committed is not None and (committed / "manifest.json").exists():
            report.slug, report.kept, report.package_dir = exc.slug or "", str(exc), committed
        else:
            report.error = str(exc)
    except CompileError as exc:
        report.error = str(exc)
    except (OSError, yaml.YAMLError, ValueError) as exc:
        report.error = f"{target.path}: {type(exc).__name__}: {exc}"
    finally:
        gc.enable()
    report.seconds = time.perf_counter() - started
    return report, build


def _differing_files(staged: Path, final: Path) -> list[str]:
    """Package files whose bytes differ between the new build and the package in place (all if none)."""
    return [
        name
        for name in codegen.PACKAGE_FILES
        if not (final / name).is_file() or (final / name).read_bytes() != (staged / name).read_bytes()
    ]


def _scan(builds: list[_Build], progress: ProgressCallback | None, *, check: bool) -> None:
    """One semgrep run over every changed package; a finding (or a failed scan) fails that package's build."""
    if not builds:
        return
    if progress:
        progress(f"{len(builds)} package{'s' if len(builds) != 1 else ''}", "scan")
    started = time.perf_counter()
    files = [path for build in builds for path in sorted(build.staged.rglob("*")) if path.is_file()]
    try:
        findings = scan.scan(files)
    except ScanError as exc:
        for build in builds:
            build.report.error = str(exc)
        findings = []
    seconds = time.perf_counter() - started
    for build in builds:
        build.report.scan_seconds = seconds
        staged = build.staged.resolve()
        # Findings name the package's own path (generated/<slug>/server.py), not the staging folder.
        build.report.findings = [
            dataclasses.replace(f, path=build.final / f.path.relative_to(staged))
            for f in findings
            if f.path.is_relative_to(staged)
        ]
        if build.report.findings:
            count = len(build.report.findings)
            problems = f"{count} problem{'s' if count != 1 else ''}"
            build.report.error = f"the scan found {problems} in the code generated for {build.final}/"
            if not check:
                kept = "the previous package was left in place" if build.final.exists() else "nothing was written"
                build.report.error += f"; {kept}"


def _replace(staged: Path, final: Path) -> None:
    """Swap the staged package in; the old one moves into staging and is deleted with it."""
    if final.exists():
        os.replace(final, staged.parent / "previous")
    os.replace(staged, final)


def orphan_packages(out_dir: Path, reports: list[CompileReport]) -> list[str]:
    """Packages in `out_dir` that no compiled spec produces any more (--check reports them)."""
    if not out_dir.is_dir():
        return []
    produced = {r.slug for r in reports}
    return sorted(
        p.name for p in out_dir.iterdir() if p.is_dir() and (p / "manifest.json").exists() and p.name not in produced
    )


def summarize(report: CompileReport) -> dict[str, Any]:
    return {
        "target": str(report.target.path),
        "slug": report.slug,
        "tools": report.tools,
        "disabled": report.disabled,
        "warnings": len(report.warnings),
        "seconds": round(report.seconds, 3),
        "stale": report.stale,
        "error": report.error,
        "findings": [finding.to_json() for finding in report.findings],
        "scan_seconds": None if report.scan_seconds is None else round(report.scan_seconds, 3),
        "kept": report.kept,
    }
