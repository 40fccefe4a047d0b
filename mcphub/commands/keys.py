"""`mcphub keys`: API keys (`mcp_sk_…`) — create (shown once), list, rotate, revoke."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import click

from mcphub.commands._common import data_dir_option, emit, json_option, open_tenancy, resolve_user, run, user_option
from mcphub.commands._options import catalog_option
from mcphub.commands.integrations import load_catalog
from mcphub.runtime.store.db import utcnow
from mcphub.runtime.tenancy.accounts import ROTATION_GRACE, VIEWS, ApiKeyInfo, NewKey

_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """'0', '90s', '15m', '24h', '7d'."""
    if text.strip() == "0":
        return timedelta(0)
    match = _DURATION.match(text.strip())
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration like 30m, 24h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _rows(keys: list[ApiKeyInfo]) -> list[list[object]]:
    return [
        [k.id, k.name, k.prefix + "…", k.status, k.scope or "all", k.view, k.expires_at, k.last_used_at] for k in keys
    ]


_HEADERS = ["id", "name", "prefix", "status", "scope", "view", "expires", "last used"]


def _show_new(new: NewKey, as_json: bool, what: str, owner: str) -> None:
    if as_json:
        emit(True, {"key": new.info, "secret": new.secret}, [], [])
        return
    click.echo(f"{what} key {new.info.id} ({new.info.name}) of {owner}. The secret is shown once; store it now:\n")
    click.echo(f"  {new.secret}\n")


@click.group()
def keys() -> None:
    """API keys: what agents send as `Authorization: Bearer mcp_sk_…`."""


@keys.command("create")
@click.option("--name", required=True, help="What uses the key: 'laptop', 'ci', …")
@click.option("--expires-in", "expires_in", help="Expire after a duration (30m, 24h, 90d).")
@click.option(
    "--scope",
    multiple=True,
    help="Limit to an integration ('github') or tool ('github__create_issue') of the catalog; repeatable.",
)
@click.option(
    "--view",
    type=click.Choice(VIEWS),
    default="flat",
    show_default=True,
    help="How /mcp lists tools: every tool (flat), the search meta-tools (search), or search above 8,000 tokens (auto).",
)
@catalog_option
@user_option
@data_dir_option
@json_option
def create(
    name: str,
    expires_in: str | None,
    scope: tuple[str, ...],
    view: str,
    catalogs: tuple[Path, ...],
    user_email: str | None,
    data_dir: Path,
    as_json: bool,
) -> None:
    """Create a key; its secret is printed once and never stored."""
    expires_at = utcnow() + parse_duration(expires_in) if expires_in else None
    catalog = load_catalog(catalogs) if scope else {}
    if scope and not catalog:
        click.echo("warning: no compiled packages found (--catalog), so the scope was not checked", err=True)

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            new = await tenancy.accounts.create_key(
                user.id, name, expires_at=expires_at, scope=scope or None, catalog=catalog.values() or None, view=view
            )
        _show_new(new, as_json, "Created", user.email)

    run(go())


@keys.command("list")
@user_option
@data_dir_option
@json_option
def list_(user_email: str | None, data_dir: Path, as_json: bool) -> None:
    """List a user's keys (prefixes only)."""

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            found = await tenancy.accounts.list_keys(user.id)
        emit(as_json, found, _HEADERS, _rows(found), empty="no keys; create one with `mcphub keys create --name NAME`")

    run(go())


@keys.command("rotate")
@click.argument("key_id", type=int)
@click.option(
    "--grace",
    default=f"{int(ROTATION_GRACE.total_seconds() // 3600)}h",
    show_default=True,
    help="How long the old secret keeps working (0 = stop now), so deployed agents can be updated.",
)
@user_option
@data_dir_option
@json_option
def rotate(key_id: int, grace: str, user_email: str | None, data_dir: Path, as_json: bool) -> None:
    """Issue a new secret for a key (same id, name and scope)."""
    period = parse_duration(grace)

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            new = await tenancy.accounts.rotate_key(user.id, key_id, grace=period)
        _show_new(new, as_json, "Rotated", user.email)
        if not as_json:
            click.echo(
                f"The previous secret works until {(utcnow() + period):%Y-%m-%d %H:%M} UTC."
                if period
                else "The previous secret no longer works."
            )

    run(go())


@keys.command("revoke")
@click.argument("key_id", type=int)
@user_option
@data_dir_option
@json_option
def revoke(key_id: int, user_email: str | None, data_dir: Path, as_json: bool) -> None:
    """Revoke a key: it stops working immediately on every replica."""

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            info = await tenancy.accounts.revoke_key(user.id, key_id)
        emit(as_json, info, _HEADERS, _rows([info]))

    run(go())


def register(main: click.Group) -> None:
    main.add_command(keys)
