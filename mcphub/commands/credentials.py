"""`mcphub credentials`: store a user's upstream credential (encrypted), list or delete it.

Secrets come from a hidden prompt or from stdin, never from the command line (argv is visible to every
user of the machine in `ps` and lands in shell history).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from mcphub.commands._common import data_dir_option, emit, json_option, open_tenancy, resolve_user, run, user_option


@click.group()
def credentials() -> None:
    """Upstream credentials per user and integration (encrypted at rest, never shown again)."""


@credentials.command("set")
@click.argument("slug")
@click.option(
    "--field",
    "field_name",
    type=click.Choice(["token", "api_key", "password"]),
    default="token",
    show_default=True,
    help="Which secret to prompt for.",
)
@click.option("--username", help="For basic auth: the user name (not secret); the password is prompted for.")
@click.option("--scheme", help="Pin one of the integration's auth schemes (its id).")
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="Server variable for this user, e.g. --var site=acme (repeatable).",
)
@click.option(
    "--stdin",
    "from_stdin",
    is_flag=True,
    help="Read the secret from stdin: one line (the value of --field) or a JSON object of fields.",
)
@user_option
@data_dir_option
def set_(
    slug: str,
    field_name: str,
    username: str | None,
    scheme: str | None,
    variables: tuple[str, ...],
    from_stdin: bool,
    user_email: str | None,
    data_dir: Path,
) -> None:
    """Store (or replace) the credential of SLUG for a user."""
    if username is not None and field_name == "token":
        field_name = "password"
    fields: dict[str, Any] = {}
    if from_stdin:
        text = sys.stdin.read()
        stripped = text.strip()
        if stripped.startswith("{"):
            try:
                fields = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise click.ClickException(f"stdin is not a valid JSON object: {exc.msg} at {exc.pos}") from exc
            if not isinstance(fields, dict):
                raise click.ClickException("stdin JSON must be an object of credential fields")
        else:
            fields = {field_name: text.rstrip("\r\n")}
    else:
        fields = {field_name: click.prompt(field_name.replace("_", " ").capitalize(), hide_input=True)}
    if username is not None:
        fields["username"] = username
    if variables:
        pairs = [v.split("=", 1) for v in variables]
        if any(len(p) != 2 for p in pairs):
            raise click.BadParameter("use NAME=VALUE", param_hint="--var")
        fields["server_variables"] = dict(pairs)

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            await tenancy.credentials.set(user.id, slug, fields, scheme=scheme)
        click.echo(f"Stored the {slug} credential of {user.email} ({', '.join(sorted(fields))}), encrypted.")

    run(go())


@credentials.command("list")
@user_option
@data_dir_option
@json_option
def list_(user_email: str | None, data_dir: Path, as_json: bool) -> None:
    """List a user's stored credentials (which fields are set; never the values)."""

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            infos = await tenancy.credentials.infos(user.id)
        rows = [[i.slug, i.scheme, i.fields, i.updated_at] for i in infos]
        emit(as_json, infos, ["integration", "scheme", "fields", "updated"], rows, empty="no credentials stored")

    run(go())


@credentials.command("delete")
@click.argument("slug")
@user_option
@data_dir_option
def delete(slug: str, user_email: str | None, data_dir: Path) -> None:
    """Delete a user's credential for SLUG (its tools disappear from that user's list)."""

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            deleted = await tenancy.credentials.delete(user.id, slug)
        if not deleted:
            raise click.ClickException(f"{user.email} has no credential for {slug}")
        click.echo(f"Deleted the {slug} credential of {user.email}.")

    run(go())


def register(main: click.Group) -> None:
    main.add_command(credentials)
