"""The builder's spec editor (Monaco) and the spec format's JSON Schema, in Debian's Chromium against `mcphub serve`.

An admin builds the stand-in's shelter API, opens `/build/shelter`, and edits the spec in Monaco: a bad tool name
is marked at its line as they type (the JSON Schema's and the compiler's checks), saving a spec that does not
compile keeps the previous build and shows the error at file:line, and a good edit (a renamed tool) compiles and,
once deployed, is what an MCP SDK client lists. Monaco is served by the hub itself and needs nothing the page's
Content-Security-Policy refuses (no blob: workers, no un-nonced styles); axe-core finds nothing serious.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect
from runtime.support import Upstream, mcp_client

from mcphub.compiler.spec_schema import SCHEMA_FILE

from .conftest import PASSWORD as ADMIN_PASSWORD
from .dashboard import DashHub, check_page, dashboard_hub, desktop_tab, sign_in
from .test_builder import shelter_openapi

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("editor")


@pytest.fixture(scope="module")
def hub(upstream: Upstream, root: Path) -> Iterator[DashHub]:
    with dashboard_hub(root, upstream, MCPHUB_SPECS_DIR=str(root / "specs"), ANTHROPIC_API_KEY="") as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: Browser, hub: DashHub) -> AsyncIterator[Page]:
    async with desktop_tab(browser) as page:
        yield page


async def test_the_spec_schema_is_public_and_stable(hub: DashHub) -> None:
    async with httpx2.AsyncClient() as http:
        newest = await http.get(f"{hub.base}/schema/spec.json")
        stable = await http.get(f"{hub.base}/schema/spec/v1.json")
        unknown = await http.get(f"{hub.base}/schema/spec/v9.json")
    assert newest.status_code == stable.status_code == 200
    assert newest.headers["content-type"] == "application/schema+json"
    assert newest.content == stable.content == SCHEMA_FILE.read_bytes()
    assert json.loads(newest.content)["x-mcphub-spec-version"] == 1
    assert unknown.status_code == 404 and "/schema/spec/v1.json" in unknown.json()["error"]


async def _set_text(page: Page, text: str) -> None:
    await page.evaluate("text => window.specEditor.getModel().setValue(text)", text)


async def test_an_admin_edits_the_spec_in_monaco_and_deploys_the_edit(
    tab: Page, hub: DashHub, upstream: Upstream, root: Path
) -> None:
    page, base = tab, hub.base
    source = root / "shelter.yaml"
    source.write_text(shelter_openapi(upstream.base_url))
    await sign_in(page, base, hub.admin.email, ADMIN_PASSWORD)
    await page.goto(f"{base}/build")
    await page.get_by_label("OpenAPI (JSON or YAML) or Postman collection").set_input_files(source)
    await page.get_by_label("Slug (optional)").fill("shelter")
    await page.get_by_label("Let the build and the tools reach private addresses").check()
    await page.get_by_role("button", name="Build", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Built shelter")
    await page.get_by_role("button", name="Deploy").click()
    await expect(page.get_by_test_id("deploy-status")).to_have_text("Deployed")

    # Monaco replaces the textarea, served by the hub (no CDN), with the spec in it.
    editor = page.locator("#spec-editor .monaco-editor")
    await expect(editor).to_be_visible()
    await expect(page.locator("#spec-text")).to_be_hidden()
    original = await page.evaluate("window.specEditor.getValue()")
    assert original.startswith("# Built by `mcphub build`") and "slug: shelter" in original
    await check_page(page, "build-editor")

    # As they type: a name the rules refuse is marked at its line (the schema's pattern or the compiler's words).
    broken = original + "tools:\n  - {operation: getPet, name: fetch pet}\ninclude: all\n"
    await _set_text(page, broken)
    line = broken.splitlines().index("  - {operation: getPet, name: fetch pet}") + 1
    problems = page.get_by_test_id("spec-problems")
    await expect(problems).to_contain_text(f"shelter.yaml:{line} tools[0].name")
    markers = await page.evaluate("monaco.editor.getModelMarkers({owner: 'mcphub'}).map(m => m.startLineNumber)")
    assert markers == [line]

    # Saving a spec that parses but does not compile: the error at file:line, the old build kept, the text too.
    unknown = original + "tools:\n  - {operation: adoptPet, name: adopt}\ninclude: all\n"
    await _set_text(page, unknown)
    await expect(problems).to_contain_text("No problems found.")  # the schema and the spec rules accept it
    await page.get_by_role("button", name="Save and compile").click()
    await expect(page.get_by_test_id("spec-failure")).to_contain_text("does not compile; the previous spec")
    bad_line = unknown.splitlines().index("  - {operation: adoptPet, name: adopt}") + 1
    await expect(problems).to_contain_text(re.compile(rf"shelter\.yaml:{bad_line} tools\[0\]\.operation .*adoptPet"))
    assert "adoptPet" in await page.evaluate("window.specEditor.getValue()")
    assert (root / "specs" / "shelter.yaml").read_text() == original
    await check_page(page)

    # A good edit: get_pet becomes fetch_pet; compiled, then deployed, and the client lists the new name.
    good = original + "tools:\n  - {operation: getPet, name: fetch_pet, description: Fetch one pet by id.}\n"
    good += "include: all\n"
    await _set_text(page, good)
    await expect(problems).to_contain_text("No problems found.")
    await page.get_by_role("button", name="Save and compile").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved and compiled: 3 tools. Deploy it")
    await expect(page.get_by_test_id("deploy-status")).to_have_text("An older build is deployed")
    await page.get_by_role("button", name="Deploy this build").click()
    await expect(page.get_by_test_id("deploy-status")).to_have_text("Deployed")
    async with mcp_client(f"{base}/mcp", hub.admin.key, mode="legacy") as client:
        names = {tool.name for tool in (await client.list_tools()).tools if tool.name.startswith("shelter__")}
        assert names == {"shelter__list_pets", "shelter__create_pet", "shelter__fetch_pet"}
        result = await client.call_tool("shelter__fetch_pet", {"petId": "7"})
        assert result.is_error is False and upstream.last().path == "/pets/7"
