"""The hub as an MCP authorization server, over HTTP, on SQLite and PostgreSQL.

The app under test is assembled here from `create_oauth_routes` and a minimal `/mcp` endpoint guarded by
`authenticate_bearer`, so it does not depend on `mcphub.app`. The full flow is driven by the official MCP
SDK client's OAuth support (`OAuthClientProvider`); its callback handler plays the browser: it follows the
authorization redirect, signs in on the hub's page, approves on the consent page and hands back the code.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import click
import httpx2
import pytest
from click.testing import CliRunner
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl
from sqlalchemy import select, update
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcphub.commands import register
from mcphub.runtime.oauth.authserver import AuthServer, authenticate_bearer, list_grants
from mcphub.runtime.store.db import utcnow
from mcphub.runtime.store.models import IssuedToken, McpClient
from mcphub.runtime.tenancy.accounts import UserInfo
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.web.api import create_api_routes
from mcphub.web.keyauth import bearer_token
from mcphub.web.oauth_pages import create_oauth_routes, protected_resource_metadata_url

ISSUER = "http://127.0.0.1:8765"
RESOURCE = f"{ISSUER}/mcp"
REDIRECT = "http://localhost:3030/callback"
PASSWORD = "correct horse battery"


def _app(tenancy: Tenancy) -> Starlette:
    async def mcp(request: Request) -> Response:
        """Stands in for /mcp: who the Bearer credential speaks for, or the RFC 9728 challenge."""
        token = bearer_token(request.headers)
        principal = await authenticate_bearer(tenancy, token) if token else None
        if principal is None:
            challenge = f'Bearer resource_metadata="{protected_resource_metadata_url(ISSUER)}"'
            if token:
                challenge += ', error="invalid_token"'
            return JSONResponse({"error": "invalid_token"}, 401, headers={"WWW-Authenticate": challenge})
        return JSONResponse({"user_id": principal.user_id, "key_id": principal.key_id, "key_name": principal.key_name})

    return Starlette(
        routes=[
            *create_oauth_routes(tenancy, issuer=ISSUER),
            *create_api_routes(tenancy),
            Route("/mcp", mcp, methods=["GET", "POST"]),
        ]
    )


@dataclass
class Hub:
    tenancy: Tenancy
    app: Starlette
    user: UserInfo
    clients: list[httpx2.AsyncClient] = field(default_factory=list)

    def client(self, **options: Any) -> httpx2.AsyncClient:
        client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=self.app), base_url=ISSUER, **options)
        self.clients.append(client)
        return client

    @property
    def server(self) -> AuthServer:
        assert self.tenancy.authserver is not None
        return self.tenancy.authserver


@pytest.fixture
async def hub(tenancy: Tenancy) -> AsyncIterator[Hub]:
    user = await tenancy.accounts.create_user("ada@example.com", PASSWORD)
    state = Hub(tenancy, _app(tenancy), user)
    yield state
    for client in state.clients:
        await client.aclose()


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden field {name} in page"
    return match.group(1)


async def _browser_authorize(hub: Hub, authorization_url: str, *, decision: str = "approve") -> dict[str, str]:
    """Play the user's browser: follow to the consent page, sign in, decide; the redirect's query parameters."""
    browser = hub.client()
    response = await browser.get(authorization_url)
    assert response.status_code == 302, response.text
    consent_url = response.headers["location"]
    assert consent_url.startswith(f"{ISSUER}/oauth/consent?")
    page = await browser.get(consent_url)
    assert page.status_code == 200
    assert "Sign in to MCP Hub" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    signed_in = await browser.post(
        "/oauth/consent",
        data={
            "request": _hidden(page.text, "request"),
            "csrf": _hidden(page.text, "csrf"),
            "action": "signin",
            "email": hub.user.email,
            "password": PASSWORD,
        },
    )
    assert signed_in.status_code == 303, signed_in.text
    consent = await browser.get(signed_in.headers["location"])
    assert consent.status_code == 200
    assert "Allow" in consent.text and hub.user.email in consent.text
    decided = await browser.post(
        "/oauth/consent",
        data={"request": _hidden(consent.text, "request"), "csrf": _hidden(consent.text, "csrf"), "action": decision},
    )
    assert decided.status_code == 303, decided.text
    location = decided.headers["location"]
    assert location.startswith(REDIRECT)
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


# --- metadata ------------------------------------------------------------------------------------------


async def test_metadata_documents_are_consistent(hub: Hub) -> None:
    client = hub.client()
    prm_root = (await client.get("/.well-known/oauth-protected-resource")).json()
    prm_path = (await client.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert prm_root == prm_path
    assert prm_root["resource"] == RESOURCE
    assert prm_root["authorization_servers"] == [ISSUER]
    assert prm_root["bearer_methods_supported"] == ["header"]

    response = await client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    asm = response.json()
    assert asm["issuer"] == ISSUER
    assert asm["authorization_endpoint"] == f"{ISSUER}/oauth/authorize"
    assert asm["token_endpoint"] == f"{ISSUER}/oauth/token"
    assert asm["registration_endpoint"] == f"{ISSUER}/oauth/register"
    assert asm["revocation_endpoint"] == f"{ISSUER}/oauth/revoke"
    assert asm["code_challenge_methods_supported"] == ["S256"]
    assert asm["response_types_supported"] == ["code"]
    assert set(asm["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    assert asm["authorization_response_iss_parameter_supported"] is True
    assert set(asm["scopes_supported"]) == set(prm_root["scopes_supported"]) == {"mcp"}
    # every advertised endpoint exists (a bare request is refused by it, not missing)
    for url in (asm["token_endpoint"], asm["registration_endpoint"], asm["revocation_endpoint"]):
        assert (await client.post(urlsplit(url).path)).status_code != 404

    unauthenticated = await client.post("/mcp")
    assert unauthenticated.status_code == 401
    assert (
        f'resource_metadata="{ISSUER}/.well-known/oauth-protected-resource/mcp"'
        in (unauthenticated.headers["www-authenticate"])
    )


# --- registration --------------------------------------------------------------------------------------


async def _register(hub: Hub, **metadata: Any) -> dict[str, Any]:
    body = {
        "redirect_uris": [REDIRECT],
        "client_name": "Test Agent",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        **metadata,
    }
    response = await hub.client().post("/oauth/register", json=body)
    assert response.status_code == 201, response.text
    registered: dict[str, Any] = response.json()
    return registered


async def test_dynamic_registration_stores_only_a_hash_of_the_secret(hub: Hub) -> None:
    confidential = await _register(hub)
    assert confidential["client_secret"] and confidential["client_id"]
    assert confidential["redirect_uris"] == [REDIRECT]
    assert confidential["scope"] == "mcp"
    public = await _register(hub, token_endpoint_auth_method="none")
    assert "client_secret" not in public

    async with hub.tenancy.db.session() as session:
        row = await session.get(McpClient, confidential["client_id"])
        assert row is not None
        assert row.secret_hash and confidential["client_secret"] not in row.secret_hash
        assert confidential["client_secret"] not in str(row.metadata_json)
        public_row = await session.get(McpClient, public["client_id"])
        assert public_row is not None and public_row.secret_hash is None

    client = hub.client()
    for bad in ("http://evil.example/callback", "javascript:alert(1)"):
        refused = await client.post("/oauth/register", json={"redirect_uris": [bad], "client_name": "x"})
        assert refused.status_code == 400, bad
        assert refused.json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata")
    wrong_scope = await client.post("/oauth/register", json={"redirect_uris": [REDIRECT], "scope": "admin"})
    assert wrong_scope.status_code == 400


# --- the full flow with the SDK client ------------------------------------------------------------------


async def test_sdk_client_completes_the_flow_and_calls_mcp(hub: Hub) -> None:
    captured: list[str] = []

    async def redirect_handler(url: str) -> None:
        captured.append(url)

    async def callback_handler() -> AuthorizationCodeResult:
        params = await _browser_authorize(hub, captured[-1])
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=RESOURCE,
        client_metadata=OAuthClientMetadata(
            redirect_uris=[AnyUrl(REDIRECT)],
            client_name="SDK Agent",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    client = hub.client(auth=provider)
    response = await client.post("/mcp", json={})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user_id"] == hub.user.id
    assert body["key_id"] < 0 and body["key_name"] == "oauth:SDK Agent"

    # what the SDK sent: PKCE S256 and the RFC 8707 resource of /mcp
    query = parse_qs(urlsplit(captured[0]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["resource"] == [RESOURCE]
    assert storage.tokens is not None and storage.tokens.refresh_token
    assert storage.tokens.access_token.startswith("mcp_at_") and storage.tokens.expires_in == 3600

    # the tokens are stored hashed only
    async with hub.tenancy.db.session() as session:
        hashes = set(await session.scalars(select(IssuedToken.token_hash)))
    assert storage.tokens.access_token not in hashes and len(hashes) == 2

    # the same credential keeps working without another consent
    again = await client.post("/mcp", json={})
    assert again.status_code == 200 and len(captured) == 1

    # an API key of the same user still authenticates through the same function
    key = await hub.tenancy.accounts.create_key(hub.user.id, "laptop")
    principal = await authenticate_bearer(hub.tenancy, key.secret)
    assert principal is not None and principal.user_id == hub.user.id and principal.key_id > 0


# --- the flow by hand, for the refusals -----------------------------------------------------------------


def _authorize_url(client_id: str, challenge: str, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return f"/oauth/authorize?{urlencode(params)}"


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


@dataclass
class Flow:
    client_id: str
    client_secret: str
    verifier: str
    code: str


async def _code(hub: Hub, *, resource: str | None = RESOURCE) -> Flow:
    registered = await _register(hub)
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(16)
    extra = {"state": state, "scope": "mcp"} | ({"resource": resource} if resource is not None else {})
    result = await _browser_authorize(hub, _authorize_url(registered["client_id"], challenge, **extra))
    assert result["state"] == state and result["iss"] == ISSUER
    return Flow(registered["client_id"], registered["client_secret"], verifier, result["code"])


async def _token(hub: Hub, flow: Flow, **overrides: str) -> httpx2.Response:
    data = {
        "grant_type": "authorization_code",
        "code": flow.code,
        "redirect_uri": REDIRECT,
        "client_id": flow.client_id,
        "client_secret": flow.client_secret,
        "code_verifier": flow.verifier,
        "resource": RESOURCE,
        **overrides,
    }
    return await hub.client().post("/oauth/token", data=data)


async def _refresh(hub: Hub, flow: Flow, refresh_token: str) -> httpx2.Response:
    data = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": flow.client_id,
        "client_secret": flow.client_secret,
    }
    return await hub.client().post("/oauth/token", data=data)


async def _mcp_status(hub: Hub, access_token: str) -> int:
    return (await hub.client().post("/mcp", headers={"Authorization": f"Bearer {access_token}"})).status_code


async def test_pkce_mismatch_is_refused(hub: Hub) -> None:
    flow = await _code(hub)
    wrong = await _token(hub, flow, code_verifier=secrets.token_urlsafe(48))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    missing = await _token(hub, flow, code_verifier="")
    assert missing.status_code == 400


async def test_wrong_redirect_uri_and_wrong_client_secret_are_refused(hub: Hub) -> None:
    flow = await _code(hub)
    wrong = await _token(hub, flow, redirect_uri="http://localhost:3030/other")
    assert wrong.status_code == 400
    bad_secret = await _token(hub, flow, client_secret="nope")
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"
    assert (await _token(hub, flow)).status_code == 200  # the code survived the refused attempts


async def test_authorization_redirect_must_be_registered(hub: Hub) -> None:
    registered = await _register(hub)
    _, challenge = _pkce()
    url = _authorize_url(registered["client_id"], challenge, redirect_uri="http://localhost:9999/steal")
    response = await hub.client().get(url)
    assert response.status_code == 400 and "location" not in response.headers
    weak = await hub.client().get(_authorize_url(registered["client_id"], "plain", state="s3"))
    assert weak.status_code == 302
    assert parse_qs(urlsplit(weak.headers["location"]).query)["error"] == ["invalid_request"]


async def test_code_is_single_use_and_replay_revokes_its_tokens(hub: Hub) -> None:
    flow = await _code(hub)
    first = await _token(hub, flow)
    assert first.status_code == 200
    tokens = first.json()
    assert await _mcp_status(hub, tokens["access_token"]) == 200
    replay = await _token(hub, flow)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert await _mcp_status(hub, tokens["access_token"]) == 401
    assert (await _refresh(hub, flow, tokens["refresh_token"])).status_code == 400


async def test_expired_code_and_expired_token_are_refused(hub: Hub) -> None:
    hub.server.code_ttl = timedelta(seconds=-1)
    expired = await _code(hub)
    assert (await _token(hub, expired)).status_code == 400
    hub.server.code_ttl = timedelta(minutes=5)

    flow = await _code(hub)
    tokens = (await _token(hub, flow)).json()
    assert await _mcp_status(hub, tokens["access_token"]) == 200
    async with hub.tenancy.db.session() as session:
        await session.execute(
            update(IssuedToken).where(IssuedToken.kind == "access").values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await _mcp_status(hub, tokens["access_token"]) == 401
    # the refresh token still gets a fresh access token
    refreshed = await _refresh(hub, flow, tokens["refresh_token"])
    assert refreshed.status_code == 200
    assert await _mcp_status(hub, refreshed.json()["access_token"]) == 200


async def test_wrong_audience_is_refused(hub: Hub) -> None:
    registered = await _register(hub)
    _, challenge = _pkce()
    url = _authorize_url(registered["client_id"], challenge, state="s1", resource="https://other.example.com/mcp")
    response = await hub.client().get(url)
    assert response.status_code == 302
    error = parse_qs(urlsplit(response.headers["location"]).query)
    assert error["error"] == ["invalid_target"] and error["state"] == ["s1"]

    # a token of this hub presented to a hub with another resource URL (same database) is refused
    flow = await _code(hub)
    access = (await _token(hub, flow)).json()["access_token"]
    assert await hub.server.verify_access_token(access) is not None
    other = AuthServer(hub.tenancy.db, hub.tenancy.vault, issuer="https://other.example.com")
    assert await other.verify_access_token(access) is None


async def test_refresh_tokens_rotate_and_replay_revokes_the_grant(hub: Hub) -> None:
    flow = await _code(hub)
    first = (await _token(hub, flow)).json()
    second = await _refresh(hub, flow, first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["access_token"] != first["access_token"]
    assert await _mcp_status(hub, rotated["access_token"]) == 200

    replay = await _refresh(hub, flow, first["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # the replay of a spent refresh token ends the grant: every token of it stops working
    assert await _mcp_status(hub, rotated["access_token"]) == 401
    assert (await _refresh(hub, flow, rotated["refresh_token"])).status_code == 400


async def test_revoked_tokens_are_refused(hub: Hub) -> None:
    flow = await _code(hub)
    tokens = (await _token(hub, flow)).json()
    assert await _mcp_status(hub, tokens["access_token"]) == 200
    revoked = await hub.client().post(
        "/oauth/revoke",
        data={"token": tokens["access_token"], "client_id": flow.client_id, "client_secret": flow.client_secret},
    )
    assert revoked.status_code == 200
    assert await _mcp_status(hub, tokens["access_token"]) == 401
    assert (await _refresh(hub, flow, tokens["refresh_token"])).status_code == 400

    # another client cannot revoke someone else's token
    victim = await _code(hub)
    victim_tokens = (await _token(hub, victim)).json()
    await hub.client().post(
        "/oauth/revoke",
        data={"token": victim_tokens["access_token"], "client_id": flow.client_id, "client_secret": flow.client_secret},
    )
    assert await _mcp_status(hub, victim_tokens["access_token"]) == 200

    # the user can end every grant at once
    assert await hub.server.revoke_user_grants(hub.user.id) == 1
    assert await _mcp_status(hub, victim_tokens["access_token"]) == 401


async def test_consent_denied_and_forged_forms_are_refused(hub: Hub) -> None:
    registered = await _register(hub)
    _, challenge = _pkce()
    url = _authorize_url(registered["client_id"], challenge, state="s2")
    denied = await _browser_authorize(hub, url, decision="deny")
    assert denied == {
        "error": "access_denied",
        "error_description": "the user declined",
        "state": "s2",
        "iss": ISSUER,
    }

    browser = hub.client()
    consent_url = (await browser.get(url)).headers["location"]
    page = await browser.get(consent_url)
    request_token = _hidden(page.text, "request")
    # sign-in without the double-submit cookie's value
    forged = await browser.post(
        "/oauth/consent",
        data={
            "request": request_token,
            "csrf": "forged",
            "action": "signin",
            "email": hub.user.email,
            "password": PASSWORD,
        },
    )
    assert forged.status_code == 403
    wrong_password = await browser.post(
        "/oauth/consent",
        data={
            "request": request_token,
            "csrf": _hidden(page.text, "csrf"),
            "action": "signin",
            "email": hub.user.email,
            "password": "wrong password",
        },
    )
    assert wrong_password.status_code == 401 and "Wrong email or password" in wrong_password.text
    signed_in = await browser.post(
        "/oauth/consent",
        data={
            "request": request_token,
            "csrf": _hidden(wrong_password.text, "csrf"),
            "action": "signin",
            "email": hub.user.email,
            "password": PASSWORD,
        },
    )
    assert signed_in.status_code == 303
    # approval without the session's CSRF token, or from another origin
    no_csrf = await browser.post("/oauth/consent", data={"request": request_token, "csrf": "x", "action": "approve"})
    assert no_csrf.status_code == 403
    consent = await browser.get(signed_in.headers["location"])
    cross_site = await browser.post(
        "/oauth/consent",
        data={"request": request_token, "csrf": _hidden(consent.text, "csrf"), "action": "approve"},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    # a tampered request token
    tampered = await browser.get(f"/oauth/consent?request={request_token[:-2]}xx")
    assert tampered.status_code == 400


async def test_real_mcp_session_over_an_oauth_token(hub: Hub) -> None:
    """The SDK's MCP client, authorizing itself with OAuthClientProvider, calls a tool behind `authenticate_bearer`."""
    server = MCPServer("oauth-test")
    seen: list[int] = []

    @server.tool()
    def ping() -> str:
        return "pong"

    mcp_app = server.streamable_http_app(stateless_http=True, json_response=True)

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/mcp"):
            token = bearer_token(Headers(scope=scope))
            principal = await authenticate_bearer(hub.tenancy, token) if token else None
            if principal is None:
                challenge = f'Bearer resource_metadata="{protected_resource_metadata_url(ISSUER)}"'
                response = JSONResponse({"error": "invalid_token"}, 401, headers={"WWW-Authenticate": challenge})
                await response(scope, receive, send)
                return
            seen.append(principal.user_id)
            await mcp_app(scope, receive, send)
            return
        await hub.app(scope, receive, send)

    captured: list[str] = []

    async def redirect_handler(url: str) -> None:
        captured.append(url)

    async def callback_handler() -> AuthorizationCodeResult:
        params = await _browser_authorize(hub, captured[-1])
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    provider = OAuthClientProvider(
        server_url=RESOURCE,
        client_metadata=OAuthClientMetadata(redirect_uris=[AnyUrl(REDIRECT)], client_name="SDK MCP client"),
        storage=MemoryStorage(),
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    async with (
        server.session_manager.run(),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=guarded), base_url=ISSUER, auth=provider) as http,
        Client(streamable_http_client(RESOURCE, http_client=http)) as client,
    ):
        result = await client.call_tool("ping", {})
    assert not result.is_error
    assert [block.text for block in result.content if hasattr(block, "text")] == ["pong"]
    assert seen and set(seen) == {hub.user.id}
    assert len(captured) == 1


# --- grants: list and revoke (API for users and admins, CLI for the operator) ---------------------------


async def _signed_in(hub: Hub, email: str, password: str) -> tuple[httpx2.AsyncClient, dict[str, str]]:
    client = hub.client()
    response = await client.post("/api/v1/auth/sign-in", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return client, {"X-CSRF-Token": response.json()["csrf_token"]}


def _cli(hub: Hub, *args: str) -> str:
    main = click.Group("mcphub")
    register(main)
    env = {"MCPHUB_DATABASE_URL": str(hub.tenancy.db.url), "MCPHUB_DATA_DIR": str(hub.tenancy.data_dir)}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


async def test_users_and_admins_list_and_revoke_grants_and_revocation_is_immediate(hub: Hub) -> None:
    first = await _code(hub)
    ada_tokens = (await _token(hub, first)).json()
    assert await _mcp_status(hub, ada_tokens["access_token"]) == 200
    bob = await hub.tenancy.accounts.create_user("bob@example.com", PASSWORD)

    # the use is recorded (off the request path, so wait for it)
    deadline = asyncio.get_running_loop().time() + 10
    while not (grants := await list_grants(hub.tenancy.db, user_id=hub.user.id))[0].last_used_at:
        assert asyncio.get_running_loop().time() < deadline, "last use never recorded"
        await asyncio.sleep(0.02)
    assert [(g.client_name, g.user_email, g.scopes, g.status) for g in grants] == [
        ("Test Agent", hub.user.email, ["mcp"], "active")
    ]

    # Bob (not an admin) sees only his grants and cannot end Ada's: it is "not found" to him
    bob_api, bob_csrf = await _signed_in(hub, bob.email, PASSWORD)
    assert (await bob_api.get("/api/v1/oauth/grants")).json() == {"grants": []}
    assert (await bob_api.get("/api/v1/oauth/grants?all=true")).status_code == 403
    refused = await bob_api.delete(f"/api/v1/oauth/grants/{grants[0].id}", headers=bob_csrf)
    assert refused.status_code == 404
    assert await _mcp_status(hub, ada_tokens["access_token"]) == 200

    # Ada lists her own grant through the API, with what the CLI shows
    ada_api, ada_csrf = await _signed_in(hub, hub.user.email, PASSWORD)
    listed = (await ada_api.get("/api/v1/oauth/grants")).json()["grants"]
    assert [(g["id"], g["client_name"], g["scopes"], g["status"]) for g in listed] == [
        (grants[0].id, "Test Agent", ["mcp"], "active")
    ]
    assert listed[0]["last_used_at"] and "token" not in json.dumps(listed)
    assert not (await ada_api.delete(f"/api/v1/oauth/grants/{grants[0].id}")).is_success  # no CSRF token

    # a second grant; the admin CLI shows both, as a table and as JSON
    second = await _code(hub)
    other_tokens = (await _token(hub, second)).json()
    table = await asyncio.to_thread(_cli, hub, "oauth", "grants")
    assert "Test Agent" in table and hub.user.email in table and "LAST USED" in table
    as_json = json.loads(await asyncio.to_thread(_cli, hub, "oauth", "grants", "--json"))
    assert len(as_json) == 2 and {g["status"] for g in as_json} == {"active"}

    # Ada revokes the first through the API: its tokens stop working at once
    revoked = await ada_api.delete(f"/api/v1/oauth/grants/{grants[0].id}", headers=ada_csrf)
    assert revoked.status_code == 200 and revoked.json()["grant"]["status"] == "revoked"
    assert await _mcp_status(hub, ada_tokens["access_token"]) == 401
    assert (await _refresh(hub, first, ada_tokens["refresh_token"])).status_code == 400
    assert await _mcp_status(hub, other_tokens["access_token"]) == 200

    # the operator revokes the other from the CLI
    second_id = next(g["id"] for g in as_json if g["id"] != grants[0].id)
    out = await asyncio.to_thread(_cli, hub, "oauth", "revoke-grant", str(second_id))
    assert "revoked" in out
    assert await _mcp_status(hub, other_tokens["access_token"]) == 401
    assert (await ada_api.get("/api/v1/oauth/grants")).json() == {"grants": []}
    everything = (await ada_api.get("/api/v1/oauth/grants?all=true&include_revoked=true")).json()["grants"]
    assert {g["status"] for g in everything} == {"revoked"} and len(everything) == 2
