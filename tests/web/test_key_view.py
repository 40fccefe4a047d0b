"""The tool view on the dashboard's key page and /connect's explanation of it, in a real browser.

A user creates a key in the search view and changes another key's view; the official MCP SDK client with each key
sees what the page chose (three meta-tools, or the flat list). /connect explains the views and gives the
`/mcp/search` URL. Every page is axe-core clean and needs nothing its Content-Security-Policy refuses.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import mcp_types as types
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect
from runtime.support import Upstream, mcp_client

from .dashboard import DashHub, check_page, dashboard_hub, desktop_tab, sign_up

pytestmark = pytest.mark.asyncio(loop_scope="module")

META = {"search_tools", "call_tool", "describe_tool"}


@pytest.fixture(scope="module")
def hub(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashHub]:
    with dashboard_hub(tmp_path_factory.mktemp("view"), upstream, MCPHUB_SIGNUP="open") as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: Browser, hub: DashHub) -> AsyncIterator[Page]:
    async with desktop_tab(browser) as page:
        yield page


def _names(result: types.ListToolsResult) -> set[str]:
    return {tool.name for tool in result.tools}


async def test_a_key_gets_the_search_view_from_the_key_page_and_connect_explains_it(tab: Page, hub: DashHub) -> None:
    page, base = tab, hub.base
    first = await sign_up(page, base, "vera@example.com", "a long enough password")

    # A new key in the search view: its client lists exactly the meta-tools and finds a tool with them.
    await page.goto(f"{base}/keys")
    await page.get_by_label("Name").fill("agent")
    await page.get_by_label("Search:").check()
    await page.get_by_role("button", name="Create key").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Key created: agent")
    agent = (await page.get_by_test_id("secret").inner_text()).strip()
    async with mcp_client(f"{base}/mcp", agent, mode="legacy") as client:
        assert _names(await client.list_tools()) == META
        found = await client.call_tool("search_tools", {"query": "what time is it in Tokyo"})
        assert found.is_error is False
        text = "".join(block.text for block in found.content if isinstance(block, types.TextContent))
        assert "time__" in json.dumps(json.loads(text)["results"][:3])

    # The first key is flat; the page switches it to search, its client sees the change, then back to flat.
    async with mcp_client(f"{base}/mcp", first, mode="legacy") as client:
        flat = _names(await client.list_tools())
        assert flat and not flat & META
    await page.goto(f"{base}/keys")
    row = page.locator("tr", has_text="first key")
    await expect(row.get_by_label("Tool view of first key")).to_have_value("flat")
    await expect(page.locator("tr", has_text="agent").get_by_label("Tool view of agent")).to_have_value("search")
    await check_page(page, "keys-view")
    await row.get_by_label("Tool view of first key").select_option("search")
    await row.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("now uses the search view")
    async with mcp_client(f"{base}/mcp", first, mode="legacy") as client:
        assert _names(await client.list_tools()) == META
    row = page.locator("tr", has_text="first key")
    await row.get_by_label("Tool view of first key").select_option("flat")
    await row.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("now uses the flat view")
    async with mcp_client(f"{base}/mcp", first, mode="legacy") as client:
        assert _names(await client.list_tools()) == flat

    # /connect says when to use which view and gives the search view's URL; the keys table shows each view.
    await page.get_by_role("link", name="when to use which").click()
    await expect(page).to_have_url(f"{base}/connect#views")
    views = page.locator("#views")
    await expect(views.get_by_role("heading", level=2)).to_have_text("Many tools? Use the search view")
    await expect(views.locator("#search-url")).to_have_text(f"{base}/mcp/search")
    await expect(page.locator("tr", has_text="agent")).to_contain_text("Search")
    await check_page(page, "connect-views")
