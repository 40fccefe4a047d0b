"""The builder's iterate tools in Debian's Chromium against `mcphub serve`: the LLM's help, provenance, the sandbox.

The LLM is the local fake Messages API (hand-written answers keyed by the exact request, `tests/fixtures/llm/`;
an unknown request fails loudly). An admin uploads an OpenAPI document of the stand-in's shelter API written the
way the drafting sources write theirs (operations carrying `x-mcphub-source` — a docs page, a `file:line` — and
`x-mcphub-guessed`): the review shows where each guessed operation came from, and "Improve with AI" puts the
LLM's description next to the current one, to accept or keep. Built but not deployed, a tool is called against
a sandbox base URL (a second stand-in) with a sandbox key, which the page shows masked; a member without the
right to private addresses is refused the same call. Feedback ("rename …") becomes a proposed spec — the first
answer fails the hub's checks and goes back once — shown in Monaco's diff editor, then applied as a version. The
versions page compares any two versions side by side in Monaco. axe-core on every page; no CSP refusal.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest
import pytest_asyncio
from builder.fake_messages_api import FakeMessagesApi, fake_messages_api
from playwright.async_api import Browser, Page, expect
from runtime.support import Upstream, serve

from .conftest import PASSWORD as ADMIN_PASSWORD
from .dashboard import DashHub, check_page, dashboard_hub, desktop_tab, llm_env, sign_in, sign_up

pytestmark = pytest.mark.asyncio(loop_scope="module")

DOCS_PAGE = "https://docs.shelter.example/pets.html"


def drafted_shelter_openapi(base_url: str) -> str:
    """The shelter API as a docs or repo source pins it: where each operation was found, and what was guessed."""
    return f"""\
openapi: 3.0.3
info: {{title: Animal Shelter, version: draft, description: A pet shelter's API.}}
servers: [{{url: "{base_url}"}}]
paths:
  /pets:
    get:
      operationId: listPets
      tags: [pets]
      summary: List the pets in the shelter
      x-mcphub-source: "{DOCS_PAGE}"
      responses: {{"200": {{description: The pets, content: {{application/json: {{schema: {{type: array}}}}}}}}}}
  /pets/{{petId}}:
    parameters: [{{name: petId, in: path, required: true, schema: {{type: string}}, description: The pet's id}}]
    get:
      operationId: getPet
      tags: [pets]
      summary: Get one pet by its id
      x-mcphub-source: "app/routes/pets.py:42"
      x-mcphub-guessed: [path]
      responses: {{"200": {{description: The pet, content: {{application/json: {{schema: {{type: object}}}}}}}}}}
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("assist")


@pytest.fixture(scope="module")
def llm() -> Iterator[tuple[str, FakeMessagesApi]]:
    with fake_messages_api() as served:
        yield served


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Upstream]:
    """A second stand-in: the "sandbox" the not-yet-deployed tools are pointed at."""
    recorder = Upstream()
    with serve(recorder) as base:
        recorder.base_url = base
        yield recorder


@pytest.fixture(scope="module")
def hub(upstream: Upstream, root: Path, llm: tuple[str, FakeMessagesApi]) -> Iterator[DashHub]:
    with dashboard_hub(root, upstream, MCPHUB_SIGNUP="open", **llm_env(llm[0])) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: Browser, hub: DashHub) -> AsyncIterator[Page]:
    async with desktop_tab(browser) as page:
        yield page


async def _upload(page: Page, base: str, source: Path, slug: str, *, private: bool = True) -> None:
    await page.goto(f"{base}/build")
    await page.get_by_label("OpenAPI (JSON or YAML) or Postman collection").set_input_files(source)
    await page.get_by_label("Slug (optional)").fill(slug)
    if private:
        await page.get_by_label("Let the build and the tools reach private addresses").check()
    await page.get_by_role("button", name="Read the source").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Review Animal Shelter")


async def test_review_provenance_improve_sandbox_regenerate_and_diff(
    tab: Page,
    hub: DashHub,
    upstream: Upstream,
    sandbox: Upstream,
    root: Path,
    llm: tuple[str, FakeMessagesApi],
) -> None:
    page, base = tab, hub.base
    source = root / "shelter.yaml"
    source.write_text(drafted_shelter_openapi(upstream.base_url))
    await sign_in(page, base, hub.admin.email, ADMIN_PASSWORD)
    await _upload(page, base, source, "shelter")

    # Provenance: the docs page (a link) and the file:line the source recorded, and what was guessed.
    listing = page.get_by_test_id("origin-listPets")
    await expect(listing).to_contain_text(f"Found in {DOCS_PAGE}")
    await expect(listing.get_by_role("link", name=DOCS_PAGE)).to_have_attribute("href", DOCS_PAGE)
    one = page.get_by_test_id("origin-getPet")
    await expect(one).to_contain_text("Found in app/routes/pets.py:42")
    await expect(one).to_contain_text("guessed path: check it")

    # Improve with AI: the LLM's description beside the current one; accepted for listPets, kept for getPet.
    description = page.get_by_label("Description for GET /pets", exact=True)
    current = "List the pets in the shelter.\n\nReturns a list: The pets."
    await expect(description).to_have_value(current)
    asked = len(llm[1].requests)
    await page.get_by_role("button", name="Improve with AI the description of GET /pets", exact=True).click()
    proposal = page.get_by_test_id("proposal-listPets")
    await expect(proposal).to_contain_text("Proposed by the LLM")
    await expect(proposal).to_contain_text("List every pet the shelter currently houses")
    await expect(proposal).to_contain_text(re.compile(r"\d+ in / \d+ out tokens, \$\d+\.\d{4}"))
    await expect(description).to_have_value(current)  # nothing changes until accepted
    assert len(llm[1].requests) == asked + 1
    await check_page(page, "build-review-improve")
    await proposal.get_by_role("button", name="Use this description").click()
    await expect(proposal).to_have_count(0)
    await expect(description).to_have_value(re.compile(r"^List every pet the shelter currently houses"))
    await page.get_by_role("button", name="Improve with AI the description of GET /pets/{petId}").click()
    other = page.get_by_test_id("proposal-getPet")
    await expect(other).to_contain_text("Look up one pet")
    # The JSON API has the same operation (an admin key here): the same prompt, the same proposal.
    async with httpx2.AsyncClient(headers=hub.admin.headers, timeout=60) as api:
        answer = await api.post(f"{base}/api/v1/servers/shelter/describe", json={"operation": "listPets"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["proposal"]["proposed"].startswith("List every pet the shelter currently houses")
    await other.get_by_role("button", name="Keep mine").click()
    await expect(other).to_have_count(0)
    await expect(page.get_by_label("Description for GET /pets/{petId}")).to_have_value(
        re.compile(r"^Get one pet by its id")
    )

    # The API key in a header; the base URL left to the source's server. Build version 2 — not deployed.
    await page.get_by_label("How the credential is sent").select_option("api_key")
    await page.get_by_label("Sent in").select_option("header")
    await page.get_by_label("Header, parameter or cookie name").fill("X-Shelter-Key")
    await page.get_by_label("Base URL").fill("")
    await page.get_by_role("button", name="Build version 2").click()
    await expect(page.get_by_test_id("versions").locator("tr[data-version='2']")).to_contain_text("built")
    await expect(page.get_by_test_id("deploy-status")).to_have_text("Not deployed")

    # The playground before deploy: version 2's tool against the sandbox, with a sandbox key (masked).
    await page.get_by_role("link", name="Playground").click()
    await expect(page.get_by_label("Call")).to_have_value("2")
    await page.get_by_label("Tool").select_option("get_pet")
    await page.get_by_role("button", name="Open").click()
    await page.get_by_label("petId (required)").fill("7")
    await page.get_by_label("Sandbox base URL").fill(sandbox.base_url)
    await page.get_by_label("Sandbox credential (optional)").fill("sbx-secret-7781")
    await check_page(page, "build-playground-sandbox")
    before = len(upstream.requests)
    await page.get_by_role("button", name="Call get_pet").click()
    await expect(page.get_by_test_id("upstream-request")).to_contain_text(f"GET {sandbox.base_url}/pets/7")
    await expect(page.get_by_test_id("upstream-status")).to_have_text("200")
    headers = page.get_by_test_id("upstream-headers")
    await expect(headers.locator("tr", has_text="X-Shelter-Key")).to_contain_text("(redacted)")
    await expect(page.get_by_test_id("call-time")).to_contain_text(" ms")
    await expect(page.get_by_test_id("call-result")).to_contain_text("Rex")
    assert "sbx-secret-7781" not in await page.content()
    assert sandbox.last().path == "/pets/7" and sandbox.last().headers["x-shelter-key"] == "sbx-secret-7781"
    assert len(upstream.requests) == before  # the source's server was never called
    await expect(page.get_by_label("Sandbox base URL")).to_have_value(sandbox.base_url)
    await check_page(page)
    async with httpx2.AsyncClient(headers=hub.admin.headers, timeout=60) as api:
        answer = await api.post(
            f"{base}/api/v1/servers/shelter/sandbox",
            json={
                "version": 2,
                "base_url": sandbox.base_url,
                "tool": "get_pet",
                "arguments": {"petId": "9"},
                "secret": "sbx-secret-7781",
            },
        )
        refused = await api.post(
            f"{base}/api/v1/servers/shelter/sandbox",
            json={"version": 2, "base_url": "ftp://sandbox", "tool": "get_pet", "arguments": {"petId": "9"}},
        )
    assert answer.status_code == 200, answer.text
    call = answer.json()["call"]
    assert call["ok"] and call["requests"][0]["url"] == f"{sandbox.base_url}/pets/9"
    assert call["requests"][0]["headers"]["X-Shelter-Key"].endswith("(redacted)") and "sbx-secret" not in answer.text
    assert refused.status_code == 422 and "absolute http(s) URL" in refused.json()["error"]["message"]

    # Regenerate with feedback: the proposal fails the hub's checks once, is fixed, and shows as a diff.
    await page.goto(f"{base}/build/shelter")
    await page.get_by_label("What should change?").fill("rename get_pet to fetch_pet")
    await page.get_by_role("button", name="Propose a change").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Animal Shelter: proposed change")
    await expect(page.get_by_test_id("proposal-summary")).to_contain_text("get_pet is now fetch_pet")
    await expect(page.get_by_test_id("proposal-fixed")).to_contain_text("getPetById")
    await expect(page.get_by_test_id("proposal-llm")).to_contain_text("2 requests")
    unified = page.get_by_test_id("spec-diff")
    await expect(unified.locator(".add", has_text="name: fetch_pet")).to_have_count(1)
    await expect(unified.locator(".del", has_text="name: get_pet")).to_have_count(1)
    await expect(unified.locator(".add", has_text="then fetch_pet for")).to_have_count(1)
    side_by_side = page.get_by_test_id("monaco-diff")
    await expect(side_by_side.locator(".monaco-diff-editor")).to_be_visible()
    await expect(side_by_side).to_have_attribute("data-changes", "2")  # the description's line and the tool's name
    await check_page(page, "build-regenerate")
    # Discard changes nothing; the same proposal applied is version 3, built.
    await page.get_by_role("link", name="Discard").click()
    await expect(page.get_by_test_id("versions").locator("tr[data-version='3']")).to_have_count(0)
    await page.get_by_label("What should change?").fill("rename get_pet to fetch_pet")
    await page.get_by_role("button", name="Propose a change").click()
    async with httpx2.AsyncClient(headers=hub.admin.headers, timeout=60) as api:
        answer = await api.post(
            f"{base}/api/v1/servers/shelter/proposals", json={"feedback": "rename get_pet to fetch_pet"}
        )
    assert answer.status_code == 200, answer.text
    assert "name: fetch_pet" in answer.json()["proposal"]["spec_yaml"]
    await page.get_by_role("button", name="Apply as version 3").click()
    await expect(page.get_by_role("status")).to_contain_text("Version 3 is saved and built: 2 tools")
    await expect(page.get_by_test_id("versions").locator("tr[data-version='3']")).to_contain_text(
        "regenerated: rename get_pet to fetch_pet"
    )

    # Any two versions side by side in Monaco's diff editor (the unified diff stays below).
    await page.goto(f"{base}/build/shelter/diff?a=1&b=3")
    await expect(side_by_side.locator(".monaco-diff-editor")).to_be_visible()
    await expect(side_by_side).to_have_attribute("data-changes", re.compile(r"^[1-9]"))
    original = await page.evaluate("window.specDiff.getModel().original.getValue()")
    modified = await page.evaluate("window.specDiff.getModel().modified.getValue()")
    assert "fetch_pet" not in original and "name: fetch_pet" in modified
    await check_page(page, "build-diff-side-by-side")


async def test_without_the_right_a_sandbox_on_a_private_address_is_refused(
    browser: Browser, hub: DashHub, sandbox: Upstream, root: Path
) -> None:
    async with desktop_tab(browser) as page:
        base = hub.base
        await sign_up(page, base, "member@example.com", "a long enough password")
        source = root / "member-shelter.yaml"
        source.write_text(drafted_shelter_openapi("https://api.shelter.example"))
        await _upload(page, base, source, "mine", private=False)
        await page.get_by_role("button", name="Build version 2").click()
        await expect(page.get_by_test_id("versions").locator("tr[data-version='2']")).to_contain_text("built")
        await page.get_by_role("link", name="Playground").click()
        await page.get_by_label("Tool").select_option("list_pets")
        await page.get_by_role("button", name="Open").click()
        await page.get_by_label("Sandbox base URL").fill(sandbox.base_url)
        before = len(sandbox.requests)
        await page.get_by_role("button", name="Call list_pets").click()
        result = page.get_by_test_id("call-result")
        await expect(result).to_contain_text("resolves to a private, loopback or reserved address")
        await expect(result).to_contain_text("needs an admin's integration")
        assert len(sandbox.requests) == before
        await check_page(page)
