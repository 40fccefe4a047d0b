"""The real hub process as an MCP authorization server: an OAuth-only client gets the user's tools, and loses them.

`mcphub serve` runs in its own process on a fixed port (so it has an issuer); the official SDK client
discovers the authorization server from the 401, registers, and a browser (an HTTP client keeping
cookies) signs in and consents on the hub's pages. The token reaches exactly the consenting user's
integrations; the CLI lists the grant and revokes it: the token is refused at once, and the client
must send its user through consent again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata
from pydantic import AnyUrl
from runtime.support import Upstream, make_account, petstore, serve, write_package
from support.hub_process import cli, hub_env, hub_process

from mcphub.runtime.tenancy.services import Tenancy

from .test_authserver import MemoryStorage

REDIRECT = "http://localhost:3030/callback"
PASSWORD = "correct horse battery staple"  # what runtime.support.make_account gives every user


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    recorder = Upstream()
    with serve(recorder) as base:
        recorder.base_url = base
        yield recorder


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return match.group(1)


async def _consent(base: str, authorization_url: str, email: str) -> dict[str, str]:
    """The user's browser on the hub's own pages: sign in, allow; the redirect's query parameters."""
    async with httpx2.AsyncClient(base_url=base) as browser:
        started = await browser.get(authorization_url)
        assert started.status_code == 302, started.text
        page = await browser.get(started.headers["location"])
        form = {"request": _hidden(page.text, "request"), "csrf": _hidden(page.text, "csrf")}
        signed_in = await browser.post(
            "/oauth/consent", data={**form, "action": "signin", "email": email, "password": PASSWORD}
        )
        assert signed_in.status_code == 303, signed_in.text
        consent = await browser.get(signed_in.headers["location"])
        decided = await browser.post(
            "/oauth/consent",
            data={
                "request": _hidden(consent.text, "request"),
                "csrf": _hidden(consent.text, "csrf"),
                "action": "approve",
            },
        )
        assert decided.status_code == 303, decided.text
    location = decided.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def test_an_oauth_only_client_reaches_its_users_tools_until_the_grant_is_revoked(
    tenancy: Tenancy, db_url: str, upstream: Upstream, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog"
    write_package(petstore(upstream.base_url), catalog)
    write_package(petstore(upstream.base_url, slug="zoo"), catalog)
    await make_account(tenancy, "ada@example.com", enable=["pets"], credentials={"pets": {"token": "t-ada"}})
    bob = await make_account(tenancy, "bob@example.com", enable=["zoo"], credentials={"zoo": {"token": "t-bob"}})
    env = hub_env(db_url, tenancy.data_dir)

    with hub_process(env, catalog) as base:
        captured: list[str] = []

        async def redirect_handler(url: str) -> None:
            captured.append(url)

        async def callback_handler() -> AuthorizationCodeResult:
            params = await _consent(base, captured[-1], bob.email)
            assert params["iss"] == base  # RFC 9207
            return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

        provider = OAuthClientProvider(
            server_url=f"{base}/mcp",
            client_metadata=OAuthClientMetadata(redirect_uris=[AnyUrl(REDIRECT)], client_name="Remote Connector"),
            storage=MemoryStorage(),
            redirect_handler=redirect_handler,
            callback_handler=callback_handler,
        )
        async with (
            httpx2.AsyncClient(auth=provider, timeout=30) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http), mode="legacy") as client,
        ):
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert names and all(name.startswith("zoo__") for name in names)  # Bob's integrations, not Ada's
            result = await client.call_tool("zoo__get_text", {})
            assert result.is_error is False
            assert (await client.call_tool("pets__get_text", {})).is_error is True  # Ada's: refused

            grants = json.loads(cli(env, "oauth", "grants", "--json").stdout)
            assert [(g["client_name"], g["user_email"], g["status"]) for g in grants] == [
                ("Remote Connector", bob.email, "active")
            ]
            token = provider.context.current_tokens.access_token if provider.context.current_tokens else ""
            assert token.startswith("mcp_at_") and token not in json.dumps(grants)

            cli(env, "oauth", "revoke-grant", str(grants[0]["id"]))
            async with httpx2.AsyncClient() as plain:
                refused = await plain.post(f"{base}/mcp", json={}, headers={"Authorization": f"Bearer {token}"})
            assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]
            # The SDK's refresh token died with the grant: its next call needs the user's consent again.
            assert (await client.call_tool("zoo__get_text", {})).is_error is False
            assert len(captured) == 2
            after = json.loads(cli(env, "oauth", "grants", "--json", "--revoked").stdout)
            assert sorted(g["status"] for g in after) == ["active", "revoked"]
