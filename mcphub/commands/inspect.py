"""`mcphub inspect`: load a compiled package exactly as the hub mounts it and list its tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mcphub.commands._options import catalog
from mcphub.commands.compile import DEFAULT_OUT

__all__ = ["DEFAULT_CATALOGS", "find_package", "inspect"]

# Where `mcphub compile` puts packages: specs into generated/, raw descriptions into build/raw/ (the pipeline's
# SPECS_OUT and RAW_OUT, spelt out so that `inspect --help` need not import the compiler; a test keeps them equal).
DEFAULT_CATALOGS = (DEFAULT_OUT, Path("build") / "raw")


def find_package(target: str, catalogs: tuple[Path, ...]) -> Path:
    """A package folder from a path (`generated/github`) or a slug (`github`) looked up in the catalog dirs."""
    path = Path(target)
    if path.is_dir():
        return path
    dirs = catalogs or DEFAULT_CATALOGS
    for directory in dirs:
        if (directory / target / "manifest.json").is_file():
            return directory / target
    from mcphub.compiler.spec import did_you_mean

    slugs = sorted(p.parent.name for d in dirs if d.is_dir() for p in d.glob("*/manifest.json"))
    where = ", ".join(f"{d}/" for d in dirs)
    hint = did_you_mean(target, slugs) or (f"; packages there: {', '.join(slugs)}" if slugs else "")
    raise click.ClickException(
        f"{target!r} is neither a package folder nor the slug of a package in {where}{hint} "
        "(compile a spec first with `mcphub compile`, or pass --catalog DIR)"
    )


@click.command()
@click.argument("package", metavar="SLUG_OR_DIR")
@catalog("Where to look a slug up (repeatable; default: generated/, then build/raw/).")
@click.option("--json", "as_json", is_flag=True, help="Print the MCP tools/list result the hub would serve.")
@click.option("--all", "show_all", is_flag=True, help="Include disabled tools.")
def inspect(package: str, catalogs: tuple[Path, ...], as_json: bool, show_all: bool) -> None:
    """Load a compiled package exactly as the hub mounts it and list its tools.

    SLUG_OR_DIR is a package folder (generated/github) or a slug (github) found in --catalog.
    """
    from mcphub.runtime.package import PackageError, load_package

    try:
        loaded = load_package(find_package(package, catalogs))
    except PackageError as exc:
        raise click.ClickException(str(exc)) from exc
    tools = [t for t in loaded.integration.tools if t.enabled or show_all]
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
    integration = loaded.integration
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
