"""Gmail tasks an agent is asked to do, through the hub with the official MCP client, against a stateful stand-in.

The stand-in is a mailbox: messages in threads, each stored as its RFC 2822 source and answered as Gmail's Message
resource (`payload` with headers and base64url bodies; `format` metadata gives headers only). Sending parses the
`raw` message Gmail receives, so a test reads what the recipient would get: headers, parts and thread.
"""

from __future__ import annotations

import base64
import email
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.policy import default
from typing import Any

import pytest
from runtime.support import Recorded

from integrations.agent_tasks import Handler, Service, call, refused, task_hub
from integrations.hubs import RunningHub

TOKEN = "ya29.gmail-agent-token"
BOX = "/gmail/v1/users/me"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _mail(sender: str, subject: str, text: str, message_id: str, date: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "me@example.com", subject
    message["Message-ID"], message["Date"] = message_id, date
    message.set_content(text)
    return message.as_bytes()


@dataclass
class Gmail(Service):
    # id -> (threadId, RFC 2822 source, labels); oldest first, as they arrived
    messages: dict[str, tuple[str, bytes, list[str]]] = field(default_factory=dict)
    drafts: dict[str, str] = field(default_factory=dict)  # draft id -> message id

    def __post_init__(self) -> None:
        self.messages["m1"] = (
            "t1",
            _mail(
                "Ada <ada@example.com>",
                "Invoice 42",
                "Is it paid?",
                "<a1@mail.example.com>",
                "Mon, 30 Nov 2026 09:00:00 +0000",
            ),
            ["INBOX"],
        )
        self.messages["m2"] = (
            "t2",
            _mail("Bob <bob@example.com>", "Lunch", "Noon?", "<b1@mail.example.com>", "Tue, 1 Dec 2026 11:00:00 +0000"),
            ["INBOX", "UNREAD"],
        )
        self.messages["m3"] = (
            "t1",
            _mail(
                "Ada <ada@example.com>",
                "Re: Invoice 42",
                "Any news?",
                "<a2@mail.example.com>",
                "Thu, 3 Dec 2026 08:00:00 +0000",
            ),
            ["INBOX", "UNREAD"],
        )

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", f"{BOX}/messages", self.search),
            ("GET", f"{BOX}/messages/{{id}}", self.get),
            ("POST", f"{BOX}/messages/send", self.send),
            ("POST", f"{BOX}/drafts", self.draft),
        ]

    def parsed(self, message_id: str) -> Message:
        return email.message_from_bytes(self.messages[message_id][1], policy=default)

    def search(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        query = dict(r.query)
        sender = query.get("q", "").removeprefix("from:")
        found = [(i, t) for i, (t, _, _) in self.messages.items() if sender in str(self.parsed(i)["From"])]
        found.reverse()  # newest first, as Gmail lists them
        limit = int(query.get("maxResults", 100))
        listed = [{"id": i, "threadId": t} for i, t in found[:limit]]
        return 200, {"messages": listed, "resultSizeEstimate": len(found)}

    def get(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        if p["id"] not in self.messages:
            return 404, {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}
        thread, _, labels = self.messages[p["id"]]
        message = self.parsed(p["id"])
        headers = [{"name": k, "value": str(v)} for k, v in message.items()]
        query = r.query
        resource: dict[str, Any] = {"id": p["id"], "threadId": thread, "labelIds": labels, "snippet": "…"}
        if dict(query).get("format") == "metadata":
            wanted = {value.lower() for key, value in query if key == "metadataHeaders"}
            resource["payload"] = {"headers": [h for h in headers if not wanted or h["name"].lower() in wanted]}
        else:
            body = message.get_content().encode()
            resource["payload"] = {
                "mimeType": "text/plain",
                "headers": headers,
                "body": {"size": len(body), "data": _b64url(body)},
            }
        return 200, resource

    def _store(self, raw: str, thread: str | None, labels: list[str]) -> dict[str, Any]:
        message_id = f"m{len(self.messages) + 1}"
        thread = thread or f"t{message_id}"
        self.messages[message_id] = (thread, base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), labels)
        return {"id": message_id, "threadId": thread, "labelIds": labels}

    def send(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        body = r.json()
        return 200, self._store(body["raw"], body.get("threadId"), ["SENT"])

    def draft(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        message = r.json()["message"]
        stored = self._store(message["raw"], message.get("threadId"), ["DRAFT"])
        draft_id = f"r-{len(self.drafts) + 1}"
        self.drafts[draft_id] = stored["id"]
        return 200, {"id": draft_id, "message": stored}


@pytest.fixture(scope="module")
def gmail() -> Gmail:
    return Gmail()


@pytest.fixture(scope="module")
def hub(gmail: Gmail, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with task_hub(tmp_path_factory.mktemp("gmail"), "gmail", gmail, {"token": TOKEN}) as running:
        yield running


async def test_reply_to_the_latest_mail_from_someone_in_its_thread(hub: RunningHub, gmail: Gmail) -> None:
    start = len(gmail.requests)
    async with hub.client() as client:
        found = await call(client, "gmail__search_messages", {"q": "from:ada@example.com", "maxResults": 1})
        [latest] = found["messages"]
        read = await call(client, "gmail__get_message", {"id": latest["id"]})
        assert (read["headers"]["Subject"], read["body"].strip()) == ("Re: Invoice 42", "Any news?")
        sent = await call(
            client,
            "gmail__send_message",
            {"reply_to_message_id": latest["id"], "text": "Yes, it was paid on Tuesday.\n\nBest, Me"},
        )

    assert gmail.seen(start) == [
        f"GET {BOX}/messages",
        f"GET {BOX}/messages/m3",
        f"GET {BOX}/messages/m3",  # the hub reads the original's headers to thread the reply
        f"POST {BOX}/messages/send",
    ]
    requests = gmail.requests[start:]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in requests)
    assert dict(requests[2].query)["format"] == "metadata"
    assert set(requests[3].json()) == {"raw", "threadId"} and requests[3].json()["threadId"] == "t1"
    assert sent == {"id": "m4", "threadId": "t1", "labelIds": ["SENT"]}
    # What Ada receives: a reply in the same conversation, to her, quoting the references her client threads by.
    reply = gmail.parsed("m4")
    assert (reply["To"], reply["Subject"]) == ("Ada <ada@example.com>", "Re: Invoice 42")
    assert reply["In-Reply-To"] == "<a2@mail.example.com>"
    assert reply["References"] == "<a2@mail.example.com>"
    assert reply.get_content().replace("\r\n", "\n") == "Yes, it was paid on Tuesday.\n\nBest, Me\n"


async def test_draft_an_html_mail_to_two_people_for_review(hub: RunningHub, gmail: Gmail) -> None:
    start = len(gmail.requests)
    async with hub.client() as client:
        draft = await call(
            client,
            "gmail__create_draft",
            {
                "to": ["Bob <bob@example.com>", "carol@example.com"],
                "cc": ["ada@example.com"],
                "subject": "Q3 plan — draft",
                "text": "Hi both,\nthe Q3 plan is ready.",
                "html": "<p>Hi both,</p><p>the <b>Q3 plan</b> is ready.</p>",
            },
        )
    assert gmail.seen(start) == [f"POST {BOX}/drafts"]
    assert set(gmail.requests[start].json()["message"]) == {"raw"}  # a new conversation: no threadId
    message = gmail.parsed(gmail.drafts[draft["id"]])
    assert (message["To"], message["Cc"]) == ("Bob <bob@example.com>, carol@example.com", "ada@example.com")
    assert message["Subject"] == "Q3 plan — draft"
    plain, html = message.iter_parts()
    assert (message.get_content_type(), plain.get_content_type(), html.get_content_type()) == (
        "multipart/alternative",
        "text/plain",
        "text/html",
    )
    assert "<b>Q3 plan</b>" in html.get_content()


async def test_a_reply_to_a_message_that_is_gone_sends_nothing(hub: RunningHub, gmail: Gmail) -> None:
    start = len(gmail.requests)
    async with hub.client() as client:
        error = await refused(client, "gmail__send_message", {"reply_to_message_id": "m404", "text": "Thanks!"})
        missing = await refused(client, "gmail__send_message", {"to": ["bob@example.com"], "subject": "Hi"})
    assert gmail.seen(start) == [f"GET {BOX}/messages/m404"]  # looked up, never sent
    assert "could not read message 'm404' to reply to it" in error and "404" in error
    assert "give the body as `text`" in missing
