"""Debian's Chromium under Playwright: the one place that knows how tests/web launch a browser.

Playwright's own browser download cannot work on these machines (no network but the package registries),
so the tests never run `playwright install`: they launch /usr/bin/chromium (Debian's package, which
`make browser` installs) through `executable_path`. The background-networking flags keep Chromium from
dialling Google's hosts, which the closed network refuses many times at every start.

`python tests/web/browser.py` is the check `make browser` runs: launch, render a page, read it back.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Browser, Playwright, async_playwright

CHROMIUM = Path(os.environ.get("MCPHUB_TEST_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",  # tests and CI run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing_browser_message() -> str | None:
    """Why the browser cannot be launched, or None when it can."""
    if CHROMIUM.exists():
        return None
    return f"{CHROMIUM} is missing: run `make browser` (as root: it installs Debian's chromium with apt-get)"


async def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, with a fresh profile (Playwright makes a temporary user-data-dir)."""
    problem = missing_browser_message()
    if problem:
        raise RuntimeError(problem)
    return await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)


async def _check() -> str:
    # An empty browsers directory: the launch must not depend on any browser Playwright downloaded.
    with tempfile.TemporaryDirectory() as empty:
        os.environ["PLAYWRIGHT_BROWSERS_PATH"] = empty
        async with async_playwright() as playwright:
            browser = await launch(playwright)
            try:
                page = await browser.new_page()
                await page.set_content("<h1 id=t>rendered</h1>")
                text = await page.text_content("#t")
                if text != "rendered":
                    raise RuntimeError(f"Chromium rendered {text!r} instead of 'rendered'")
                return f"Chromium {browser.version} launches under Playwright from {CHROMIUM}"
            finally:
                await browser.close()


if __name__ == "__main__":
    try:
        print(asyncio.run(_check()))
    except Exception as exc:
        sys.exit(f"the browser check failed: {exc}")
