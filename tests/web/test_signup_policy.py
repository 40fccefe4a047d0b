"""The sign-up policy (closed by default once an admin exists; invite only; open), in the browser and the API,
on a hub whose public URL is https (so its cookies are `Secure`); and /metrics behind the admin token.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect
from runtime.support import Upstream
from support.hub_process import cli

from .conftest import PAGE_TIMEOUT_MS
from .dashboard import DashHub, check_page, dashboard_hub, desktop_tab, sign_in, sign_up

pytestmark = pytest.mark.asyncio(loop_scope="module")

PUBLIC = "https://hub.example.com"
ADMIN_PASSWORD = "correct horse battery staple"  # what runtime.support gives provisioned users


@pytest.fixture(scope="module")
def hub(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashHub]:
    with dashboard_hub(tmp_path_factory.mktemp("signup"), upstream, MCPHUB_PUBLIC_URL=PUBLIC) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def admin(browser: Browser, hub: DashHub) -> AsyncIterator[Page]:
    async with desktop_tab(browser) as page:
        await sign_in(page, hub.base, hub.admin.email, ADMIN_PASSWORD)
        yield page


async def _visitor(browser: Browser) -> Page:
    context = await browser.new_context()
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    return await context.new_page()


async def _choose(admin: Page, base: str, label: str) -> None:
    await admin.goto(f"{base}/settings")
    await admin.get_by_label("Who can create an account").select_option(label=label)
    await admin.locator("#signup").get_by_role("button", name="Save").click()
    await expect(admin.get_by_role("status").first).to_contain_text("Sign-up is now")


async def test_closed_then_invite_only_then_open(browser: Browser, admin: Page, hub: DashHub) -> None:
    base = hub.base
    stranger = await _visitor(browser)
    try:
        # Closed by default once the admin exists: the page says so and has no form; the API refuses too.
        response = await stranger.goto(f"{base}/signup")
        assert response is not None and response.status == 403
        await expect(stranger.get_by_role("heading", level=1)).to_have_text("Sign-up is closed")
        await expect(stranger.get_by_label("Password")).to_have_count(0)
        await check_page(stranger, "signup-closed")
        async with httpx2.AsyncClient(base_url=base) as http:
            assert (await http.get("/api/v1/signup-policy")).json() == {
                "policy": "closed",
                "source": "default",
                "locked": False,
            }
            refused = await http.post("/api/v1/auth/sign-up", json={"email": "eve@example.com", "password": "x" * 12})
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "signup_closed"

        # Invite only: the admin makes a link for one address; it works once, for that address.
        await _choose(admin, base, "People with an invite link")
        await stranger.goto(f"{base}/signup")
        await expect(stranger.get_by_role("heading", level=1)).to_have_text("Sign-up is by invitation")
        await admin.get_by_role("region", name="Sign-up").get_by_label("Email").fill("dora@example.com")
        await admin.get_by_role("button", name="Create invite link").click()
        link = (await admin.get_by_test_id("invite-url").inner_text()).strip()
        assert link.startswith(f"{PUBLIC}/signup?invite=")  # the public URL, as it is sent to people
        await check_page(admin, "settings-admin")
        local = link.replace(PUBLIC, base)
        await stranger.goto(local)
        await expect(stranger.get_by_label("Email")).to_have_value("dora@example.com")
        await stranger.get_by_label("Password").fill("dora's password")
        await stranger.get_by_role("button", name="Create account").click()
        await expect(stranger.get_by_role("heading", level=1)).to_have_text("Your account is ready")
        await stranger.context.clear_cookies()
        response = await stranger.goto(local)
        assert response is not None and response.status == 403
        await expect(stranger.get_by_role("heading", level=1)).to_have_text("This invite link cannot be used")
        await admin.goto(f"{base}/settings")
        await expect(admin.locator("#signup tr", has_text="dora@example.com")).to_contain_text("used")

        # Open: anyone signs up, and is a regular user.
        await _choose(admin, base, "Anyone who reaches this hub")
        key = await sign_up(stranger, base, "erin@example.com", "erin's password")
        assert key.startswith("mcp_sk_")
        async with httpx2.AsyncClient(base_url=base) as http:
            assert (await http.get("/api/v1/signup-policy")).json()["policy"] == "open"
        await admin.goto(f"{base}/settings")
        await expect(admin.locator("#users tr", has_text="erin@example.com")).to_contain_text("User")
    finally:
        await _choose(admin, base, "Nobody (admins create accounts)")
        await stranger.context.close()


async def test_session_cookies_are_secure_when_the_public_url_is_https(hub: DashHub) -> None:
    async with httpx2.AsyncClient(base_url=hub.base) as http:
        form = await http.get("/signin")
        match = re.search(r'name="csrf" value="([^"]+)"', form.text)
        [form_cookie] = form.headers.get_list("set-cookie")
        assert match is not None and "secure" in form_cookie.lower()
        # httpx (rightly) keeps a Secure cookie off plain http: send it as the TLS proxy would have.
        signed_in = await http.post(
            "/signin",
            data={"csrf": match.group(1), "email": hub.admin.email, "password": ADMIN_PASSWORD, "next": "/"},
            headers={"Cookie": form_cookie.split(";", 1)[0]},
        )
    assert signed_in.status_code == 303
    [session] = [value for value in signed_in.headers.get_list("set-cookie") if value.startswith("mcphub_session=")]
    flags = {part.strip().lower() for part in session.split(";")}
    assert {"httponly", "secure", "samesite=lax"} <= flags


async def test_metrics_need_the_admin_token(hub: DashHub) -> None:
    async with httpx2.AsyncClient(base_url=hub.base) as http:
        anonymous = await http.get("/metrics")
        user_key = await http.get("/metrics", headers={"Authorization": "Bearer mcp_sk_" + "x" * 43})
        token = await http.get("/metrics", headers={"Authorization": f"Bearer {hub.env['MCPHUB_ADMIN_TOKEN']}"})
        admin_key = await http.get("/metrics", headers=hub.admin.headers)
    assert anonymous.status_code == 401 and "admin token required" in anonymous.json()["error"]
    assert user_key.status_code == 401
    assert token.status_code == 200 and "mcphub_" in token.text
    assert admin_key.status_code == 200


async def test_an_invite_from_the_cli_signs_up_its_address_only(browser: Browser, admin: Page, hub: DashHub) -> None:
    await _choose(admin, hub.base, "People with an invite link")
    visitor = await _visitor(browser)
    try:
        made = cli(hub.env, "users", "invite", "gus@example.com", "--days", "1")
        assert made.returncode == 0, made.stderr
        [link] = re.findall(r"https://\S+", made.stdout)
        assert link.startswith(f"{PUBLIC}/signup?invite=")
        await visitor.goto(link.replace(PUBLIC, hub.base))
        await expect(visitor.get_by_label("Email")).to_have_value("gus@example.com")
        # The address is fixed: a different one typed into the form is refused, the invite is not spent.
        await visitor.get_by_label("Email").evaluate(
            "input => { input.readOnly = false; input.value = 'mallory@example.com' }"
        )
        await visitor.get_by_label("Password").fill("gus's password")
        await visitor.get_by_role("button", name="Create account").click()
        await expect(visitor.get_by_role("alert")).to_contain_text("This invitation is for gus@example.com")
        await expect(visitor.get_by_label("Email")).to_have_value("gus@example.com")  # put back, read-only
        await visitor.get_by_label("Password").fill("gus's password")
        await visitor.get_by_role("button", name="Create account").click()
        await expect(visitor.get_by_role("heading", level=1)).to_have_text("Your account is ready")
    finally:
        await _choose(admin, hub.base, "Nobody (admins create accounts)")
        await visitor.context.close()
