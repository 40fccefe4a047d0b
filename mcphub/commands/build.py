"""`mcphub build`: turn an API description, a URL, a repository, docs or a text into a spec, and compile it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mcphub.commands._options import data_dir_option, user_option

if TYPE_CHECKING:
    from mcphub.builder.build import BuildResult, StageReport

__all__ = ["build"]


@click.command()
@click.argument("source")
@click.option(
    "--kind",
    type=click.Choice(["openapi", "postman", "docs", "repo", "text"]),
    help="What SOURCE is (default: recognised from its content: OpenAPI/Swagger, Postman, a folder or git URL is a "
    "repository, an HTML page is docs). `text` and `docs` need an LLM (ANTHROPIC_API_KEY).",
)
@click.option("--slug", help="The integration's slug: tool prefix and file names (default: from the API's title).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("specs"),
    show_default=True,
    help="Where the spec (<slug>.yaml) and its pinned source (<slug>/) are written.",
)
@click.option(
    "--catalog",
    "catalog_dir",
    type=click.Path(path_type=Path),
    default=Path("generated"),
    show_default=True,
    help="Where the compiled package goes.",
)
@click.option("--base-url", help="Where the API runs, when the source does not say (repositories, some collections).")
@click.option(
    "--allow-private-network",
    is_flag=True,
    help="Let the fetch, the clone and the tools' calls reach private and loopback addresses (a local API).",
)
@click.option("--force", is_flag=True, help="Replace a spec of the same slug.")
@click.option(
    "--deploy",
    is_flag=True,
    help="Store it in the hub's database as the user's integration (versions, rollback: `mcphub servers`) and make "
    "it live on every hub process sharing the database; nothing is written to --out or --catalog.",
)
@user_option
@data_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the result (tools, stages, LLM use) as JSON.")
def build(
    source: str,
    kind: str | None,
    slug: str | None,
    out_dir: Path,
    catalog_dir: Path,
    base_url: str | None,
    allow_private_network: bool,
    force: bool,
    deploy: bool,
    user_email: str | None,
    data_dir: Path,
    as_json: bool,
) -> None:
    """Turn an API description, a URL, a repository, docs or a text into a spec, and compile it.

    SOURCE is a file (OpenAPI/Swagger JSON or YAML, a Postman collection), a URL (a description, or a docs page
    to crawl), a git URL or a local folder (its OpenAPI file, else its FastAPI/Flask/Express/Fastify/NestJS
    routes), or `-` with --kind text to read a plain description from stdin. Each stage prints as it ends, with its time (and the
    LLM's tokens and cost where one was used). The spec and its pinned source are ordinary files: review them,
    curate `tools:`, and `mcphub compile` rebuilds offline. Then `mcphub add`'s reload and enable steps, or a
    restart, serve it.

    \b
    Examples:
      mcphub build petstore.yaml --slug pets
      mcphub build https://api.example.com/openapi.json
      mcphub build https://github.com/acme/orders-service.git --base-url https://orders.acme.example
      mcphub build ./my-flask-app --base-url http://127.0.0.1:5000 --allow-private-network
      echo "Acme's invoices API at https://api.acme.example ..." | mcphub build - --kind text
      mcphub build petstore.yaml --slug pets --deploy --user ada@example.com
    """
    if deploy:
        _build_and_deploy(
            source, kind, slug, catalog_dir, base_url, allow_private_network, user_email, data_dir, as_json
        )
        return
    import anyio

    from mcphub.builder.build import BuildOptions
    from mcphub.builder.build import build as run_build
    from mcphub.compiler.errors import CompileError

    options = BuildOptions(
        source=source,
        kind=kind,  # type: ignore[arg-type]  # click.Choice guarantees the literal
        slug=slug,
        out_dir=out_dir,
        catalog_dir=catalog_dir,
        base_url=base_url,
        allow_private=allow_private_network,
        force=force,
        text=sys.stdin.read() if source == "-" else None,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = anyio.run(run_build, options, None if as_json else _print_stage)
    except CompileError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        return
    _print_result(result)


def _build_and_deploy(
    source: str,
    kind: str | None,
    slug: str | None,
    catalog_dir: Path,
    base_url: str | None,
    allow_private: bool,
    user_email: str | None,
    data_dir: Path,
    as_json: bool,
) -> None:
    """`--deploy`: the source becomes a stored, versioned integration of the user, built and made live."""
    import re

    from mcphub.commands._common import emit, open_tenancy, resolve_user, run
    from mcphub.commands.integrations import load_catalog
    from mcphub.commands.servers import _print_stage as print_stage
    from mcphub.servers import BuildFailed, Servers, SourceInput

    if source == "-":
        given = SourceInput("text", data=sys.stdin.read().encode(), filename="description.txt", as_kind="text")
    elif re.match(r"^[a-z]+://", source):
        given = SourceInput("url", url=source, as_kind=kind)  # type: ignore[arg-type]  # click.Choice
    else:
        path = Path(source)
        if not path.is_file():
            raise click.ClickException(f"{source}: no such file (--deploy takes a file, a URL or - for a text)")
        given = SourceInput("file", data=path.read_bytes(), filename=path.name, as_kind=kind)  # type: ignore[arg-type]
    taken = list(load_catalog((catalog_dir,)))

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            service = Servers(tenancy, taken=lambda: taken)
            progress = None if as_json else print_stage
            created = await service.create(
                user, given, slug=slug, base_url=base_url, allow_private=allow_private, progress=progress
            )
            try:
                info = await service.deploy(user, created.info.slug, progress=progress)
            except BuildFailed as exc:
                raise click.ClickException(
                    f"{exc}; it is stored as version {created.version.number}: fix it with `mcphub servers`"
                ) from None
            live = await service.version(user, info.slug, info.deployed_version)
        if as_json:
            emit(True, {"server": info, "tools": live.tools, "warnings": created.warnings, "llm": created.llm}, [], [])
            return
        click.echo(
            f"✓ {info.slug} version {info.deployed_version} is live for {user.email}: {len(live.tools or [])} tools"
        )
        for warning in created.warnings[:20]:
            click.echo(f"  warning: {warning}")
        click.echo(f"  docs     /integrations/{info.slug}/docs;  versions: mcphub servers versions {info.slug}")

    run(go())


def _print_stage(report: StageReport) -> None:
    tokens = ""
    if report.tokens:
        cost = report.tokens.get("cost_usd")
        money = f", ${cost:.4f}" if cost is not None else ""
        tokens = f"  [{report.tokens['input_tokens']:,} in / {report.tokens['output_tokens']:,} out tokens{money}]"
    detail = f"  {report.detail}" if report.detail else ""
    click.echo(f"  {report.stage:<8} {report.seconds:6.2f}s{detail}{tokens}", err=True)


def _print_result(result: BuildResult) -> None:
    click.echo(f"✓ {result.slug}: {len(result.tools)} tools from {result.kind} source")
    click.echo(f"  spec     {result.spec_path}")
    if result.source_path is not None:
        click.echo(f"  source   {result.source_path}/")
    click.echo(f"  package  {result.package_dir}/")
    for warning in result.warnings[:20]:
        click.echo(f"  warning: {warning}")
    if len(result.warnings) > 20:
        click.echo(f"  … and {len(result.warnings) - 20} more warnings (see --json)")
    click.echo(
        f"  next: review {result.spec_path}, then `mcphub add {result.spec_path}` mounts it and enables it for you"
    )
