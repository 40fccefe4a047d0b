"""`mcphub users`: create and list accounts (the first user is the admin)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mcphub.commands._common import data_dir_option, emit, json_option, open_tenancy, run


@click.group()
def users() -> None:
    """Accounts of this hub (the first one created is its admin)."""


@users.command("create")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin instead of prompting.")
@data_dir_option
@json_option
def create(email: str, password_stdin: bool, data_dir: Path, as_json: bool) -> None:
    """Create a user; the password is prompted for (never taken from the command line)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await tenancy.accounts.create_user(email, password)
        role = "admin" if user.is_admin else "user"
        emit(as_json, user, ["id", "email", "role"], [[user.id, user.email, role]])

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


def register(main: click.Group) -> None:
    main.add_command(users)
