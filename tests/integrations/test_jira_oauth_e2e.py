"""Jira Cloud OAuth 2.0 (3LO) end to end: connect in a browser, then a real MCP client calls Jira through the hub.

Stand-ins on 127.0.0.1: a real OAuth server (authlib) for auth.atlassian.com, and for api.atlassian.com both
`GET /oauth/token/accessible-resources` (the sites the token may reach, Atlassian's shape) and the Jira REST API
under `/ex/jira/{cloudId}/rest/api/3`, which accepts only live access tokens the OAuth server issued. The shipped
specs/jira.yaml is compiled with only its endpoints (and egress policy) pointed at them, so the consent parameters,
scopes, gateway URL and discovery rule under test are the shipped ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
import yaml
from runtime.support import Recorded, Upstream, serve
from starlette.types import Send
from tenancy.oauth_server import Client, OAuthTestServer, Running

from integrations.hubs import SPECS, RunningHub, admin_browser, compile_local, running_hub, stored_credential

CLIENT_ID, CLIENT_SECRET = "jira-hub-client", "jira-hub-secret-0123456789"
SCOPES = ("read:jira-work", "write:jira-work", "read:jira-user", "offline_access")
ACME = {
    "id": "1324a887-45db-1bf4-1e99-ef0ff456d421",
    "name": "acme",
    "url": "https://acme.atlassian.net",
    "scopes": list(SCOPES[:3]),
    "avatarUrl": "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/flag.png",
}
BETA = {**ACME, "id": "a1b2c3d4-0000-4000-8000-5e6f7a8b9c0d", "name": "beta", "url": "https://beta.atlassian.net"}
ISSUE_PATH = re.compile(r"^/ex/jira/(?P<cloud>[^/]+)/rest/api/3/issue/(?P<key>[^/]+)$")


@dataclass
class AtlassianApi(Upstream):
    """api.atlassian.com: accessible-resources and the Jira REST API per cloudId, behind the OAuth server's tokens."""

    oauth: OAuthTestServer = field(default_factory=OAuthTestServer)

    async def _answer(self, r: Recorded, send: Send) -> None:
        issue = ISSUE_PATH.match(r.path)
        if self.oauth.valid(r.headers.get("authorization", "")) is None:
            status, payload = 401, {"code": 401, "message": "Unauthorized; scope does not match"}
        elif r.path == "/oauth/token/accessible-resources":
            status, payload = 200, self.oauth.resources
        elif issue and issue["cloud"] in {site["id"] for site in self.oauth.resources}:
            key = issue["key"]
            status, payload = 200, {"id": "10007", "key": key, "fields": {"summary": f"{key} on {issue['cloud']}"}}
        else:
            status, payload = 404, {"errorMessages": [f"no route {r.method} {r.path}"]}
        body = json.dumps(payload).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def issue_requests(self) -> list[Recorded]:
        return [r for r in self.requests if ISSUE_PATH.match(r.path)]


@dataclass
class Stack:
    hub: RunningHub
    base: str  # the hub's origin
    data_dir: Path
    oauth: OAuthTestServer
    api: AtlassianApi


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Running, AtlassianApi, str]]:
    oauth = OAuthTestServer(scopes=SCOPES)
    running = Running(oauth)
    api = AtlassianApi(oauth=oauth)
    try:
        with serve(api) as api_url:
            yield running, api, api_url
    finally:
        running.stop()


def _local_auth(oauth_url: str, api_url: str) -> list[dict[str, Any]]:
    """The shipped auth: schemes with Atlassian's hosts replaced by the stand-ins' (nothing else changed)."""
    schemes: list[dict[str, Any]] = yaml.safe_load((SPECS / "jira.yaml").read_text(encoding="utf-8"))["auth"]
    for scheme in schemes:
        if scheme["type"] != "oauth2":
            continue
        for key in ("authorization_url", "token_url", "base_url"):
            scheme[key] = scheme[key].replace("https://auth.atlassian.com", oauth_url)
            scheme[key] = scheme[key].replace("https://api.atlassian.com", api_url)
        for rule in scheme["discover"].values():
            rule["url"] = rule["url"].replace("https://api.atlassian.com", api_url)
    return schemes


@pytest.fixture
def stack(servers: tuple[Running, AtlassianApi, str], tmp_path: Path) -> Iterator[Stack]:
    running, api, api_url = servers
    running.oauth.resources = [ACME, BETA]  # the user granted two sites
    api.requests.clear()
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    compile_local(
        "jira",
        tmp_path,
        catalog,
        auth=_local_auth(running.url, api_url),
        policy={"allowed_hosts": ["127.0.0.1"], "allow_private_network": True},
    )
    with running_hub(catalog, {}) as hub:
        base = hub.mcp.removesuffix("/mcp")
        running.oauth.clients[CLIENT_ID] = Client(
            CLIENT_ID, CLIENT_SECRET, [f"{base}/oauth/callback/jira"], auth_method="client_secret_post"
        )
        yield Stack(hub, base, catalog.with_name(f"{catalog.name}-data"), running.oauth, api)


def _signed_in(stack: Stack) -> AbstractAsyncContextManager[httpx2.AsyncClient]:
    """The user's browser on the hub, signed in; as the hub's first user (its admin) it sets Jira's OAuth client."""
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token_auth": "client_secret_post"}
    return admin_browser(stack.base, "jira", client)


async def _connect(stack: Stack, browser: httpx2.AsyncClient, **start: Any) -> httpx2.Response:
    """Start connecting on the hub, consent at the OAuth server, come back: the hub's callback page."""
    started = await browser.post("/api/v1/integrations/jira/oauth/start", json={"scheme": "oauth2", **start})
    assert started.status_code == 200, started.text
    async with httpx2.AsyncClient() as provider:
        consent = await provider.get(started.json()["authorization_url"])
    assert consent.status_code == 302, consent.text
    back = consent.headers["location"]
    assert back.startswith(f"{stack.base}/oauth/callback/jira?")
    return await browser.get(back)


async def _get_issue(stack: Stack, key: str) -> types.CallToolResult:
    async with stack.hub.client() as client:
        return await client.call_tool("jira__get_issue", {"issueIdOrKey": key})


def _text(result: types.CallToolResult) -> str:
    return result.content[0].text if result.content and isinstance(result.content[0], types.TextContent) else ""


async def _stored(stack: Stack) -> dict[str, Any]:
    return await stored_credential(stack.data_dir, "jira")


async def test_connect_with_atlassian_then_call_jira_through_the_gateway(stack: Stack) -> None:
    async with _signed_in(stack) as browser:
        page = await _connect(stack, browser)
        assert page.status_code == 200 and "Jira connected" in page.text, page.text
        listed = {i["slug"]: i for i in (await browser.get("/api/v1/integrations")).json()["integrations"]}
    assert listed["jira"]["connected"] and listed["jira"]["credential_scheme"] == "oauth2"

    # Atlassian's consent page got the shipped parameters: audience, prompt and offline_access with the scopes.
    [asked] = stack.oauth.authorize_requests[-1:]
    assert asked["audience"] == "api.atlassian.com" and asked["prompt"] == "consent"
    assert asked["scope"].split() == list(SCOPES) and asked["code_challenge_method"] == "S256"
    token = stack.oauth.tokens[-1]
    [discovery] = [r for r in stack.api.requests if r.path == "/oauth/token/accessible-resources"]
    assert discovery.headers["authorization"] == f"Bearer {token.access_token}"

    # Two sites granted and none chosen: the first, with its URL recorded for the user to see.
    stored = await _stored(stack)
    assert stored["server_variables"] == {"cloudId": ACME["id"]}
    assert stored["server_variable_labels"] == {"cloudId": "https://acme.atlassian.net"}

    result = await _get_issue(stack, "PROJ-7")
    assert result.is_error is False, _text(result)
    assert result.structured_content == {
        "id": "10007",
        "key": "PROJ-7",
        "fields": {"summary": f"PROJ-7 on {ACME['id']}"},
    }
    [sent] = stack.api.issue_requests()
    assert (sent.method, sent.path) == ("GET", f"/ex/jira/{ACME['id']}/rest/api/3/issue/PROJ-7")
    assert sent.headers["authorization"] == f"Bearer {token.access_token}"
    assert {"summary", "status"} <= {value for name, value in sent.query if name == "fields"}  # spec defaults

    # The access token dies at Atlassian before its expiry time: the gateway answers 401, the hub refreshes once
    # and retries at the same gateway URL with the new token.
    token.issued_at -= 2 * token.expires_in
    refreshes = stack.oauth.grants_seen.count("refresh_token")
    again = await _get_issue(stack, "PROJ-8")
    assert again.is_error is False, _text(again)
    assert stack.oauth.grants_seen.count("refresh_token") == refreshes + 1
    fresh = stack.oauth.tokens[-1]
    assert fresh.access_token != token.access_token
    rejected, retried = stack.api.issue_requests()[-2:]
    assert rejected.headers["authorization"] == f"Bearer {token.access_token}"
    assert retried.path == f"/ex/jira/{ACME['id']}/rest/api/3/issue/PROJ-8"
    assert retried.headers["authorization"] == f"Bearer {fresh.access_token}"
    after = await _stored(stack)
    assert after["token"] == fresh.access_token and after["server_variables"] == {"cloudId": ACME["id"]}
    assert after["server_variable_labels"] == {"cloudId": "https://acme.atlassian.net"}


async def test_the_user_picks_one_of_several_granted_sites_when_connecting(stack: Stack) -> None:
    async with _signed_in(stack) as browser:
        # By site name; the URL or the cloud id itself work the same way.
        page = await _connect(stack, browser, server_variables={"cloudId": "beta"})
        assert page.status_code == 200 and "Jira connected" in page.text, page.text
        assert (await _stored(stack))["server_variable_labels"] == {"cloudId": "https://beta.atlassian.net"}
        result = await _get_issue(stack, "BETA-1")
        assert result.is_error is False, _text(result)
        assert stack.api.issue_requests()[-1].path == f"/ex/jira/{BETA['id']}/rest/api/3/issue/BETA-1"

        # A site the user did not grant: the connection fails saying which sites were granted; the one stored stays.
        refused = await _connect(stack, browser, server_variables={"cloudId": "https://gamma.atlassian.net"})
        assert refused.status_code == 400
        assert "not among what the sign-in granted" in refused.text
        assert "https://acme.atlassian.net" in refused.text and "https://beta.atlassian.net" in refused.text
        assert (await _stored(stack))["server_variables"] == {"cloudId": BETA["id"]}

        # A variable the scheme does not discover is refused before anyone is sent to Atlassian.
        wrong = await browser.post(
            "/api/v1/integrations/jira/oauth/start", json={"scheme": "oauth2", "server_variables": {"site": "acme"}}
        )
        assert wrong.status_code == 400 and "finds no server variable 'site'" in wrong.json()["error"]["message"]
