"""The request and response transforms the built-in specs declare (`input:`, `response:`), function by function.

Input transforms get a recording `lookup` that answers as the real API would, so each test also shows which
upstream reads a transform makes; the messages they build are parsed back with Python's own email parser.
"""

from __future__ import annotations

import base64
import email
import json
import re
from collections.abc import Mapping
from email.message import Message
from email.policy import default
from typing import Any

import pytest

from mcphub.compiler.ir import INPUT_TRANSFORMS as DECLARED_INPUTS
from mcphub.compiler.ir import RESPONSE_TRANSFORMS, InputShape
from mcphub.runtime.package import ToolOutput
from mcphub.runtime.upstream.transforms import (
    INPUT_TRANSFORMS,
    TRANSFORMS,
    InputError,
    RawBody,
    build_input,
    github_content,
    slack_ok,
)


class Lookups:
    """A stand-in for the tool's upstream reads: answers by path template, records every read."""

    def __init__(self, answers: Mapping[str, ToolOutput]) -> None:
        self.answers = answers
        self.reads: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    async def __call__(self, path: str, values: Mapping[str, Any], query: Mapping[str, Any]) -> ToolOutput:
        self.reads.append((path, dict(values), dict(query)))
        return self.answers[path]


ORIGINAL = "/gmail/v1/users/{userId}/messages/{id}"
CONTENTS = "/repos/{owner}/{repo}/contents/{path}"


def _ok(value: Any) -> ToolOutput:
    return ToolOutput(text="…", structured=value, upstream_status=200)


def _mime(raw: str) -> Message:
    # Parsed as a mail client reads it: the wire's CRLF line ends as newlines.
    return email.message_from_bytes(base64.urlsafe_b64decode(raw).replace(b"\r\n", b"\n"), policy=default)


def test_the_runtime_implements_every_input_transform_the_compiler_accepts() -> None:
    assert set(INPUT_TRANSFORMS) == set(DECLARED_INPUTS)
    assert set(TRANSFORMS) == set(RESPONSE_TRANSFORMS)


async def test_gmail_compose_builds_a_multipart_message_from_friendly_fields() -> None:
    shape = InputShape(transform="gmail_compose", arguments=list(DECLARED_INPUTS["gmail_compose"]["arguments"]))
    given = {
        "to": ["ada@example.com", "Bob Bobson <bob@example.com>"],
        "cc": ["carol@example.com"],
        "bcc": ["dan@example.com"],
        "subject": "Läuft — Q3 plan",
        "text": "Hi all,\nthe plan is attached.",
        "html": "<p>Hi all,</p><p>the plan is attached.</p>",
        "reply_to_message_id": None,
    }
    lookups = Lookups({})
    body = await build_input(shape, given, {"userId": "me"}, lookups)

    assert set(body) == {"raw"} and lookups.reads == []  # nothing to look up for a new mail
    message = _mime(body["raw"])
    assert message["To"] == "ada@example.com, Bob Bobson <bob@example.com>"
    assert (message["Cc"], message["Bcc"], message["Subject"]) == (
        "carol@example.com",
        "dan@example.com",
        given["subject"],
    )
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.iter_parts()
    assert plain.get_content().strip() == "Hi all,\nthe plan is attached."
    assert html.get_content_type() == "text/html" and "<p>Hi all,</p>" in html.get_content()
    assert b"\r\n" in base64.urlsafe_b64decode(body["raw"])  # RFC 2822 line ends, as Gmail expects


async def test_gmail_compose_reply_joins_the_thread_of_the_original() -> None:
    original = {
        "id": "18c1",
        "threadId": "18c0",
        "payload": {
            "headers": [
                {"name": "From", "value": "Ada <ada@example.com>"},
                {"name": "Subject", "value": "Invoice 42"},
                {"name": "Message-ID", "value": "<m2@mail.example.com>"},
                {"name": "References", "value": "<m1@mail.example.com>"},
            ]
        },
    }
    lookups = Lookups({ORIGINAL: _ok(original)})
    shape = InputShape(transform="gmail_compose", arguments=["text", "reply_to_message_id"], into="message")
    body = await build_input(shape, {"text": "Paid, thanks.", "reply_to_message_id": "18c1"}, {"userId": "me"}, lookups)

    [(path, values, query)] = lookups.reads
    assert (path, values) == (ORIGINAL, {"userId": "me", "id": "18c1"})
    assert query["format"] == "metadata" and "Message-ID" in query["metadataHeaders"]
    assert set(body) == {"message"} and body["message"]["threadId"] == "18c0"  # `into`: a draft's message
    reply = _mime(body["message"]["raw"])
    assert (reply["To"], reply["Subject"]) == ("Ada <ada@example.com>", "Re: Invoice 42")
    assert reply["In-Reply-To"] == "<m2@mail.example.com>"
    assert reply["References"] == "<m1@mail.example.com> <m2@mail.example.com>"
    assert reply.get_content().strip() == "Paid, thanks."


@pytest.mark.parametrize(
    ("given", "answers", "message"),
    [
        ({"to": ["a@example.com"]}, {}, "give the body as `text`"),
        ({"text": "hello"}, {}, "give the recipients in `to`"),
        ({"to": ["a@example.com\r\nBcc: all@example.com"], "text": "x"}, {}, "not a valid header value"),
        (
            {"text": "x", "reply_to_message_id": "nope"},
            {
                ORIGINAL: ToolOutput(
                    text="upstream returned HTTP 404 Not Found: Requested entity was not found.",
                    is_error=True,
                    upstream_status=404,
                )
            },
            "could not read message 'nope' to reply to it: upstream returned HTTP 404",
        ),
    ],
)
async def test_gmail_compose_says_what_is_missing(
    given: dict[str, Any], answers: dict[str, ToolOutput], message: str
) -> None:
    shape = InputShape(transform="gmail_compose", arguments=list(given))
    with pytest.raises(InputError, match=re.escape(message)):
        await build_input(shape, given, {"userId": "me"}, Lookups(answers))


SHAPE = InputShape(transform="github_file", arguments=["content"])
WHERE = {"owner": "octo", "repo": "hello", "path": "docs/read me.md"}


async def test_github_file_updates_with_the_current_blob_sha() -> None:
    lookups = Lookups({CONTENTS: _ok({"type": "file", "sha": "3d21ec53a331", "path": "docs/read me.md"})})
    given = {"content": "# Hello\nWörld\n", "message": "Fix typo", "branch": "fix-typo", "sha": None}
    body = await build_input(SHAPE, given, WHERE, lookups)

    assert lookups.reads == [(CONTENTS, WHERE, {"ref": "fix-typo"})]  # read on the branch being written
    assert body == {
        "message": "Fix typo",
        "branch": "fix-typo",
        "content": base64.b64encode("# Hello\nWörld\n".encode()).decode(),
        "sha": "3d21ec53a331",
    }


async def test_github_file_creates_a_new_file_without_sha_and_trusts_a_given_one() -> None:
    missing = ToolOutput(text="upstream returned HTTP 404 Not Found: Not Found", is_error=True, upstream_status=404)
    body = await build_input(SHAPE, {"content": "new", "message": "Add"}, WHERE, Lookups({CONTENTS: missing}))
    assert body == {"message": "Add", "content": base64.b64encode(b"new").decode()}

    lookups = Lookups({})
    body = await build_input(SHAPE, {"content": "v2", "message": "Edit", "sha": "abc"}, WHERE, lookups)
    assert body["sha"] == "abc" and lookups.reads == []  # the agent's sha: a conflict fails instead of overwriting


async def test_github_file_refuses_a_directory_and_reports_failed_reads() -> None:
    with pytest.raises(InputError, match="is a directory"):
        await build_input(SHAPE, {"content": "x", "message": "m"}, WHERE, Lookups({CONTENTS: _ok([{"type": "file"}])}))
    denied = ToolOutput(
        text="upstream returned HTTP 403 Forbidden: Resource not accessible", is_error=True, upstream_status=403
    )
    with pytest.raises(InputError, match=r"could not read the current file to update it: .*403"):
        await build_input(SHAPE, {"content": "x", "message": "m"}, WHERE, Lookups({CONTENTS: denied}))


def test_github_content_gives_text_files_as_text_and_directories_as_entries() -> None:
    encoded = base64.b64encode("print('hé')\n".encode()).decode()
    answer = {
        "type": "file",
        "encoding": "base64",
        "content": encoded[:8] + "\n" + encoded[8:],  # GitHub wraps base64 lines
        "name": "a.py",
        "path": "src/a.py",
        "sha": "b1",
        "size": 13,
        "url": "https://api.github.com/…",
        "git_url": "https://api.github.com/…",
        "_links": {"self": "…"},
    }
    assert github_content(answer) == {
        "type": "file",
        "encoding": "utf-8",
        "content": "print('hé')\n",
        "name": "a.py",
        "path": "src/a.py",
        "sha": "b1",
        "size": 13,
    }
    binary = {**answer, "content": base64.b64encode(b"\x89PNG\xff\x00").decode()}
    assert github_content(binary)["encoding"] == "base64"
    listing = [{"type": "dir", "name": "src", "path": "src", "sha": "d1", "size": 0, "url": "…", "_links": {}}]
    assert github_content(listing) == [{"type": "dir", "name": "src", "path": "src", "sha": "d1", "size": 0}]


def test_slack_ok_false_is_an_error_that_says_how_to_fix_it() -> None:
    fine = {"ok": True, "messages": {"matches": []}}
    assert slack_ok(fine) is fine
    refused = slack_ok({"ok": False, "error": "not_allowed_token_type"})
    assert isinstance(refused, ToolOutput) and refused.is_error
    assert "needs a Slack user token (xoxp-…)" in refused.text and "search:read" in refused.text
    assert "Sign in with Slack (user token)" in refused.text
    scope = slack_ok({"ok": False, "error": "missing_scope", "needed": "channels:manage", "provided": "chat:write"})
    assert isinstance(scope, ToolOutput) and "lacks the scope channels:manage (it has chat:write)" in scope.text


DRIVE = InputShape(transform="drive_upload", arguments=list(DECLARED_INPUTS["drive_upload"]["arguments"]))


def _related(body: RawBody) -> tuple[dict[str, Any], Message]:
    """The metadata and the media part of a multipart/related upload, as Drive reads them."""
    head = f"Content-Type: {body.content_type}\r\n\r\n".encode()
    message = email.message_from_bytes(head + body.content, policy=default)
    assert message.get_content_type() == "multipart/related"
    metadata, media = message.iter_parts()
    assert metadata.get_content_type() == "application/json"
    return json.loads(metadata.get_content()), media


async def test_drive_upload_builds_a_multipart_related_body() -> None:
    csv = "name,amount\nAda,120\nBöb,80\n"
    given = {"name": "budget.csv", "content": csv, "content_type": "text/csv", "parents": ["0Bfolder"]}
    body = await build_input(DRIVE, given, {}, Lookups({}))

    assert isinstance(body, RawBody)
    metadata, media = _related(body)
    assert metadata == {"name": "budget.csv", "mimeType": "text/csv", "parents": ["0Bfolder"]}
    assert media.get_content_type() == "text/csv" and media.get_content() == csv


async def test_drive_upload_converts_text_to_a_google_doc_and_sends_binary_bytes() -> None:
    body = await build_input(DRIVE, {"name": "Notes", "content": "Plan\n", "convert_to": "document"}, {}, Lookups({}))
    assert isinstance(body, RawBody)
    metadata, media = _related(body)
    assert metadata == {"name": "Notes", "mimeType": "application/vnd.google-apps.document"}
    assert (media.get_content_type(), media.get_content_charset()) == ("text/plain", "utf-8")

    pdf = b"%PDF-1.7\x00\xff\xfe"
    given = {"name": "a.pdf", "content_base64": base64.b64encode(pdf).decode(), "content_type": "application/pdf"}
    body = await build_input(DRIVE, given, {}, Lookups({}))
    assert isinstance(body, RawBody)
    _, media = _related(body)
    assert media.get_payload(decode=True) == pdf  # the exact bytes, not their base64 text

    for wrong, message in (
        ({"name": "x"}, "give the file's content"),
        ({"name": "x", "content": "a", "content_base64": "YQ=="}, "one of them"),
        ({"name": "x", "content_base64": "not base64!"}, "not valid base64"),
    ):
        with pytest.raises(InputError, match=message):
            await build_input(DRIVE, wrong, {}, Lookups({}))


SLACK = InputShape(transform="slack_upload", arguments=list(DECLARED_INPUTS["slack_upload"]["arguments"]))
RESERVE = "/files.getUploadURLExternal"


async def test_slack_upload_reserves_sends_the_bytes_and_names_the_file() -> None:
    posted: list[tuple[str, bytes, str]] = []

    async def post_bytes(url: str, content: bytes, content_type: str) -> ToolOutput:
        posted.append((url, content, content_type))
        return ToolOutput(text="OK - 3", upstream_status=200)

    reserved = _ok({"ok": True, "upload_url": "https://files.slack.com/upload/v1/abc", "file_id": "F1"})
    lookups = Lookups({RESERVE: reserved})
    given = {"filename": "a.bin", "content_base64": base64.b64encode(b"\x00\xff\x01").decode(), "channel_id": "C1"}
    body = await build_input(SLACK, given, {}, lookups, post_bytes)

    assert lookups.reads == [(RESERVE, {}, {"filename": "a.bin", "length": 3})]
    assert posted == [("https://files.slack.com/upload/v1/abc", b"\x00\xff\x01", "application/octet-stream")]
    assert body == {"channel_id": "C1", "files": [{"id": "F1", "title": "a.bin"}]}


async def test_slack_upload_stops_at_a_refused_reservation_and_says_why() -> None:
    async def post_bytes(url: str, content: bytes, content_type: str) -> ToolOutput:
        raise AssertionError("no bytes may be sent without a reservation")

    scope = _ok({"ok": False, "error": "missing_scope", "needed": "files:write", "provided": "chat:write"})
    with pytest.raises(InputError, match=r"getUploadURLExternal: .*lacks the scope files:write"):
        await build_input(SLACK, {"filename": "a.txt", "content": "x"}, {}, Lookups({RESERVE: scope}), post_bytes)
    with pytest.raises(InputError, match="Slack refuses files of 0 bytes"):
        await build_input(SLACK, {"filename": "a.txt", "content": ""}, {}, Lookups({}), post_bytes)
