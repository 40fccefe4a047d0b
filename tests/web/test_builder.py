"""The builder in the browser, against a real `mcphub serve` process and a local stand-in API (Debian's Chromium).

The whole path: an admin uploads the OpenAPI document of a small shelter API served by the stand-in on 127.0.0.1,
reviews it (unticks one operation, renames one tool, edits one description, picks the API-key header), builds and
deploys; an official MCP SDK client with the admin's key hears `tools/list_changed` and sees exactly the reviewed
tools, and a call reaches the stand-in with the key in the chosen header; the spec is edited in the editor into
a new version, deployed, then rolled back, and the client sees the tools of each. A broken upload shows the file
and line and stores nothing; a member builds their own. Every page is checked with axe-core and must need nothing
its Content-Security-Policy refuses.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

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
from .dashboard import DashHub, check_page, dashboard_hub, desktop_tab, llm_env, sign_in, sign_up

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
      tags: [pets]
      summary: List the pets in the shelter
      responses: {{"200": {{description: The pets, content: {{application/json: {{schema: {{type: array}}}}}}}}}}
    post:
      operationId: createPet
      tags: [pets]
      summary: Register a new pet
      requestBody:
        required: true
        content: {{application/json: {{schema: {{type: object, properties: {{name: {{type: string}}}}}}}}}}
      responses: {{"201": {{description: Registered}}}}
  /pets/{{petId}}:
    parameters: [{{name: petId, in: path, required: true, schema: {{type: string}}, description: The pet's id}}]
    get:
      operationId: getPet
      tags: [pets]
      summary: Get one pet by its id
      responses: {{"200": {{description: The pet, content: {{application/json: {{schema: {{type: object}}}}}}}}}}
    delete:
      operationId: deletePet
      tags: [admin]
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
    with dashboard_hub(root, upstream, MCPHUB_SIGNUP="open", **llm_env(llm)) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: Browser, hub: DashHub) -> AsyncIterator[Page]:
    async with desktop_tab(browser) as page:
        yield page


async def _served(base: str) -> list[str]:
    async with httpx2.AsyncClient() as http:
        packages: list[str] = (await http.get(f"{base}/healthz")).json()["packages"]
    return packages


async def _shelter_tools(client: Any) -> set[str]:
    return {
        tool.name for tool in (await client.list_tools(cache_mode="refresh")).tools if tool.name.startswith("shelter__")
    }


async def _set_spec(page: Page, text: str) -> None:
    await page.evaluate("text => window.specEditor.getModel().setValue(text)", text)


async def test_upload_review_deploy_call_edit_and_roll_back(
    tab: Page, hub: DashHub, upstream: Upstream, root: Path
) -> None:
    page, base = tab, hub.base
    source = root / "shelter.yaml"
    source.write_text(shelter_openapi(upstream.base_url))
    await sign_in(page, base, hub.admin.email, ADMIN_PASSWORD)

    # Step 1: the source.
    await page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Build").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Build an integration")
    await page.get_by_label("OpenAPI (JSON or YAML) or Postman collection").set_input_files(source)
    await expect(page.get_by_text(re.compile(r"shelter\.yaml \(\d+ KB\) is ready to build"))).to_be_visible()
    await page.get_by_label("Slug (optional)").fill("shelter")
    await page.get_by_label("Let the build and the tools reach private addresses").check()
    await check_page(page, "build-upload")
    await page.get_by_role("button", name="Read the source").click()

    # Step 2: the review. Operations grouped by tag; the destructive one unticked.
    await expect(page.get_by_role("heading", level=1)).to_have_text("Review Animal Shelter")
    stages = page.get_by_test_id("stages")
    for stage in ("fetch", "analyze"):
        await expect(stages.locator("tr", has_text=stage).first).to_contain_text(" s")
    await expect(page.get_by_role("group", name="pets")).to_be_visible()
    await expect(page.get_by_label("Use DELETE /pets/{petId}")).not_to_be_checked()
    await expect(page.get_by_label("Use GET /pets/{petId}")).to_be_checked()
    await expect(page.get_by_test_id("selected-count")).to_have_text("3 selected")

    # Search narrows the list; select none / all act on the visible rows of a group.
    await page.get_by_label("Search operations").fill("remove")
    await expect(page.get_by_label("Use GET /pets", exact=True)).to_be_hidden()
    await page.get_by_label("Search operations").fill("")
    pets = page.get_by_role("group", name="pets")
    await pets.get_by_role("button", name="Select none").click()
    await expect(page.get_by_test_id("selected-count")).to_have_text("0 selected")
    await pets.get_by_role("button", name="Select all").click()
    await expect(page.get_by_test_id("selected-count")).to_have_text("3 selected")

    # Untick one operation, rename one tool (checked live), edit one description, pick the API-key header.
    await page.get_by_label("Use POST /pets").uncheck()
    name = page.get_by_label("Tool name for GET /pets/{petId}")
    await name.fill("fetch pet")
    await expect(page.get_by_text("Only letters, digits, _ and - (e.g. fetch_pet).")).to_be_visible()
    await expect(page.get_by_role("button", name="Build version 2")).to_be_disabled()
    await name.fill("fetch_pet")
    await page.get_by_label("Tool name for GET /pets", exact=True).fill("fetch_pet")
    await expect(page.get_by_text("Another selected tool has this name.").first).to_be_visible()
    await page.get_by_label("Tool name for GET /pets", exact=True).fill("list_pets")
    await expect(page.get_by_role("button", name="Build version 2")).to_be_enabled()
    await page.get_by_label("Description for GET /pets", exact=True).fill(
        "List every pet the shelter houses, with its id and name. Use fetch_pet for one pet's details."
    )
    await page.get_by_label("How the credential is sent").select_option("api_key")
    await page.get_by_label("Sent in").select_option("header")
    await page.get_by_label("Header, parameter or cookie name").fill("X-Shelter-Key")
    await check_page(page, "build-review")
    streamed: list[str] = []
    page.on("request", lambda sent: streamed.append(sent.url))
    await page.get_by_role("button", name="Build version 2").click()

    # Step 3: the build streams its stages (server-sent events), then the page shows them with their times.
    await expect(page.get_by_role("heading", level=1)).to_have_text("Animal Shelter")
    await expect(page.get_by_test_id("versions").locator("tr[data-version='2']")).to_contain_text("built")
    assert any(url.endswith("/events") and "/api/v1/servers/shelter/builds/" in url for url in streamed), streamed
    for stage in ("check", "parse", "codegen", "scan", "test"):
        await expect(page.get_by_test_id("stages").locator("tr", has_text=stage).first).to_contain_text(" s")
    await expect(page.get_by_test_id("deploy-status")).to_have_text("Not deployed")

    changed = anyio.Event()

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with mcp_client(f"{base}/mcp", hub.admin.key, mode="legacy", message_handler=on_message) as client:
        assert not await _shelter_tools(client)
        await page.get_by_role("button", name="Deploy version 2").first.click()
        await expect(page.get_by_test_id("deploy-status")).to_have_text("Version 2 deployed")
        await expect(page.get_by_role("status")).to_contain_text("Animal Shelter version 2 is deployed: 2 tools")
        await check_page(page, "build-deployed")
        with anyio.fail_after(EVENT_WAIT_S):
            await changed.wait()

        # The user's key for the integration (its tools are listed once it has one); a call reaches the stand-in
        # with the key in the chosen header.
        await page.goto(f"{base}/integrations/shelter")
        await page.get_by_label("API key").fill("k-shelter-7")
        await page.get_by_role("button", name=re.compile("^(Save|Connect)")).first.click()
        await expect(page.get_by_test_id("status")).to_have_text("Ready")
        assert await _shelter_tools(client) == {"shelter__list_pets", "shelter__fetch_pet"}
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert listed["shelter__list_pets"].description.startswith("List every pet the shelter houses")
        # The playground: a form from fetch_pet's inputSchema, a call with the stored key, the exact request
        # (the key redacted), its status, the time and the result; the stand-in received it.
        await page.goto(f"{base}/build/shelter")
        await page.get_by_role("link", name="Playground").click()
        await page.get_by_label("Tool").select_option("fetch_pet")
        await page.get_by_role("button", name="Open").click()
        await page.get_by_label("petId (required)").fill("7")
        await expect(page.get_by_label("Arguments as they will be sent (JSON)")).to_have_value(
            re.compile(r'"petId": "7"')
        )
        await check_page(page, "build-playground")
        await page.get_by_role("button", name="Call fetch_pet").click()
        await expect(page.get_by_test_id("upstream-request")).to_contain_text(f"GET {upstream.base_url}/pets/7")
        await expect(page.get_by_test_id("upstream-status")).to_have_text("200")
        headers = page.get_by_test_id("upstream-headers")
        await expect(headers.locator("tr", has_text="X-Shelter-Key")).to_contain_text("(redacted)")
        assert "k-shelter-7" not in await page.content()
        await expect(page.get_by_test_id("call-time")).to_contain_text(" ms")
        await expect(page.get_by_test_id("call-result")).to_contain_text("Rex")
        assert upstream.last().path == "/pets/7" and upstream.last().headers["x-shelter-key"] == "k-shelter-7"
        await check_page(page, "build-playground-result")

        result = await client.call_tool("shelter__fetch_pet", {"petId": "7"})
        assert result.is_error is False, result
        assert upstream.last().path == "/pets/7" and upstream.last().headers["x-shelter-key"] == "k-shelter-7"

        # Edit the spec in the editor: version 3 renames list_pets; deployed, the client sees it.
        await page.goto(f"{base}/build/shelter")
        await expect(page.locator("#spec-editor .monaco-editor")).to_be_visible()
        spec = await page.evaluate("window.specEditor.getValue()")
        assert "name: fetch_pet" in spec and "X-Shelter-Key" in spec
        await _set_spec(page, spec.replace("name: list_pets", "name: all_pets"))
        await expect(page.get_by_test_id("spec-problems")).to_contain_text("No problems found.")
        await page.get_by_label("What changed (kept with the version)").fill("list_pets is all_pets")
        await page.get_by_role("button", name="Save and build").click()
        await expect(page.get_by_role("status")).to_contain_text("Version 3 is saved and built: 2 tools")
        await page.get_by_role("button", name="Deploy version 3").first.click()
        await expect(page.get_by_test_id("deploy-status")).to_have_text("Version 3 deployed")
        assert await _shelter_tools(client) == {"shelter__all_pets", "shelter__fetch_pet"}

        # The diff between 2 and 3, then one click back to version 2.
        await page.get_by_role("link", name="Diff with 2").click()
        await expect(page.get_by_test_id("tools-diff")).to_contain_text("added all_pets")
        await expect(page.get_by_test_id("tools-diff")).to_contain_text("removed list_pets")
        await expect(page.get_by_test_id("spec-diff").locator(".add")).to_contain_text(["name: all_pets"])
        await check_page(page, "build-diff")
        await page.get_by_role("link", name="Animal Shelter").click()
        await page.get_by_role("button", name="Roll back to version 2").click()
        await expect(page.get_by_role("status")).to_contain_text("Rolled back: version 2 of Animal Shelter is live")
        await expect(page.get_by_test_id("deploy-status")).to_have_text("Version 2 deployed")
        assert await _shelter_tools(client) == {"shelter__list_pets", "shelter__fetch_pet"}
        await check_page(page)

    # Export: the deployed version as a standalone MCP server project (what `mcphub export` writes), zipped.
    async with page.expect_download() as waiting:
        await page.get_by_role("link", name="Export", exact=True).click()
    download = await waiting.value
    assert download.suggested_filename == "mcp-shelter-v2.zip"
    with zipfile.ZipFile(await download.path()) as archive:
        names = set(archive.namelist())
        assert {"mcp-shelter/pyproject.toml", "mcp-shelter/mcp_shelter/server.py"} <= names
        exported = json.loads(archive.read("mcp-shelter/mcp_shelter/integration.json"))
    assert sorted(tool["name"] for tool in exported["tools"]) == ["fetch_pet", "list_pets"]


async def test_a_broken_upload_says_where_and_stores_nothing(tab: Page, hub: DashHub, root: Path) -> None:
    page, base = tab, hub.base
    broken = root / "orders.yaml"
    broken.write_text('openapi: 3.0.3\ninfo: {title: Orders, version: "1"}\npaths:\n  /orders: {get: [\n')
    await sign_in(page, base, hub.admin.email, ADMIN_PASSWORD)
    await page.goto(f"{base}/build")
    await page.get_by_label("OpenAPI (JSON or YAML) or Postman collection").set_input_files(broken)
    await page.get_by_label("Slug (optional)").fill("orders")
    await page.get_by_role("button", name="Read the source").click()

    failure = page.get_by_test_id("failure")
    await expect(failure).to_contain_text("The analyze stage failed.")
    await expect(page.get_by_test_id("failure-message")).to_have_text(re.compile(r"^orders\.yaml, line 5, column 1: "))
    await expect(failure).to_contain_text("Nothing was stored or deployed.")
    await check_page(page, "build-failed")
    kept = await failure.locator("code").inner_text()
    assert Path(kept).read_text() == broken.read_text()  # the upload is kept on the hub
    assert "orders" not in await _served(base)
    await page.goto(f"{base}/build/orders")
    await expect(page.get_by_role("heading", level=1)).to_have_text("No such build")

    # Over the cap: refused by its size before anything is read or built, saying what to do instead.
    await page.goto(f"{base}/build")
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    huge = {"name": "huge.json", "mimeType": "application/json", "buffer": b" " * (6 * 1024 * 1024)}
    answer = await page.request.post(
        f"{base}/build",
        multipart={"csrf": csrf or "", "source": "file", "file": huge},
    )
    assert answer.status == 413 and "larger than 5 MB: give its URL instead" in await answer.text()


async def test_a_member_builds_their_own_without_private_addresses(tab: Page, hub: DashHub) -> None:
    page, base = tab, hub.base
    await sign_up(page, base, "member@example.com", "a long enough password")
    await page.goto(f"{base}/")
    await page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Build").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Build an integration")
    assert await page.get_by_label("Let the build and the tools reach private addresses").count() == 0
    await check_page(page)
    # The admin's integration is not theirs to see.
    response = await page.goto(f"{base}/build/shelter")
    assert response is not None and response.status == 404

    # Asking for private addresses around the page is refused too (the session's own CSRF token).
    await page.goto(f"{base}/build")
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    answer = await page.request.post(
        f"{base}/build",
        multipart={"csrf": csrf or "", "source": "url", "url": "http://127.0.0.1:9/x", "allow_private": "on"},
    )
    assert answer.status == 403 and "Only admins may let tools reach private addresses" in await answer.text()


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
    await page.get_by_role("button", name="Read the source").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Review "))
    analyze = page.get_by_test_id("stages").locator("tr", has_text="analyze")
    await expect(analyze).to_contain_text("LLM draft")
    await expect(analyze).to_contain_text(re.compile(r"[\d,]+ in / [\d,]+ out, \$\d+\.\d{4}"))
    await expect(page.get_by_label("Use POST /invoices", exact=True)).to_be_checked()
    voiding = page.locator("tr", has=page.get_by_text("void_invoice", exact=False)).first
    await expect(voiding).to_contain_text("destructive")
    # Provenance: what the LLM guessed is said on the row (the text gave no location to cite).
    await expect(page.get_by_test_id("origin-void_invoice")).to_have_text("guessed path: check it")
    await expect(page.get_by_test_id("origin-list_invoices")).to_have_count(0)
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
        await page.get_by_role("button", name="Read the source").click()

        await expect(page.get_by_role("heading", level=1)).to_have_text("Review Animal Shelter")
        fetch = page.get_by_test_id("stages").locator("tr", has_text="fetch")
        await expect(fetch).to_contain_text("application/yaml")
        await expect(page.get_by_label("Tool name for GET /pets/{petId}")).to_have_value("get_pet")


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
        # The docs tab too (the LLM drafts from the pages); the git tab needs none.
        await page.get_by_role("link", name="Docs URL").click()
        await expect(page.get_by_test_id("no-llm")).to_contain_text("Building from documentation needs an LLM")
        await expect(page.get_by_test_id("no-llm")).to_contain_text("Set ANTHROPIC_API_KEY")
        assert await page.get_by_label("URL of the API's documentation").count() == 0
        await check_page(page)
        await page.get_by_role("link", name="Git repository").click()
        await expect(page.get_by_label("Git repository URL")).to_be_visible()
        assert await page.get_by_test_id("no-llm").count() == 0
