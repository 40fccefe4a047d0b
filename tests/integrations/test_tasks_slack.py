"""Slack tasks an agent is asked to do, through the hub with the official MCP client, against a stateful stand-in.

Slack's Web API takes form bodies and answers HTTP 200 with `ok` true or false and an `error` code; the stand-in
keeps channels, members, messages and pins, and tells bot tokens (xoxb-) from user tokens (xoxp-) as Slack does:
search.messages refuses bot tokens with not_allowed_token_type.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
from runtime.support import Recorded

from integrations.agent_tasks import Handler, Service, Text, call, refused, task_hub
from integrations.hubs import RunningHub

BOT, USER = "xoxb-agent-bot-token", "xoxp-agent-user-token"


def form(r: Recorded) -> dict[str, str]:
    assert r.headers["content-type"] == "application/x-www-form-urlencoded"
    return dict(parse_qsl(r.body.decode(), keep_blank_values=True))


@dataclass
class Slack(Service):
    channels: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "C01GENERAL": {"id": "C01GENERAL", "name": "general", "is_private": False, "members": ["UBOT", "U0ADA"]},
            "C02RANDOM": {"id": "C02RANDOM", "name": "random", "is_private": False, "members": ["U0ADA"]},
        }
    )
    users: dict[str, str] = field(default_factory=lambda: {"grace@example.com": "U0GRACE", "ada@example.com": "U0ADA"})
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pins: dict[str, list[str]] = field(default_factory=dict)
    # Files reserved by files.getUploadURLExternal: id -> name, length, the bytes once sent, where it was shared.
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    upload_host: str = ""  # where upload URLs point; empty: this stand-in itself (as files.slack.com is Slack's)

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/api/conversations.list", self.list_channels),
            ("POST", "/api/chat.postMessage", self.post),
            ("POST", "/api/pins.add", self.pin),
            ("GET", "/api/search.messages", self.search),
            ("POST", "/api/conversations.create", self.create),
            ("GET", "/api/users.lookupByEmail", self.lookup),
            ("POST", "/api/conversations.invite", self.invite),
            ("GET", "/api/files.getUploadURLExternal", self.reserve_file),
            ("POST", "/upload/v1/{file_id}", self.receive_bytes),
            ("POST", "/api/files.completeUploadExternal", self.complete_upload),
        ]

    @staticmethod
    def _channel(channel: dict[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in channel.items() if k != "members"}, "num_members": len(channel["members"])}

    def list_channels(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        listed = [self._channel(c) for c in self.channels.values()]
        return 200, {"ok": True, "channels": listed, "response_metadata": {"next_cursor": ""}}

    def post(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        fields = form(r)
        channel = self.channels.get(fields["channel"])
        if channel is None:
            return 200, {"ok": False, "error": "channel_not_found"}
        if "UBOT" not in channel["members"]:
            return 200, {"ok": False, "error": "not_in_channel"}
        ts = f"1733480000.{len(self.messages.get(channel['id'], [])) + 1:06d}"
        message = {"type": "message", "user": "UBOT", "text": fields["text"], "ts": ts}
        self.messages.setdefault(channel["id"], []).append(message)
        return 200, {"ok": True, "channel": channel["id"], "ts": ts, "message": message}

    def pin(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        fields = form(r)
        known = [m["ts"] for m in self.messages.get(fields["channel"], [])]
        if fields.get("timestamp") not in known:
            return 200, {"ok": False, "error": "message_not_found"}
        self.pins.setdefault(fields["channel"], []).append(fields["timestamp"])
        return 200, {"ok": True}

    def search(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        if not r.headers["authorization"].startswith("Bearer xoxp-"):
            return 200, {"ok": False, "error": "not_allowed_token_type"}
        term = dict(r.query)["query"]
        matches = [
            {
                "text": m["text"],
                "ts": m["ts"],
                "channel": {"id": c, "name": self.channels[c]["name"]},
                "user": m["user"],
            }
            for c, messages in self.messages.items()
            for m in messages
            if term.lower() in m["text"].lower()
        ]
        paging = {"count": 20, "total": len(matches), "page": 1, "pages": 1}
        return 200, {
            "ok": True,
            "query": term,
            "messages": {"matches": matches, "total": len(matches), "paging": paging},
        }

    def create(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        fields = form(r)
        if any(c["name"] == fields["name"] for c in self.channels.values()):
            return 200, {"ok": False, "error": "name_taken"}
        channel_id = f"C{len(self.channels) + 1:02d}NEW"
        private = fields.get("is_private") == "true"
        self.channels[channel_id] = {
            "id": channel_id,
            "name": fields["name"],
            "is_private": private,
            "members": ["UBOT"],
        }
        return 200, {"ok": True, "channel": self._channel(self.channels[channel_id])}

    def lookup(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        user_id = self.users.get(dict(r.query)["email"])
        if user_id is None:
            return 200, {"ok": False, "error": "users_not_found"}
        return 200, {"ok": True, "user": {"id": user_id, "name": user_id.lower(), "profile": {}}}

    def invite(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        fields = form(r)
        channel = self.channels[fields["channel"]]
        channel["members"] += [u for u in fields["users"].split(",") if u not in channel["members"]]
        return 200, {"ok": True, "channel": self._channel(channel)}

    def reserve_file(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        query = dict(r.query)
        if not query.get("filename") or not query.get("length", "").isdigit() or query["length"] == "0":
            return 200, {"ok": False, "error": "missing_argument"}
        file_id = f"F{len(self.files) + 1:04d}UPLOAD"
        self.files[file_id] = {"name": query["filename"], "length": int(query["length"]), "bytes": None}
        upload_url = f"{self.upload_host or self.base_url}/upload/v1/{file_id}"
        return 200, {"ok": True, "upload_url": upload_url, "file_id": file_id}

    def receive_bytes(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        reserved = self.files.get(p["file_id"])
        if reserved is None or len(r.body) != reserved["length"]:
            return 400, Text("length mismatch")
        reserved["bytes"] = r.body
        return 200, Text(f"OK - {len(r.body)}")

    def complete_upload(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        assert r.headers["content-type"].startswith("application/json")
        body = r.json()
        done = []
        for entry in body["files"]:
            reserved = self.files.get(entry["id"])
            if reserved is None or reserved["bytes"] is None:
                return 200, {"ok": False, "error": "file_not_found"}
            done.append((entry, reserved))
        channel = self.channels.get(body.get("channel_id", ""))
        if "channel_id" in body and (channel is None or "UBOT" not in channel["members"]):
            return 200, {"ok": False, "error": "not_in_channel"}
        for entry, reserved in done:
            reserved.update(title=entry.get("title", reserved["name"]), channel=body.get("channel_id"))
            reserved.update(thread_ts=body.get("thread_ts"), comment=body.get("initial_comment"))
        files = [
            {
                "id": entry["id"],
                "title": reserved["title"],
                "name": reserved["name"],
                "permalink": f"https://acme.slack.com/files/UBOT/{entry['id']}/{reserved['name']}",
            }
            for entry, reserved in done
        ]
        return 200, {"ok": True, "files": files}


@pytest.fixture(scope="module")
def slack() -> Slack:
    return Slack()


@pytest.fixture(scope="module")
def bot_hub(slack: Slack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with task_hub(tmp_path_factory.mktemp("slack"), "slack", slack, {"token": BOT}, base_path="/api") as running:
        yield running


@pytest.fixture(scope="module")
def user_hub(slack: Slack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """The same workspace, connected with a user token (the user-token scheme) instead of the bot's."""
    with task_hub(tmp_path_factory.mktemp("slack-user"), "slack", slack, {"token": USER}, base_path="/api") as running:
        yield running


async def test_post_in_general_and_pin_it(bot_hub: RunningHub, slack: Slack) -> None:
    start = len(slack.requests)
    async with bot_hub.client() as client:
        listed = await call(client, "slack__list_channels", {})
        [general] = [c for c in listed["channels"] if c["name"] == "general"]
        posted = await call(
            client, "slack__post_message", {"channel": general["id"], "text": "*Release 2.4* is out :tada:"}
        )
        await call(client, "slack__pin_message", {"channel": posted["channel"], "timestamp": posted["ts"]})

    assert slack.seen(start) == ["GET /api/conversations.list", "POST /api/chat.postMessage", "POST /api/pins.add"]
    requests = slack.requests[start:]
    assert all(r.headers["authorization"] == f"Bearer {BOT}" for r in requests)
    assert sorted(requests[0].query) == [("exclude_archived", "true"), ("limit", "200"), ("types", "public_channel")]
    assert form(requests[1]) == {"channel": "C01GENERAL", "text": "*Release 2.4* is out :tada:"}
    assert form(requests[2]) == {"channel": "C01GENERAL", "timestamp": posted["ts"]}
    assert slack.pins["C01GENERAL"] == [slack.messages["C01GENERAL"][0]["ts"]]


async def test_create_a_channel_and_invite_a_colleague_by_email(bot_hub: RunningHub, slack: Slack) -> None:
    start = len(slack.requests)
    async with bot_hub.client() as client:
        created = await call(client, "slack__create_channel", {"name": "proj-apollo"})
        grace = await call(client, "slack__find_user_by_email", {"email": "grace@example.com"})
        await call(
            client, "slack__invite_to_channel", {"channel": created["channel"]["id"], "users": grace["user"]["id"]}
        )
        again = await refused(client, "slack__create_channel", {"name": "proj-apollo"})
        outside = await refused(client, "slack__post_message", {"channel": "C02RANDOM", "text": "hi"})

    channel_id = created["channel"]["id"]
    assert slack.seen(start) == [
        "POST /api/conversations.create",
        "GET /api/users.lookupByEmail",
        "POST /api/conversations.invite",
        "POST /api/conversations.create",
        "POST /api/chat.postMessage",
    ]
    assert form(slack.requests[start]) == {"name": "proj-apollo"}
    assert form(slack.requests[start + 2]) == {"channel": channel_id, "users": "U0GRACE"}
    assert slack.channels[channel_id]["members"] == ["UBOT", "U0GRACE"]
    # Slack's ok:false answers are errors that say what to do next.
    assert "Slack refused the call (name_taken)" in again and "list_channels" in again
    assert "not_in_channel" in outside and "join_channel" in outside


async def test_search_needs_a_user_token_and_says_how_to_connect_one(
    bot_hub: RunningHub, user_hub: RunningHub, slack: Slack
) -> None:
    said = {"type": "message", "user": "U0ADA", "text": "Invoice 42 paid", "ts": "1733470000.000001"}
    slack.messages.setdefault("C02RANDOM", []).append(said)
    start = len(slack.requests)
    async with bot_hub.client() as client:
        error = await refused(client, "slack__search_messages", {"query": "invoice"})
    assert slack.seen(start) == ["GET /api/search.messages"]
    assert "needs a Slack user token (xoxp-…)" in error and "bot token" in error
    assert "Sign in with Slack (user token)" in error and "search:read" in error

    # Connected with a user token instead, the same call finds the message.
    async with user_hub.client() as client:
        found = await call(client, "slack__search_messages", {"query": "invoice"})
    assert slack.requests[-1].headers["authorization"] == f"Bearer {USER}"
    assert sorted(slack.requests[-1].query) == [("count", "20"), ("query", "invoice")]
    assert [m["text"] for m in found["messages"]["matches"]] == ["Invoice 42 paid"]


async def test_share_a_report_file_in_a_thread_of_general(bot_hub: RunningHub, slack: Slack) -> None:
    report = "week,signups\n48,312\n49,355\n"
    start = len(slack.requests)
    async with bot_hub.client() as client:
        listed = await call(client, "slack__list_channels", {})
        [general] = [c for c in listed["channels"] if c["name"] == "general"]
        posted = await call(client, "slack__post_message", {"channel": general["id"], "text": "Weekly numbers"})
        uploaded = await call(
            client,
            "slack__upload_file",
            {
                "filename": "signups.csv",
                "content": report,
                "title": "Signups, weeks 48-49",
                "channel_id": general["id"],
                "thread_ts": posted["ts"],
                "initial_comment": "Here is the CSV",
            },
        )

    # Slack's three upload steps, in order: reserve (name and byte length), the bytes, complete (share).
    assert slack.seen(start) == [
        "GET /api/conversations.list",
        "POST /api/chat.postMessage",
        "GET /api/files.getUploadURLExternal",
        "POST /upload/v1/F0001UPLOAD",
        "POST /api/files.completeUploadExternal",
    ]
    reserve, sent, complete = slack.requests[start + 2 :]
    assert sorted(reserve.query) == [("filename", "signups.csv"), ("length", str(len(report.encode())))]
    assert reserve.headers["authorization"] == complete.headers["authorization"] == f"Bearer {BOT}"
    assert sent.body == report.encode() and "authorization" not in sent.headers  # a signed URL: no token sent there
    assert complete.json() == {
        "files": [{"id": "F0001UPLOAD", "title": "Signups, weeks 48-49"}],
        "channel_id": "C01GENERAL",
        "thread_ts": posted["ts"],
        "initial_comment": "Here is the CSV",
    }
    assert slack.files["F0001UPLOAD"]["bytes"] == report.encode()
    assert (slack.files["F0001UPLOAD"]["channel"], slack.files["F0001UPLOAD"]["thread_ts"]) == (
        "C01GENERAL",
        posted["ts"],
    )
    [file] = uploaded["files"]
    assert (file["id"], file["permalink"]) == (
        "F0001UPLOAD",
        "https://acme.slack.com/files/UBOT/F0001UPLOAD/signups.csv",
    )


async def test_an_upload_url_outside_the_allowed_hosts_gets_no_bytes(bot_hub: RunningHub, slack: Slack) -> None:
    """The bytes go only where the integration's policy allows (files.slack.com in the shipped spec)."""
    slack.upload_host = "http://files.elsewhere.example"
    try:
        start = len(slack.requests)
        async with bot_hub.client() as client:
            error = await refused(
                client, "slack__upload_file", {"filename": "notes.txt", "content": "hi", "channel_id": "C01GENERAL"}
            )
    finally:
        slack.upload_host = ""
    assert slack.seen(start) == ["GET /api/files.getUploadURLExternal"]  # nothing sent, nothing completed
    assert "files.elsewhere.example" in error and "not in the allowed hosts" in error
