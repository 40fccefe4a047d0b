"""The dashboard in a real browser, as a new user goes through it, against a real `mcphub serve` process.

The connection flow of the product: sign up → the first key shown once → switch an integration on → store
its token through the form → the official MCP SDK client with that key lists and calls its tools against a
local stand-in (the call carries the stored token) → the call appears on /logs (live tail) and /usage →
rotate and revoke keys (a revoked key gets 401). Pet Store is the stand-in integration: real packages such
as GitHub only reach their own hosts, never a server on 127.0.0.1. Every page is checked with axe-core and
must need nothing its Content-Security-Policy refuses; the screenshots go to .cache/screenshots/ (docs/screenshots/
with MCPHUB_SCREENSHOTS=docs/screenshots, for the README).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
import pytest_asyncio
from mcp.client.session import IncomingMessage
from playwright.async_api import Browser, Page, expect
from runtime.support import Upstream, mcp_client
from tenancy.oauth_server import Client, OAuthTestServer, Running
from tenancy.test_oauth_connect import _octo  # Octo: OAuth only, one tool reading the provider's /api/me

from .conftest import PAGE_TIMEOUT_MS
from .dashboard import SCREENSHOTS, DashHub, check_page, dashboard_hub, desktop_tab, sign_in, sign_up

pytestmark = pytest.mark.asyncio(loop_scope="module")

PASSWORD = "a long enough password"
EVENT_WAIT_S = 10.0


@pytest.fixture(scope="module")
def provider() -> Iterator[Running]:
    """An OAuth provider on 127.0.0.1 (authlib, as in the tenancy tests): consent is automatic, as "octocat"."""
    running = Running(OAuthTestServer())
    yield running
    running.stop()


@pytest.fixture(scope="module")
def hub(upstream: Upstream, provider: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashHub]:
    root = tmp_path_factory.mktemp("dash")
    with dashboard_hub(root, upstream, extra=[_octo(provider.url)], MCPHUB_SIGNUP="open") as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: Browser, hub: DashHub) -> AsyncIterator[Page]:
    async with desktop_tab(browser) as page:
        yield page


# A new account starts with the integrations that need no credential (MCPHUB_NEW_USER_INTEGRATIONS): Time here.
TIME_TOOLS = {"time__get_current_time", "time__convert_time"}


def _names(result: types.ListToolsResult) -> set[str]:
    return {tool.name for tool in result.tools}


async def _post_mcp_status(base: str, key: str) -> int:
    async with httpx2.AsyncClient() as http:
        response = await http.post(
            f"{base}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"},
        )
    return response.status_code


async def test_a_new_user_connects_a_client_through_the_dashboard(tab: Page, hub: DashHub, upstream: Upstream) -> None:
    page, base = tab, hub.base

    # Anonymous visitors are sent to sign in.
    await page.goto(f"{base}/")
    await expect(page).to_have_url(f"{base}/signin?next=/")
    await check_page(page, "signin")

    # Sign up: the first key is shown once, with snippets filled in with this hub's URL and that key.
    await page.get_by_role("link", name="Create an account").click()
    await check_page(page, "signup")
    key = await sign_up(page, base, "grace@example.com", PASSWORD)
    assert key.startswith("mcp_sk_")
    claude_code = await page.locator("#snip-claude-code").inner_text()
    assert f"claude mcp add --transport http mcphub {base}/mcp" in claude_code and key in claude_code
    await check_page(page, "signup-key-once")

    # Never again: the keys page lists it by name and prefix only.
    await page.goto(f"{base}/keys")
    keys_text = await page.inner_text("body")
    assert key not in keys_text and key[:15] in keys_text and "first key" in keys_text

    await page.goto(f"{base}/")
    # A new account starts with the integrations that need no credential (MCPHUB_NEW_USER_INTEGRATIONS): Time.
    await expect(page.get_by_test_id("stat-enabled")).to_have_text("1")
    await expect(page.get_by_test_id("card-time")).to_be_visible()
    await check_page(page, "home-new-user")

    # The catalog: search narrows the cards in place (htmx), the URL follows.
    await page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Integrations").click()
    await expect(page.get_by_test_id("card-github")).to_be_visible()
    await check_page(page, "integrations")
    await page.get_by_label("Search").fill("pet")
    await expect(page.get_by_test_id("card-github")).to_have_count(0)
    await expect(page).to_have_url(f"{base}/integrations?q=pet&category=")
    await page.get_by_test_id("card-pets").click()

    # One integration: tools with badges, off, then on, then connected through the form.
    await expect(page.get_by_role("heading", level=1)).to_have_text("Pet Store")
    await expect(page.get_by_test_id("status")).to_have_text("Off")
    assert "disabled" in await page.locator(".tools li.disabled").first.inner_text()  # secret_admin is opt-in

    changed = anyio.Event()

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with mcp_client(f"{base}/mcp", key, mode="legacy", message_handler=on_message) as client:
        assert _names(await client.list_tools()) == TIME_TOOLS  # only what needs no credential, so far
        await page.get_by_role("button", name="Turn on").click()
        await expect(page.get_by_role("status")).to_have_text("Pet Store is on.")
        await expect(page.get_by_test_id("status")).to_have_text("Needs a credential")
        await page.get_by_label("Personal access token").fill("ghp_dashboardtoken123")
        await page.get_by_role("button", name="Save personal access token").click()
        await expect(page.get_by_role("status")).to_contain_text("Pet Store is connected.")
        await expect(page.get_by_test_id("status")).to_have_text("Ready")
        with anyio.fail_after(EVENT_WAIT_S):  # the open session hears of it at once
            await changed.wait()

        # Test connection: a read-only call with the stored token, answered in place.
        await page.get_by_role("button", name="Test connection").click()
        await expect(page.get_by_test_id("test-result")).to_contain_text("It works.")
        await check_page(page, "integration")

        # The client lists and calls the tools; the upstream receives the token stored through the form.
        await page.goto(f"{base}/logs")
        await expect(page.get_by_role("button", name="Pause live tail")).to_be_visible()
        names = _names(await client.list_tools(cache_mode="refresh"))
        assert "pets__get_pet" in names and all(name.startswith("pets__") for name in names - TIME_TOOLS)
        result = await client.call_tool("pets__get_pet", {"pet_id": "7", "trace_id": "t-1"})
        assert result.is_error is False
        assert upstream.last().path == "/pets/7"
        assert upstream.last().headers["authorization"] == "Bearer ghp_dashboardtoken123"

    # The call arrives on /logs through the live tail (server-sent events), without reloading.
    row = page.locator("tbody tr", has_text="get_pet")
    await expect(row).to_have_count(1)
    await check_page(page, "logs")
    await row.get_by_role("link", name="get_pet").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("pets__get_pet")
    detail = await check_page(page, "log-entry")
    assert '"pet_id": "7"' in detail and "Rex" in detail and "ghp_dashboardtoken123" not in detail

    # /usage counts it (chart data, the table under it, the month's meter) and exports it as CSV.
    await page.goto(f"{base}/usage")
    await expect(page.get_by_test_id("usage-pets").locator("td").nth(1)).not_to_have_text("0")
    assert await page.locator("#chart-calls canvas").count() >= 1  # uPlot drew the chart
    await check_page(page, "usage")
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Download CSV").click()
    rows = list(csv.reader(io.StringIO((await (await download.value).path()).read_text())))
    assert rows[0] == ["bucket_start_utc", "integration", "calls", "errors"]
    assert any(row[1] == "pets" and int(row[2]) >= 2 for row in rows[1:])  # the test call and the client's

    # /connect: copy-ready configuration with this hub's URL, and how many tools a key sees now.
    await page.goto(f"{base}/connect")
    assert f'"url": "{base}/mcp"' in await page.locator("#snip-cursor").inner_text()
    await expect(page.get_by_test_id("tool-count")).to_have_text(str(len(names)))
    await expect(page.locator("tr", has_text="first key").locator("td.num")).to_have_text(str(len(names)))
    await check_page(page, "connect")

    await page.goto(f"{base}/")
    await expect(page.get_by_test_id("card-pets")).to_contain_text("Ready")
    await check_page(page, "home")

    # A key limited to one tool, expiring in 30 days: shown once, sees exactly that tool.
    await page.goto(f"{base}/keys")
    await page.get_by_label("Name").fill("cursor")
    await page.get_by_label("Expires").select_option(label="30 days")
    await page.get_by_label("Only what I pick").check()
    await page.get_by_text("get_pet", exact=True).click()
    await page.get_by_role("button", name="Create key").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Key created: cursor")
    limited = (await page.get_by_test_id("secret").inner_text()).strip()
    await check_page(page, "key-created")
    async with mcp_client(f"{base}/mcp", limited, mode="legacy") as client:
        assert _names(await client.list_tools()) == {"pets__get_pet"}

    # Rotate the first key with no grace: the old secret is refused at once, the new one works.
    await page.goto(f"{base}/keys")
    first = page.locator("tr", has_text="first key")
    await first.get_by_text("Rotate…").click()
    await first.get_by_label("Old secret works for").select_option(label="End the old secret now")
    await first.get_by_role("button", name="Rotate first key").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("New secret for first key")
    rotated = (await page.get_by_test_id("secret").inner_text()).strip()
    assert rotated != key
    assert await _post_mcp_status(base, key) == 401
    async with mcp_client(f"{base}/mcp", rotated, mode="legacy") as client:
        assert "pets__get_pet" in _names(await client.list_tools())

    # Revoke the limited key (after confirming): 401 from then on.
    await page.goto(f"{base}/keys")
    cursor = page.locator("tr", has_text="cursor")
    await cursor.get_by_text("Revoke…").click()
    await cursor.get_by_role("button", name="Revoke cursor").click()
    await expect(page.get_by_role("status")).to_contain_text("Key “cursor” is revoked")
    await expect(page.locator("tr", has_text="cursor")).to_contain_text("Revoked")
    assert await _post_mcp_status(base, limited) == 401
    await check_page(page, "keys")

    await page.goto(f"{base}/settings")
    await check_page(page)

    # Turning the integration off takes its tools away from the rotated key's client.
    await page.goto(f"{base}/integrations/pets")
    await page.get_by_role("button", name="Turn off").click()
    await expect(page.get_by_test_id("status")).to_have_text("Off")
    async with mcp_client(f"{base}/mcp", rotated, mode="legacy") as client:
        assert _names(await client.list_tools()) == TIME_TOOLS

    # Sign out ends the session: the dashboard asks to sign in again.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(f"{base}/signin")
    await page.goto(f"{base}/keys")
    await expect(page).to_have_url(f"{base}/signin?next=/keys")


async def test_pages_are_cached_never_assets_forever_and_cookies_are_locked_down(tab: Page, hub: DashHub) -> None:
    response = await tab.goto(f"{hub.base}/signin")
    assert response is not None
    headers = await response.all_headers()
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"
    stylesheet = await tab.locator("link[rel=stylesheet]").first.get_attribute("href")
    assert stylesheet is not None and stylesheet.startswith("/static/app.") and stylesheet.endswith(".css")
    async with httpx2.AsyncClient(base_url=hub.base) as http:
        asset = await http.get(stylesheet)
        missing = await http.get("/static/app.css")
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert missing.status_code == 404  # only content-hashed names are served

    await tab.get_by_label("Email").fill(hub.admin.email)
    await tab.get_by_label("Password").fill("correct horse battery staple")
    await tab.get_by_role("button", name="Sign in").click()
    await expect(tab.get_by_role("heading", level=1)).to_have_text("Home")
    [session] = [c for c in await tab.context.cookies() if c["name"] == "mcphub_session"]
    cookie: Any = session
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http on 127.0.0.1; https public URLs get Secure (see test_signup)


async def _turn_on_and_connect(page: Page, base: str, token: str) -> None:
    await page.goto(f"{base}/integrations/pets")
    await page.get_by_role("button", name="Turn on").click()
    await page.get_by_label("Personal access token").fill(token)
    await page.get_by_role("button", name="Save personal access token").click()
    await expect(page.get_by_test_id("status")).to_have_text("Ready")


async def _id_of(locator: Any, prefix: str) -> int:
    test_id = await locator.get_attribute("data-testid")
    assert test_id is not None and test_id.startswith(prefix), test_id
    return int(test_id.removeprefix(prefix))


async def test_a_second_user_never_sees_the_first_users_data(browser: Browser, hub: DashHub) -> None:
    base = hub.base
    ada_context = await browser.new_context()
    bob_context = await browser.new_context()
    try:
        ada, bob = await ada_context.new_page(), await bob_context.new_page()
        ada_key = await sign_up(ada, base, "ada.lovelace@example.com", PASSWORD)
        await _turn_on_and_connect(ada, base, "ghp_adasowntoken99")
        async with mcp_client(f"{base}/mcp", ada_key, mode="legacy") as client:
            assert (await client.call_tool("pets__get_pet", {"pet_id": "ada-1"})).is_error is False
        await ada.goto(f"{base}/logs")
        ada_row = ada.locator("tbody tr", has_text="get_pet")
        await expect(ada_row).to_have_count(1)
        ada_call = await _id_of(ada_row, "log-")
        await ada.goto(f"{base}/keys")
        ada_key_id = await _id_of(ada.locator("tbody tr", has_text="first key"), "key-")

        await sign_up(bob, base, "bob.builder@example.com", PASSWORD)
        # Bob's own pages show none of Ada's state, calls, keys or usage.
        await bob.goto(f"{base}/integrations/pets")
        await expect(bob.get_by_test_id("status")).to_have_text("Off")
        assert "Connected with" not in await bob.inner_text("body")
        await bob.goto(f"{base}/logs")
        await expect(bob.get_by_text("No calls yet")).to_be_visible()
        await bob.goto(f"{base}/keys")
        assert ada_key[:15] not in await bob.inner_text("body")
        await bob.goto(f"{base}/usage?range=30d")
        await expect(bob.get_by_test_id("usage-pets")).to_have_count(0)
        # Guessing ids: Ada's call is "not found", her key cannot be rotated or revoked by Bob.
        response = await bob.goto(f"{base}/logs/{ada_call}")
        assert response is not None and response.status == 404
        await bob.goto(f"{base}/keys")
        csrf = await bob.locator("input[name=csrf]").first.input_value()
        for action in ("revoke", "rotate"):
            posted = await bob.request.post(f"{base}/keys/{ada_key_id}/{action}", form={"csrf": csrf})
            assert posted.ok  # a redirect back to /keys with "no key … for this user"
            assert "Nothing was" in await posted.text() and ada_key[:15] not in await posted.text()
        async with mcp_client(f"{base}/mcp", ada_key, mode="legacy") as client:
            assert "pets__get_pet" in _names(await client.list_tools())  # still Ada's, still working
        # Admin-only actions are refused to a regular user.
        refused = await bob.request.post(f"{base}/settings/signup", form={"csrf": csrf, "policy": "open"})
        assert refused.status == 403
        await bob.goto(f"{base}/settings")
        await expect(bob.get_by_role("heading", name="Users")).to_have_count(0)
    finally:
        await ada_context.close()
        await bob_context.close()


async def test_forms_without_the_session_token_or_from_another_site_change_nothing(tab: Page, hub: DashHub) -> None:
    base = hub.base
    await sign_up(tab, base, "carol@example.com", PASSWORD)
    await tab.goto(f"{base}/keys")
    csrf = await tab.locator("input[name=csrf]").first.input_value()

    # A form whose token was tampered with: refused with a page that says what to do, nothing created.
    await tab.locator("form.key-form input[name=csrf]").evaluate("input => { input.value = 'forged' }")
    await tab.get_by_label("Name").fill("forged key")
    async with tab.expect_response(lambda r: r.request.method == "POST") as posted:
        await tab.get_by_role("button", name="Create key").click()
    assert (await posted.value).status == 403
    await expect(tab.get_by_role("heading", level=1)).to_have_text("This form could not be accepted")
    await expect(tab.get_by_role("alert")).to_contain_text("security token is missing or wrong")
    await check_page(tab, "csrf-refused")
    await tab.get_by_role("link", name="Open the page again").click()
    assert "forged key" not in await tab.inner_text("body")

    # The right token but sent from another site (a cross-site form post carries the cookie and an Origin).
    foreign = await tab.request.post(
        f"{base}/keys", form={"csrf": csrf, "name": "cross-site"}, headers={"Origin": "http://evil.example"}
    )
    assert foreign.status == 403 and "sent from another site" in await foreign.text()
    without = await tab.request.post(f"{base}/integrations/pets/enable", form={})
    assert without.status == 403
    await tab.goto(f"{base}/keys")
    assert "cross-site" not in await tab.inner_text("body")
    await tab.goto(f"{base}/integrations/pets")
    await expect(tab.get_by_test_id("status")).to_have_text("Off")

    # The sign-in form (before any session) has its own token: a forged one is refused too.
    await tab.get_by_role("button", name="Sign out").click()
    await tab.locator("input[name=csrf]").evaluate("input => { input.value = 'forged' }")
    await tab.get_by_label("Email").fill("carol@example.com")
    await tab.get_by_label("Password").fill(PASSWORD)
    await tab.get_by_role("button", name="Sign in").click()
    await expect(tab.get_by_role("heading", level=1)).to_have_text("This form could not be accepted")


async def test_connect_with_oauth_through_the_button(tab: Page, hub: DashHub, provider: Running) -> None:
    base = hub.base
    provider.oauth.clients["hub-client"] = Client("hub-client", "hub-secret-value-123", [f"{base}/oauth/callback/octo"])
    async with httpx2.AsyncClient(base_url=base, headers=hub.admin.headers) as admin:  # the admin's OAuth app
        configured = await admin.put(
            "/api/v1/oauth-clients/octo", json={"client_id": "hub-client", "client_secret": "hub-secret-value-123"}
        )
    assert configured.status_code == 204, configured.text

    await sign_up(tab, base, "olive@example.com", PASSWORD)
    await tab.goto(f"{base}/integrations/octo")
    await tab.get_by_role("button", name="Turn on").click()
    await expect(tab.get_by_test_id("status")).to_have_text("Needs a credential")
    await tab.get_by_role("button", name="Connect with Octo").click()  # to the provider and straight back
    await expect(tab.get_by_role("heading", level=1)).to_have_text("Octo connected")
    assert provider.oauth.authorize_requests[-1]["redirect_uri"] == f"{base}/oauth/callback/octo"
    await tab.get_by_role("link", name="Back to Octo").click()
    await expect(tab.get_by_test_id("status")).to_have_text("Ready")
    await tab.get_by_role("button", name="Test connection").click()
    await expect(tab.get_by_test_id("test-result")).to_contain_text('{"login":"octocat"}')

    await tab.get_by_text("Disconnect", exact=True).click()
    await tab.get_by_role("button", name="Yes, disconnect").click()
    await expect(tab.get_by_test_id("status")).to_have_text("Needs a credential")


async def test_every_page_fits_a_phone(browser: Browser, hub: DashHub) -> None:
    context = await browser.new_context(viewport={"width": 375, "height": 740})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        phone = await context.new_page()
        await sign_up(phone, hub.base, "pat.phone@example.com", PASSWORD)
        assert await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sign-up"
        for path in ("/", "/integrations", "/integrations/pets", "/keys", "/connect", "/logs", "/usage", "/settings"):
            await phone.goto(f"{hub.base}{path}")
            await expect(phone.get_by_role("heading", level=1)).to_have_count(1)
            assert await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        await phone.goto(f"{hub.base}/integrations/pets")
        await phone.screenshot(path=SCREENSHOTS / "phone-integration.png", full_page=False)
    finally:
        await context.close()


async def test_password_sessions_and_deleting_the_account(browser: Browser, tab: Page, hub: DashHub) -> None:
    base = hub.base
    key = await sign_up(tab, base, "dana@example.com", PASSWORD)
    await _turn_on_and_connect(tab, base, "ghp_danastoken777")
    other = await browser.new_context()  # the same person signed in in a second browser
    try:
        elsewhere = await other.new_page()
        await sign_in(elsewhere, base, "dana@example.com", PASSWORD)

        # A new password: this session continues, the other browser is signed out.
        await tab.goto(f"{base}/settings")
        await tab.get_by_label("Current password").fill(PASSWORD)
        await tab.get_by_label("New password").fill("an even longer password")
        await tab.get_by_role("button", name="Change password").click()
        await expect(tab.get_by_role("status")).to_contain_text("Password changed")
        await elsewhere.goto(f"{base}/keys")
        await expect(elsewhere).to_have_url(f"{base}/signin?next=/keys")

        # Deleting needs the email typed in; then keys stop at once and the account cannot sign in.
        await tab.get_by_label("Type your email to confirm").fill("someone@else.com")
        await tab.get_by_role("button", name="Delete account").click()
        await expect(tab.get_by_role("alert")).to_contain_text("nothing was deleted")
        await tab.get_by_label("Type your email to confirm").fill("dana@example.com")
        await tab.get_by_role("button", name="Delete account").click()
        await expect(tab).to_have_url(f"{base}/signin")
        assert await _post_mcp_status(base, key) == 401
        await tab.get_by_label("Email").fill("dana@example.com")
        await tab.get_by_label("Password").fill("an even longer password")
        await tab.get_by_role("button", name="Sign in").click()
        await expect(tab.get_by_role("alert")).to_have_text("Wrong email or password.")
    finally:
        await other.close()
