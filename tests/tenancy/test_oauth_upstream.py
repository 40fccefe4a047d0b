"""Upstream OAuth end to end against a real authorization server (authlib) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from starlette.applications import Starlette

from mcphub.compiler.ir import (
    AuthScheme,
    Integration,
    OAuthFlow,
    Policy,
    ServerVariable,
    ServerVariableDiscovery,
    SourceInfo,
    Tool,
)
from mcphub.runtime.oauth.upstream import OAuthError
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.web.api import create_api_routes

from .oauth_server import Client, OAuthTestServer, Running

REDIRECT = "http://hub.test/oauth/callback/github"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Running]:
    server = OAuthTestServer()
    server.clients["hub-client"] = Client(
        "hub-client", "hub-secret-value-123", [REDIRECT, "http://testserver/oauth/callback/github"]
    )
    running = Running(server)
    yield running
    running.stop()


def _github(url: str) -> Integration:
    flow = OAuthFlow(
        kind="authorization_code",
        authorization_url=f"{url}/authorize",
        token_url=f"{url}/token",
        scopes={"repo": "repositories"},
    )
    return Integration(
        slug="github",
        name="GitHub",
        source=SourceInfo(kind="openapi"),
        base_url=url,
        auth=[
            AuthScheme(id="oauth", type="oauth2", flows=[flow], scopes=["repo"]),
            AuthScheme(id="pat", type="bearer"),
        ],
        tools=[Tool(name="me")],
    )


async def _authorize(url: str) -> tuple[str, str]:
    """Play the browser at the upstream: follow the consent redirect, return (code, state)."""
    async with httpx2.AsyncClient() as browser:
        response = await browser.get(url)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return query["code"][0], query["state"][0]


async def _me(upstream: Running, token: str | None) -> int:
    async with httpx2.AsyncClient() as client:
        return (await client.get(f"{upstream.url}/api/me", headers={"Authorization": f"Bearer {token}"})).status_code


async def test_connect_refresh_and_disconnect(tenancy: Tenancy, upstream: Running) -> None:
    github = _github(upstream.url)
    ada = await tenancy.accounts.create_user("ada@example.com", "correct horse battery")
    bob = await tenancy.accounts.create_user("bob@example.com", "another long password")
    oauth = tenancy.oauth
    with pytest.raises(OAuthError, match="mcphub oauth set-client github"):
        await oauth.authorization_url(ada.id, github, REDIRECT)
    await oauth.set_client("github", "hub-client", "hub-secret-value-123", revocation_url=f"{upstream.url}/revoke")
    assert "hub-secret-value-123" not in repr(await oauth.get_client("github"))

    url = await oauth.authorization_url(ada.id, github, REDIRECT)
    query = parse_qs(urlsplit(url).query)
    assert (
        query["code_challenge_method"] == ["S256"]
        and query["scope"] == ["repo"]
        and query["redirect_uri"] == [REDIRECT]
    )
    code, state = await _authorize(url)
    assert state == query["state"][0]
    stored = upstream.oauth.codes[code]
    with pytest.raises(OAuthError, match="another account"):
        await oauth.complete(bob.id, github, code=code, state=state)  # the state was Ada's; now it is used up
    url = await oauth.authorization_url(ada.id, github, REDIRECT)
    code, state = await _authorize(url)
    assert stored.code_challenge and upstream.oauth.codes[code].code_challenge != stored.code_challenge
    await oauth.complete(ada.id, github, code=code, state=state)
    with pytest.raises(OAuthError, match="unknown or expired"):
        await oauth.complete(ada.id, github, code=code, state=state)

    fields = await tenancy.credentials.fields(ada.id, github.slug)
    assert fields is not None and fields["token"].startswith("at-") and fields["refresh_token"].startswith("rt-")
    assert fields["expires_at"] > time.time() + 3000
    first = await tenancy.provider.for_user(ada.id).get(github)
    assert first is not None and first.scheme == "oauth" and first.token == fields["token"]
    assert await _me(upstream, first.token) == 200
    assert await tenancy.provider.for_user(bob.id).get(github) is None

    # The access token is about to expire: the provider refreshes before handing it out.
    await tenancy.credentials.set(ada.id, "github", {**fields, "expires_at": time.time() + 5}, scheme="oauth")
    refreshes = upstream.oauth.grants_seen.count("refresh_token")
    second = await tenancy.provider.for_user(ada.id).get(github)
    assert second is not None and second.token != first.token
    assert upstream.oauth.grants_seen.count("refresh_token") == refreshes + 1
    assert await _me(upstream, second.token) == 200

    # Twenty calls get a 401 with the same token at once: one refresh, and all of them use its result.
    assert second.token is not None
    results = await asyncio.gather(*(oauth.refresh(ada.id, github, failed_token=second.token) for _ in range(20)))
    assert upstream.oauth.grants_seen.count("refresh_token") == refreshes + 2
    assert len({r.token for r in results if r}) == 1 and results[0] is not None and results[0].token != second.token

    # Disconnect revokes at the upstream and forgets the tokens.
    current = await tenancy.credentials.fields(ada.id, "github")
    assert current is not None
    assert await oauth.disconnect(ada.id, github)
    assert current["refresh_token"] in upstream.oauth.revoked and current["token"] in upstream.oauth.revoked
    assert await _me(upstream, current["token"]) == 401
    assert await tenancy.credentials.fields(ada.id, "github") is None


async def test_a_refused_or_expired_grant_is_a_clear_error(tenancy: Tenancy, upstream: Running) -> None:
    github = _github(upstream.url)
    ada = await tenancy.accounts.create_user("ada@example.com", "correct horse battery")
    await tenancy.oauth.set_client("github", "hub-client", "wrong-secret")
    url = await tenancy.oauth.authorization_url(ada.id, github, REDIRECT)
    code, state = await _authorize(url)
    with pytest.raises(OAuthError, match="invalid_client"):
        await tenancy.oauth.complete(ada.id, github, code=code, state=state)
    await tenancy.credentials.set(ada.id, "github", {"token": "at-old", "expires_at": time.time() - 10}, scheme="oauth")
    with pytest.raises(OAuthError, match="connect github again"):
        await tenancy.oauth.refresh(ada.id, github, failed_token="at-old")


async def test_connect_through_the_web_routes(tenancy: Tenancy, upstream: Running) -> None:
    github = _github(upstream.url)
    app = Starlette(routes=create_api_routes(tenancy, catalog=lambda: [github]))
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver") as hub:
        signed_up = await hub.post(
            "/api/v1/auth/sign-up", json={"email": "ada@example.com", "password": "correct horse battery"}
        )
        hub.headers["X-CSRF-Token"] = signed_up.json()["csrf_token"]
        configured = await hub.put(
            "/api/v1/oauth-clients/github",
            json={
                "client_id": "hub-client",
                "client_secret": "hub-secret-value-123",
                "revocation_url": f"{upstream.url}/revoke",
            },
        )
        assert configured.status_code == 204
        clients = (await hub.get("/api/v1/oauth-clients")).json()["clients"]
        assert clients[0]["has_secret"] and "hub-secret-value-123" not in str(clients)

        started = await hub.post("/api/v1/integrations/github/oauth/start")
        assert started.status_code == 200, started.text
        code, state = await _authorize(started.json()["authorization_url"])
        callback = await hub.get("/oauth/callback/github", params={"code": code, "state": state})
        assert callback.status_code == 200 and "GitHub connected" in callback.text
        integrations = {i["slug"]: i for i in (await hub.get("/api/v1/integrations")).json()["integrations"]}
        assert integrations["github"]["connected"] and integrations["github"]["credential_scheme"] == "oauth"

        denied = await hub.get("/oauth/callback/github", params={"error": "access_denied", "state": state})
        assert denied.status_code == 400 and "access_denied" in denied.text
        # A web-started flow finishes only in the starter's signed-in browser (a link passed to someone else
        # must not connect *their* account to Ada's hub account); replaying a used state is refused.
        again = await hub.post("/api/v1/integrations/github/oauth/start")
        code2, state2 = await _authorize(again.json()["authorization_url"])
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver") as other:
            anonymous = await other.get("/oauth/callback/github", params={"code": code2, "state": state2})
            replayed = await other.get("/oauth/callback/github", params={"code": code, "state": state})
        assert anonymous.status_code == 401 and "Sign in to the hub in this browser first" in anonymous.text
        assert replayed.status_code == 400 and "unknown or expired" in replayed.text

        fields = await tenancy.credentials.fields(1, "github")
        assert fields is not None
        assert (await hub.delete("/api/v1/credentials/github")).status_code == 204
        assert fields["refresh_token"] in upstream.oauth.revoked


# --- schemes that discover server variables (Atlassian 3LO) -------------------------------------------------------

SITES = [
    {"id": "cloud-acme", "name": "acme", "url": "https://acme.atlassian.net", "scopes": ["read"]},
    {"id": "cloud-beta", "name": "beta", "url": "https://beta.atlassian.net", "scopes": ["read"]},
]


@pytest.fixture(scope="module")
def atlassian() -> Iterator[Running]:
    server = OAuthTestServer(scopes=("read", "offline_access"))
    server.clients["hub-client"] = Client("hub-client", "hub-secret-value-123", [REDIRECT])
    running = Running(server)
    yield running
    running.stop()


def _sites(url: str, *, discover_url: str | None = None, **policy: Any) -> Integration:
    """An Atlassian-like integration: OAuth calls go to a gateway under the cloudId found after sign-in."""
    flow = OAuthFlow(kind="authorization_code", authorization_url=f"{url}/authorize", token_url=f"{url}/token")
    scheme = AuthScheme(
        id="oauth2",
        type="oauth2",
        label="Sign in",
        flows=[flow],
        scopes=["read"],
        refresh_scope="offline_access",
        authorization_params={"audience": "api.example.test", "prompt": "consent"},
        base_url=f"{url}/ex/jira/{{cloudId}}",
        discover={
            "cloudId": ServerVariableDiscovery(
                url=discover_url or f"{url}/oauth/token/accessible-resources", value="id", label="url"
            )
        },
    )
    return Integration(
        slug="sites",
        name="Sites",
        source=SourceInfo(kind="openapi"),
        base_url="https://{site}.atlassian.net",
        server_variables={"site": ServerVariable(default="your-site")},
        auth=[AuthScheme(id="basic", type="basic"), scheme],
        tools=[Tool(name="me")],
        policy=Policy(**({"allowed_hosts": ["127.0.0.1"], "allow_private_network": True} | policy)),
    )


async def _connected(tenancy: Tenancy, integration: Integration, **start: Any) -> int:
    ada = await tenancy.accounts.create_user("ada@example.com", "correct horse battery")
    await tenancy.oauth.set_client(integration.slug, "hub-client", "hub-secret-value-123")
    url = await tenancy.oauth.authorization_url(ada.id, integration, REDIRECT, **start)
    code, state = await _authorize(url)
    await tenancy.oauth.complete(ada.id, integration, code=code, state=state)
    return ada.id


async def test_discovered_variables_are_stored_with_the_tokens_and_survive_a_refresh(
    tenancy: Tenancy, atlassian: Running
) -> None:
    atlassian.oauth.resources = SITES
    sites = _sites(atlassian.url)
    ada = await _connected(tenancy, sites, server_variables={"cloudId": "https://beta.atlassian.net/"})
    asked = atlassian.oauth.authorize_requests[-1]
    assert asked["audience"] == "api.example.test" and asked["prompt"] == "consent"
    assert asked["scope"] == "read offline_access"  # refresh_scope rides along: the server issued a refresh token
    fields = await tenancy.credentials.fields(ada, "sites")
    assert fields is not None and fields["refresh_token"].startswith("rt-")
    assert fields["server_variables"] == {"cloudId": "cloud-beta"}
    assert fields["server_variable_labels"] == {"cloudId": "https://beta.atlassian.net"}
    refreshed = await tenancy.oauth.refresh(ada, sites, failed_token=fields["token"])
    assert refreshed is not None and refreshed.token != fields["token"]
    assert refreshed.scheme == "oauth2" and dict(refreshed.server_variables) == {"cloudId": "cloud-beta"}
    again = await tenancy.credentials.fields(ada, "sites")
    assert again is not None and again["server_variable_labels"] == {"cloudId": "https://beta.atlassian.net"}


@pytest.mark.parametrize(
    ("resources", "policy", "discover_path", "message"),
    [
        ([], {}, None, "granted nothing to use as cloudId"),
        ([{"id": "../admin", "url": "https://x"}, {"id": "..", "url": "https://y"}], {}, None, "granted nothing"),
        ({"sites": SITES}, {}, None, "did not answer a list of choices"),
        (SITES, {"allowed_hosts": ["api.example.test"]}, None, "refused by policy: host '127.0.0.1' is not in"),
        (SITES, {"allow_private_network": False}, None, "private, loopback or reserved address"),
        (SITES, {}, "/api/nothing-here", "HTTP 404"),
    ],
    ids=["nothing granted", "unsafe values", "not a list", "host not allowed", "private address", "not found"],
)
async def test_a_discovery_that_fails_leaves_no_credential_and_says_why(
    tenancy: Tenancy,
    atlassian: Running,
    resources: Any,
    policy: dict[str, Any],
    discover_path: str | None,
    message: str,
) -> None:
    atlassian.oauth.resources = resources
    sites = _sites(atlassian.url, discover_url=f"{atlassian.url}{discover_path}" if discover_path else None, **policy)
    with pytest.raises(OAuthError, match=re.escape(message)):
        await _connected(tenancy, sites)
    assert await tenancy.credentials.infos(1) == []


async def test_only_variables_the_scheme_discovers_can_be_chosen(tenancy: Tenancy, atlassian: Running) -> None:
    sites = _sites(atlassian.url)
    ada = await tenancy.accounts.create_user("ada@example.com", "correct horse battery")
    await tenancy.oauth.set_client("sites", "hub-client", "hub-secret-value-123")
    with pytest.raises(OAuthError, match="finds no server variable 'site' after sign-in \\(it finds: cloudId\\)"):
        await tenancy.oauth.authorization_url(ada.id, sites, REDIRECT, server_variables={"site": "acme"})
