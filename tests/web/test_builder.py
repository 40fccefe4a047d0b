"""The builder in the browser (admins), against a real `mcphub serve` process and a local stand-in API.

An admin uploads the OpenAPI document of a small shelter API served by the stand-in on 127.0.0.1, sees the
build's stages and the tools made, deploys, and an official MCP SDK client with the admin's key hears
`tools/list_changed`, lists the new tools and calls one, which reaches the stand-in. A broken upload shows
the file and line and deploys nothing; a user who is not an admin gets 403 at /build. Every page is checked
with axe-core and must need nothing its Content-Security-Policy refuses.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx2
import mcp_types as types
import pytest
import pytest_asyncio
from builder.fake_messages_api import fake_messages_api
from builder.test_build import ACME
from mcp.client.session import IncomingMessage
from playwright.async_api import Browser, Page, expect
from runtime.support import Upstream, mcp_client, serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .conftest import PASSWORD as ADMIN_PASSWORD
from .dashboard import DashHub, check_page, dashboard_hub, desktop_tab, sign_in, sign_up

pytestmark = pytest.mark.asyncio(loop_scope="module")

EVENT_WAIT_S = 10.0


def shelter_openapi(base_url: str) -> str:
    """A small OpenAPI document of the stand-in (its /pets routes answer as `runtime.support.Upstream` does)."""
    return f"""\
openapi: 3.0.3
info: {{title: Animal Shelter, version: "1.0", description: A pet shelter's API.}}
servers: [{{url: "{base_url}"}}]
paths:
  /pets:
    get:
      operationId: listPets
      summary: List the pets in the shelter
      responses: {{"200": {{description: The pets, content: {{application/json: {{schema: {{type: array}}}}}}}}}}
    post:
      operationId: createPet
      summary: Register a new pet
      requestBody:
        required: true
        content: {{application/json: {{schema: {{type: object, properties: {{name: {{type: string}}}}}}}}}}
      responses: {{"201": {{description: Registered}}}}
  /pets/{{petId}}:
    parameters: [{{name: petId, in: path, required: true, schema: {{type: string}}, description: The pet's id}}]
    get:
      operationId: getPet
      summary: Get one pet by its id
      responses: {{"200": {{description: The pet, content: {{application/json: {{schema: {{type: object}}}}}}}}}}
    delete:
      operationId: deletePet
      summary: Remove a pet from the shelter
      responses: {{"204": {{description: Removed}}}}
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("builder")


@pytest.fixture(scope="module")
def llm() -> Iterator[str]:
    """The local fake Messages API (hand-written answers keyed by the exact request): its base URL."""
    with fake_messages_api() as (base_url, _):
        yield base_url


@pytest.fixture(scope="module")
def hub(upstream: Upstream, root: Path, llm: str) -> Iterator[DashHub]:
    with dashboard_hub(
        root,
        upstream,
        MCPHUB_SIGNUP="open",
        MCPHUB_SPECS_DIR=str(root / "specs"),
        ANTHROPIC_API_KEY="sk-ant-test",
        ANTHROPIC_BASE_URL=llm,
        MCPHUB_LLM_PRICE="3/15",
    ) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: Browser, hub: DashHub) -> AsyncIterator[Page]:
    async with desktop_tab(browser) as page:
        yield page


async def _served(base: str) -> list[str]:
    async with httpx2.AsyncClient() as http:
        packages: list[str] = (await http.get(f"{base}/healthz")).json()["packages"]
    return packages


async def test_an_admin_builds_and_deploys_an_integration_a_client_then_calls(
    tab: Page, hub: DashHub, upstream: Upstream, root: Path
) -> None:
    page, base = tab, hub.base
    source = root / "shelter.yaml"
    source.write_text(shelter_openapi(upstream.base_url))
    await sign_in(page, base, hub.admin.email, ADMIN_PASSWORD)

    await page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Build").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Build an integration")
    await expect(page.get_by_text("Per-user builds")).to_be_visible()
    await page.get_by_label("OpenAPI (JSON or YAML) or Postman collection").set_input_files(source)
    await expect(page.get_by_text(re.compile(r"shelter\.yaml \(\d+ KB\) is ready to build"))).to_be_visible()
    await page.get_by_label("Slug (optional)").fill("shelter")
    await page.get_by_label("Let the build and the tools reach private addresses").check()
    await check_page(page, "build-upload")
    await page.get_by_role("button", name="Build", exact=True).click()

    # The result: every stage with its time, the tools made with method, path and the destructive badge.
    await expect(page.get_by_role("heading", level=1)).to_have_text("Built shelter")
    stages = page.get_by_test_id("stages")
    for stage in ("fetch", "analyze", "parse", "codegen", "scan", "test"):
        await expect(stages.locator("tr", has_text=stage).first).to_contain_text(" s")
    tools = page.get_by_test_id("tools")
    await expect(tools.locator("tr", has_text="get_pet")).to_contain_text("GET /pets/{petId}")
    deleting = tools.locator("tr", has_text="delete_pet")
    await expect(deleting).to_be_visible()
    for shown in ("DELETE /pets/{petId}", "destructive", "off until enabled in the spec"):
        await expect(deleting).to_contain_text(shown)
    await check_page(page, "build-result")
    assert (root / "specs" / "shelter.yaml").is_file() and "shelter" not in await _served(base)

    changed = anyio.Event()

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with mcp_client(f"{base}/mcp", hub.admin.key, mode="legacy", message_handler=on_message) as client:
        assert not any(tool.name.startswith("shelter__") for tool in (await client.list_tools()).tools)

        await page.get_by_role("button", name="Deploy").click()
        await expect(page.get_by_test_id("deploy-status")).to_have_text("Deployed")
        await expect(page.get_by_role("status")).to_contain_text("Animal Shelter is deployed: 3 tools")
        await expect(page.get_by_role("heading", name="Tools now served")).to_be_visible()
        await check_page(page, "build-deployed")
        with anyio.fail_after(EVENT_WAIT_S):  # the admin's open session hears of it at once
            await changed.wait()

        names = {tool.name for tool in (await client.list_tools(cache_mode="refresh")).tools}
        assert {"shelter__list_pets", "shelter__create_pet", "shelter__get_pet"} <= names
        assert "shelter__delete_pet" not in names  # destructive operations stay off until the spec enables them
        result = await client.call_tool("shelter__get_pet", {"petId": "7"})
        assert result.is_error is False, result
        assert upstream.last().method == "GET" and upstream.last().path == "/pets/7"
        assert "Rex" in "".join(block.text for block in result.content if isinstance(block, types.TextContent))

    await page.get_by_role("link", name="Open its integration page").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Animal Shelter")
    await expect(page.get_by_test_id("status")).to_have_text("Ready")


async def test_a_broken_upload_says_where_and_deploys_nothing(tab: Page, hub: DashHub, root: Path) -> None:
    page, base = tab, hub.base
    broken = root / "orders.yaml"
    broken.write_text('openapi: 3.0.3\ninfo: {title: Orders, version: "1"}\npaths:\n  /orders: {get: [\n')
    await sign_in(page, base, hub.admin.email, ADMIN_PASSWORD)
    await page.goto(f"{base}/build")
    await page.get_by_label("OpenAPI (JSON or YAML) or Postman collection").set_input_files(broken)
    await page.get_by_label("Slug (optional)").fill("orders")
    await page.get_by_role("button", name="Build", exact=True).click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Build failed")
    failure = page.get_by_test_id("failure")
    await expect(failure).to_contain_text("The analyze stage failed.")
    await expect(page.get_by_test_id("failure-message")).to_have_text(re.compile(r"^orders\.yaml, line 5, column 1: "))
    await expect(failure).to_contain_text("Nothing was deployed.")
    await check_page(page, "build-failed")
    assert await page.get_by_role("button", name="Deploy").count() == 0

    kept = await failure.locator("code").inner_text()
    assert Path(kept).read_text() == broken.read_text()  # the upload is kept on the hub
    assert not (root / "specs" / "orders.yaml").exists() and not (root / "catalog" / "orders").exists()
    assert "orders" not in await _served(base)

    # Over the cap: refused by its size before anything is read or built, saying what to do instead.
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    huge = {"name": "huge.json", "mimeType": "application/json", "buffer": b" " * (6 * 1024 * 1024)}
    answer = await page.request.post(
        f"{base}/build",
        multipart={"csrf": csrf or "", "source": "file", "file": huge},
    )
    assert answer.status == 413 and "larger than 5 MB: give its URL instead" in await answer.text()


async def test_building_is_for_admins(tab: Page, hub: DashHub) -> None:
    page, base = tab, hub.base
    await sign_up(page, base, "member@example.com", "a long enough password")
    await page.goto(f"{base}/")
    await expect(page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Build")).to_have_count(0)

    response = await page.goto(f"{base}/build")
    assert response is not None and response.status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("Admins only")
    await expect(page.get_by_text("Per-user builds")).to_be_visible()
    await check_page(page)

    # The form cannot be posted around the page either (the session's own CSRF token, still refused).
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    answer = await page.request.post(f"{base}/build", multipart={"csrf": csrf or "", "source": "url", "url": "x"})
    assert answer.status == 403


async def test_a_text_is_drafted_by_the_llm_with_its_tokens_and_cost(
    tab: Page, hub: DashHub, upstream: Upstream
) -> None:
    page, base = tab, hub.base
    await sign_in(page, base, hub.admin.email, ADMIN_PASSWORD)
    await page.goto(f"{base}/build")
    await page.get_by_role("link", name="Text").click()
    await page.get_by_label("Describe the API").fill(ACME)
    await page.get_by_label("Slug (optional)").fill("acme")
    await page.get_by_label("Base URL (optional)").fill(upstream.base_url)
    await page.get_by_label("Let the build and the tools reach private addresses").check()
    await page.get_by_role("button", name="Build", exact=True).click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Built acme")
    analyze = page.get_by_test_id("stages").locator("tr", has_text="analyze")
    await expect(analyze).to_contain_text("LLM draft")
    await expect(analyze).to_contain_text(re.compile(r"[\d,]+ in / [\d,]+ out, \$\d+\.\d{4}"))
    await expect(page.get_by_test_id("warnings")).to_contain_text("void_invoice' is destructive and stays disabled")
    tools = page.get_by_test_id("tools")
    await expect(tools.locator("tr", has_text="create_invoice")).to_contain_text("POST /invoices")
    await expect(tools.locator("tr", has_text="void_invoice")).to_contain_text("destructive")
    await check_page(page, "build-text")


async def test_an_openapi_url_is_downloaded_and_built(tab: Page, hub: DashHub, upstream: Upstream) -> None:
    async def document(request: Request) -> Response:
        return Response(shelter_openapi(upstream.base_url), media_type="application/yaml")

    with serve(Starlette(routes=[Route("/openapi.yaml", document)])) as published:
        page, base = tab, hub.base
        await sign_in(page, base, hub.admin.email, ADMIN_PASSWORD)
        await page.goto(f"{base}/build")
        await page.get_by_role("link", name="OpenAPI URL").click()
        await page.get_by_label("URL of an OpenAPI description").fill(f"{published}/openapi.yaml")
        await page.get_by_label("Slug (optional)").fill("shelter-url")
        await page.get_by_label("Let the build and the tools reach private addresses").check()
        await check_page(page)
        await page.get_by_role("button", name="Build", exact=True).click()

        await expect(page.get_by_role("heading", level=1)).to_have_text("Built shelter-url")
        fetch = page.get_by_test_id("stages").locator("tr", has_text="fetch")
        await expect(fetch).to_contain_text("application/yaml")
        await expect(page.get_by_test_id("tools").locator("tr", has_text="get_pet")).to_contain_text(
            "GET /pets/{petId}"
        )


@pytest.fixture(scope="module")
def bare(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashHub]:
    """A hub without an LLM (ANTHROPIC_API_KEY empty)."""
    with dashboard_hub(tmp_path_factory.mktemp("bare"), upstream, ANTHROPIC_API_KEY="") as running:
        yield running


async def test_without_an_llm_the_text_tab_says_what_to_set(browser: Browser, bare: DashHub) -> None:
    async with desktop_tab(browser) as page:
        await sign_in(page, bare.base, bare.admin.email, ADMIN_PASSWORD)
        await page.goto(f"{bare.base}/build?tab=text")
        await expect(page.get_by_test_id("no-llm")).to_contain_text("Set ANTHROPIC_API_KEY")
        assert await page.get_by_label("Describe the API").count() == 0
        await check_page(page)
