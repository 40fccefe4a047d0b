"""Helpers of the dashboard's browser tests: a hub process with a catalog, signing up, axe-core, screenshots.

axe-core comes from the pinned npm lock (tools/web/package-lock.json, installed by `make assets` into
.tools/web). It is evaluated through the DevTools protocol, not added as a <script>: the dashboard's CSP
refuses inline scripts, which is what `csp_errors` checks the pages never need.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, ConsoleMessage, Page, expect
from runtime.support import Account, Upstream, petstore, provision, write_package
from support.hub_process import hub_env, hub_files, hub_process

from mcphub.compiler.ir import Integration

from .conftest import PAGE_TIMEOUT_MS

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / ".tools/web/node_modules/axe-core/axe.min.js"
# Screenshots of every page, for people to look at; the README's come from a run with
# MCPHUB_SCREENSHOTS=docs/screenshots (a plain test run must not rewrite tracked files).
SCREENSHOTS = Path(os.environ.get("MCPHUB_SCREENSHOTS") or ROOT / ".cache" / "screenshots")
# Real packages beside the local stand-ins, so the catalog looks like a hub's (they are never called here).
REAL_PACKAGES = ("github", "linear", "notion", "slack", "stripe", "time")


@dataclass
class DashHub:
    base: str
    admin: Account
    env: dict[str, str]
    csp_errors: list[str] = field(default_factory=list)


@contextmanager
def dashboard_hub(
    root: Path, upstream: Upstream, *, extra: Iterable[Integration] = (), **env: str
) -> Iterator[DashHub]:
    """`mcphub serve` with Pet Store and Zoo (stand-ins on `upstream`), `extra` and a few real packages; one admin."""
    files = hub_files(root)
    for integration in extra:
        write_package(integration, files.catalog)
    write_package(petstore(upstream.base_url), files.catalog)
    write_package(petstore(upstream.base_url, slug="zoo").model_copy(update={"name": "Zoo"}), files.catalog)
    for slug in REAL_PACKAGES:
        shutil.copytree(ROOT / "generated" / slug, files.catalog / slug)
    [admin] = provision(files.data, ("ops@example.com", {}), url=files.db_url)
    variables = hub_env(files.db_url, files.data, **env)
    with hub_process(variables, files.catalog) as base:
        yield DashHub(base, admin, variables)


def llm_env(llm_url: str) -> dict[str, str]:
    """The hub's settings for the builder's LLM: the real `anthropic` client against the local fake Messages API."""
    return {"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": llm_url, "MCPHUB_LLM_PRICE": "3/15"}


@asynccontextmanager
async def desktop_tab(browser: Browser) -> AsyncIterator[Page]:
    """A desktop-sized tab in a fresh context (signed out); it must see no Content-Security-Policy refusal."""
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = await context.new_page()
    errors: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            errors.append(message.text)

    page.on("console", seen)
    try:
        yield page
    finally:
        await context.close()
    assert not errors, errors


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the current page (an empty list is a pass)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations
                .filter(v => v.impact === "serious" || v.impact === "critical")
                .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" "))}));
        }"""
    )
    return found


async def check_page(page: Page, name: str | None = None) -> str:
    """One h1, no template syntax, no serious/critical axe violation; a screenshot for docs/ when named."""
    text = await page.inner_text("body")
    for raw in ("{{", "}}", "{%", "%}"):
        assert raw not in text, f"{raw!r} shows on {page.url}:\n{text}"
    await expect(page.get_by_role("heading", level=1)).to_have_count(1)
    assert (await page.title()).endswith("· MCP Hub"), await page.title()
    violations = await axe_violations(page)
    assert not violations, f"axe on {page.url}: {violations}"
    if name is not None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # From the top: a sticky header would otherwise be drawn where the page was scrolled to.
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    return text


async def _submit(page: Page, url: str, email: str, password: str, button: str) -> None:
    await page.goto(url)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name=button).click()


async def sign_up(page: Page, base: str, email: str, password: str) -> str:
    """Create an account on /signup; returns the first API key the page shows (once)."""
    await _submit(page, f"{base}/signup", email, password, "Create account")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your account is ready")
    return (await page.get_by_test_id("secret").inner_text()).strip()


async def sign_in(page: Page, base: str, email: str, password: str) -> None:
    await _submit(page, f"{base}/signin", email, password, "Sign in")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Home")
