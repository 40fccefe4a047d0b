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

from bs4 import BeautifulSoup, Tag
from markdownify import markdownify

from mcphub.builder.fetch import FetchError, fetch_url
from mcphub.compiler.errors import SourceError
from mcphub.compiler.llm import LLM
from mcphub.compiler.sources.text import TextBuild, draft_from_text

__all__ = ["DocsPage", "crawl_docs", "draft_from_docs", "read_docs_folder"]

MAX_PAGES = 30
MAX_TOTAL_BYTES = 4 * 1024 * 1024
MAX_TEXT_CHARS = 150_000  # what the LLM is given, all pages together
_PAGE_TAG = re.compile(r"</?\s*page\b", re.IGNORECASE)
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
    suspicious: dict[str, str] = field(default_factory=dict)  # page location -> the text addressed to an AI
    notes: list[str] = field(default_factory=list)  # what a reviewer should check in the draft

    def add(self, page: DocsPage) -> None:
        self.pages.append(page)
        found = find_instructions(page.markdown)
        if found is not None:
            self.suspicious[page.location] = found

    def warnings(self) -> list[str]:
        suspicions = [_suspicion(location, text) for location, text in self.suspicious.items()]
        return [*self.skipped, *suspicions, *self.notes]


# Text in a page that speaks to a model instead of describing an API. Matching it proves nothing (the LLM is told
# the pages are untrusted, and the compiler judges its draft); it is said to the reviewer, naming the page.
_INSTRUCTIONS = re.compile(
    r"(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+)?(?:the\s+|your\s+)?"
    r"(?:previous|prior|above|earlier|preceding|system|original)\s+(?:instructions|prompts?|rules|directions)"
    r"|\byou\s+are\s+(?:now\s+)?(?:an?\s+)?(?:ai|assistant|language\s+model|llm|chatbot|claude|chatgpt)\b"
    r"|\b(?:new|updated|real)\s+instructions\s*:"
    r"|</?\s*(?:system|assistant|instructions?|page|api_description)\s*>"
    r"|\b(?:note|message)\s+(?:to|for)\s+(?:the\s+)?(?:ai|llm|assistant|model|language\s+model)\b",
    re.IGNORECASE,
)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0", re.IGNORECASE)


def _suspicion(location: str, text: str) -> str:
    return (
        f"{location}: the page holds text addressed to an AI ({text!r}); it was given to the LLM as data only — "
        "check the operations drafted from this page"
    )


def find_instructions(text: str) -> str | None:
    """The first passage of `text` that reads like instructions to a model, with a little context, if any."""
    match = _INSTRUCTIONS.search(text)
    if match is None:
        return None
    return " ".join(text[match.start() : match.end() + 60].split())


def _hidden(tag: Tag) -> bool:
    return tag.has_attr("hidden") or bool(_HIDDEN_STYLE.search(str(tag.get("style", ""))))


def html_to_markdown(html: str) -> tuple[str, str]:
    """(title, Markdown of the main content) of an HTML page."""
    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else ""
    for tag in soup(list(_DROPPED_TAGS)):
        tag.decompose()
    # What a reader never sees is no documentation, and it is where instructions to a model hide.
    for tag in soup.find_all(_hidden):
        if not tag.decomposed:
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
            crawl.add(DocsPage(fetched.final_url, url.rsplit("/", 1)[-1], text))
            continue
        title, markdown = html_to_markdown(text)
        crawl.add(DocsPage(fetched.final_url, title, markdown))
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
        crawl.add(DocsPage(str(path.relative_to(folder)), title, text))
    if not crawl.pages:
        raise SourceError(f"{folder}: no .html, .md or .txt pages to read")
    return crawl


def draft_from_docs(crawl: Crawl, llm: LLM, *, slug: str, where: str) -> TextBuild:
    """The pages, each under its location, given to the text source's LLM draft (which cites them per operation)."""
    parts = []
    used = 0
    for page in crawl.pages:
        body = _PAGE_TAG.sub(lambda m: m.group(0).replace("<", "&lt;"), page.markdown)  # no page closes its block
        block = f"<page location={page.location!r} title={page.title!r}>\n{body}\n</page>"
        if used + len(block) > MAX_TEXT_CHARS:
            crawl.skipped.append(f"{page.location}: left out, the pages before it fill the LLM's input")
            continue
        parts.append(block)
        used += len(block)
    text = (
        "The API's documentation, page by page. Set each operation's `evidence` to the location of the page "
        "that documents it.\n\n" + "\n\n".join(parts)
    )
    build = draft_from_text(text, llm, slug=slug, where=where)
    crawl.notes.extend(_review_notes(crawl, build, where))
    return build


def _review_notes(crawl: Crawl, build: TextBuild, where: str) -> list[str]:
    """What the draft claims that the pages do not back: a cited page that was not read or that speaks to an AI,
    and a base URL off the docs' own domain (where a planted page would send the calls)."""
    notes = []
    locations = {page.location for page in crawl.pages}
    for op in build.draft.operations:
        name = f"operation {op.operation_id} ({op.method} {op.path})"
        if not op.evidence:
            notes.append(f"{where}: {name} cites no page; check the docs really describe it")
        elif op.evidence not in locations:
            notes.append(f"{where}: {name} cites {op.evidence}, which was not read; check it")
        elif op.evidence in crawl.suspicious:
            notes.append(f"{op.evidence}: {name} was drafted from this page, which speaks to an AI; check it")
    site, api = urlsplit(where).hostname, urlsplit(build.draft.base_url).hostname
    if site and api and _domain(site) != _domain(api):
        notes.append(
            f"{where}: the drafted base URL {build.draft.base_url} is not on the docs' domain ({_domain(site)}); "
            "check that the API really runs there before connecting a credential"
        )
    return notes


def _domain(host: str) -> str:
    return ".".join(host.split(".")[-2:])
