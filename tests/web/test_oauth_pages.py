"""The hub's OAuth sign-in, consent and error pages in a real browser, as a person goes through them.

An MCP client (the official SDK's OAuth support, or a client registered by hand) starts authorization;
Chromium opens the authorize URL, signs in on the hub's form, reads the consent page and clicks Allow or
Deny; the client's redirect URI (a server on 127.0.0.1) receives what the browser brings back. A code is
exchanged for a token that lists exactly the consenting user's tools through /mcp.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2
import pytest
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata
from playwright.async_api import Page, Response, expect
from pydantic import AnyUrl
from tenancy.test_authserver import MemoryStorage

from .conftest import PASSWORD, Callback, WebHub, assert_readable, screenshot

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


async def _register(hub: WebHub, callback: Callback, name: str) -> dict[str, Any]:
    body = {"redirect_uris": [callback.uri], "client_name": name, "token_endpoint_auth_method": "none"}
    async with httpx2.AsyncClient() as http:
        response = await http.post(f"{hub.base}/oauth/register", json=body)
    assert response.status_code == 201, response.text
    registered: dict[str, Any] = response.json()
    return registered


def _authorize_url(hub: WebHub, client_id: str, redirect_uri: str, state: str) -> str:
    _, challenge = _pkce()
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state,
        "scope": "mcp",
    }
    return f"{hub.base}/oauth/authorize?{urlencode(query)}"


async def _sign_in(page: Page, email: str, password: str) -> None:
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def _submit(page: Page, button: str) -> Response:
    """Click a form's button; the response to its POST (the page that follows may be a redirect's target)."""
    async with page.expect_response(lambda r: r.request.method == "POST") as posted:
        await page.get_by_role("button", name=button).click()
    return await posted.value


async def _landed(page: Page, callback: Callback, state: str) -> dict[str, str]:
    """Wait for the browser to reach the client's redirect URI; what it brought back for this `state`."""
    await page.wait_for_url(f"{callback.uri}?**")
    await expect(page.get_by_role("heading", name="You can close this window")).to_be_visible()
    [hit] = [hit for hit in callback.hits if hit.get("state") == state]
    return hit


async def test_sign_in_and_allow_give_the_client_a_token_for_the_users_tools(
    page: Page, hub: WebHub, callback: Callback, tmp_path: Path
) -> None:
    opened: list[str] = []

    async def redirect_handler(url: str) -> None:
        opened.append(url)

    async def callback_handler() -> AuthorizationCodeResult:
        # The person in front of the browser: the client opened the authorize URL for them.
        await page.goto(opened[-1])
        await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to MCP Hub")
        await expect(page.get_by_text("Remote Connector wants to connect to your hub")).to_be_visible()
        await assert_readable(page)
        await screenshot(page, tmp_path, "1-sign-in")

        await _sign_in(page, hub.bob.email, "not the password")
        await expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
        await expect(page.get_by_label("Email")).to_have_value(hub.bob.email)  # kept, to fix the password only
        await expect(page.get_by_label("Password")).to_have_value("")
        await expect(page.get_by_label("Password")).to_be_focused()  # type it again, nothing else to click
        await assert_readable(page)
        await screenshot(page, tmp_path, "2-wrong-password")

        await _sign_in(page, hub.bob.email, PASSWORD)
        await expect(page.get_by_role("heading", level=1)).to_have_text("Allow Remote Connector to use your hub?")
        text = await assert_readable(page)
        assert f"Signed in as {hub.bob.email}" in text
        assert "Use the tools of your enabled integrations through this hub's /mcp endpoint" in text
        assert f"{hub.base}/mcp" in text  # the resource it will act on
        assert callback.uri in text  # where the browser goes next
        await screenshot(page, tmp_path, "3-consent")

        await page.get_by_role("button", name="Allow").click()
        params = await _landed(page, callback, _state_of(opened[-1]))
        assert params["iss"] == hub.base and params["code"].startswith("mcp_ac_")
        assert "error" not in params
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    provider = OAuthClientProvider(
        server_url=f"{hub.base}/mcp",
        client_metadata=OAuthClientMetadata(redirect_uris=[AnyUrl(callback.uri)], client_name="Remote Connector"),
        storage=MemoryStorage(),
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    async with (
        httpx2.AsyncClient(auth=provider, timeout=30) as http,
        Client(streamable_http_client(f"{hub.base}/mcp", http_client=http), mode="legacy") as client,
    ):
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names and all(name.startswith("zoo__") for name in names), names  # Bob's, none of Ada's
        assert (await client.call_tool("zoo__get_text", {})).is_error is False
    assert len(opened) == 1


def _state_of(authorize_url: str) -> str:
    return httpx2.URL(authorize_url).params["state"]


async def test_deny_sends_access_denied_back_to_the_client(
    page: Page, hub: WebHub, callback: Callback, tmp_path: Path
) -> None:
    client = await _register(hub, callback, "Cautious Agent")
    state = secrets.token_urlsafe(12)
    await page.goto(_authorize_url(hub, client["client_id"], callback.uri, state))
    await _sign_in(page, hub.ada.email, PASSWORD)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Allow Cautious Agent to use your hub?")
    await page.set_viewport_size({"width": 375, "height": 740})  # a phone: the page fits, nothing scrolls sideways
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await screenshot(page, tmp_path, "consent-narrow")

    await page.get_by_role("button", name="Deny").click()
    params = await _landed(page, callback, state)
    assert params["error"] == "access_denied" and params["iss"] == hub.base
    assert "code" not in params


async def test_a_tampered_or_missing_csrf_token_is_refused_with_a_readable_page(
    page: Page, hub: WebHub, callback: Callback, tmp_path: Path
) -> None:
    client = await _register(hub, callback, "Forged Forms")
    state = secrets.token_urlsafe(12)
    await page.goto(_authorize_url(hub, client["client_id"], callback.uri, state))

    # The sign-in form with a forged token: refused before the password is even checked.
    await page.locator("input[name=csrf]").evaluate("input => { input.value = 'forged' }")
    await page.get_by_label("Email").fill(hub.ada.email)
    await page.get_by_label("Password").fill(PASSWORD)
    refused = await _submit(page, "Sign in")
    assert refused.status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("This form could not be accepted")
    await expect(page.get_by_role("alert")).to_contain_text("security token is missing or wrong")
    await assert_readable(page)
    await screenshot(page, tmp_path, "csrf-refused")

    # What the page says to do works: open the form again and sign in.
    await page.get_by_role("link", name="Open the sign-in page again").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to MCP Hub")
    await _sign_in(page, hub.ada.email, PASSWORD)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Allow Forged Forms to use your hub?")

    # The consent form without its token: refused, and the client hears nothing.
    await page.locator("input[name=csrf]").evaluate("input => input.remove()")
    refused = await _submit(page, "Allow")
    assert refused.status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("This form could not be accepted")
    await expect(page.get_by_role("link", name="Open the consent page again")).to_be_visible()
    await assert_readable(page)
    assert page.url.startswith(hub.base)
    assert not [hit for hit in callback.hits if hit.get("state") == state]


async def test_a_bad_authorization_request_gets_a_page_that_says_what_is_wrong(
    page: Page, hub: WebHub, callback: Callback, tmp_path: Path
) -> None:
    # A client the hub never registered.
    response = await page.goto(_authorize_url(hub, "no-such-client", callback.uri, "s1"))
    assert response is not None and response.status == 400
    text = await assert_readable(page)
    await expect(page.get_by_role("heading", level=1)).to_have_text("This application is not registered with the hub")
    assert "no-such-client" in text
    await screenshot(page, tmp_path, "unknown-client")

    # A registered client, but a redirect URI it never registered: the hub must not send the browser there.
    client = await _register(hub, callback, "Redirect Mixup")
    elsewhere = "http://127.0.0.1:9/steal"
    response = await page.goto(_authorize_url(hub, client["client_id"], elsewhere, "s2"))
    assert response is not None and response.status == 400
    assert page.url.startswith(f"{hub.base}/oauth/authorize")
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "This application asked to send you to an address it did not register"
    )
    text = await assert_readable(page)
    assert elsewhere in text and "Redirect Mixup" in text
    await screenshot(page, tmp_path, "bad-redirect")

    # A consent link that is not (or no longer) valid.
    response = await page.goto(f"{hub.base}/oauth/consent?request=forged")
    assert response is not None and response.status == 400
    await expect(page.get_by_role("heading", level=1)).to_have_text("This request has expired")
    await assert_readable(page)
    await screenshot(page, tmp_path, "expired")


async def test_the_upstream_oauth_callback_pages_say_what_happened(page: Page, hub: WebHub, tmp_path: Path) -> None:
    """Where a provider (GitHub, Google…) sends the browser back after connecting an integration.

    They are rendered through the hub's page templates, like the authorization server's pages.
    """
    response = await page.goto(f"{hub.base}/oauth/callback/pets?error=access_denied&error_description=You+said+no")
    assert response is not None and response.status == 400
    await expect(page.get_by_role("heading", level=1)).to_have_text("Pet Store was not connected")
    await screenshot(page, tmp_path, "provider-refused")
    text = await assert_readable(page)
    assert "You said no" in text

    response = await page.goto(f"{hub.base}/oauth/callback/pets?code=c&state=forged")
    assert response is not None and response.status >= 400
    await screenshot(page, tmp_path, "forged-state")
    assert "unknown or expired" in await assert_readable(page)

    response = await page.goto(f"{hub.base}/oauth/callback/nowhere?code=c&state=s")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("Unknown integration")
    await assert_readable(page)
