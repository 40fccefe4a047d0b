"""`mcphub integrations`: which catalog integrations a user has enabled and connected."""

from __future__ import annotations

from pathlib import Path

import click

from mcphub.commands._common import data_dir_option, emit, json_option, open_tenancy, resolve_user, run, user_option
from mcphub.commands._options import catalog_option
from mcphub.compiler.ir import Integration
from mcphub.runtime.tenancy.services import Tenancy


def load_catalog(dirs: tuple[Path, ...]) -> dict[str, Integration]:
    """The integrations compiled into the catalog dirs (their manifest.json), by slug."""
    found: dict[str, Integration] = {}
    for directory in dirs or (Path("generated"),):
        for manifest in sorted(directory.glob("*/manifest.json")):
            try:
                integration = Integration.from_manifest(manifest.read_bytes())
            except ValueError as exc:
                click.echo(f"warning: skipping {manifest}: {exc}", err=True)
                continue
            found.setdefault(integration.slug, integration)
    return found


@click.group()
def integrations() -> None:
    """Enable or disable catalog integrations for a user."""


@integrations.command("list")
@catalog_option
@user_option
@data_dir_option
@json_option
def list_(catalogs: tuple[Path, ...], user_email: str | None, data_dir: Path, as_json: bool) -> None:
    """List catalog integrations with the user's enabled/connected state."""
    catalog = load_catalog(catalogs)

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            states = await tenancy.integrations.states(user.id)
            built = await _built(tenancy, user.id)
        for slug, made in built.items():
            catalog.setdefault(slug, made)
        items = []
        for slug in sorted(set(catalog) | set(states)):
            state = states.get(slug)
            integration = catalog.get(slug)
            # An integration without auth schemes is usable as soon as it is enabled: "connected" for it.
            needs_credential = integration is None or bool(integration.auth)
            items.append(
                {
                    "slug": slug,
                    "name": integration.name if integration else "(not in catalog)",
                    "enabled": bool(state and state.enabled),
                    "connected": bool(state and state.connected) or not needs_credential,
                    "needs_credential": needs_credential,
                    "auth": [a.id for a in integration.auth] if integration else [],
                }
            )
        rows = [
            [
                i["slug"],
                i["name"],
                i["enabled"],
                i["connected"] if i["needs_credential"] else "not needed",
                i["auth"] or "none",
            ]
            for i in items
        ]
        emit(as_json, items, ["slug", "name", "enabled", "connected", "auth"], rows, empty="the catalog is empty")

    run(go())


async def _built(tenancy: Tenancy, user_id: int) -> dict[str, Integration]:
    """The deployed built integrations the user may see (their own and the shared ones), by slug."""
    return {slug: Integration.from_manifest(data) for slug, data in (await tenancy.builds.manifests(user_id)).items()}


def _toggle(slug: str, enabled: bool, catalogs: tuple[Path, ...], user_email: str | None, data_dir: Path) -> None:
    catalog = load_catalog(catalogs)

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            if slug not in catalog:
                catalog.update(await _built(tenancy, user.id))
            if catalog and slug not in catalog:
                raise click.ClickException(
                    f"no integration {slug!r} in the catalog; `mcphub integrations list` shows them"
                )
            await tenancy.integrations.set_enabled(user.id, slug, enabled)
            state = (await tenancy.integrations.states(user.id))[slug]
        click.echo(f"{slug}: {'enabled' if enabled else 'disabled'} for {user.email}")
        needs_auth = slug not in catalog or bool(catalog[slug].auth)
        if enabled and not state.connected and needs_auth:
            click.echo(f"It needs a credential before its tools appear: mcphub credentials set {slug}")

    run(go())


@integrations.command("enable")
@click.argument("slug")
@catalog_option
@user_option
@data_dir_option
def enable(slug: str, catalogs: tuple[Path, ...], user_email: str | None, data_dir: Path) -> None:
    """Enable an integration (its tools appear once it is connected)."""
    _toggle(slug, True, catalogs, user_email, data_dir)


@integrations.command("disable")
@click.argument("slug")
@catalog_option
@user_option
@data_dir_option
def disable(slug: str, catalogs: tuple[Path, ...], user_email: str | None, data_dir: Path) -> None:
    """Disable an integration (its credential is kept; delete it with `credentials delete`)."""
    _toggle(slug, False, catalogs, user_email, data_dir)


def register(main: click.Group) -> None:
    main.add_command(integrations)
