"""The JSON API through HTTP: sessions, CSRF, keys, integrations, credentials, usage, logs, isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mcphub.compiler.ir import Integration
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.runtime.tenancy.usage import REDACTED, CallRecord
from mcphub.web.api import SESSION_COOKIE, create_api_routes
from mcphub.web.keyauth import KeyAuthMiddleware

PASSWORD = "correct horse battery"


def _app(tenancy: Tenancy, catalog: list[Integration]) -> Starlette:
    async def whoami(request: Request) -> JSONResponse:
        """Stands in for /mcp: what the hub would inject for this key's user."""
        principal = request.state.principal
        # As the hub does: the credential of the user of the key the middleware authenticated.
        credential = await tenancy.provider.for_user(principal.user_id).get(catalog[0])
        return JSONResponse({"user_id": principal.user_id, "token": credential.token if credential else None})

    app = Starlette(
        routes=[*create_api_routes(tenancy, catalog=lambda: catalog), Route("/mcp", whoami, methods=["POST"])]
    )
    mcp_only = KeyAuthMiddleware(app, tenancy.accounts)

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        target = mcp_only if scope["type"] == "http" and scope["path"].startswith("/mcp") else app
        await target(scope, receive, send)

    return asgi  # type: ignore[return-value]


@pytest.fixture
async def client_factory(
    tenancy: Tenancy, make_integration: Callable[..., Integration], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[[], httpx2.AsyncClient]]:
    monkeypatch.setenv("MCPHUB_SIGNUP", "open")  # these tests sign up several users; the default is closed
    catalog = [make_integration("github"), make_integration("slack")]
    app = _app(tenancy, catalog)
    clients: list[httpx2.AsyncClient] = []

    def make() -> httpx2.AsyncClient:
        client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def _sign_up(client: httpx2.AsyncClient, email: str) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/sign-up", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    client.headers["X-CSRF-Token"] = data["csrf_token"]
    return data


async def test_sign_up_in_out_and_session_cookie(client_factory: Callable[[], httpx2.AsyncClient]) -> None:
    browser = client_factory()
    data = await _sign_up(browser, "ada@example.com")
    assert data["user"]["is_admin"] is True
    cookie = browser.cookies.get(SESSION_COOKIE)
    assert cookie and PASSWORD not in cookie
    me = await browser.get("/api/v1/me")
    assert me.json()["user"]["email"] == "ada@example.com" and me.json()["csrf_token"] == data["csrf_token"]

    other = client_factory()
    assert (
        await other.post("/api/v1/auth/sign-in", json={"email": "ada@example.com", "password": "nope nope"})
    ).status_code == 401
    signed_in = await other.post("/api/v1/auth/sign-in", json={"email": "ADA@example.com", "password": PASSWORD})
    assert signed_in.status_code == 200
    other.headers["X-CSRF-Token"] = signed_in.json()["csrf_token"]

    assert (await browser.post("/api/v1/auth/sign-out")).status_code == 204
    # Sign-out ends every session: a replayed cookie is void, in this browser and the other one.
    replay = client_factory()
    replay.cookies.set(SESSION_COOKIE, cookie)
    assert (await replay.get("/api/v1/me")).status_code == 401
    assert (await other.get("/api/v1/me")).status_code == 401
    tampered = client_factory()
    tampered.cookies.set(SESSION_COOKIE, cookie[:-2] + "xx")
    assert (await tampered.get("/api/v1/me")).json()["error"]["code"] == "not_signed_in"


async def test_csrf_json_and_origin_are_enforced(client_factory: Callable[[], httpx2.AsyncClient]) -> None:
    browser = client_factory()
    data = await _sign_up(browser, "ada@example.com")
    del browser.headers["X-CSRF-Token"]
    response = await browser.post("/api/v1/keys", json={"name": "laptop"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf"
    browser.headers["X-CSRF-Token"] = "forged"
    assert (await browser.post("/api/v1/keys", json={"name": "laptop"})).status_code == 403
    browser.headers["X-CSRF-Token"] = data["csrf_token"]
    form = await browser.post("/api/v1/keys", data={"name": "laptop"})
    assert form.status_code == 415
    evil = await browser.post("/api/v1/keys", json={"name": "x"}, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and evil.json()["error"]["code"] == "cross_origin"
    assert (await browser.post("/api/v1/keys", json={"name": "laptop"})).status_code == 201
    bad = await browser.post("/api/v1/keys", json={"name": "", "color": "red"})
    assert (
        bad.status_code == 422
        and "name" in bad.json()["error"]["message"]
        and "color" in bad.json()["error"]["message"]
    )


async def test_keys_integrations_credentials_and_isolation(
    tenancy: Tenancy, client_factory: Callable[[], httpx2.AsyncClient]
) -> None:
    ada, bob = client_factory(), client_factory()
    ada_user = (await _sign_up(ada, "ada@example.com"))["user"]
    bob_user = (await _sign_up(bob, "bob@example.com"))["user"]

    created = await ada.post("/api/v1/keys", json={"name": "agent", "scope": ["github"], "expires_in_days": 30})
    assert created.status_code == 201
    ada_key, ada_key_id = created.json()["secret"], created.json()["key"]["id"]
    assert created.json()["key"]["scope"] == ["github"] and created.json()["key"]["expires_at"]
    listed = (await ada.get("/api/v1/keys")).json()["keys"]
    assert [k["name"] for k in listed] == ["agent"] and ada_key not in str(listed)
    bob_key = (await bob.post("/api/v1/keys", json={"name": "bob"})).json()["secret"]

    assert (await ada.put("/api/v1/integrations/github", json={"enabled": True})).json() == {
        "slug": "github",
        "enabled": True,
        "connected": False,
    }
    assert (await ada.put("/api/v1/integrations/nope", json={"enabled": True})).status_code == 404
    stored = await ada.put(
        "/api/v1/credentials/github", json={"scheme": "bearer", "fields": {"token": "ada-secret-token-123"}}
    )
    assert stored.status_code == 204 and stored.content == b""
    bad_scheme = await ada.put("/api/v1/credentials/github", json={"scheme": "oauth9", "fields": {"token": "x"}})
    assert bad_scheme.status_code == 422
    await bob.put("/api/v1/credentials/github", json={"fields": {"token": "bob-secret-token-456"}})
    integrations = {i["slug"]: i for i in (await ada.get("/api/v1/integrations")).json()["integrations"]}
    assert integrations["github"]["enabled"] and integrations["github"]["connected"]
    assert not integrations["slack"]["enabled"] and integrations["github"]["auth"][0]["id"] == "bearer"
    creds = (await ada.get("/api/v1/credentials")).json()["credentials"]
    assert creds == [{"slug": "github", "scheme": "bearer", "fields": ["token"], "updated_at": creds[0]["updated_at"]}]

    # /mcp: no key, a wrong key, then each user's key reaches that user's credential only.
    anonymous = client_factory()
    unauthorized = await anonymous.post("/mcp")
    assert unauthorized.status_code == 401
    assert unauthorized.headers["www-authenticate"] == (
        'Bearer resource_metadata="http://testserver/.well-known/oauth-protected-resource"'
    )
    assert (await anonymous.post("/mcp", headers={"Authorization": "Bearer mcp_sk_" + "x" * 43})).status_code == 401
    as_ada = await anonymous.post("/mcp", headers={"Authorization": f"Bearer {ada_key}"})
    as_bob = await anonymous.post("/mcp", headers={"Authorization": f"Bearer {bob_key}"})
    assert as_ada.json() == {"user_id": ada_user["id"], "token": "ada-secret-token-123"}
    assert as_bob.json() == {"user_id": bob_user["id"], "token": "bob-secret-token-456"}

    # Bob cannot revoke, rotate or even see Ada's key; non-admin keys do not open the API.
    assert (await bob.delete(f"/api/v1/keys/{ada_key_id}")).status_code == 404
    assert (await bob.post(f"/api/v1/keys/{ada_key_id}/rotate")).status_code == 404
    assert (await anonymous.get("/api/v1/keys", headers={"Authorization": f"Bearer {bob_key}"})).status_code == 403
    assert (await bob.get("/api/v1/usage", params={"user_id": ada_user["id"]})).status_code == 403
    assert (await bob.get("/api/v1/logs", params={"user_id": ada_user["id"]})).status_code == 403
    assert (await bob.get("/api/v1/users")).status_code == 403

    rotated = await ada.post(f"/api/v1/keys/{ada_key_id}/rotate", json={"grace_seconds": 0})
    assert rotated.status_code == 200 and rotated.json()["secret"] != ada_key
    assert (await anonymous.post("/mcp", headers={"Authorization": f"Bearer {ada_key}"})).status_code == 401
    new_key = rotated.json()["secret"]
    assert (await anonymous.post("/mcp", headers={"Authorization": f"Bearer {new_key}"})).status_code == 200
    assert (await ada.delete(f"/api/v1/keys/{ada_key_id}")).json()["key"]["status"] == "revoked"
    assert (await anonymous.post("/mcp", headers={"Authorization": f"Bearer {new_key}"})).status_code == 401

    assert (await ada.delete("/api/v1/credentials/github")).status_code == 204
    assert (await ada.delete("/api/v1/credentials/github")).status_code == 404


async def test_usage_logs_and_admin_views(tenancy: Tenancy, client_factory: Callable[[], httpx2.AsyncClient]) -> None:
    ada, bob = client_factory(), client_factory()
    ada_user = (await _sign_up(ada, "ada@example.com"))["user"]
    bob_user = (await _sign_up(bob, "bob@example.com"))["user"]
    await bob.put("/api/v1/credentials/github", json={"fields": {"token": "bob-secret-token-456"}})
    tenancy.usage.record(CallRecord(ada_user["id"], 1, "github", "search", "ok", 10.0, arguments={"q": "x"}))
    tenancy.usage.record(
        CallRecord(bob_user["id"], 2, "github", "search", "tool_error", 30.0, arguments={"q": "bob-secret-token-456"})
    )
    await tenancy.usage.flush()

    bob_usage = (await bob.get("/api/v1/usage")).json()
    assert [(s["integration"], s["tool"], s["calls"], s["errors"]) for s in bob_usage["stats"]] == [
        ("github", "search", 1, 1)
    ]
    bob_logs = (await bob.get("/api/v1/logs")).json()["entries"]
    assert [e["arguments"] for e in bob_logs] == [{"q": REDACTED}]
    assert (await bob.get("/api/v1/usage", params={"since": "yesterday"})).status_code == 400

    # Ada is the admin: she may read everyone's aggregates and another user's log by id.
    everyone = (await ada.get("/api/v1/usage", params={"all": "true", "by": "integration"})).json()["stats"]
    assert [(s["integration"], s["calls"]) for s in everyone] == [("github", 2)]
    assert len((await ada.get("/api/v1/logs", params={"user_id": bob_user["id"]})).json()["entries"]) == 1
    meters = (await ada.get("/api/v1/usage/monthly", params={"all": "true"})).json()["meters"]
    assert sorted(m["user_id"] for m in meters) == sorted([ada_user["id"], bob_user["id"]])
    assert len((await ada.get("/api/v1/users")).json()["users"]) == 2

    # An admin key works on the API without a session or CSRF token.
    admin_key = (await ada.post("/api/v1/keys", json={"name": "ops"})).json()["secret"]
    robot = client_factory()
    headers = {"Authorization": f"Bearer {admin_key}"}
    assert (await robot.post("/api/v1/keys", json={"name": "from-script"}, headers=headers)).status_code == 201


async def test_openapi_description(client_factory: Callable[[], httpx2.AsyncClient]) -> None:
    doc = (await client_factory().get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    assert {"/api/v1/keys", "/api/v1/keys/{key_id}/rotate", "/api/v1/credentials/{slug}", "/api/v1/logs"} <= set(
        doc["paths"]
    )
    assert doc["paths"]["/api/v1/keys"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/KeyCreate"
    }
    assert "name" in doc["components"]["schemas"]["KeyCreate"]["properties"]


async def test_sign_in_is_throttled(client_factory: Callable[[], httpx2.AsyncClient]) -> None:
    client = client_factory()
    codes = [
        (
            await client.post("/api/v1/auth/sign-in", json={"email": "x@example.com", "password": "guess guess"})
        ).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [401] * 10 and codes[10] == 429


async def test_closed_sign_up_lets_only_the_first_user_in(tenancy: Tenancy) -> None:
    app = Starlette(routes=create_api_routes(tenancy))
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as admin:
        await _sign_up(admin, "ada@example.com")
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as stranger:
            refused = await stranger.post(
                "/api/v1/auth/sign-up", json={"email": "eve@example.com", "password": PASSWORD}
            )
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "signup_closed"
        created = await admin.post("/api/v1/users", json={"email": "bob@example.com", "password": PASSWORD})
        assert created.status_code == 201 and created.json()["user"]["is_admin"] is False
