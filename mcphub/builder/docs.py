"""API documentation → the pages' text → (LLM) → a draft of the API, each operation citing the page it came from.

The crawl is bounded and polite: one site (the start URL's host and path prefix), `robots.txt` obeyed, at most
`max_pages` pages and `max_bytes` in all, every fetch under the hub's egress rules (`fetch.fetch_url`). A local
folder of `.html`/`.md` files works the same without a network. Pages become Markdown with markdownify (code blocks
and tables survive: that is where endpoints are written down), navigation and scripts dropped. The pages are
untrusted text: the LLM is told so, and what it drafts is judged by the compiler like any description.
"""

from __future__ import annotations

import re
import urllib.robotparser
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup
from markdownify import markdownify

from mcphub.builder.fetch import FetchError, fetch_url
from mcphub.compiler.errors import SourceError
from mcphub.compiler.llm import LLM
from mcphub.compiler.sources.text import TextBuild, draft_from_text

__all__ = ["DocsPage", "crawl_docs", "draft_from_docs", "read_docs_folder"]

MAX_PAGES = 30
MAX_TOTAL_BYTES = 4 * 1024 * 1024
MAX_TEXT_CHARS = 150_000  # what the LLM is given, all pages together
_DROPPED_TAGS = ("script", "style", "nav", "header", "footer", "aside", "noscript", "svg", "form", "iframe")


@dataclass
class DocsPage:
    location: str  # URL or file path
    title: str
    markdown: str


@dataclass
class Crawl:
    pages: list[DocsPage] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # what was not read, and why


def html_to_markdown(html: str) -> tuple[str, str]:
    """(title, Markdown of the main content) of an HTML page."""
    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else ""
    for tag in soup(list(_DROPPED_TAGS)):
        tag.decompose()
    main = soup.find("main") or soup.find("article") or soup.body or soup
    text = markdownify(str(main), heading_style="ATX", code_language="")
    return title, re.sub(r"\n{3,}", "\n\n", text).strip()


async def crawl_docs(
    start: str, *, max_pages: int = MAX_PAGES, max_bytes: int = MAX_TOTAL_BYTES, allow_private: bool = False
) -> Crawl:
    """Same-site, breadth-first, robots.txt-obeying crawl from `start`."""
    origin = urlsplit(start)
    prefix = origin.path.rsplit("/", 1)[0] + "/"
    robots = await _robots(start, allow_private)
    crawl = Crawl()
    queue: deque[str] = deque([urldefrag(start)[0]])
    seen = set(queue)
    spent = 0
    while queue and len(crawl.pages) < max_pages:
        url = queue.popleft()
        if robots is not None and not robots.can_fetch("mcphub-builder", url):
            crawl.skipped.append(f"{url}: disallowed by robots.txt")
            continue
        try:
            fetched = await fetch_url(
                url,
                max_bytes=max(1, max_bytes - spent),
                allow_private=allow_private,
                accept="text/html,text/markdown;q=0.9,*/*;q=0.1",
            )
        except FetchError as exc:
            if url == start:
                raise SourceError(f"the docs could not be read: {exc}") from None
            crawl.skipped.append(str(exc))
            continue
        spent += len(fetched.body)
        text = fetched.text()
        if fetched.content_type in ("text/markdown", "text/plain"):
            crawl.pages.append(DocsPage(fetched.final_url, url.rsplit("/", 1)[-1], text))
            continue
        title, markdown = html_to_markdown(text)
        crawl.pages.append(DocsPage(fetched.final_url, title, markdown))
        for link in BeautifulSoup(text, "html.parser").find_all("a", href=True):
            target = urldefrag(urljoin(fetched.final_url, str(link["href"])))[0]
            parts = urlsplit(target)
            if parts.hostname == origin.hostname and parts.path.startswith(prefix) and target not in seen:
                seen.add(target)
                queue.append(target)
        if spent >= max_bytes:
            crawl.skipped.append(f"stopped after {spent:,} bytes (the limit is {max_bytes:,})")
            break
    if queue and len(crawl.pages) >= max_pages:
        crawl.skipped.append(f"stopped after {max_pages} pages; {len(queue)} more links were not followed")
    return crawl


async def _robots(start: str, allow_private: bool) -> urllib.robotparser.RobotFileParser | None:
    parts = urlsplit(start)
    try:
        fetched = await fetch_url(
            f"{parts.scheme}://{parts.netloc}/robots.txt", max_bytes=512 * 1024, allow_private=allow_private
        )
    except FetchError:
        return None  # no robots.txt: nothing is disallowed
    parser = urllib.robotparser.RobotFileParser()
    parser.parse(fetched.text().splitlines())
    return parser


def read_docs_folder(folder: Path, *, max_pages: int = MAX_PAGES) -> Crawl:
    """The `.html`, `.htm`, `.md` and `.txt` files of a local folder, as a crawl would give them."""
    crawl = Crawl()
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.suffix.lower() not in (".html", ".htm", ".md", ".txt"):
            continue
        if len(crawl.pages) >= max_pages:
            crawl.skipped.append(f"{path}: over {max_pages} pages, not read")
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix.lower() in (".html", ".htm"):
            title, text = html_to_markdown(text)
        else:
            title = path.stem
        crawl.pages.append(DocsPage(str(path.relative_to(folder)), title, text))
    if not crawl.pages:
        raise SourceError(f"{folder}: no .html, .md or .txt pages to read")
    return crawl


def draft_from_docs(crawl: Crawl, llm: LLM, *, slug: str, where: str) -> TextBuild:
    """The pages, each under its location, given to the text source's LLM draft (which cites them per operation)."""
    parts = []
    used = 0
    for page in crawl.pages:
        block = f"<page location={page.location!r} title={page.title!r}>\n{page.markdown}\n</page>"
        if used + len(block) > MAX_TEXT_CHARS:
            crawl.skipped.append(f"{page.location}: left out, the pages before it fill the LLM's input")
            continue
        parts.append(block)
        used += len(block)
    text = (
        "The API's documentation, page by page. Set each operation's `evidence` to the location of the page "
        "that documents it.\n\n" + "\n\n".join(parts)
    )
    return draft_from_text(text, llm, slug=slug, where=where)
