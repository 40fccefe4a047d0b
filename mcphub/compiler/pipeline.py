"""Runs the compile stages and reports progress: parse -> augment -> codegen per target, one scan, write.

A target is a hub spec (`specs/<slug>.yaml`) or a raw API description compiled with every
operation. Stages are pure functions over the IR; this module is where files are read and written:
packages are built in staging, scanned together, and swapped in only when they pass.
"""

from __future__ import annotations

import dataclasses
import difflib
import gc
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mcphub.compiler import augment, codegen, scan, sources
from mcphub.compiler.errors import CompileError, ScanError, SourceUnavailable
from mcphub.compiler.ir import Integration
from mcphub.compiler.lint import LintReport, lint_integration
from mcphub.compiler.scan import Finding

if TYPE_CHECKING:
    from mcphub.compiler.testing.stage import ToolReport

DESCRIPTION_SUFFIXES = (".json", ".yaml", ".yml")
# Where packages go without --out. Specs compile into generated/, which is committed and which `--check` holds to
# exactly what the specs produce. A raw description is a try-out (every operation, no curation, no review), so it
# compiles beside the repository's packages, not among them: into build/ (git-ignored), where `--check` never looks.
SPECS_OUT = Path("generated")
RAW_OUT = Path("build") / "raw"

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
    searchable: int = 0  # enabled but off the flat list (`search: all`): reached through the search view only
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stale: list[str] = field(default_factory=list)  # --check: files that would change
    error: str | None = None
    findings: list[Finding] = field(default_factory=list)  # the scan's, when it rejected this build
    scan_seconds: float | None = None  # the one scan run this package was part of (None: not scanned)
    scan_reused: int = 0  # files of that run whose exact bytes passed the scan before (not given to semgrep again)
    scan_files: int = 0  # files of that run in all
    test_seconds: float | None = None  # this package's test stage (None: not tested)
    kept: str | None = None  # why the committed package was kept instead of rebuilt (source unavailable)
    package_dir: Path | None = None
    lint: LintReport | None = None  # the description linter's score of the compiled tools
    # A raw description's tools the test stage failed, left out (disabled) of the package written without --strict:
    # "name (METHOD /path): cause: message with arguments {...}", one per tool.
    left_out: list[str] = field(default_factory=list)


_TOP_KEY = re.compile(r"""^["']?([A-Za-z_][A-Za-z0-9_-]*)["']?[ \t]*:""", flags=re.MULTILINE)


def _top_keys(path: Path) -> set[str] | None:
    """The top-level keys of a YAML file (read from its head), or None when it is not block YAML."""
    if path.suffix not in (".yaml", ".yml"):
        return None
    head = path.read_text(encoding="utf-8", errors="replace")[:20_000]
    if head.lstrip().startswith(("{", "[")):
        return None  # JSON (or flow YAML) in a .yaml file: hub specs are written as block YAML
    return set(_TOP_KEY.findall(head))


def _looks_like_hub_spec(path: Path, *, named: bool) -> bool:
    """Whether `path` is a hub spec (else an API description), by its shape rather than its exact keys.

    A YAML file with `openapi:` or `swagger:` at the top is a description. Any other YAML file named on the
    command line is a spec, so a typo (`sorce:`) or a missing `slug:` is reported as a spec error naming the
    field, not as a broken OpenAPI file. In a folder, a YAML file is taken as a spec when one of its keys is a
    spec key or close to one (so a misspelt spec is not silently skipped, and unrelated YAML is).
    """
    keys = _top_keys(path)
    if keys is None or keys & {"openapi", "swagger"}:
        return False
    if named:
        return True
    from mcphub.compiler.spec import HubSpec

    spec_keys = [field.alias or name for name, field in HubSpec.model_fields.items()]
    return any(key in spec_keys or difflib.get_close_matches(key, spec_keys, n=1, cutoff=0.8) for key in keys)


def discover_targets(paths: Iterable[Path], *, slug: str | None = None) -> list[Target]:
    """Expand folders (their top-level `*.yaml` hub specs) and classify files."""
    targets: list[Target] = []
    for path in paths:
        if path.is_dir():
            specs = sorted(
                p
                for p in path.iterdir()
                if p.suffix in (".yaml", ".yml") and not p.name.endswith((".lock.yaml", augment.AUGMENT_SUFFIX))
            )
            targets.extend(Target(p, is_spec=True) for p in specs if _looks_like_hub_spec(p, named=False))
        elif path.name.endswith(augment.AUGMENT_SUFFIX):
            spec = path.with_name(path.name.removesuffix(augment.AUGMENT_SUFFIX) + ".yaml")
            raise CompileError(f"{path} is the augment file of {spec}, which compile applies: compile {spec}")
        elif path.is_file():
            targets.append(Target(path, is_spec=_looks_like_hub_spec(path, named=True), slug=slug))
        else:
            raise CompileError(
                f"{path}: no such file or folder; give a hub spec, a folder of specs or an API description"
            )
    if slug and len(targets) > 1:
        raise CompileError("--slug names one integration; give exactly one spec or description with it")
    return targets


def default_out_dir(targets: Sequence[Target]) -> Path:
    """generated/ for hub specs, build/raw/ for raw descriptions (see RAW_OUT); mixing them needs --out."""
    raw = [t for t in targets if not t.is_spec]
    if not raw:
        return SPECS_OUT
    if len(raw) == len(targets):
        return RAW_OUT
    raise CompileError(
        f"{raw[0].path} is a raw API description and the others are hub specs: compile them separately "
        f"(specs go to {SPECS_OUT}/, raw descriptions to {RAW_OUT}/) or give --out"
    )


def slug_from_filename(path: Path) -> str:
    stem = path.name.split(".")[0]
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return slug[:32] or "api"


def parse_spec(spec_path: Path, *, augmented: bool = True) -> Integration:
    """Parse a hub spec and its source (through the kind's registered entry point), then apply its curation and
    (unless `augmented` is False: what `mcphub augment` starts from) its reviewed augment file."""
    from mcphub.compiler.curate import apply_curation
    from mcphub.compiler.spec import load_spec

    spec = load_spec(spec_path)
    integration = sources.get(spec.source.kind, spec_path).parse(spec, spec_path)
    curated = apply_curation(integration, spec, spec.locator)
    if augmented:
        curated = augment.apply_file(curated, spec, spec_path)
    return _drop_unselected_warnings(integration, curated)


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
        parse_file = sources.file_kind().parse_file
        assert parse_file is not None  # file_kind() only returns kinds that have one
        integration = parse_file(target.path, target.slug or slug_from_filename(target.path))
    if progress:
        progress(target.label, "augment")
    return augment.deterministic(integration)


def source_label(target: Target) -> str:
    return f"`{target.path.name}`" if target.is_spec else f"the API description `{target.path.name}`"


def compile_targets(
    targets: Sequence[Target],
    out_dir: Path,
    *,
    check: bool = False,
    test: bool = True,
    strict: bool = True,
    embed: bool | None = None,
    progress: ProgressCallback | None = None,
) -> list[CompileReport]:
    """Compile every target into `out_dir/<slug>/` (or, with check, only compare), in target order.

    Each target is built in a staging folder and compared with its package in `out_dir`; then one scan
    runs over every package that would change (none at all when nothing changed); only then are the
    changed packages that passed swapped in. A target that fails any stage leaves its package as it was.
    With `test=False` the test stage is left out (the scan never is). With `strict=False` a raw description (a
    try-out of a whole API) whose test stage fails some tools is written with those tools disabled, each named in
    `report.left_out` with its first counter-example; hub specs fail their build either way (reviewed integrations
    must not lose tools silently), and so does a raw description whose every tested tool failed. `embed` says whether the search index's tool
    vectors are computed now (None: unless $MCPHUB_SEARCH_EMBEDDINGS is 0); without them the package is complete
    and the hub embeds its tools in the background at its first search, serving lexical results meanwhile.
    """
    if not check:
        out_dir.mkdir(parents=True, exist_ok=True)
    # Staging sits in out_dir so that the swap is a rename on one file system; --check writes nothing there.
    with tempfile.TemporaryDirectory(prefix=".mcphub-build-", dir=None if check else out_dir) as tmp:
        reports: list[CompileReport] = []
        changed: list[_Build] = []
        for index, target in enumerate(targets):
            report, build = _build(target, out_dir, Path(tmp) / str(index), check=check, embed=embed, progress=progress)
            reports.append(report)
            if build is not None:
                changed.append(build)
        pending = _start_scan(changed, progress)
        # The test stage calls tools compiled from OpenAPI descriptions (`testing.check_built` says the same and
        # passes over the rest): a build of other sources (Postman, GraphQL, SQL, MCP) never loads its libraries,
        # ~1 s of CPU (~3 s of wall time on a busy machine) that would test nothing.
        tested = [build for build in changed if build.kind == "openapi"] if test else []
        try:
            if tested:
                # The test stage's libraries (hypothesis, openapi-core, the runtime) load while semgrep runs in its
                # own process; nothing of the packages being scanned is run before the scan has passed them.
                from mcphub.compiler.testing import check_builds
        finally:
            _finish_scan(changed, pending, check=check)
        if tested:  # the test stage, which loads the runtime: only when a package it tests changed
            for build in tested:
                if build.report.error is None:
                    started = time.perf_counter()
                    failures = check_builds([build], progress, leave_out=not strict).get(build.staged)
                    if failures:
                        _leave_out(build, failures, check=check, embed=embed)
                    build.report.test_seconds = time.perf_counter() - started
        if not check:
            for build in changed:
                if build.report.error is None:
                    _replace(build.staged, build.final)
                    build.report.package_dir = build.final
    return reports


def compile_target(
    target: Target,
    out_dir: Path,
    *,
    check: bool = False,
    test: bool = True,
    strict: bool = True,
    embed: bool | None = None,
    progress: ProgressCallback | None = None,
) -> CompileReport:
    """Compile one target (see `compile_targets`)."""
    return compile_targets([target], out_dir, check=check, test=test, strict=strict, embed=embed, progress=progress)[0]


@dataclass(slots=True)
class _Build:
    """A package built in staging that differs from the one in out_dir (or that has none yet)."""

    report: CompileReport
    staged: Path
    final: Path
    kind: str  # the source kind (`Integration.source.kind`): which builds the test stage takes
    integration: Integration  # what was generated: rebuilt with failing tools disabled when they are left out


def _leave_out(build: _Build, failures: list[ToolReport], *, check: bool, embed: bool | None) -> None:
    """Rebuild a raw description's package with the tools the test stage failed disabled, each named in the report.

    Disabled, not removed: `mcphub inspect --all` still lists them (marked disabled) and the package README names
    them, while the hub serves only the tools that passed. Only `enabled` changes, so the Python code is the one
    the scan passed (checked byte for byte); manifest, README and search index are data rebuilt from the same IR.
    """
    from mcphub.compiler.testing.entry import failure_summary

    names = {tool.name for tool in failures}
    tools = [t.model_copy(update={"enabled": False}) if t.name in names else t for t in build.integration.tools]
    integration = build.integration.model_copy(update={"tools": tools})
    staging = build.staged.parent.with_name(build.staged.parent.name + "-left-out")
    restaged = codegen.build_package(integration, staging, source_label=source_label(build.report.target))
    for name in ("server.py", "__init__.py"):
        if (restaged / name).read_bytes() != (build.staged / name).read_bytes():
            build.report.error = f"disabling the failing tools changed {name}, which the scan passed; nothing written"
            return
    from mcphub.runtime.search.packindex import write_index

    write_index(restaged, previous=build.final, embeddings=False if check else embed)
    build.staged, build.integration = restaged, integration
    report = build.report
    report.tools = sum(1 for t in tools if t.enabled and t.listed)
    report.searchable = sum(1 for t in tools if t.enabled and not t.listed)
    report.disabled = len(tools) - report.tools - report.searchable
    report.left_out = [f"{tool.name} ({tool.operation}): {failure_summary(tool)}" for tool in failures]
    if check:
        report.stale = _differing_files(restaged, build.final)


def _build(
    target: Target,
    out_dir: Path,
    staging: Path,
    *,
    check: bool,
    embed: bool | None,
    progress: ProgressCallback | None,
) -> tuple[CompileReport, _Build | None]:
    """parse -> augment -> codegen into `staging/<slug>`; the build is returned only if it changes the package."""
    report = CompileReport(target=target)
    build = None
    started = time.perf_counter()
    # A compile allocates millions of short-lived acyclic objects (GitHub's description alone ~2M dicts, lists
    # and strings); generation-0 collections triggered by them cost as much as the parsing and free nothing.
    # This is the one place the compiler pauses the collector: around a whole target, parse to codegen.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        integration = build_integration(target, progress)
        report.slug = integration.slug
        report.tools = sum(1 for t in integration.tools if t.enabled and t.listed)
        report.searchable = sum(1 for t in integration.tools if t.enabled and not t.listed)
        report.disabled = len(integration.tools) - report.tools - report.searchable
        report.warnings = list(integration.warnings)
        report.lint = lint_integration(integration)
        if progress:
            progress(target.label, "codegen")
        staged = codegen.build_package(integration, staging, source_label=source_label(target))
        final = out_dir / integration.slug
        from mcphub.runtime.search.packindex import write_index  # the search view's index, stored with the package

        write_index(staged, previous=final, embeddings=False if check else embed)  # --check: no model run
        differing = _differing_files(staged, final)
        if check:
            report.stale = differing
        elif not differing:
            report.package_dir = final  # already what this compile would write: left untouched
        if differing:
            build = _Build(report, staged, final, integration.source.kind, integration)
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
        if was_enabled:
            gc.enable()
    report.seconds = time.perf_counter() - started
    return report, build


def _differing_files(staged: Path, final: Path) -> list[str]:
    """Package files whose bytes differ between the new build and the package in place (all if none).

    A file the package has but a build no longer writes (e.g. `models.py`, generated until 2026-12) counts too:
    the swap would remove it.
    """
    differing = [
        name
        for name in codegen.PACKAGE_FILES
        if not (final / name).is_file() or (final / name).read_bytes() != (staged / name).read_bytes()
    ]
    if final.is_dir():
        differing += sorted(p.name for p in final.iterdir() if p.is_file() and p.name not in codegen.PACKAGE_FILES)
    return differing


@dataclass(slots=True)
class _PendingScan:
    """The one semgrep run over every changed package, under way; `error` when it could not start."""

    started: float
    run: scan.PendingScan | None = None
    error: ScanError | None = None


def _start_scan(builds: list[_Build], progress: ProgressCallback | None) -> _PendingScan | None:
    """Start one semgrep run over every changed package (None: nothing changed, nothing to scan)."""
    if not builds:
        return None
    if progress:
        progress(f"{len(builds)} package{'s' if len(builds) != 1 else ''}", "scan")
    pending = _PendingScan(started=time.perf_counter())
    files = [path for build in builds for path in sorted(build.staged.rglob("*")) if path.is_file()]
    try:
        pending.run = scan.start_scan(files)
    except ScanError as exc:
        pending.error = exc
    return pending


def _finish_scan(builds: list[_Build], pending: _PendingScan | None, *, check: bool) -> None:
    """Wait for the scan; a finding (or a failed scan) fails that package's build."""
    if pending is None:
        return
    findings: list[Finding] = []
    if pending.error is None and pending.run is not None:
        try:
            findings = pending.run.wait()
        except ScanError as exc:
            pending.error = exc
    if pending.error is not None:
        for build in builds:
            build.report.error = str(pending.error)
    seconds = time.perf_counter() - pending.started
    reused = pending.run.reused if pending.run is not None else 0
    files = len(pending.run.targets) + reused if pending.run is not None else 0
    for build in builds:
        build.report.scan_seconds = seconds
        build.report.scan_reused, build.report.scan_files = reused, files
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


def write_integration(integration: Integration, out_dir: Path, *, source_label: str = "an in-memory IR") -> Path:
    """codegen -> compare -> swap for an Integration built in memory (tests, benchmarks); no parse, no scan.

    The same staging and swap as `compile_targets`: an unchanged package is left untouched, a failed build
    leaves the previous one in place. Returns `out_dir/<slug>`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / integration.slug
    with tempfile.TemporaryDirectory(prefix=".mcphub-build-", dir=out_dir) as tmp:
        staged = codegen.build_package(integration, Path(tmp), source_label=source_label)
        from mcphub.runtime.search.packindex import write_index

        write_index(staged, previous=final, embeddings=False)  # tests, benchmarks: vectors embedded at mount
        if _differing_files(staged, final):
            _replace(staged, final)
    return final


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
        "searchable": report.searchable,
        "warnings": len(report.warnings),
        "seconds": round(report.seconds, 3),
        "stale": report.stale,
        "error": report.error,
        "findings": [finding.to_json() for finding in report.findings],
        "scan_seconds": None if report.scan_seconds is None else round(report.scan_seconds, 3),
        "test_seconds": None if report.test_seconds is None else round(report.test_seconds, 3),
        "kept": report.kept,
        "left_out": report.left_out,
        "lint": None if report.lint is None else report.lint.as_dict(),
    }
