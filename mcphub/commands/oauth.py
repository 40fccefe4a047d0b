"""`mcphub oauth`: upstream OAuth (clients per integration, connecting a user) and the grants the hub issued.

- `set-client`, `clients`, `delete-client`: the hub's OAuth client at each upstream provider (admin).
- `connect SLUG`: print the provider's consent URL for a user; the running hub's /oauth/callback/SLUG
  finishes it, and the command waits until the credential is stored.
- `grants`, `revoke-grant`: what the hub, as an authorization server, let MCP clients (remote
  connectors) do as its users, and ending it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import click

from mcphub.commands._common import (
    data_dir_option,
    emit,
    hub_url_option,
    json_option,
    open_tenancy,
    resolve_user,
    run,
    user_option,
)
from mcphub.commands._options import catalog_option
from mcphub.commands.integrations import load_catalog
from mcphub.runtime.oauth.authserver import GrantInfo, list_grants, revoke_grant
from mcphub.runtime.oauth.upstream import TokenAuth


@click.group()
def oauth() -> None:
    """Upstream OAuth (clients, connecting) and the OAuth grants the hub issued to MCP clients."""


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


@oauth.command("connect")
@click.argument("slug")
@user_option
@catalog_option
@hub_url_option(
    "Where the running hub is reached by the browser: the provider redirects to HUB_URL/oauth/callback/SLUG."
)
@click.option("--scheme", help="Which of the integration's OAuth schemes (its id; default: the first).")
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="Pick what a scheme finds after sign-in, e.g. --var cloudId=acme for one of several Jira sites "
    "(default: the first granted). Repeatable.",
)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until the hub has stored the tokens.")
@click.option("--timeout", default=600, show_default=True, type=int, help="Seconds to wait for the browser.")
@data_dir_option
@json_option
def connect(
    slug: str,
    user_email: str | None,
    catalogs: tuple[Path, ...],
    hub_url: str,
    scheme: str | None,
    variables: tuple[str, ...],
    wait: bool,
    timeout: int,
    data_dir: Path,
    as_json: bool,
) -> None:
    """Connect SLUG for a user with OAuth: prints the provider's consent URL to open in a browser.

    The provider sends the browser back to the running hub (HUB_URL/oauth/callback/SLUG, the redirect
    URI to register with the provider), which stores the tokens encrypted; this command waits until
    they are there. The link works once, for 10 minutes.
    """
    integration = load_catalog(catalogs).get(slug)
    if integration is None:
        raise click.ClickException(f"no integration {slug!r} in the catalog; `mcphub integrations list` shows them")
    redirect_uri = f"{hub_url.rstrip('/')}/oauth/callback/{slug}"
    pairs = [v.partition("=") for v in variables]
    if any(not name or not sep for name, sep, _ in pairs):
        raise click.BadParameter("use NAME=VALUE, e.g. --var cloudId=acme", param_hint="--var")
    wanted = {name: value for name, _, value in pairs}
    labels: dict[str, str] = {}

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            before = {c.slug: c.updated_at for c in await tenancy.credentials.infos(user.id)}.get(slug)
            url = await tenancy.oauth.authorization_url(
                user.id, integration, redirect_uri, scheme_id=scheme, session_bound=False, server_variables=wanted
            )
            if as_json:
                click.echo(json.dumps({"authorization_url": url, "redirect_uri": redirect_uri, "user": user.email}))
            else:
                click.echo(f"Open this link in a browser to connect {integration.name} for {user.email}:\n\n  {url}\n")
                click.echo(f"The provider returns to {redirect_uri}: the hub must be running there.")
            if not wait:
                return
            if not as_json:
                click.echo("Waiting for the browser… (Ctrl-C to stop; the link stays valid for 10 minutes)")
            deadline = time.monotonic() + timeout
            while True:
                now = {c.slug: c.updated_at for c in await tenancy.credentials.infos(user.id)}.get(slug)
                if now is not None and now != before:
                    labels.update(
                        (await tenancy.credentials.fields(user.id, slug) or {}).get("server_variable_labels") or {}
                    )
                    break
                if time.monotonic() > deadline:
                    raise click.ClickException(
                        f"{integration.name} was not connected within {timeout} s; run the command again"
                    )
                await asyncio.sleep(1.0)
        if as_json:
            click.echo(json.dumps({"connected": True, "slug": slug, "user": user.email, "discovered": labels}))
        else:
            found = "".join(f" ({name}: {label})" for name, label in labels.items())
            click.echo(f"Connected {integration.name} for {user.email}{found}.")

    run(go())


_GRANT_HEADERS = ["id", "client", "user", "scopes", "created", "last used", "status"]


def _grant_rows(grants: list[GrantInfo]) -> list[list[object]]:
    return [[g.id, g.client_name, g.user_email, g.scopes, g.created_at, g.last_used_at, g.status] for g in grants]


def _grant_json(grant: GrantInfo) -> dict[str, object]:
    return {
        "id": grant.id,
        "client_id": grant.client_id,
        "client_name": grant.client_name,
        "user_id": grant.user_id,
        "user_email": grant.user_email,
        "scopes": grant.scopes,
        "created_at": grant.created_at,
        "last_used_at": grant.last_used_at,
        "revoked_at": grant.revoked_at,
        "status": grant.status,
    }


@oauth.command("grants")
@click.option("--user", "user_email", metavar="EMAIL", help="Only this user's grants (default: every user's).")
@click.option("--revoked", "include_revoked", is_flag=True, help="Include revoked grants.")
@data_dir_option
@json_option
def grants(user_email: str | None, include_revoked: bool, data_dir: Path, as_json: bool) -> None:
    """List the OAuth grants MCP clients (remote connectors) hold on users' behalf, newest first."""

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user_id = (await resolve_user(tenancy, user_email)).id if user_email else None
            found = await list_grants(tenancy.db, user_id=user_id, include_revoked=include_revoked)
        emit(
            as_json,
            [_grant_json(g) for g in found],
            _GRANT_HEADERS,
            _grant_rows(found),
            empty="no OAuth grants; MCP clients get one when a user approves them on the hub's consent page",
        )

    run(go())


@oauth.command("revoke-grant")
@click.argument("grant_id", type=int)
@data_dir_option
@json_option
def revoke_grant_command(grant_id: int, data_dir: Path, as_json: bool) -> None:
    """End grant GRANT_ID: its access and refresh tokens stop working at once; the client must ask again."""

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            grant = await revoke_grant(tenancy.db, grant_id)
        emit(as_json, _grant_json(grant), _GRANT_HEADERS, _grant_rows([grant]))

    run(go())


def register(main: click.Group) -> None:
    main.add_command(oauth)
