"""`mcphub oauth`: the hub's OAuth client at each upstream (admin); users connect from the web."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mcphub.commands._common import data_dir_option, emit, json_option, open_tenancy, run
from mcphub.runtime.oauth.upstream import TokenAuth


@click.group()
def oauth() -> None:
    """OAuth clients for upstream integrations (client id and secret you registered with the provider)."""


@oauth.command("set-client")
@click.argument("slug")
@click.option("--client-id", required=True)
@click.option(
    "--token-auth",
    type=click.Choice(["client_secret_basic", "client_secret_post", "none"]),
    default="client_secret_basic",
    show_default=True,
    help="How the hub authenticates at the token endpoint ('none': public client, PKCE only).",
)
@click.option("--revocation-url", help="The provider's token revocation endpoint (RFC 7009), used on disconnect.")
@click.option("--secret-stdin", is_flag=True, help="Read the client secret from stdin instead of prompting.")
@data_dir_option
def set_client(
    slug: str, client_id: str, token_auth: str, revocation_url: str | None, secret_stdin: bool, data_dir: Path
) -> None:
    """Set SLUG's OAuth client; the secret is prompted for (or read from stdin) and stored encrypted.

    Register the redirect URI <hub URL>/oauth/callback/SLUG with the provider.
    """
    secret: str | None = None
    if token_auth != "none":
        secret = sys.stdin.readline().rstrip("\r\n") if secret_stdin else click.prompt("Client secret", hide_input=True)
    modes: dict[str, TokenAuth] = {"none": "none", "client_secret_post": "client_secret_post"}
    mode = modes.get(token_auth, "client_secret_basic")

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            await tenancy.oauth.set_client(slug, client_id, secret, token_auth=mode, revocation_url=revocation_url)
        click.echo(f"OAuth client for {slug} saved ({mode}).")

    run(go())


@oauth.command("clients")
@data_dir_option
@json_option
def clients(data_dir: Path, as_json: bool) -> None:
    """List configured OAuth clients (never their secrets)."""

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            found = await tenancy.oauth.list_clients()
        rows = [[c["slug"], c["client_id"], c["has_secret"], c["token_auth"], c["revocation_url"]] for c in found]
        emit(
            as_json,
            found,
            ["integration", "client id", "secret", "token auth", "revocation"],
            rows,
            empty="no OAuth clients",
        )

    run(go())


@oauth.command("delete-client")
@click.argument("slug")
@data_dir_option
def delete_client(slug: str, data_dir: Path) -> None:
    """Remove SLUG's OAuth client (connected users keep their tokens until they expire)."""

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            if not await tenancy.oauth.delete_client(slug):
                raise click.ClickException(f"no OAuth client configured for {slug}")
        click.echo(f"Removed the OAuth client of {slug}.")

    run(go())


def register(main: click.Group) -> None:
    main.add_command(oauth)
