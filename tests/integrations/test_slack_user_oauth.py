"""Slack's user-token scheme end to end: connect with "Sign in with Slack (user token)", then search through the hub.

Slack's OAuth v2 asks for user scopes with `user_scope` (not `scope`), and its token answer for a user-only sign-in
carries the token under `authed_user` (there is no top-level `access_token`). The stand-in plays slack.com: the
consent redirect, oauth.v2.access with that answer shape, and search.messages, which accepts only the user token.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx2
import pytest
import yaml
from runtime.support import Recorded
from starlette.types import Send

from integrations.agent_tasks import Handler, Service, call, task_hub
from integrations.hubs import SPECS, RunningHub, admin_browser, stored_credential

CLIENT_ID, CLIENT_SECRET = "1234.5678", "slack-client-secret"
USER_TOKEN = "xoxp-1-signed-in-user"


@dataclass
class SlackWithOAuth(Service):
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)  # code -> redirect_uri

    async def _answer(self, r: Recorded, send: Send) -> None:
        if (r.method, r.path) == ("GET", "/oauth/v2/authorize"):
            asked = dict(r.query)
            self.authorize_requests.append(asked)
            self.codes["code-1"] = asked["redirect_uri"]
            target = f"{asked['redirect_uri']}?{urlencode({'code': 'code-1', 'state': asked['state']})}"
            await send({"type": "http.response.start", "status": 302, "headers": [(b"location", target.encode())]})
            await send({"type": "http.response.body", "body": b""})
            return
        await super()._answer(r, send)

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("POST", "/api/oauth.v2.access", self.token), ("GET", "/api/search.messages", self.search)]

    def token(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        form = dict(parse_qsl(r.body.decode()))
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return 200, {"ok": False, "error": "invalid_client_id"}
        if self.codes.pop(form.get("code", ""), None) != form.get("redirect_uri"):
            return 200, {"ok": False, "error": "invalid_code"}
        user = {
            "id": "U0ADA",
            "scope": "search:read,channels:history",
            "access_token": USER_TOKEN,
            "token_type": "user",
        }
        return 200, {"ok": True, "app_id": "A0HUB", "authed_user": user, "team": {"id": "T0ACME", "name": "Acme"}}

    def search(self, r: Recorded, p: dict[str, str]) -> tuple[int, Any]:
        if r.headers.get("authorization") != f"Bearer {USER_TOKEN}":
            return 200, {"ok": False, "error": "not_allowed_token_type"}
        match = {"text": "Invoice 42 paid", "ts": "1733470000.000001", "channel": {"id": "C1", "name": "billing"}}
        paging = {"count": 20, "total": 1, "page": 1, "pages": 1}
        return 200, {"ok": True, "messages": {"matches": [match], "total": 1, "paging": paging}}


@pytest.fixture(scope="module")
def slack() -> SlackWithOAuth:
    return SlackWithOAuth()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("slack-oauth")


@pytest.fixture(scope="module")
def hub(slack: SlackWithOAuth, folder: Path) -> Iterator[RunningHub]:
    def derive(url: str) -> dict[str, Any]:
        shipped = yaml.safe_load((SPECS / "slack.yaml").read_text(encoding="utf-8"))
        for scheme in shipped["auth"]:
            for key in ("authorization_url", "token_url"):
                if key in scheme:
                    scheme[key] = scheme[key].replace("https://slack.com", url)
        return {"auth": shipped["auth"]}

    with task_hub(folder, "slack", slack, {}, base_path="/api", derive=derive) as running:
        yield running


async def test_sign_in_with_slack_for_a_user_token_then_search(
    hub: RunningHub, slack: SlackWithOAuth, folder: Path
) -> None:
    base = hub.mcp.removesuffix("/mcp")
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token_auth": "client_secret_post"}
    async with admin_browser(base, "slack", client) as browser:
        started = await browser.post("/api/v1/integrations/slack/oauth/start", json={"scheme": "user_oauth2"})
        assert started.status_code == 200, started.text
        async with httpx2.AsyncClient() as provider:
            consent = await provider.get(started.json()["authorization_url"])
        assert consent.status_code == 302
        page = await browser.get(consent.headers["location"])
        assert page.status_code == 200 and "connected" in page.text, page.text

    # Slack's consent page was asked for user scopes only (no bot `scope`).
    [asked] = slack.authorize_requests
    assert "scope" not in asked and asked["user_scope"].startswith("search:read,")
    assert urlsplit(asked["redirect_uri"]).path == "/oauth/callback/slack"
    stored = await stored_credential(folder / "catalog-data", "slack")  # task_hub's data folder, beside its catalog
    assert stored["token"] == USER_TOKEN

    async with hub.client() as client:
        found = await call(client, "slack__search_messages", {"query": "invoice"})
    assert slack.requests[-1].headers["authorization"] == f"Bearer {USER_TOKEN}"
    assert [m["text"] for m in found["messages"]["matches"]] == ["Invoice 42 paid"]
