"""`mcphub export`: one compiled integration as a standalone, pip-installable MCP server."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["export"]


@click.command()
@click.argument("target", metavar="SLUG|PACKAGE_DIR")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="A new (or empty) folder for the exported project.",
)
@click.option(
    "--catalog",
    "catalog_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("generated"),
    show_default=True,
    help="Where a SLUG's compiled package is looked up.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def export(target: str, out_dir: Path, catalog_dir: Path, as_json: bool) -> None:
    """One integration as a standalone MCP server.

    Writes a pip-installable project for one compiled integration (a SLUG in --catalog, or a package folder).
    The project in --out installs with pip (`pip install DIR`), runs as `mcp-<slug>` over stdio or
    streamable HTTP (`--transport http --port N`), reads its credential from MCPHUB_CRED_<SLUG>_*
    variables, sends the same upstream requests the hub does and carries its own tests (`pytest`).
    HTTP integrations only (OpenAPI, Postman, repo, docs, text sources).
    """
    from mcphub.export import ExportError, export_integration

    try:
        result = export_integration(target, out_dir, generated=catalog_dir)
    except ExportError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        payload = {
            "directory": str(result.directory),
            "project": result.project,
            "script": result.script,
            "tools": result.tools,
            "sample_tool": result.sample_tool,
        }
        click.echo(json.dumps(payload))
        return
    click.echo(f"Exported {result.tools} tools to {result.directory} ({result.project}).")
    click.echo(f"  install:  pip install {result.directory}")
    click.echo(f"  run:      {result.script}    (or {result.script} --transport http --port 8000)")
    click.echo(f"  test:     cd {result.directory} && pip install '.[test]' && pytest")
