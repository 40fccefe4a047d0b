"""`mcphub tools search`: the hub's tool search, offline, over compiled packages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

import click

DEFAULT_CATALOG = Path("generated")


@click.group()
def tools() -> None:
    """Find tools across compiled packages."""


@tools.command()
@click.argument("query", required=False)
@click.option(
    "--catalog",
    "catalogs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Folder of compiled packages, or one package (repeatable; default: generated/). "
    "A slug found in an earlier folder shadows later ones.",
)
@click.option("--limit", "-k", default=5, show_default=True, type=click.IntRange(1, 1000), help="Results per query.")
@click.option("--all", "include_disabled", is_flag=True, help="Search every operation, disabled ones too.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, best first.")
@click.option(
    "--batch",
    type=click.File("r"),
    help="Read one query a line from this file ('-' = stdin) and print one JSON list per line, in order.",
)
@click.option("--lexical", is_flag=True, help="BM25 alone (no embedding model).")
def search(
    query: str | None,
    catalogs: tuple[Path, ...],
    limit: int,
    include_disabled: bool,
    as_json: bool,
    batch: TextIO | None,
    lexical: bool,
) -> None:
    """Search the tools of compiled packages for QUERY, as an agent's search_tools call would.

    Ranking combines BM25 over names, descriptions, parameters, tags and path words with sentence
    embeddings (all-MiniLM-L6-v2 run locally; MCPHUB_EMBEDDING_MODEL points at another model folder).
    Embeddings are cached per package under ~/.cache/mcphub/search (MCPHUB_SEARCH_CACHE).

    \b
    Examples:
      mcphub tools search "tell the team standup moved"
      mcphub tools search "refund a payment" --catalog .cache/fullcat --all --json
      mcphub tools search --batch queries.txt --json --limit 10
    """
    from mcphub.runtime.search import load_index
    from mcphub.runtime.search.index import Mode

    if (query is None) == (batch is None):
        raise click.UsageError("give either QUERY or --batch FILE")
    try:
        index = load_index(
            list(catalogs) or [DEFAULT_CATALOG], include_disabled=include_disabled, embeddings=not lexical
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if index.embedding_error and not lexical:
        click.secho(f"warning: lexical search only: {index.embedding_error}", fg="yellow", err=True)
    mode: Mode = "lexical" if lexical else "hybrid"

    if batch is not None:
        for line in batch:
            hits = index.search(line.strip(), limit=limit, mode=mode) if line.strip() else []
            click.echo(json.dumps([hit.as_dict(with_schema=False) for hit in hits], ensure_ascii=False))
        return
    assert query is not None
    hits = index.search(query, limit=limit, mode=mode)
    if as_json:
        click.echo(json.dumps([hit.as_dict(with_schema=False) for hit in hits], indent=2, ensure_ascii=False))
        return
    if not hits:
        click.echo(f"no tool matches {query!r} in {len(index)} tools", err=True)
        return
    for rank, hit in enumerate(hits, 1):
        where = hit.doc.operation or hit.doc.graphql_field or ""
        click.echo(f"{rank:>3}. {hit.doc.name:<50} {hit.score:7.4f}  {where}")
        click.echo(f"     {hit.doc.summary}")
    if index.weak(hits):
        click.echo("(weak match: try the service's own words, e.g. 'issue', 'message', 'invoice')", err=True)


def register(main: click.Group) -> None:
    main.add_command(tools)
