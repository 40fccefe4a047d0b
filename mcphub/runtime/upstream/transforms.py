"""Response shaping declared in specs (`response:`): named transforms and `keep` projections of JSON answers.

A spec says what an agent should get back from a tool; this module turns that declaration into one function,
built once when the integration is mounted (`shaper_for`) and applied by `runtime.http` to each successful JSON
answer. Transforms are total: an answer of an unexpected shape passes through unchanged rather than failing the
call, because the agent can still read it and `full_response` always returns the untouched answer anyway.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from html.parser import HTMLParser
from typing import Any

from mcphub.compiler.ir import ResponseShape

__all__ = ["TRANSFORMS", "compile_keep", "gmail_draft", "gmail_message", "gmail_thread", "html_to_text", "shaper_for"]

Shaper = Callable[[Any], Any]

# --- keep: projection onto dotted paths -------------------------------------------------------------------------

_Tree = dict[str, "_Tree | None"]  # None: keep this whole value


def compile_keep(paths: list[str]) -> Shaper:
    """A function keeping only `paths` ("user.login", "labels.name") of an answer; arrays are mapped item by item."""
    tree: _Tree = {}
    for path in paths:
        node = tree
        *parents, leaf = path.split(".")
        for key in parents:
            child = node.get(key, {})
            if child is None:  # a shorter path already keeps the whole subtree
                break
            node[key] = child
            node = child
        else:
            node[leaf] = None

    def keep(value: Any) -> Any:
        return _project(value, tree)

    return keep


def _project(value: Any, tree: _Tree) -> Any:
    if isinstance(value, list):
        return [_project(item, tree) for item in value]
    if not isinstance(value, dict):
        return value  # a scalar (often null) where the paths expect an object: nothing to trim
    result = {}
    for key, subtree in tree.items():
        if key in value:
            item = value[key]
            result[key] = item if subtree is None else _project(item, subtree)
    return result


# --- Gmail ---------------------------------------------------------------------------------------------------------

# The headers an agent reads, triages or replies with (Message-ID goes into In-Reply-To/References of a reply).
_GMAIL_HEADERS = ("From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "References")
_WANTED_HEADERS = {name.lower(): name for name in _GMAIL_HEADERS}
_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)


def _b64url(data: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return None


def _part_headers(part: Mapping[str, Any]) -> dict[str, str]:
    headers = part.get("headers")
    found: dict[str, str] = {}
    if isinstance(headers, list):
        for header in headers:
            if isinstance(header, Mapping) and isinstance(header.get("name"), str):
                found.setdefault(header["name"].lower(), str(header.get("value", "")))
    return found


def _part_text(part: Mapping[str, Any]) -> str | None:
    body = part.get("body")
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, str):
        return None
    raw = _b64url(data)
    if raw is None:
        return None
    match = _CHARSET.search(_part_headers(part).get("content-type", ""))
    charset = match.group(1) if match else "utf-8"
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:  # a charset Python doesn't know: UTF-8 is the likeliest
        return raw.decode("utf-8", errors="replace")


def _walk(part: Mapping[str, Any], texts: dict[str, list[str]], attachments: list[dict[str, Any]]) -> None:
    mime = str(part.get("mimeType", "")).lower()
    raw_body = part.get("body")
    body: Mapping[str, Any] = raw_body if isinstance(raw_body, Mapping) else {}
    filename = part.get("filename")
    if filename or body.get("attachmentId"):
        attachments.append(
            {
                "filename": filename or "",
                "mimeType": part.get("mimeType"),
                "size": body.get("size"),
                "attachmentId": body.get("attachmentId"),
                "partId": part.get("partId"),
            }
        )
    elif mime in ("text/plain", "text/html"):
        text = _part_text(part)
        if text:
            texts[mime].append(text)
    children = part.get("parts")
    if isinstance(children, list):
        for child in children:
            if isinstance(child, Mapping):
                _walk(child, texts, attachments)


def gmail_message(value: Any) -> Any:
    """A Gmail Message with its headers that matter and its text body decoded (text/plain, else HTML as text).

    `format: raw` and `minimal` answers carry no payload and pass through unchanged.
    """
    if not isinstance(value, dict) or not isinstance(value.get("payload"), Mapping):
        return value
    payload = value["payload"]
    texts: dict[str, list[str]] = {"text/plain": [], "text/html": []}
    attachments: list[dict[str, Any]] = []
    _walk(payload, texts, attachments)
    headers = {_WANTED_HEADERS[k]: v for k, v in _part_headers(payload).items() if k in _WANTED_HEADERS}
    result = {key: value[key] for key in ("id", "threadId", "labelIds", "snippet", "internalDate") if key in value}
    result["headers"] = headers
    if texts["text/plain"]:
        result["body"] = "\n\n".join(texts["text/plain"])
        result["bodyFormat"] = "text/plain"
    elif texts["text/html"]:
        result["body"] = "\n\n".join(html_to_text(html) for html in texts["text/html"])
        result["bodyFormat"] = "text/html converted to text"
    if attachments:
        result["attachments"] = attachments
    return result


def gmail_thread(value: Any) -> Any:
    """A Gmail Thread whose `messages` are shaped as by `gmail_message`."""
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        return {**value, "messages": [gmail_message(message) for message in value["messages"]]}
    return value


def gmail_draft(value: Any) -> Any:
    """A Gmail Draft whose `message` is shaped as by `gmail_message`."""
    if isinstance(value, dict) and isinstance(value.get("message"), dict):
        return {**value, "message": gmail_message(value["message"])}
    return value


# --- HTML as text ----------------------------------------------------------------------------------------------------

_BLOCKS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)
_SKIPPED = frozenset({"script", "style", "head", "title", "template", "noscript"})
_CELLS = frozenset({"td", "th"})  # cells of a row stay on the row's line
_LINES = frozenset({"li", "br", "tr"})  # one line each: no blank line after them


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0
        self._href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip += 1
        elif tag in _CELLS:
            self.chunks.append(" ")
        elif tag in _BLOCKS:
            self.chunks.append("\n")
        if tag == "li":
            self.chunks.append("- ")
        if tag == "a":
            self._href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS and tag not in _LINES and tag not in _CELLS:
            self.chunks.append("\n")
        if tag == "a" and self._href:
            href = self._href.pop()
            # Links are often the point of a mail ("confirm", "view invoice"): keep where they go.
            if href and href.startswith(("http://", "https://")) and href not in self.chunks[-1:]:
                self.chunks.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def html_to_text(html: str) -> str:
    """Readable text of an HTML mail body: no tags, scripts or styles; blocks on their own lines; links kept."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.chunks).splitlines())
    text = "\n".join(lines)  # whitespace runs (nbsp included) are one space; at most one blank line in a row
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- registry --------------------------------------------------------------------------------------------------------

TRANSFORMS: dict[str, Shaper] = {
    "gmail_message": gmail_message,
    "gmail_thread": gmail_thread,
    "gmail_draft": gmail_draft,
}


def _each_of(key: str, keep: Shaper) -> Shaper:
    def each(value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get(key), list):
            return {**value, key: keep(value[key])}
        return value

    return each


def shaper_for(shape: ResponseShape) -> Shaper:
    """The one function applying `shape` (its transform, then its projection) to a JSON answer."""
    transform = TRANSFORMS[shape.transform] if shape.transform else None
    keep = compile_keep(shape.keep) if shape.keep else None
    if keep is not None and shape.items:
        keep = _each_of(shape.items, keep)
    if transform is not None and keep is not None:
        first, second = transform, keep
        return lambda value: second(first(value))
    if transform is not None:
        return transform
    if keep is not None:
        return keep
    return lambda value: value
