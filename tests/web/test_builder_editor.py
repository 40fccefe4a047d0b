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
    with dashboard_hub(root, upstream, ANTHROPIC_API_KEY="") as running:
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


async def test_the_editor_marks_problems_as_you_type_and_a_failing_build_keeps_the_live_version(
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
    await page.get_by_role("button", name="Read the source").click()
    await page.get_by_role("button", name="Build version 2").click()
    await page.get_by_role("button", name="Deploy version 2").first.click()
    await expect(page.get_by_test_id("deploy-status")).to_have_text("Version 2 deployed")

    # Monaco replaces the textarea, served by the hub (no CDN), with the latest version's spec in it.
    await expect(page.locator("#spec-editor .monaco-editor")).to_be_visible()
    await expect(page.locator("#spec-text")).to_be_hidden()
    original = await page.evaluate("window.specEditor.getValue()")
    assert "slug: shelter" in original and "name: get_pet" in original
    await check_page(page, "build-editor")

    # As they type: a name the rules refuse is marked at its line (the schema's pattern or the compiler's words).
    broken = original.replace("name: get_pet", "name: fetch pet")
    await _set_text(page, broken)
    line = next(n for n, text in enumerate(broken.splitlines(), 1) if "name: fetch pet" in text)
    problems = page.get_by_test_id("spec-problems")
    await expect(problems).to_contain_text(re.compile(rf"shelter\.yaml:{line} tools\[\d+\]\.name"))
    markers = await page.evaluate("monaco.editor.getModelMarkers({owner: 'mcphub'}).map(m => m.startLineNumber)")
    assert markers == [line]

    # Saving a spec that the checks accept but the build refuses: version 3 is kept, failed, with the error at
    # file:line and the text in the editor; version 2 stays live.
    unknown = original.replace("operation: getPet", "operation: adoptPet")
    await _set_text(page, unknown)
    await expect(problems).to_contain_text("No problems found.")  # the schema and the spec rules accept it
    await page.get_by_role("button", name="Save and build").click()
    await expect(page.get_by_test_id("spec-failure")).to_contain_text("Saved as version 3, but it does not build")
    await expect(page.get_by_test_id("build-failure")).to_contain_text("the parse stage failed")
    bad_line = next(n for n, text in enumerate(unknown.splitlines(), 1) if "operation: adoptPet" in text)
    await expect(problems).to_contain_text(re.compile(rf"shelter\.yaml:{bad_line} tools\[\d+\]\.operation .*adoptPet"))
    assert "adoptPet" in await page.evaluate("window.specEditor.getValue()")
    await expect(page.get_by_test_id("deploy-status")).to_have_text("Version 2 deployed")
    await expect(page.get_by_test_id("versions").locator("tr[data-version='3']")).to_contain_text("failed")
    await check_page(page)

    # A version whose test stage fails: the page names the tool and why; version 2 still serves.
    wrong = original.replace(
        "  name: create_pet\n", "  name: create_pet\n  fixed:\n    header:Content-Type: text/plain\n"
    )
    assert wrong != original
    await _set_text(page, wrong)
    await expect(problems).to_contain_text("No problems found.")
    await page.get_by_role("button", name="Save and build").click()
    await expect(page.get_by_test_id("spec-failure")).to_contain_text("Saved as version 4, but it does not build")
    await expect(page.get_by_test_id("build-failure")).to_contain_text("the test stage failed")
    await expect(page.get_by_test_id("build-error")).to_contain_text("create_pet (POST /pets)")
    await expect(page.get_by_test_id("build-error")).to_contain_text("text/plain")
    await expect(page.get_by_test_id("build-failure")).to_contain_text("version 2 stays live")
    await expect(page.get_by_test_id("deploy-status")).to_have_text("Version 2 deployed")
    await check_page(page, "build-test-failed")
    async with mcp_client(f"{base}/mcp", hub.admin.key, mode="legacy") as client:
        names = {tool.name for tool in (await client.list_tools()).tools if tool.name.startswith("shelter__")}
        assert names == {"shelter__list_pets", "shelter__create_pet", "shelter__get_pet"}


def kennel_openapi(base_url: str) -> str:
    """One operation whose body has what a generated form must handle: nesting, a list, an enum, defaults."""
    return f"""\
openapi: 3.0.3
info: {{title: Kennels, version: "1"}}
servers: [{{url: "{base_url}"}}]
paths:
  /kennels:
    post:
      operationId: createKennel
      summary: Open a kennel for a group of pets
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name: {{type: string, description: The kennel's name}}
                size: {{type: string, enum: [small, medium, large], default: medium}}
                heated: {{type: boolean, default: true}}
                capacity: {{type: integer, default: 4}}
                tags: {{type: array, items: {{type: string}}}}
                address:
                  type: object
                  properties:
                    street: {{type: string}}
                    city: {{type: string}}
      responses: {{"201": {{description: Opened}}}}
"""


async def test_the_playground_form_follows_the_input_schema(
    tab: Page, hub: DashHub, upstream: Upstream, root: Path
) -> None:
    page, base = tab, hub.base
    source = root / "kennels.yaml"
    source.write_text(kennel_openapi(upstream.base_url))
    await sign_in(page, base, hub.admin.email, ADMIN_PASSWORD)
    await page.goto(f"{base}/build")
    await page.get_by_label("OpenAPI (JSON or YAML) or Postman collection").set_input_files(source)
    await page.get_by_label("Let the build and the tools reach private addresses").check()
    await page.get_by_role("button", name="Read the source").click()
    await page.get_by_role("button", name="Build version 2").click()
    await page.get_by_role("button", name="Deploy version 2").first.click()
    await page.get_by_role("link", name="Playground").click()

    # Defaults are filled in, the enum is a choice, the object a group, the list grows item by item.
    await expect(page.get_by_label("size")).to_have_value('"medium"')
    await expect(page.get_by_label("capacity")).to_have_value("4")
    await page.get_by_label("name (required)").fill("North wing")
    await page.get_by_label("size").select_option(label="large")
    await page.get_by_role("button", name="Add an item to tags").click()
    await page.get_by_role("button", name="Add an item to tags").click()
    await page.get_by_label("tags item 1").fill("dogs")
    await page.get_by_label("tags item 2").fill("quiet")
    await page.get_by_role("group", name="address").get_by_label("city").fill("Lyon")
    await check_page(page)
    await page.get_by_role("button", name="Call create_kennel").click()

    await expect(page.get_by_test_id("upstream-request")).to_contain_text(f"POST {upstream.base_url}/kennels")
    sent = upstream.last()
    assert sent.method == "POST" and sent.path == "/kennels"
    assert json.loads(sent.body) == {
        "name": "North wing",
        "size": "large",
        "heated": True,
        "capacity": 4,
        "tags": ["dogs", "quiet"],
        "address": {"city": "Lyon"},
    }
    await expect(page.get_by_test_id("upstream-body")).to_contain_text('"North wing"')
    # The form comes back filled with the call's arguments, ready for the next try.
    await expect(page.get_by_label("name (required)")).to_have_value("North wing")
    await expect(page.get_by_label("tags item 2")).to_have_value("quiet")
    await expect(page.get_by_label("size")).to_have_value('"large"')


POSTMAN = Path(__file__).resolve().parents[1] / "compiler" / "fixtures" / "postman" / "pet_shop.postman_collection.json"


async def test_a_postman_collection_goes_through_the_same_review(tab: Page, hub: DashHub) -> None:
    page, base = tab, hub.base
    await sign_in(page, base, hub.admin.email, ADMIN_PASSWORD)
    await page.goto(f"{base}/build")
    await page.get_by_label("OpenAPI (JSON or YAML) or Postman collection").set_input_files(POSTMAN)
    await page.get_by_label("Slug (optional)").fill("petshop")
    await page.get_by_role("button", name="Read the source").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Review Pet Shop")
    await expect(page.get_by_test_id("stages").locator("tr", has_text="analyze")).to_contain_text("postman")
    await expect(page.get_by_role("group", name=re.compile("^Pets"))).to_be_visible()
    await expect(page.get_by_label("How the credential is sent")).to_have_value("bearer")  # detected, pre-filled
    await check_page(page)
    await page.get_by_role("button", name="Build version 2").click()
    await expect(page.get_by_test_id("versions").locator("tr[data-version='2']")).to_contain_text("built")
