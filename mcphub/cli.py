"""The `mcphub` command line: compile specs, inspect packages, serve the hub, bridge stdio clients."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from mcphub import __version__

DEFAULT_SPECS = Path("specs")
DEFAULT_OUT = Path("generated")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="mcphub")
def main() -> None:
    """MCP Hub: one MCP endpoint for every service your agent needs.

    \b
    Typical flow:
      mcphub compile                 # specs/*.yaml -> generated/<slug>/
      mcphub inspect generated/github
      mcphub serve                   # http://127.0.0.1:8765/mcp
    """


class _Progress:
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


@main.command()
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
@click.option("--slug", help="Slug for a single raw API description (default: from its file name).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per integration instead of text.")
@click.option("-v", "--verbose", is_flag=True, help="Print every compile warning, not only their count.")
def compile(
    paths: tuple[Path, ...], out_dir: Path | None, check: bool, slug: str | None, as_json: bool, verbose: bool
) -> None:
    """Compile hub specs or API descriptions into MCP packages.

    PATHS are hub spec files (specs/<slug>.yaml), folders of them (default: specs/), or raw
    OpenAPI/Swagger descriptions (JSON or YAML), which compile with every operation included.

    Stages: parse, augment and codegen per integration, then one scan (semgrep with mcphub's own rules,
    offline) of every package that changed; a finding fails that package with file:line and leaves
    the previous package in place. Nothing changed, nothing scanned: `--check` on an up-to-date tree
    does not start semgrep. semgrep is $MCPHUB_SEMGREP, else .tools/semgrep (`make install`), else
    the one on PATH.

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

    progress = _Progress(len(targets))
    try:
        reports = compile_targets(targets, out_dir, check=check, progress=progress.stage)
    finally:
        progress.close()
    for report in reports:
        if as_json:
            click.echo(json.dumps(summarize(report)))
            continue
        if report.error:
            click.secho(f"✗ {report.target.path}: {report.error}", fg="red", err=True)
            for finding in report.findings:
                click.secho(f"  {finding}", fg="red", err=True)
                if finding.code:
                    click.echo(f"      {finding.code}", err=True)
                click.echo(f"      instead: {finding.fix}", err=True)
            continue
        if report.kept:
            click.secho(f"! {report.slug:<20} kept the committed package: {report.kept}", fg="yellow", err=True)
            continue
        state = ""
        if check:
            state = f"  STALE: {', '.join(report.stale)}" if report.stale else "  up to date"
        disabled = f" (+{report.disabled} disabled)" if report.disabled else ""
        warn = f", {len(report.warnings)} warnings" if report.warnings else ""
        click.echo(f"✓ {report.slug:<20} {report.tools:>5} tools{disabled}{warn}  {report.seconds:.2f}s{state}")
        if verbose:
            for warning in report.warnings:
                click.echo(f"    warning: {warning}")
    written = [r for r in reports if r.package_dir is not None and r.package_dir.parent != DEFAULT_OUT]
    if written and not check and not as_json:
        click.echo(f"  packages in {out_dir}/ (inspect: mcphub inspect {written[0].package_dir})", err=True)
    scanned = [r for r in reports if r.scan_seconds is not None]
    if scanned and not as_json:
        count = f"{len(scanned)} package{'s' if len(scanned) != 1 else ''}"
        click.echo(f"  scan: {count} in one semgrep run, {scanned[0].scan_seconds:.2f}s", err=True)

    failed = [r for r in reports if r.error]
    stale = [r for r in reports if r.stale]
    orphans = orphan_packages(out_dir, reports) if check and not paths else []
    for name in orphans:
        click.secho(f"✗ {out_dir / name}: no spec produces this package any more; delete it", fg="red", err=True)
    if failed or stale or orphans:
        if stale and not as_json:
            click.secho("generated/ is stale: run `mcphub compile` and commit the result", fg="red", err=True)
        sys.exit(1)


@main.command()
@click.argument("package_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the MCP tools/list result the hub would serve.")
@click.option("--all", "show_all", is_flag=True, help="Include disabled tools.")
def inspect(package_dir: Path, as_json: bool, show_all: bool) -> None:
    """Load a compiled package exactly as the hub mounts it and list its tools."""
    from mcphub.runtime.package import PackageError, load_package

    try:
        package = load_package(package_dir)
    except PackageError as exc:
        raise click.ClickException(str(exc)) from exc
    tools = [t for t in package.integration.tools if t.enabled or show_all]
    if as_json:
        listed: list[dict[str, Any]] = []
        for tool in tools:
            entry: dict[str, Any] = {
                "name": tool.name,
                "description": tool.description,
                "inputSchema": tool.input_schema,
            }
            if tool.title:
                entry["title"] = tool.title
            annotations = tool.annotations.model_dump(by_alias=True, exclude_none=True)
            if annotations:
                entry["annotations"] = annotations
            listed.append(entry)
        click.echo(json.dumps({"tools": listed}, indent=2, ensure_ascii=False))
        return
    integration = package.integration
    click.echo(f"{integration.name} ({integration.slug}): {len(tools)} tools, base URL {integration.base_url or '-'}")
    for tool in tools:
        hints = tool.annotations
        flags = "".join(
            flag
            for flag, on in (("R", hints.read_only_hint), ("D", hints.destructive_hint), ("I", hints.idempotent_hint))
            if on
        )
        required = set(tool.input_schema.get("required", []))
        args = ", ".join(f"{name}{'' if name in required else '?'}" for name in tool.input_schema.get("properties", {}))
        state = "" if tool.enabled else " [disabled]"
        click.echo(f"  {tool.name:<40} {flags:<3} ({args}){state}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8765, show_default=True, type=int)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path("data"),
    envvar="MCPHUB_DATA_DIR",
    show_default=True,
    help="Where the hub keeps its state: SQLite database (unless MCPHUB_DATABASE_URL is set) and vault key file.",
)
@click.option(
    "--catalog",
    "catalogs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Folder of compiled packages to mount (repeatable; default: generated/).",
)
def serve(host: str, port: int, data_dir: Path, catalogs: tuple[Path, ...]) -> None:
    """Serve every compiled package behind one MCP endpoint (/mcp); clients authenticate with API keys.

    \b
    At start the database is migrated (SQLite in --data-dir, or MCPHUB_DATABASE_URL) and, on the very
    first start (no users yet), an admin account (admin@localhost) and a first API key are created and
    printed ONCE with the command that connects Claude Code; integrations needing no credential are
    enabled for it. MCPHUB_REDIS_URL shares rate limits, revocations and change notifications between
    replicas.
    """
    from mcphub.app import Settings, run_server

    settings = Settings(
        host=host, port=port, data_dir=data_dir, catalog_dirs=list(catalogs) or [DEFAULT_OUT], first_run=True
    )
    run_server(settings)


@main.command()
@click.option("--url", required=True, help="The hub's MCP endpoint, e.g. http://127.0.0.1:8765/mcp")
@click.option("--token", envvar="MCPHUB_TOKEN", help="API key (mcp_sk_…); defaults to $MCPHUB_TOKEN.")
def connect(url: str, token: str | None) -> None:
    """Bridge a stdio-only MCP client (Claude Desktop) to the hub over streamable HTTP."""
    from mcphub.runtime.mcp.bridge import run_bridge

    run_bridge(url, token)


from mcphub.commands import register  # noqa: E402  (the tenancy command groups attach to `main`)
from mcphub.commands.test import test_command  # noqa: E402  (mcphub test: the compile's test stage)

register(main)
main.add_command(test_command)

if __name__ == "__main__":
    main()
