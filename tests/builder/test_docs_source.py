"""API documentation as a source: a bounded, polite crawl of a local docs site, then the LLM's draft citing pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from runtime.support import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from builder.fake_messages_api import fake_messages_api
from mcphub.builder.docs import crawl_docs, draft_from_docs, html_to_markdown
from mcphub.builder.fetch import FetchError, fetch_url
from mcphub.compiler.llm import llm_from_env

PAGES = {
    "/docs/index.html": """<html><head><title>Parcel API</title></head><body>
<nav><a href="/docs/index.html">Home</a> <a href="https://elsewhere.example/">Partner</a></nav>
<main><h1>Parcel API</h1><p>Base URL: <code>https://api.parcel.example/v1</code>. Send your key in the
<code>X-Parcel-Key</code> header.</p>
<ul><li><a href="shipments.html">Shipments</a></li><li><a href="tracking.html#events">Tracking</a></li>
<li><a href="internal.html">Internal</a></li></ul></main>
<script>track()</script></body></html>""",
    "/docs/shipments.html": """<html><head><title>Shipments</title></head><body><main>
<h2>Create a shipment</h2><pre><code>POST /shipments
{"to": "Ada Lovelace, 12 St James's Sq, London", "weight_grams": 1200}</code></pre>
<table><tr><th>Field</th><th>Type</th></tr><tr><td>to</td><td>string, required</td></tr>
<tr><td>weight_grams</td><td>integer, required</td></tr></table>
<h2>Cancel a shipment</h2><pre><code>DELETE /shipments/{shipment_id}</code></pre></main></body></html>""",
    "/docs/tracking.html": """<html><head><title>Tracking</title></head><body><main>
<h2 id="events">Tracking events</h2><p><code>GET /shipments/{shipment_id}/events</code> lists the tracking
events of a shipment, newest first.</p></main></body></html>""",
    "/docs/internal.html": "<html><body><main>GET /admin/everything — staff only</main></body></html>",
}


async def docs_site(request: Request) -> Response:
    path = request.url.path
    if path == "/robots.txt":
        return PlainTextResponse("User-agent: *\nDisallow: /docs/internal.html\n")
    if path == "/docs/moved":
        return RedirectResponse("https://elsewhere.example/docs", status_code=302)
    if path == "/docs/huge":
        return PlainTextResponse("x" * 2_000_000)
    if path in PAGES:
        return HTMLResponse(PAGES[path])
    return PlainTextResponse("not found", status_code=404)


@pytest.fixture
def site() -> Iterator[str]:
    app = Starlette(routes=[Route("/{path:path}", docs_site)])
    with serve(app) as base:
        yield base


def test_html_becomes_markdown_with_code_and_tables_and_without_navigation() -> None:
    title, markdown = html_to_markdown(PAGES["/docs/shipments.html"])
    assert title == "Shipments"
    assert "POST /shipments" in markdown and "| to | string, required |" in markdown
    _, index = html_to_markdown(PAGES["/docs/index.html"])
    assert "Partner" not in index and "track()" not in index


async def test_the_crawl_stays_on_the_site_obeys_robots_and_keeps_to_its_limits(site: str) -> None:
    crawl = await crawl_docs(f"{site}/docs/index.html", allow_private=True)
    assert [page.location.removeprefix(site) for page in crawl.pages] == [
        "/docs/index.html",
        "/docs/shipments.html",
        "/docs/tracking.html",
    ]
    assert any("internal.html: disallowed by robots.txt" in skipped for skipped in crawl.skipped)
    small = await crawl_docs(f"{site}/docs/index.html", allow_private=True, max_pages=2)
    assert len(small.pages) == 2 and "stopped after 2 pages" in small.skipped[-1]


async def test_fetches_refuse_private_addresses_other_hosts_and_oversized_answers(site: str) -> None:
    with pytest.raises(FetchError, match="private, loopback or reserved address"):
        await fetch_url(f"{site}/docs/index.html")
    with pytest.raises(FetchError, match="redirected to another host"):
        await fetch_url(f"{site}/docs/moved", allow_private=True)
    with pytest.raises(FetchError, match="over the 1,000,000-byte limit"):
        await fetch_url(f"{site}/docs/huge", allow_private=True, max_bytes=1_000_000)
    with pytest.raises(FetchError, match="only http"):
        await fetch_url("file:///etc/passwd")


async def test_the_draft_cites_the_page_of_each_operation(site: str) -> None:
    crawl = await crawl_docs(f"{site}/docs/index.html", allow_private=True)
    for page in crawl.pages:  # the recorded answer was written for these locations
        page.location = page.location.replace(site, "https://docs.parcel.example")
    with fake_messages_api() as (base_url, _):
        llm = llm_from_env({"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": base_url})
        build = draft_from_docs(crawl, llm, slug="parcel", where="https://docs.parcel.example/docs/index.html")
    paths = build.document["paths"]
    assert paths["/shipments"]["post"]["x-mcphub-source"] == "https://docs.parcel.example/docs/shipments.html"
    assert paths["/shipments/{shipment_id}/events"]["get"]["x-mcphub-source"].endswith("/docs/tracking.html")
    assert "/admin/everything" not in paths  # robots.txt kept that page out of the LLM's input
    assert build.integration.base_url == "https://api.parcel.example/v1"
    assert [(s.type, s.location, s.param_name) for s in build.integration.auth] == [
        ("api_key", "header", "X-Parcel-Key")
    ]
    cancel = next(tool for tool in build.integration.tools if tool.name == "cancel_shipment")
    assert cancel.annotations.destructive_hint is True
