"""`mcphub test`: the compile's test stage on one package, with a report per tool."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from mcphub.compiler.testing import StageReport, ToolReport


@click.command("test")
@click.argument("target")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("generated"),
    show_default=True,
    help="Folder of compiled packages, where a SLUG is looked up.",
)
@click.option(
    "--specs",
    "specs_dir",
    type=click.Path(path_type=Path),
    default=Path("specs"),
    show_default=True,
    help="Folder of hub specs, where a package's source description is found.",
)
@click.option("--examples", default=None, type=click.IntRange(1, 1000), help="Generated calls per tool [default: 5].")
@click.option("--tool", "tools", multiple=True, help="Test only this tool (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def test_command(
    target: str,
    out_dir: Path,
    specs_dir: Path,
    examples: int | None,
    tools: tuple[str, ...],
    as_json: bool,
) -> None:
    """Call every HTTP tool of a package through the real runtime and check each request against its source.

    TARGET is a compiled package's slug (looked up in --out) or folder, a hub spec, or a raw OpenAPI 3 or
    Swagger 2.0 description (compiled with every operation into a temporary folder first; Swagger 2.0 requests
    are checked against the description's OpenAPI 3.0 form).

    For each tool: a mock upstream on 127.0.0.1 answers as the description documents; arguments are
    generated from the tool's input schema (hypothesis, reproducible); the hub's own call path sends the
    request; openapi-core checks method, path, parameters and their serialisation, body and content
    type against the source operation; the answer must come back as a tool result; invalid arguments
    must be refused before anything is sent. A failing tool shows its smallest counter-example: the
    arguments and the request that went out. Exit status 1 when a tool fails.

    \b
    Examples:
      mcphub test github
      mcphub test specs/stripe.yaml --tool create_customer
      mcphub test petstore.yaml --json
    """
    from mcphub.compiler.errors import CompileError, SourceUnavailable
    from mcphub.compiler.testing import DEFAULT_EXAMPLES

    only = set(tools) or None
    try:
        with tempfile.TemporaryDirectory(prefix="mcphub-test-") as scratch:
            report = _run(target, out_dir, specs_dir, Path(scratch), examples or DEFAULT_EXAMPLES, only, as_json)
    except (CompileError, SourceUnavailable) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        _summary(report)
    if not report.passed:
        sys.exit(1)


def _run(
    target: str,
    out_dir: Path,
    specs_dir: Path,
    scratch: Path,
    examples: int,
    only: set[str] | None,
    as_json: bool,
) -> StageReport:
    from mcphub.compiler import codegen
    from mcphub.compiler.errors import CompileError
    from mcphub.compiler.ir import Integration
    from mcphub.compiler.pipeline import Target, build_integration, discover_targets, source_label
    from mcphub.compiler.sources.openapi import load_document
    from mcphub.compiler.testing import Source, check_package, load_source

    path = Path(target)
    source: Source
    if path.is_file():
        (found,) = discover_targets([path])
        compiled: Target = found
        integration = build_integration(compiled)
        package_dir = codegen.build_package(integration, scratch, source_label=source_label(compiled))
        if compiled.is_spec:
            source = load_source(integration, path.parent, spec_path=path)
        else:
            source = Source(load_document(path)[0], str(path))
    else:
        # A slug: a hub spec's package in --out, else a raw description's in build/raw/ (where `compile` puts those).
        candidates = [path, out_dir / target, Path("build") / "raw" / target]
        package_dir = next((c for c in candidates if (c / "manifest.json").is_file()), out_dir / target)
        if not (package_dir / "manifest.json").is_file():
            raise CompileError(
                f"{target}: no compiled package here or in {out_dir}/; give a slug, a package folder, a hub spec "
                "or an OpenAPI description (run `mcphub compile` first for a slug)"
            )
        integration = Integration.from_manifest((package_dir / "manifest.json").read_bytes())
        source = load_source(integration, specs_dir)
    if only is not None:
        unknown = sorted(only - {tool.name for tool in integration.tools})
        if unknown:
            raise CompileError(f"{integration.slug} has no tool {', '.join(unknown)}; see `mcphub inspect`")
    progress = None if as_json or not sys.stdout.isatty() else _line
    return check_package(package_dir, source, examples=examples, only=only, progress=progress)


def _line(tool: ToolReport) -> None:
    mark = {"passed": "✓", "failed": "✗", "skipped": "-"}[tool.status]
    click.echo(f"{mark} {tool.name:<40} {tool.operation:<50} {tool.calls:>3} calls", err=True)


def _summary(report: StageReport) -> None:
    if report.error:
        click.secho(f"✗ {report.slug}: {report.error}", fg="red", err=True)
        return
    for tool in report.tools:
        if tool.status == "passed":
            click.echo(f"✓ {tool.name:<40} {tool.operation}  ({tool.calls} calls)")
            if tool.note:
                click.echo(f"    note: {tool.note}")
        elif tool.status == "skipped":
            click.echo(f"- {tool.name:<40} skipped: {tool.note}")
        else:
            failure = tool.failure
            assert failure is not None
            click.secho(f"✗ {tool.name:<40} {tool.operation}", fg="red")
            click.echo(f"    {failure.cause}: {failure.message}")
            if failure.arguments is not None:
                click.echo(f"    arguments: {json.dumps(failure.arguments, ensure_ascii=False)[:1000]}")
            if failure.request is not None:
                click.echo("    request sent:")
                for line in failure.request.describe().splitlines():
                    click.echo(f"      {line}")
    passed = sum(1 for t in report.tools if t.status == "passed")
    failed = len(report.failed)
    skipped = len(report.tools) - passed - failed
    tail = f", {skipped} skipped" if skipped else ""
    colour = "red" if failed else "green"
    click.secho(
        f"{report.slug}: {passed} passed, {failed} failed{tail} in {report.seconds:.1f}s (source: {report.source})",
        fg=colour,
    )
