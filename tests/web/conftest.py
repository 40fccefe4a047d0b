"""Fixtures for the browser tests: a real `mcphub serve` process, an MCP client's callback server, Chromium.

The hub runs in its own process on a fixed 127.0.0.1 port, so it knows its issuer and serves its OAuth
pages. Two users (Ada: `pets`, Bob: `zoo`) are provisioned before it starts. The callback server stands
in for the redirect URI of a desktop MCP client: it records the query the browser brings back and shows
a page, as a real client's loopback listener does. One Chromium per module; every test gets a fresh
browser context (no cookies, so no web session), and PAGE_TIMEOUT_MS is the deadline of every wait
and every `expect` (Playwright polls; nothing sleeps).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect
from runtime.support import Account, Upstream, petstore, provision, serve, write_package
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from support.hub_process import hub_env, hub_files, hub_process

from .browser import launch

PASSWORD = "correct horse battery staple"  # what runtime.support.make_account gives every user
PAGE_TIMEOUT_MS = 20_000
# `expect` polls with its own deadline (5 s by default): give it the pages' one, for a loaded CI machine.
expect.set_options(timeout=PAGE_TIMEOUT_MS)


@dataclass
class WebHub:
    base: str
    ada: Account
    bob: Account


@dataclass
class Callback:
    """The redirect URI of a client on this machine; `hits` are the query parameters it received."""

    base: str
    hits: list[dict[str, str]] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"{self.base}/callback"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    recorder = Upstream()
    with serve(recorder) as base:
        recorder.base_url = base
        yield recorder


@pytest.fixture(scope="module")
def hub(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebHub]:
    files = hub_files(tmp_path_factory.mktemp("hub"))
    write_package(petstore(upstream.base_url), files.catalog)
    write_package(petstore(upstream.base_url, slug="zoo"), files.catalog)
    ada, bob = provision(
        files.data,
        ("ada@example.com", {"enable": ["pets"], "credentials": {"pets": {"token": "t-ada"}}}),
        ("bob@example.com", {"enable": ["zoo"], "credentials": {"zoo": {"token": "t-bob"}}}),
        url=files.db_url,
    )
    with hub_process(hub_env(files.db_url, files.data), files.catalog) as base:
        yield WebHub(base, ada, bob)


@pytest.fixture(scope="module")
def callback() -> Iterator[Callback]:
    hits: list[dict[str, str]] = []

    async def landed(request: Request) -> HTMLResponse:
        hits.append(dict(request.query_params))
        return HTMLResponse("<!doctype html><title>Back in the client</title><h1>You can close this window</h1>")

    with serve(Starlette(routes=[Route("/callback", landed)])) as base:
        yield Callback(base, hits)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await launch(playwright)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A tab in a fresh context: no cookies, so the user starts signed out."""
    context = await browser.new_context(viewport={"width": 900, "height": 700})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    tab = await context.new_page()
    try:
        yield tab
    finally:
        await context.close()


async def screenshot(page: Page, directory: Path, name: str) -> Path:
    """A full-page PNG under the test's tmp dir (look at them with `--basetemp` to review the pages)."""
    path = directory / f"{name}.png"
    await page.evaluate("window.scrollTo(0, 0)")  # a sticky header is drawn where the page was scrolled to
    await page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 0
    return path


async def assert_readable(page: Page, *, hub_styled: bool = True) -> str:
    """The page a person sees: one heading, no template syntax or raw JSON; returns its text.

    `hub_styled`: rendered through the hub's page templates (title "… · MCP Hub", the MCP Hub banner).
    """
    text = await page.inner_text("body")
    for raw in ("{{", "}}", "{%", "%}", '"error"', "error_description"):
        assert raw not in text, f"{raw!r} shows on the page:\n{text}"
    assert await page.get_by_role("heading", level=1).count() == 1, text
    if hub_styled:
        assert (await page.title()).endswith("· MCP Hub"), await page.title()
        assert text.startswith("MCP HUB") or text.startswith("MCP Hub"), text
    return text
