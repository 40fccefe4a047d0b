"""`mcphub users`: create, list and invite accounts (the first user is the admin)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from mcphub.commands._common import data_dir_option, emit, json_option, open_tenancy, run, to_jsonable
from mcphub.commands._options import catalog_option
from mcphub.commands.integrations import load_catalog
from mcphub.runtime.tenancy.firstrun import enable_for_new_user


@click.group()
def users() -> None:
    """Accounts of this hub (the first one created is its admin)."""


@users.command("create")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin instead of prompting.")
@catalog_option
@data_dir_option
@json_option
def create(email: str, password_stdin: bool, catalogs: tuple[Path, ...], data_dir: Path, as_json: bool) -> None:
    """Create a user; the password is prompted for (never taken from the command line).

    The new user starts with the integrations that need no credential enabled (configurable with
    MCPHUB_NEW_USER_INTEGRATIONS: credential-free, none, or a comma-separated list of slugs).
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    catalog = load_catalog(catalogs)

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await tenancy.accounts.create_user(email, password)
            enabled, _ = await enable_for_new_user(tenancy, user.id, catalog.values())
        role = "admin" if user.is_admin else "user"
        emit(
            as_json,
            {**to_jsonable(user), "enabled": enabled},
            ["id", "email", "role", "enabled"],
            [[user.id, user.email, role, enabled]],
        )

    run(go())


@users.command("list")
@data_dir_option
@json_option
def list_(data_dir: Path, as_json: bool) -> None:
    """List users."""

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            found = await tenancy.accounts.list_users()
        rows = [[u.id, u.email, "admin" if u.is_admin else "user", u.created_at] for u in found]
        emit(as_json, found, ["id", "email", "role", "created"], rows, empty="no users yet")

    run(go())


@users.command("invite")
@click.argument("email")
@click.option("--days", type=click.IntRange(1, 90), default=7, show_default=True, help="How long the link works.")
@data_dir_option
@json_option
def invite(email: str, days: int, data_dir: Path, as_json: bool) -> None:
    """Make a single-use sign-up link for EMAIL (for the `invite` sign-up policy; shown once).

    \b
    The link uses MCPHUB_PUBLIC_URL (default http://127.0.0.1:8765). Choose the policy in the
    dashboard's Settings or with MCPHUB_SIGNUP=closed|invite|open in the hub's environment.
    """
    from datetime import timedelta

    from mcphub.runtime.tenancy.signup import Signups

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            signups = Signups(tenancy.accounts)
            made = await signups.invite(email, created_by=None, ttl=timedelta(days=days))
            policy = (await signups.state()).policy
        base = os.environ.get("MCPHUB_PUBLIC_URL", "http://127.0.0.1:8765").rstrip("/")
        url = f"{base}/signup?invite={made.token}"
        if as_json:
            emit(True, {"email": made.email, "url": url, "expires_at": made.expires_at}, [], [])
            return
        click.echo(f"Invite link for {made.email} (works once, until {made.expires_at:%Y-%m-%d %H:%M} UTC):\n{url}")
        if policy != "invite":
            click.echo(f"Note: sign-up is {policy!r} now; invite links are used when it is 'invite'.", err=True)

    run(go())


def register(main: click.Group) -> None:
    main.add_command(users)
