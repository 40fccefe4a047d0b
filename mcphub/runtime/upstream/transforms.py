"""Transforms declared in specs: response shaping (`response:`) and request building from friendly arguments (`input:`).

A spec says what an agent should get back from a tool; this module turns that declaration into one function,
built once when the integration is mounted (`shaper_for`) and applied by `upstream/response.py` to each successful JSON
answer. Response transforms are total: an answer of an unexpected shape passes through unchanged rather than failing
the call, because the agent can still read it and `full_response` always returns the untouched answer anyway. One
may answer a `ToolOutput` error instead of a value, for APIs that report failures inside a 200 (Slack's `ok: false`).

Input transforms (`build_input`) run before a request is built: the agent gives friendly fields (recipients and a
text body; a file's text) and the transform builds the body fields the API wants (a base64url MIME message; base64
content and the current blob's sha), reading what it needs from the API with the caller's own credential.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from html.parser import HTMLParser
from typing import Any

from mcphub.compiler.ir import InputShape, ResponseShape
from mcphub.runtime.package import ToolOutput

__all__ = [
    "INPUT_TRANSFORMS",
    "TRANSFORMS",
    "InputError",
    "Lookup",
    "Outgoing",
    "PostBytes",
    "RawBody",
    "build_input",
    "compile_keep",
    "drive_upload",
    "github_content",
    "github_file",
    "gmail_compose",
    "gmail_draft",
    "gmail_message",
    "gmail_thread",
    "html_to_text",
    "shaper_for",
    "slack_ok",
    "slack_upload",
]

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


# --- GitHub ----------------------------------------------------------------------------------------------------------

_GITHUB_ENTRY = ("type", "name", "path", "sha", "size", "html_url")
_GITHUB_FILE = (*_GITHUB_ENTRY, "encoding", "content", "target", "submodule_git_url")


def github_content(value: Any) -> Any:
    """A GitHub content answer an agent can read: a file's text instead of base64, a directory's entries only.

    A file that is not UTF-8 text (an image, an archive) keeps its base64 `content` with `encoding` "base64".
    """
    if isinstance(value, list):
        return [
            {key: item[key] for key in _GITHUB_ENTRY if key in item} if isinstance(item, dict) else item
            for item in value
        ]
    if not isinstance(value, dict):
        return value
    result = {key: value[key] for key in _GITHUB_FILE if key in value}
    content = value.get("content")
    if value.get("encoding") == "base64" and isinstance(content, str):
        try:
            result["content"] = base64.b64decode("".join(content.split()), validate=True).decode("utf-8")
            result["encoding"] = "utf-8"
        except (binascii.Error, ValueError):  # binary (or not base64 after all): leave it as GitHub sent it
            pass
    return result


# --- Slack -----------------------------------------------------------------------------------------------------------

_SLACK_HINTS = {
    "not_allowed_token_type": (
        "this method needs a Slack user token (xoxp-…), and the connection holds a bot token (xoxb-…). Connect Slack "
        "again with the scheme 'Sign in with Slack (user token)' (it asks for the user scope search:read), or store a "
        "user token as the credential: the app's page at https://api.slack.com/apps → OAuth & Permissions → "
        "'User OAuth Token'"
    ),
    "missing_scope": "the token lacks a scope this method needs; add it to the Slack app, reinstall it and reconnect",
    "not_in_channel": "the bot is not a member of the channel: join it with join_channel (public channels) or "
    "invite the bot (/invite @bot in Slack) for private ones",
    "channel_not_found": "no conversation with this ID is visible to the token; find IDs with list_channels",
    "name_taken": "a channel with this name exists already; pick another name or find it with list_channels",
    "already_in_channel": "the user is in the channel already; nothing to do",
    "cant_invite_self": "the token's own user can't be invited; it is in the channel already",
    "invalid_auth": "the token is not valid (revoked or mistyped); connect Slack again",
    "ratelimited": "Slack's rate limit for this method was reached; wait a minute and retry",
}


def slack_ok(value: Any) -> Any:
    """Slack's answer, or a tool error saying what to do when Slack answered `ok: false` (it does so with HTTP 200)."""
    if not isinstance(value, dict) or value.get("ok") is not False:
        return value
    code = str(value.get("error") or "unknown_error")
    hint = _SLACK_HINTS.get(code, "see https://api.slack.com/methods for what this code means for the method")
    if code == "missing_scope" and value.get("needed"):
        hint = f"the token lacks the scope {value['needed']} (it has {value.get('provided', 'none')}); {hint}"
    return ToolOutput(
        text=f"Slack refused the call ({code}): {hint}", structured=value, is_error=True, upstream_status=200
    )


# --- registry --------------------------------------------------------------------------------------------------------

TRANSFORMS: dict[str, Shaper] = {
    "gmail_message": gmail_message,
    "gmail_thread": gmail_thread,
    "gmail_draft": gmail_draft,
    "github_content": github_content,
    "slack_ok": slack_ok,
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


# --- input transforms ------------------------------------------------------------------------------------------------


class InputError(Exception):
    """The friendly arguments can't make a request (nothing to send, a lookup failed); the message says what to do."""


# GET a path (a template over `path` values, relative to the tool's server) with `query`, under the tool's own
# credential and egress policy; the answer comes back as a ToolOutput (errors included), never raised.
Lookup = Callable[[str, Mapping[str, Any], Mapping[str, Any]], Awaitable[ToolOutput]]
# POST bytes (with a content type) to an absolute URL an API handed out for an upload (Slack's upload URL): under the
# tool's egress policy, without the credential (such URLs are signed themselves); answered like a lookup.
PostBytes = Callable[[str, bytes, str], Awaitable[ToolOutput]]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """The request so far: path values (the spec's fixed ones included) and the body fields other than the friendly;
    and `post_bytes`, for the transforms that upload content somewhere else first (None where the caller has none)."""

    path: Mapping[str, Any]
    body: Mapping[str, Any]
    post_bytes: PostBytes | None = None


@dataclass(frozen=True, slots=True)
class RawBody:
    """A body the transform encoded itself (multipart/related uploads), sent as these bytes with this content type."""

    content: bytes
    content_type: str


InputTransform = Callable[[dict[str, Any], Outgoing, Lookup], Awaitable["dict[str, Any] | RawBody"]]


def _addresses(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [str(item) for item in value or [] if str(item).strip()]


async def gmail_compose(given: dict[str, Any], request: Outgoing, lookup: Lookup) -> dict[str, Any]:
    """Gmail's `raw` (a base64url RFC 2822 message) and `threadId` from recipients, subject and a text/HTML body.

    With `reply_to_message_id` the original is read (its headers only) so the reply joins its thread: `threadId`,
    In-Reply-To and References from it, "Re: " + its subject and its sender as the recipient unless given.
    """
    text, html = given.get("text"), given.get("html")
    if not text and not html:
        raise InputError("give the body as `text` (plain text) and/or `html`")
    to, subject = _addresses(given.get("to")), given.get("subject")
    produced: dict[str, Any] = {}
    headers: dict[str, str] = {}
    replied = given.get("reply_to_message_id")
    if replied:
        original = await lookup(
            "/gmail/v1/users/{userId}/messages/{id}",
            {"userId": request.path.get("userId", "me"), "id": replied},
            {"format": "metadata", "metadataHeaders": ["Subject", "From", "Reply-To", "Message-ID", "References"]},
        )
        if original.is_error or not isinstance(original.structured, dict):
            raise InputError(f"could not read message {replied!r} to reply to it: {original.text}")
        found = _part_headers(original.structured.get("payload") or {})
        if original.structured.get("threadId"):
            produced["threadId"] = original.structured["threadId"]
        message_id = found.get("message-id")
        if message_id:
            headers["In-Reply-To"] = message_id
            headers["References"] = " ".join(filter(None, [found.get("references"), message_id]))
        if subject is None:
            original_subject = found.get("subject", "")
            subject = original_subject if original_subject.lower().startswith("re:") else f"Re: {original_subject}"
        if not to:
            to = _addresses(found.get("reply-to") or found.get("from"))
    if not to:
        raise InputError("give the recipients in `to`, or `reply_to_message_id` to answer a message")
    message = EmailMessage()
    try:
        message["To"] = ", ".join(to)
        for name in ("cc", "bcc"):
            if _addresses(given.get(name)):
                message[name.capitalize()] = ", ".join(_addresses(given.get(name)))
        message["Subject"] = subject or ""
        for name, value in headers.items():
            message[name] = value
    # A line break in a header value: never let it add headers. The stdlib's address parser raises IndexError on
    # some malformed addresses ("0>", found by the test stage).
    except (ValueError, IndexError) as exc:
        raise InputError(f"a recipient or the subject is not a valid header value: {exc}") from exc
    if text and html:
        message.set_content(text)
        message.add_alternative(html, subtype="html")
    else:
        message.set_content(html or text, subtype="html" if html else "plain")
    produced["raw"] = base64.urlsafe_b64encode(message.as_bytes(policy=SMTP)).decode("ascii")
    return produced


async def github_file(given: dict[str, Any], request: Outgoing, lookup: Lookup) -> dict[str, Any]:
    """GitHub's base64 `content` from text, with the current blob's `sha` looked up when the file exists already.

    GitHub needs that sha to update a file (and refuses a create without it with 422); the agent passes `sha` itself
    to make sure it replaces the version it read.
    """
    produced: dict[str, Any] = {"content": base64.b64encode(str(given.get("content", "")).encode()).decode("ascii")}
    if request.body.get("sha"):
        return produced
    branch = request.body.get("branch")
    current = await lookup(
        "/repos/{owner}/{repo}/contents/{path}",
        {name: request.path.get(name) for name in ("owner", "repo", "path")},
        {"ref": branch} if branch else {},
    )
    if current.upstream_status == 404:
        return produced  # a new file
    if current.is_error:
        raise InputError(f"could not read the current file to update it: {current.text}")
    if isinstance(current.structured, list):
        raise InputError(f"`path` {request.path.get('path')!r} is a directory; give the path of a file in it")
    if isinstance(current.structured, dict) and current.structured.get("sha"):
        produced["sha"] = current.structured["sha"]
    return produced


_GOOGLE_APPS = "application/vnd.google-apps."


async def drive_upload(given: dict[str, Any], request: Outgoing, lookup: Lookup) -> RawBody:
    """Drive's multipart upload body (RFC 2387 multipart/related): the File metadata as JSON, then the content.

    `convert_to` asks Drive to import the content as a Google Doc, Sheet or Slides file (metadata mimeType
    application/vnd.google-apps.*), with the content's own type telling Drive what it converts from.
    """
    text = given.get("content")
    media = _content_bytes(given)
    content_type = str(given.get("content_type") or ("text/plain" if text is not None else "application/octet-stream"))
    if text is not None and "charset" not in content_type.lower():
        content_type += "; charset=UTF-8"
    metadata: dict[str, Any] = {"name": given.get("name")}
    if given.get("convert_to"):
        metadata["mimeType"] = _GOOGLE_APPS + str(given["convert_to"])
    elif given.get("content_type"):
        metadata["mimeType"] = content_type.split(";", 1)[0].strip()
    for key in ("parents", "description"):
        if given.get(key):
            metadata[key] = given[key]
    boundary = "mcphub-" + secrets.token_hex(16)
    while boundary.encode() in media:  # astronomically unlikely, but a boundary must not occur in the content
        boundary = "mcphub-" + secrets.token_hex(16)
    content = b"".join(
        [
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
            json.dumps(metadata, ensure_ascii=False).encode(),
            f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode(),
            media,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    return RawBody(content, f"multipart/related; boundary={boundary}")


def _content_bytes(given: Mapping[str, Any]) -> bytes:
    """The bytes of `content` (text, sent as UTF-8) or `content_base64` (binary), exactly one of them."""
    text, encoded = given.get("content"), given.get("content_base64")
    if (text is None) == (encoded is None):
        raise InputError("give the file's content as `content` (text) or `content_base64` (binary), one of them")
    if encoded is None:
        return str(text).encode()
    try:
        return base64.b64decode(str(encoded), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError("`content_base64` is not valid base64; encode the bytes with standard base64") from exc


async def slack_upload(given: dict[str, Any], request: Outgoing, lookup: Lookup) -> dict[str, Any]:
    """Slack's `files` for files.completeUploadExternal, after the first two steps of Slack's upload.

    files.upload is retired; a file now takes three calls: files.getUploadURLExternal (the file's name and length in
    bytes → a one-time `upload_url` and the file's `file_id`), a POST of the bytes to that URL (files.slack.com), and
    files.completeUploadExternal, the tool's own request, which shares the file to `channel_id` (built from this).
    """
    if request.post_bytes is None:
        raise InputError("this hub cannot upload content for this tool (no upload hook); report it to the admin")
    content = _content_bytes(given)
    filename = str(given.get("filename") or "").strip()
    if not filename:
        raise InputError('give the file\'s name in `filename`, e.g. "report.csv"')
    if not content:
        raise InputError("the content is empty; Slack refuses files of 0 bytes")
    reserved = await lookup("/files.getUploadURLExternal", {}, {"filename": filename, "length": len(content)})
    answer = reserved.structured
    checked = slack_ok(answer)
    if isinstance(checked, ToolOutput):
        raise InputError(f"files.getUploadURLExternal: {checked.text}")
    if reserved.is_error or not isinstance(answer, dict) or not answer.get("upload_url") or not answer.get("file_id"):
        raise InputError(f"files.getUploadURLExternal gave no upload URL: {reserved.text}")
    # Slack takes raw bytes and works out the file type itself (from the name and the content).
    content_type = "text/plain; charset=utf-8" if given.get("content") is not None else "application/octet-stream"
    sent = await request.post_bytes(str(answer["upload_url"]), content, content_type)
    if sent.is_error:
        raise InputError(f"uploading the bytes to Slack's upload URL failed: {sent.text}")
    return {"files": [{"id": answer["file_id"], "title": str(given.get("title") or filename)}]}


INPUT_TRANSFORMS: dict[str, InputTransform] = {
    "gmail_compose": gmail_compose,
    "github_file": github_file,
    "drive_upload": drive_upload,
    "slack_upload": slack_upload,
}


async def build_input(
    shape: InputShape,
    body: Mapping[str, Any] | None,
    path: Mapping[str, Any],
    lookup: Lookup,
    post_bytes: PostBytes | None = None,
) -> dict[str, Any] | RawBody:
    """The body of a tool with an input transform: the friendly fields of `body` replaced by what they build."""
    rest = {key: value for key, value in (body or {}).items() if value is not None}
    given = {name: rest.pop(name) for name in shape.arguments if name in rest}
    outgoing = Outgoing(path=path, body=rest, post_bytes=post_bytes)
    produced = await INPUT_TRANSFORMS[shape.transform](given, outgoing, lookup)
    if isinstance(produced, RawBody):
        return produced  # the whole body: the operation has no other body fields (the compiler removed them)
    rest.update(produced if shape.into is None else {shape.into: produced})
    return rest
