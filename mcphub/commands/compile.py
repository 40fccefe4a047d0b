"""`mcphub compile`: hub specs and raw API descriptions into MCP packages, with progress and a summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from mcphub.compiler.pipeline import CompileReport

__all__ = ["DEFAULT_OUT", "DEFAULT_SPECS", "Progress", "compile", "print_report"]

DEFAULT_SPECS = Path("specs")
DEFAULT_OUT = Path("generated")


class Progress:
    """Per-stage progress: a live line on a terminal, nothing extra when piped (summaries still print)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.started = 0  # targets begun (each begins with parse); the one scan runs after all of them
        self.live = sys.stderr.isatty()

    def stage(self, label: str, stage: str) -> None:
        if stage == "parse":
            self.started += 1
        if self.live:
            done = self.total if stage == "scan" else self.started - 1
            width = 24
            filled = int(width * done / max(self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            click.echo(f"\r[{bar}] {self.started}/{self.total} {stage:<8} {label[-50:]:<50}", err=True, nl=False)

    def close(self) -> None:
        if self.live:
            click.echo("\r" + " " * 100 + "\r", err=True, nl=False)


def print_report(report: CompileReport, *, check: bool = False, verbose: bool = False) -> None:
    """One integration's outcome as text: ✓ with counts, ✗ with the error and findings, ! when kept."""
    if report.error:
        click.secho(f"✗ {report.target.path}: {report.error}", fg="red", err=True)
        if report.error.startswith("the test stage failed") and not report.target.is_spec:
            # Only with --strict (or when every tool failed) does a raw description's test failure fail its build.
            click.echo(
                "  without --strict the package is written with the failing tools left out (unless every tool"
                " failed); `mcphub compile --no-test` writes it without this check",
                err=True,
            )
        for finding in report.findings:
            click.secho(f"  {finding}", fg="red", err=True)
            if finding.code:
                click.echo(f"      {finding.code}", err=True)
            click.echo(f"      instead: {finding.fix}", err=True)
        return
    if report.kept:
        where = report.package_dir or report.slug
        click.secho(f"✗ {report.target.path}: {report.kept}", fg="red", err=True)
        click.secho(f"  not rebuilt: the previous package {where} stays served until this is fixed", fg="red", err=True)
        return
    state = ""
    if check:
        state = f"  STALE: {', '.join(report.stale)}" if report.stale else "  up to date"
    extra = [f"+{report.searchable} search only"] if report.searchable else []
    extra += [f"+{report.disabled} disabled"] if report.disabled else []
    disabled = f" ({', '.join(extra)})" if extra else ""
    warn = f", {len(report.warnings)} warnings" if report.warnings else ""
    click.echo(f"✓ {report.slug:<20} {report.tools:>5} tools{disabled}{warn}  {report.seconds:.2f}s{state}")
    if report.lint is not None:
        click.echo(f"    {report.lint.summary()}")
    for left_out in report.left_out:
        # Always shown, not only with -v: the package lacks these tools, and the counter-example says why.
        click.secho(f"  ! left out (disabled), its requests fail the test stage: {left_out}", fg="yellow", err=True)
    if report.left_out:
        click.echo(
            f"    `mcphub test {report.target.path}` shows each request sent; --strict fails the build instead",
            err=True,
        )
    if verbose:
        for warning in report.warnings:
            click.echo(f"    warning: {warning}")


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    help="Folder that receives one package per integration [default: generated/ for specs, build/raw/ for raw "
    "descriptions].",
)
@click.option(
    "--check",
    is_flag=True,
    help="Change nothing; exit 1 if any package in --out is stale (its new build is scanned too) or orphaned.",
)
@click.option(
    "--no-test",
    "no_test",
    is_flag=True,
    help="Leave out the test stage (the scan still runs); `mcphub test` runs it on its own later.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="A raw description whose test stage fails a tool fails its build (exit 1, nothing written) instead of "
    "being written with the failing tools left out. Hub specs always fail.",
)
@click.option("--slug", help="Slug for a single raw API description (default: from its file name).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per integration instead of text.")
@click.option("-v", "--verbose", is_flag=True, help="Print every compile warning, not only their count.")
def compile(
    paths: tuple[Path, ...],
    out_dir: Path | None,
    check: bool,
    no_test: bool,
    strict: bool,
    slug: str | None,
    as_json: bool,
    verbose: bool,
) -> None:
    """Compile hub specs or API descriptions into MCP packages.

    PATHS are hub spec files (specs/<slug>.yaml), folders of them (default: specs/), or raw
    OpenAPI/Swagger descriptions (JSON or YAML), which compile with every operation included.

    Stages: parse, augment and codegen per integration, then one scan (semgrep with mcphub's own rules,
    offline) of every package that changed; a finding fails that package with file:line and leaves
    the previous package in place. Nothing changed, nothing scanned: `--check` on an up-to-date tree
    does not start semgrep. semgrep is $MCPHUB_SEMGREP, else .tools/semgrep (`make install`), else
    the one on PATH. Then the test stage calls every HTTP tool of each package that passed against a
    mock of its source (as `mcphub test` does). A failing tool fails a hub spec's package. A raw
    description (a try-out) is written with its failing tools left out (disabled; `mcphub inspect
    --all` lists them), a warning per tool with its first counter-example, and exit 0; `--strict`
    fails it instead (exit 1, nothing written), as does a description whose every tool failed.
    `--no-test` leaves the test stage out, never the scan.

    Exit status 1 when any integration failed, including one whose source is missing or cannot be
    fetched: its previous package (if any) is left in place and stays served, and the message says so.

    \b
    Examples:
      mcphub compile                               # every spec in specs/
      mcphub compile specs/github.yaml
      mcphub compile petstore.json --slug pets     # a raw description, into build/raw/pets
      mcphub compile --check                       # CI: is generated/ up to date?
    """
    from mcphub.compiler.errors import CompileError
    from mcphub.compiler.pipeline import compile_targets, default_out_dir, discover_targets, orphan_packages, summarize

    try:
        targets = discover_targets(paths or (DEFAULT_SPECS,), slug=slug)
        out_dir = out_dir or default_out_dir(targets)
    except CompileError as exc:
        raise click.ClickException(str(exc)) from exc
    if not targets:
        raise click.ClickException(f"nothing to compile in {', '.join(map(str, paths or (DEFAULT_SPECS,)))}")

    progress = Progress(len(targets))
    try:
        reports = compile_targets(
            targets, out_dir, check=check, test=not no_test, strict=strict, progress=progress.stage
        )
    finally:
        progress.close()
    for report in reports:
        if as_json:
            click.echo(json.dumps(summarize(report)))
        else:
            print_report(report, check=check, verbose=verbose)
    written = [r for r in reports if r.package_dir is not None and r.package_dir.parent != DEFAULT_OUT]
    if written and not check and not as_json:
        click.echo(f"  packages in {out_dir}/ (inspect: mcphub inspect {written[0].package_dir})", err=True)
    scanned = [r for r in reports if r.scan_seconds is not None]
    if scanned and not as_json:
        count = f"{len(scanned)} package{'s' if len(scanned) != 1 else ''}"
        first = scanned[0]
        if first.scan_files and first.scan_reused == first.scan_files:
            how = "every file passed the scan before in these same bytes, semgrep not run"
        elif first.scan_reused:
            how = f"in one semgrep run ({first.scan_reused} of {first.scan_files} files passed before in these bytes)"
        else:
            how = "in one semgrep run"
        click.echo(f"  scan: {count} {how}, {first.scan_seconds:.2f}s", err=True)

    failed = [r for r in reports if r.error or r.kept]
    stale = [r for r in reports if r.stale]
    orphans = orphan_packages(out_dir, reports) if check and not paths else []
    for name in orphans:
        click.secho(f"✗ {out_dir / name}: no spec produces this package any more; delete it", fg="red", err=True)
    if failed or stale or orphans:
        if stale and not as_json:
            click.secho("generated/ is stale: run `mcphub compile` and commit the result", fg="red", err=True)
        sys.exit(1)
