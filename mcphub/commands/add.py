"""`mcphub add`: mount a new API in one step — write its spec, compile it, reload the running hub, enable it.

The four steps a newcomer would otherwise type (write specs/<slug>.yaml, `mcphub compile`, POST
/admin/reload, `mcphub integrations enable`) with the same code paths as those commands, so what `add`
leaves behind is an ordinary spec and package to edit and recompile later.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from mcphub.commands._common import (
    data_dir_option,
    hub_url_option,
    json_option,
    open_tenancy,
    resolve_user,
    run,
    user_option,
)
from mcphub.commands.compile import DEFAULT_OUT, DEFAULT_SPECS, print_report
from mcphub.runtime.store.db import utcnow

if TYPE_CHECKING:
    from mcphub.compiler.pipeline import CompileReport

__all__ = ["add", "spec_text"]


def spec_text(
    slug: str, name: str, source: str, *, base_url: str | None, allow_private_network: bool, kind: str
) -> str:
    """The hub spec `add` writes: the source (a path relative to the spec) with every operation, only the settings given."""
    import yaml

    spec: dict[str, Any] = {"slug": slug, "name": name, "source": {"kind": kind, "path": source}}
    if base_url:
        spec["base_url"] = base_url
    if allow_private_network:
        spec["policy"] = {"allow_private_network": True}
    header = (
        f"# Written by `mcphub add`. Curate it (tools:, auth:, policy:; see the README) and recompile with\n"
        f"# `mcphub compile specs/{slug}.yaml`.\n"
    )
    return header + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


@click.command()
@click.argument("source")
@click.option("--slug", help="The integration's slug: tool prefix and package name (default: from SOURCE's name).")
@click.option("--name", help="Display name (default: from the slug).")
@click.option(
    "--kind",
    type=click.Choice(["openapi", "graphql", "postman"]),
    default="openapi",
    show_default=True,
    help="What SOURCE describes.",
)
@click.option("--base-url", help="The API's base URL, when SOURCE has no (or the wrong) servers entry.")
@click.option(
    "--allow-private-network",
    is_flag=True,
    help="Let the hub call loopback/private addresses (a local or intranet API); sets policy.allow_private_network.",
)
@click.option("--specs", "specs_dir", type=click.Path(path_type=Path), default=DEFAULT_SPECS, show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=DEFAULT_OUT, show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing spec of the same slug.")
@hub_url_option("The running hub to mount the package in (POST /admin/reload).")
@click.option(
    "--admin-token",
    envvar="MCPHUB_ADMIN_TOKEN",
    help="The hub's admin token for the reload ($MCPHUB_ADMIN_TOKEN; default: a one-minute key of the operator).",
)
@user_option
@data_dir_option
@json_option
def add(
    source: str,
    slug: str | None,
    name: str | None,
    kind: str,
    base_url: str | None,
    allow_private_network: bool,
    specs_dir: Path,
    out_dir: Path,
    force: bool,
    hub_url: str,
    admin_token: str | None,
    user_email: str | None,
    data_dir: Path,
    as_json: bool,
) -> None:
    """Mount a new API in one step: spec, compile, mount, enable.

    SOURCE is an API description (OpenAPI/Swagger JSON or YAML; with --kind a GraphQL schema or a
    Postman collection): a file, or an http(s) URL fetched once into specs/<slug>/ (private addresses only
    with --allow-private-network). `add` writes specs/<slug>.yaml with every operation,
    compiles it into generated/<slug>/, asks the running hub (--hub-url) to mount it, and enables it for
    you (the operator, or --user). A hub that is not running mounts it when it starts. SOURCE may also be a
    hub spec already written (by hand, or by `mcphub build` for repositories, docs and texts): then `add`
    compiles, mounts and enables that spec as it is.

    \b
    Examples:
      mcphub add petstore.yaml
      mcphub add specs/orders.yaml
      mcphub add ./openapi.json --slug billing --base-url http://127.0.0.1:9000 --allow-private-network
    """
    from mcphub.compiler.pipeline import Target, compile_targets

    is_url = source.startswith(("http://", "https://"))
    if not is_url and not Path(source).is_file():
        raise click.ClickException(f"{source}: no such file; give an API description file or an http(s) URL")
    written: list[tuple[Path, bytes | None]] = []  # (file, what it held before) to undo a failed add
    existing = None if is_url else _hub_spec(Path(source))
    if existing is not None:  # a spec already written (by hand or by `mcphub build`): compile, mount, enable it
        spec_path, slug = Path(source), existing
    else:
        spec_path, slug = _write_spec(
            source, is_url, slug, name, kind, base_url, allow_private_network, specs_dir, force, written
        )
    [report] = compile_targets([Target(spec_path, is_spec=True)], out_dir)
    _finish(report, written, source, spec_path, slug, out_dir, hub_url, admin_token, user_email, data_dir, as_json)


def _hub_spec(path: Path) -> str | None:
    """The slug of `path` when it is a hub spec (not a raw description), else None."""
    from mcphub.compiler.errors import CompileError
    from mcphub.compiler.pipeline import discover_targets
    from mcphub.compiler.spec import load_spec

    try:
        [target] = discover_targets([path])
        return load_spec(path).slug if target.is_spec else None
    except CompileError as exc:
        raise click.ClickException(str(exc)) from None


def _write_spec(
    source: str,
    is_url: bool,
    slug: str | None,
    name: str | None,
    kind: str,
    base_url: str | None,
    allow_private_network: bool,
    specs_dir: Path,
    force: bool,
    written: list[tuple[Path, bytes | None]],
) -> tuple[Path, str]:
    from mcphub.compiler.pipeline import DESCRIPTION_SUFFIXES, slug_from_filename

    file_name = urlsplit(source).path.rstrip("/").rsplit("/", 1)[-1] if is_url else Path(source).name
    slug = slug or slug_from_filename(Path(file_name or "api"))
    spec_path = specs_dir / f"{slug}.yaml"
    if spec_path.exists() and not force:
        raise click.ClickException(
            f"{spec_path} exists: edit it and run `mcphub compile {spec_path}`, pick another --slug, or --force"
        )
    specs_dir.mkdir(parents=True, exist_ok=True)
    if is_url:
        # The compiler reads files, so a URL is fetched once and kept next to the spec (reviewable, reproducible).
        local = specs_dir / slug / (file_name if Path(file_name).suffix in DESCRIPTION_SUFFIXES else "openapi.json")
        body = run(_fetch(source, allow_private=allow_private_network))
        written.append(_write(local, body))
        relative = f"{slug}/{local.name}"
    else:
        relative = os.path.relpath(Path(source).resolve(), specs_dir.resolve())
    text = spec_text(
        slug,
        name or slug.replace("-", " ").title(),
        relative,
        base_url=base_url,
        allow_private_network=allow_private_network,
        kind=kind,
    )
    if is_url:
        text = f"# source.path was fetched from {source}\n" + text
    written.append(_write(spec_path, text.encode()))
    return spec_path, slug


def _finish(
    report: CompileReport,
    written: list[tuple[Path, bytes | None]],
    source: str,
    spec_path: Path,
    slug: str,
    out_dir: Path,
    hub_url: str,
    admin_token: str | None,
    user_email: str | None,
    data_dir: Path,
    as_json: bool,
) -> None:
    """After the compile: undo a failed add, or enable the integration for the user and mount it in the hub."""
    if report.error or report.kept:
        for path, before in reversed(written):  # nothing half-done stays behind
            if before is None:
                path.unlink()
            else:
                path.write_bytes(before)
        if not as_json:
            print_report(report)
        raise click.ClickException(f"{source} was not added: {report.error or report.kept}")
    if not as_json:
        print_report(report)
    integration_needs_auth = _needs_auth(out_dir / slug)

    async def go() -> dict[str, Any]:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            await tenancy.integrations.enable(user.id, slug)
            connected = bool((state := (await tenancy.integrations.states(user.id)).get(slug)) and state.connected)
            token, temporary = admin_token, None
            if token is None and user.is_admin:
                # The reload route takes an admin's API key: a short-lived one, revoked right after.
                expires = utcnow() + timedelta(minutes=1)
                temporary = await tenancy.accounts.create_key(user.id, "mcphub add (reload)", expires_at=expires)
                token = temporary.secret
            try:
                mounted = await _reload(hub_url, token, slug)
            finally:
                if temporary is not None:
                    await tenancy.accounts.revoke_key(user.id, temporary.info.id)
        return {"user": user.email, "connected": connected, **mounted}

    outcome = run(go())
    result = {
        "slug": slug,
        "spec": str(spec_path),
        "package": str(out_dir / slug),
        "tools": report.tools,
        "enabled_for": outcome["user"],
        "needs_credential": integration_needs_auth and not outcome["connected"],
        "mounted": outcome["mounted"],
        "hub": outcome["hub"],
    }
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"  spec:    {spec_path}")
    click.echo(f"  enabled: for {outcome['user']}")
    click.echo(f"  mounted: {outcome['hub']}")
    if result["needs_credential"]:
        click.echo(f"It needs a credential before its tools appear: mcphub credentials set {slug}")


def _write(path: Path, content: bytes) -> tuple[Path, bytes | None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    before = path.read_bytes() if path.exists() else None
    path.write_bytes(content)
    return path, before


async def _fetch(url: str, *, allow_private: bool) -> bytes:
    """The description at `url`, under the hub's egress rules (private addresses only with the flag)."""
    from mcphub.builder.fetch import FetchError, fetch_url

    try:
        fetched = await fetch_url(url, allow_private=allow_private)
    except FetchError as exc:
        raise click.ClickException(str(exc)) from exc
    if fetched.status != 200:
        raise click.ClickException(f"{url}: HTTP {fetched.status}; give the URL of the description itself")
    return fetched.body


def _needs_auth(package: Path) -> bool:
    from mcphub.compiler.ir import Integration

    return bool(Integration.from_manifest((package / "manifest.json").read_bytes()).auth)


async def _reload(hub_url: str, token: str | None, slug: str) -> dict[str, Any]:
    """Ask the running hub to rescan its catalog; {"mounted": bool, "hub": what happened, in words}."""
    import httpx2

    url = f"{hub_url.rstrip('/')}/admin/reload"
    if token is None:
        return {
            "mounted": False,
            "hub": f"not asked: the reload needs an admin (set MCPHUB_ADMIN_TOKEN or run as an admin); "
            f"`mcphub serve` mounts {slug} when it starts",
        }
    try:
        async with httpx2.AsyncClient(timeout=60.0) as client:
            response = await client.post(url, headers={"Authorization": f"Bearer {token}"})
    except httpx2.TransportError:
        return {"mounted": False, "hub": f"no hub answers at {hub_url}; `mcphub serve` mounts {slug} when it starts"}
    if response.status_code != 200:
        raise click.ClickException(
            f"the hub at {url} refused the reload (HTTP {response.status_code}): {response.text[:200]}; "
            "check --admin-token / MCPHUB_ADMIN_TOKEN"
        )
    report = response.json()
    if slug in report.get("errors", {}):
        raise click.ClickException(f"the hub could not mount {slug}: {report['errors'][slug]}")
    if slug not in report.get("loaded", []):
        return {
            "mounted": False,
            "hub": f"the hub at {hub_url} does not mount this folder: start it with --catalog for the --out folder",
        }
    return {"mounted": True, "hub": f"{hub_url}/mcp serves {slug}'s tools now"}
