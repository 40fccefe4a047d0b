"""The builder's docs-URL and git-repository tabs in Debian's Chromium against `mcphub serve`.

(a) A small documentation site served on 127.0.0.1 (three HTML pages describing the stand-in's shelter API) is
crawled by the hub, drafted by the local fake Messages API (a hand-written answer keyed by the exact request, with
the site's and the stand-in's ephemeral addresses aliased to the stable ones the recording names), reviewed with
each operation's docs page linked, built, deployed, and a tool called through the hub by an official MCP SDK
client reaches the stand-in with the key in the documented header.
(b) A tiny FastAPI app committed with `git` into a temp folder is cloned by the hub from its `file://` URL (an
admin allows private sources), its routes read with `file:line` on each review row, built, deployed, and a tool
reaches the same app served on 127.0.0.1. Without private sources allowed the clone is refused, saying what to
tick. The JSON API creates the same from the same URL. axe-core on the changed pages; no CSP refusal.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import pytest_asyncio
from builder.fake_messages_api import FakeMessagesApi, fake_messages_api
from playwright.async_api import Browser, Page, expect
from runtime.support import Upstream, mcp_client, serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from .conftest import PASSWORD as ADMIN_PASSWORD
from .dashboard import DashHub, check_page, dashboard_hub, desktop_tab, llm_env, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")

DOCS_SITE = "https://docs.shelter.example"  # what the recording names for the local docs site
API_BASE = "https://api.shelter.example/v1"  # and for the stand-in API

APP = '''\
from fastapi import FastAPI

app = FastAPI(title="Shelter")


@app.get("/pets")
def list_pets() -> list[dict[str, str]]:
    """List the pets in the shelter."""
    return [{"id": "1", "name": "Rex"}]


@app.get("/pets/{pet_id}")
def get_pet(pet_id: str) -> dict[str, str]:
    """Get one pet by its id."""
    return {"id": pet_id, "name": "Rex"}
'''


def docs_pages(api_base: str) -> dict[str, str]:
    return {
        "/docs/index.html": f"""<html><head><title>Shelter API</title></head><body>
<nav><a href="/docs/index.html">Home</a></nav>
<main><h1>Shelter API</h1><p>Base URL: <code>{api_base}</code>. Send your key in the <code>X-Shelter-Key</code>
header.</p><ul><li><a href="pets.html">Pets</a></li><li><a href="adoptions.html">Adoptions</a></li></ul></main>
</body></html>""",
        "/docs/pets.html": """<html><head><title>Pets</title></head><body><main>
<h2>List the pets</h2><pre><code>GET /pets</code></pre><p>Every pet the shelter houses, with its id and name.</p>
<h2>Get one pet</h2><pre><code>GET /pets/{pet_id}</code></pre><p>One pet by its id.</p></main></body></html>""",
        "/docs/adoptions.html": """<html><head><title>Adoptions</title></head><body><main>
<h2>Remove an adopted pet</h2><pre><code>DELETE /pets/{pet_id}</code></pre><p>Removes the pet from the
shelter's list once adopted.</p></main></body></html>""",
    }


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sources")


@pytest.fixture(scope="module")
def llm() -> Iterator[tuple[str, FakeMessagesApi]]:
    with fake_messages_api() as served:
        yield served


@pytest.fixture(scope="module")
def hub(upstream: Upstream, root: Path, llm: tuple[str, FakeMessagesApi]) -> Iterator[DashHub]:
    with dashboard_hub(root, upstream, **llm_env(llm[0])) as running:
        yield running


@pytest.fixture(scope="module")
def docs_site(upstream: Upstream) -> Iterator[str]:
    pages = docs_pages(upstream.base_url)

    async def page(request: Request) -> Response:
        path = request.url.path
        if path in pages:
            return HTMLResponse(pages[path])
        return PlainTextResponse("not found", status_code=404)  # robots.txt too: nothing is disallowed

    with serve(Starlette(routes=[Route("/{path:path}", page)])) as base:
        yield base


@pytest.fixture(scope="module")
def repository(root: Path) -> Path:
    """A git repository of the tiny FastAPI app, made here with `git` (one commit)."""
    folder = root / "shelter-app"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    git = ["git", "-C", str(folder), "-c", "user.name=Test", "-c", "user.email=test@example.com"]
    for command in (
        ["init", "--quiet", "--initial-branch=main"],
        ["add", "app.py"],
        ["commit", "--quiet", "-m", "app"],
    ):
        subprocess.run([*git, *command], check=True)
    return folder


@pytest.fixture(scope="module")
def app_base(repository: Path) -> Iterator[str]:
    """The same app, run for real on 127.0.0.1: what the tools built from its repository call."""
    spec = importlib.util.spec_from_file_location("shelter_app_under_test", repository / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with serve(module.app) as base:
        yield base


@pytest_asyncio.fixture(loop_scope="module")
async def tab(browser: Browser, hub: DashHub) -> AsyncIterator[Page]:
    async with desktop_tab(browser) as page:
        yield page


async def _build_and_deploy(page: Page, name: str) -> None:
    await page.get_by_role("button", name="Build version 2").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(name)
    await expect(page.get_by_test_id("versions").locator("tr[data-version='2']")).to_contain_text("built")
    await page.get_by_role("button", name="Deploy version 2").first.click()
    await expect(page.get_by_test_id("deploy-status")).to_have_text("Version 2 deployed")


def _line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


async def test_a_docs_site_is_drafted_with_its_pages_reviewed_deployed_and_called(
    tab: Page, hub: DashHub, upstream: Upstream, docs_site: str, llm: tuple[str, FakeMessagesApi]
) -> None:
    page, base = tab, hub.base
    llm[1].aliases.update({docs_site: DOCS_SITE, upstream.base_url: API_BASE})
    asked = len(llm[1].requests)
    await sign_in(page, base, hub.admin.email, ADMIN_PASSWORD)
    await page.goto(f"{base}/build")
    await page.get_by_role("link", name="Docs URL").click()
    await page.get_by_label("URL of the API's documentation").fill(f"{docs_site}/docs/index.html")
    await page.get_by_label("Slug (optional)").fill("shelter-docs")
    await page.get_by_label("Let the build and the tools reach private addresses").check()
    await check_page(page, "build-docs")
    await page.get_by_role("button", name="Read the source").click()

    # The review: the crawl's pages, the LLM's draft with its tokens and cost, each operation's page linked.
    await expect(page.get_by_role("heading", level=1)).to_have_text("Review Shelter API")
    stages = page.get_by_test_id("stages")
    await expect(stages.locator("tr", has_text="fetch")).to_contain_text("3 pages")
    analyze = stages.locator("tr", has_text="analyze")
    await expect(analyze).to_contain_text("LLM draft")
    await expect(analyze).to_contain_text(re.compile(r"[\d,]+ in / [\d,]+ out, \$\d+\.\d{4}"))
    assert len(llm[1].requests) == asked + 1
    for operation, where in (("list_pets", "pets"), ("get_pet", "pets"), ("remove_pet", "adoptions")):
        origin = page.get_by_test_id(f"origin-{operation}")
        url = f"{docs_site}/docs/{where}.html"
        await expect(origin).to_have_text(f"Found in {url}")
        await expect(origin.get_by_role("link", name=url)).to_have_attribute("href", url)
    await expect(page.get_by_label("Use DELETE /pets/{pet_id}")).not_to_be_checked()
    await expect(page.get_by_label("Use GET /pets/{pet_id}")).to_be_checked()
    await expect(page.get_by_label("How the credential is sent")).to_have_value("api_key")
    await expect(page.get_by_label("Header, parameter or cookie name")).to_have_value("X-Shelter-Key")
    await check_page(page, "build-review-docs")
    await _build_and_deploy(page, "Shelter API")

    # The user's key, then a call through the hub reaches the stand-in with it in the documented header.
    await page.goto(f"{base}/integrations/shelter-docs")
    await page.get_by_label("API key").fill("k-docs-5")
    await page.get_by_role("button", name=re.compile("^(Save|Connect)")).first.click()
    await expect(page.get_by_test_id("status")).to_have_text("Ready")
    async with mcp_client(f"{base}/mcp", hub.admin.key) as client:
        names = {tool.name for tool in (await client.list_tools()).tools if tool.name.startswith("shelter-docs__")}
        assert names == {"shelter-docs__list_pets", "shelter-docs__get_pet"}
        result = await client.call_tool("shelter-docs__get_pet", {"pet_id": "7"})
    assert result.is_error is False, result
    assert upstream.last().path == "/pets/7" and upstream.last().headers["x-shelter-key"] == "k-docs-5"


async def test_a_git_repository_is_read_with_file_and_line_reviewed_deployed_and_called(
    tab: Page, hub: DashHub, repository: Path, app_base: str
) -> None:
    page, base = tab, hub.base
    url = repository.as_uri()
    await sign_in(page, base, hub.admin.email, ADMIN_PASSWORD)
    await page.goto(f"{base}/build")
    await page.get_by_role("link", name="Git repository").click()
    await page.get_by_label("Git repository URL").fill(url)
    await page.get_by_label("Slug (optional)").fill("shelter-repo")
    await page.get_by_label("Base URL (optional)").fill(app_base)

    # Without private sources allowed, a repository on the hub's machine is not cloned; the page says what to tick.
    await page.get_by_role("button", name="Read the source").click()
    await expect(page.get_by_test_id("failure")).to_contain_text("The fetch stage failed.")
    await expect(page.get_by_test_id("failure-message")).to_contain_text(
        "only when “Let the build and the tools reach private addresses” is ticked (admins)"
    )
    await expect(page.get_by_test_id("failure")).to_contain_text("A repository on this machine (file://)")
    await check_page(page)

    await page.get_by_label("Git repository URL").fill(url)
    await page.get_by_label("Slug (optional)").fill("shelter-repo")
    await page.get_by_label("Base URL (optional)").fill(app_base)
    await page.get_by_label("Let the build and the tools reach private addresses").check()
    await check_page(page, "build-repo")
    await page.get_by_role("button", name="Read the source").click()

    # The review: cloned at its commit, the routes read, each row with the file and line it was found at.
    await expect(page.get_by_role("heading", level=1)).to_have_text("Review shelter-app")
    commit = subprocess.run(
        ["git", "-C", str(repository), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    stages = page.get_by_test_id("stages")
    await expect(stages.locator("tr", has_text="fetch")).to_contain_text(f"cloned {url} at {commit[:12]}")
    await expect(stages.locator("tr", has_text="analyze")).to_contain_text("FastAPI routes: 2 operations")
    for operation in ("list_pets", "get_pet"):
        line = _line_of(APP, f"def {operation}(")
        await expect(page.get_by_test_id(f"origin-{operation}")).to_have_text(f"Found in app.py:{line}")
    await check_page(page, "build-review-repo")
    await _build_and_deploy(page, "shelter-app")

    async with mcp_client(f"{base}/mcp", hub.admin.key) as client:
        names = {tool.name for tool in (await client.list_tools()).tools if tool.name.startswith("shelter-repo__")}
        assert names == {"shelter-repo__list_pets", "shelter-repo__get_pet"}
        result = await client.call_tool("shelter-repo__get_pet", {"pet_id": "7"})
    assert result.is_error is False, result
    assert result.structured_content == {"id": "7", "name": "Rex"}

    # The JSON API takes the same source (kind url, as_kind repo).
    body: dict[str, Any] = {
        "source": {"kind": "url", "url": url, "as_kind": "repo"},
        "slug": "shelter-repo-api",
        "base_url": app_base,
        "allow_private_network": True,
    }
    async with httpx2.AsyncClient(headers=hub.admin.headers, timeout=60) as api:
        created = await api.post(f"{base}/api/v1/servers", json=body)
        draft = await api.get(f"{base}/api/v1/servers/shelter-repo-api/draft")
    assert created.status_code == 201, created.text
    assert [stage["stage"] for stage in created.json()["stages"]] == ["fetch", "analyze"]
    origins = {op["operation"]: op["origin"] for op in draft.json()["draft"]["operations"]}
    assert origins == {name: f"app.py:{_line_of(APP, f'def {name}(')}" for name in ("list_pets", "get_pet")}
