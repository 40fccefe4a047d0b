"""Each built-in integration end to end: a real MCP client, the real hub, and a stand-in of the service on 127.0.0.1.

Every built-in spec is recompiled into a temporary catalog with only its base URL (and egress policy) pointed at the
stand-in, which answers each operation with the response its reference description documents (the example, else an
instance of the response schema). Each test calls tools through the official Python SDK client and checks that the
stand-in received exactly the request the real service would (method, path, query, body encoding, auth and version
headers) and that the agent sees the documented answer.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import mcp_types as types
import pytest
import yaml
from mcp.client import Client
from runtime.support import Recorded, Upstream, mcp_client, provision, serve
from starlette.types import Send

from integrations.test_bindings_match_reference import BUILTINS, Builtin, Reference, reference
from mcphub.app import Settings, create_app
from mcphub.compiler.ir import Integration
from mcphub.compiler.pipeline import Target, compile_target
from mcphub.runtime.upstream.credentials import Credential

ADMIN_TOKEN = "integration-admin-token"
JIRA_USER, JIRA_TOKEN = "ada@example.com", "atlassian-api-token"
CREDENTIALS = {
    "github": Credential(token="ghp_test_token"),
    "notion": Credential(token="ntn_test_secret"),
    "slack": Credential(token="xoxb-test-bot-token"),
    "google-drive": Credential(token="ya29.drive-access-token"),
    "gmail": Credential(token="ya29.gmail-access-token"),
    "jira": Credential(username=JIRA_USER, password=JIRA_TOKEN, server_variables={"site": "acme"}),
    "jira-software": Credential(username=JIRA_USER, password=JIRA_TOKEN, server_variables={"site": "acme"}),
    "airtable": Credential(token="patTEST.secret"),
    "stripe": Credential(token="sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
}
AIRTABLE_BASE = "appABCDEFGHIJKLMN"
EXPORTED_TEXT = "Quarterly budget\n\nRevenue: 120k\n"


# --- a stand-in answering per the reference descriptions -------------------------------------------------------


def _instance(ref: Reference, schema: Any, depth: int = 0) -> Any:
    """A small value valid for `schema`, preferring the description's own examples."""
    schema = ref.deref(schema)
    if not isinstance(schema, dict) or depth > 3:
        return None
    if "example" in schema:
        return schema["example"]
    for key in ("allOf", "oneOf", "anyOf"):
        if schema.get(key):
            parts = [_instance(ref, part, depth) for part in schema[key]]
            if key == "allOf":
                merged: dict[str, Any] = {}
                for part in parts:
                    merged |= part if isinstance(part, dict) else {}
                return merged
            return parts[0]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "array":
        item = _instance(ref, schema.get("items"), depth + 1)
        return [] if item is None else [item]
    if kind == "object" or "properties" in schema:
        properties = list((schema.get("properties") or {}).items())[:12]
        return {name: _instance(ref, sub, depth + 1) for name, sub in properties}
    return {"integer": 1, "number": 1.5, "boolean": True, "string": "x"}.get(str(kind))


def _documented(ref: Reference, method: str, path: str) -> tuple[int, Any]:
    """The first success status of an operation and the body the description documents for it."""
    op = ref.document["paths"][path][method.lower()]
    status = min((str(c) for c in op["responses"] if str(c).startswith("2")), default="200")
    documented = op["responses"].get(status, op["responses"].get(int(status), op["responses"].get("default")))
    if documented is None:  # no success documented (a few operations `search: all` brings in): an empty 200
        return int(status), None
    response = ref.deref(documented)
    if ref.swagger2:
        if "examples" in response and "application/json" in response["examples"]:
            return int(status), response["examples"]["application/json"]
        return int(status), _instance(ref, response.get("schema")) if "schema" in response else None
    content = response.get("content") or {}
    media = next((m for m in content if "json" in m), None)
    if media is None:
        return int(status), None
    entry = content[media]
    if "example" in entry:
        example = entry["example"]
    elif entry.get("examples"):
        example = ref.deref(next(iter(entry["examples"].values()))).get("value")
        if isinstance(example, dict) and set(example) == {"$ref"}:
            example = ref.deref(example).get("value")  # GitHub points `value` itself at components/examples
    else:
        example = _instance(ref, entry.get("schema"))
    if isinstance(example, str) and example[:1] in "{[":
        example = json.loads(example)  # Atlassian writes its examples as JSON text
    return int(status), example


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    status: int
    content_type: str | None
    body: bytes


@dataclass
class StandIn(Upstream):
    """The recording upstream of the runtime tests, answering with the responses the descriptions document."""

    routes: list[Route] = field(default_factory=list)

    def add(self, method: str, path: str, status: int, payload: Any, content_type: str = "application/json") -> None:
        pattern = re.compile(re.sub(r"\\\{[^{}]+\\\}", "[^/]+", re.escape(path)))
        if payload is None:
            self.routes.insert(0, Route(method, pattern, 204 if status == 200 else status, None, b""))
        elif isinstance(payload, str) and not content_type.endswith("json"):
            self.routes.insert(0, Route(method, pattern, status, content_type, payload.encode()))
        else:
            self.routes.insert(0, Route(method, pattern, status, content_type, json.dumps(payload).encode()))

    async def _answer(self, r: Recorded, send: Send) -> None:
        route = next((x for x in self.routes if x.method == r.method and x.pattern.fullmatch(r.path)), None)
        if route is None:
            status, content_type, body = 404, "application/json", json.dumps({"message": f"no route {r.path}"}).encode()
        else:
            status, content_type, body = route.status, route.content_type, route.body
        headers = [(b"content-length", str(len(body)).encode())]
        if content_type:
            headers.append((b"content-type", content_type.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def documented(self, slug: str, tool: str) -> Any:
        """The body the stand-in answers `tool` of `slug` with (as decoded JSON)."""
        integration = CATALOG[slug]
        http = integration.tool(tool).http
        assert http is not None
        _, payload = _documented(reference(BY_SLUG[slug].reference), http.method, http.path)
        return payload

    def sent(self) -> Recorded:
        return self.last()


BY_SLUG: dict[str, Builtin] = {b.slug: b for b in BUILTINS}
CATALOG: dict[str, Integration] = {}


def _derived_spec(builtin: Builtin, standin_url: str, folder: Path) -> Path:
    """The built-in spec with its base URL under the stand-in (`/<slug>` + the real base path), nothing else changed."""
    assert builtin.spec.path is not None
    data = yaml.safe_load(builtin.spec.path.read_text(encoding="utf-8"))
    real = urlsplit(re.sub(r"\{[^{}]+\}", "x", data["base_url"]))
    site = "/{site}" if "{site}" in data["base_url"] else ""  # keep the server variable: it becomes a path segment
    data["base_url"] = f"{standin_url}/{builtin.slug}{site}{real.path}"
    # No rate limit: these tests call one stand-in back to back (the hub's limits are tested in tests/tenancy).
    policy = {key: value for key, value in data.get("policy", {}).items() if key != "rate_limit"}
    data["policy"] = {**policy, "allowed_hosts": ["127.0.0.1"], "allow_private_network": True}
    if builtin.spec.source.npm is None:
        source = builtin.spec.source_file()
        assert source is not None
        data["source"] = {**data["source"], "path": str(source)}
    if builtin.supplement is not None:
        data["source"] = {**data["source"], "supplement": str(builtin.supplement)}
    target = folder / f"{builtin.slug}.yaml"
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


@dataclass
class Stack:
    hub_url: str
    standin: StandIn
    key: str  # the test user's API key; its credentials are CREDENTIALS, stored in the vault

    @property
    def mcp(self) -> str:
        return f"{self.hub_url}/mcp"

    def client(self, **options: Any) -> AbstractAsyncContextManager[Client]:
        return mcp_client(self.mcp, self.key, **options)


def _fields(credential: Credential) -> dict[str, Any]:
    """A runtime Credential as the fields the credential store keeps."""
    fields: dict[str, Any] = {
        name: getattr(credential, name)
        for name in ("token", "api_key", "username", "password")
        if getattr(credential, name)
    }
    if credential.server_variables:
        fields["server_variables"] = dict(credential.server_variables)
    return fields


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    standin = StandIn()
    with serve(standin) as standin_url:
        standin.base_url = standin_url
        specs, catalog = tmp_path_factory.mktemp("specs"), tmp_path_factory.mktemp("catalog")
        for builtin in BUILTINS:
            # Bindings are what this checks: the search index's vectors (minutes for ~3,000 tools) are left out.
            spec = _derived_spec(builtin, standin_url, specs)
            report = compile_target(Target(spec, is_spec=True), catalog, embed=False)
            assert report.error is None, report.error
            manifest = catalog / builtin.slug / "manifest.json"
            CATALOG[builtin.slug] = integration = Integration.from_manifest(manifest.read_bytes())
            ref = reference(builtin.reference)
            prefix = urlsplit(integration.base_url.replace("{site}", "acme")).path
            for tool in integration.tools:
                assert tool.http is not None
                described = ref
                if tool.http.path not in ref.document["paths"]:  # from the spec's source.supplement
                    assert builtin.supplement is not None, tool.name
                    described = reference(builtin.supplement)
                status, payload = _documented(described, tool.http.method, tool.http.path)
                standin.add(tool.http.method, prefix + tool.http.path, status, payload)
        # What the description leaves undocumented, answered as the real service does.
        drive = urlsplit(CATALOG["google-drive"].base_url).path
        standin.add("GET", drive + "/files/{fileId}/export", 200, EXPORTED_TEXT, "text/plain; charset=utf-8")
        data_dir = catalog.with_name(f"{catalog.name}-data")
        options = {"enable": list(CATALOG), "credentials": {slug: _fields(c) for slug, c in CREDENTIALS.items()}}
        [account] = provision(data_dir, ("agent@example.com", options))
        settings = Settings(port=0, catalog_dirs=[catalog], admin_token=ADMIN_TOKEN, data_dir=data_dir)
        with serve(create_app(settings), health_path="/healthz") as hub_url:
            yield Stack(hub_url, standin, account.key)


async def _call(client: Client, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    result = await client.call_tool(name, arguments)
    text = result.content[0].text if result.content and isinstance(result.content[0], types.TextContent) else ""
    assert result.is_error is False, text
    return result


def _form(sent: Recorded) -> list[tuple[str, str]]:
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    return parse_qsl(sent.body.decode(), keep_blank_values=True)


# --- the catalog ---------------------------------------------------------------------------------------------------


async def test_all_builtins_are_listed_and_disabled_tools_are_not(stack: Stack) -> None:
    async with stack.client(mode="legacy") as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        for slug, integration in CATALOG.items():
            for tool in integration.tools:
                full = f"{slug}__{tool.name}"
                # `search: all` operations are enabled but reached through the search view, never the flat list.
                assert (full in listed) is (tool.enabled and tool.listed), full
        assert "stripe__cancel_subscription" not in listed and "jira__delete_issue" not in listed
        assert "jira__search_issues_classic" not in listed  # Atlassian removed the classic search (410 Gone)
        search = listed["jira-software__search_issues"]
        assert search.annotations is not None and search.annotations.read_only_hint is True
        assert "nextPageToken" in (search.description or "")

    # --- one test per integration --------------------------------------------------------------------------------------


async def test_github(stack: Stack) -> None:
    async with stack.client(mode="legacy") as client:
        result = await _call(client, "github__get_issue", {"owner": "octo-org", "repo": "hello", "issue_number": 1347})
        sent = stack.standin.sent()
        assert (sent.method, sent.raw_path, sent.raw_query) == ("GET", "/github/repos/octo-org/hello/issues/1347", "")
        assert sent.headers["authorization"] == "Bearer ghp_test_token"
        # The agent gets the issue trimmed to what it needs: no API URLs, node IDs or whole user objects.
        documented = stack.standin.documented("github", "get_issue")
        issue = result.structured_content
        assert issue is not None and documented["number"] == 1347
        assert (issue["number"], issue["title"], issue["state"]) == (1347, documented["title"], documented["state"])
        assert issue["user"] == {"login": documented["user"]["login"]}
        assert issue["labels"] == [{"name": label["name"]} for label in documented["labels"]]
        assert issue["html_url"] == documented["html_url"]
        assert not {"node_id", "url", "comments_url", "events_url", "reactions"} & set(issue)
        assert len(json.dumps(issue)) < len(json.dumps(documented)) / 2
        # ...and the whole object when it asks for it.
        full = {"owner": "octo-org", "repo": "hello", "issue_number": 1347, "full_response": True}
        result = await _call(client, "github__get_issue", full)
        assert stack.standin.sent().raw_query == ""  # full_response is the hub's argument, never sent upstream
        assert result.structured_content == documented

        await _call(client, "github__search_issues", {"q": "repo:octo-org/hello is:open"})
        sent = stack.standin.sent()
        assert sent.query == [("q", "repo:octo-org/hello is:open"), ("per_page", "20")]  # the spec's page size

        await _call(
            client,
            "github__create_issue",
            {"owner": "octo-org", "repo": "hello", "title": "Found a bug", "body": "Steps…", "labels": ["bug"]},
        )
        sent = stack.standin.sent()
        assert (sent.method, sent.path) == ("POST", "/github/repos/octo-org/hello/issues")
        assert sent.headers["content-type"] == "application/json"
        assert sent.json() == {"title": "Found a bug", "body": "Steps…", "labels": ["bug"]}


async def test_notion(stack: Stack) -> None:
    async with stack.client(mode="legacy") as client:
        filter_pages = {"property": "object", "value": "page"}
        result = await _call(client, "notion__search", {"query": "Roadmap", "filter": filter_pages, "page_size": 10})
        sent = stack.standin.sent()
        assert (sent.method, sent.path) == ("POST", "/notion/v1/search")
        assert sent.headers["notion-version"] == "2025-09-03"
        assert sent.json() == {"query": "Roadmap", "filter": filter_pages, "page_size": 10}
        assert result.structured_content == stack.standin.documented("notion", "search")

        page = "5c6a2821-6bb1-4a7e-b6e1-c50111515c3d"
        comment = {"parent": {"page_id": page}, "rich_text": [{"text": {"content": "Looks good"}}]}
        result = await _call(client, "notion__add_comment", comment)
        sent = stack.standin.sent()
        assert (sent.method, sent.path, sent.headers["notion-version"]) == ("POST", "/notion/v1/comments", "2025-09-03")
        assert sent.json() == comment
        assert result.structured_content == stack.standin.documented("notion", "add_comment")

        await _call(client, "notion__get_page_markdown", {"page_id": page})
        sent = stack.standin.sent()
        assert (sent.path, sent.headers["notion-version"]) == (f"/notion/v1/pages/{page}/markdown", "2026-03-11")


async def test_notion_sends_the_integration_token(stack: Stack) -> None:
    async with stack.client(mode="legacy") as client:
        await _call(client, "notion__get_me", {})
        sent = stack.standin.sent()
        assert (sent.method, sent.path) == ("GET", "/notion/v1/users/me")
        assert sent.headers.get("authorization") == "Bearer ntn_test_secret"


async def test_slack(stack: Stack) -> None:
    async with stack.client(mode="legacy") as client:
        result = await _call(client, "slack__get_channel_history", {"channel": "C0123ABCD", "limit": 2})
        sent = stack.standin.sent()
        assert (sent.method, sent.path) == ("GET", "/slack/api/conversations.history")
        assert sent.query == [("channel", "C0123ABCD"), ("limit", "2")]  # no token in the URL: it is in the header
        assert sent.headers["authorization"] == "Bearer xoxb-test-bot-token"
        documented = stack.standin.documented("slack", "get_channel_history")
        assert result.structured_content == documented and documented["response_metadata"]["next_cursor"]

        await _call(client, "slack__join_channel", {"channel": "C0123ABCD"})
        sent = stack.standin.sent()
        assert (sent.method, sent.path) == ("POST", "/slack/api/conversations.join")
        assert _form(sent) == [("channel", "C0123ABCD")]
        assert sent.headers["authorization"] == "Bearer xoxb-test-bot-token"


async def test_google_drive(stack: Stack) -> None:
    async with stack.client(mode="legacy") as client:
        query = "name contains 'budget' and trashed = false"
        result = await _call(
            client,
            "google-drive__search_files",
            {"q": query, "pageSize": 5, "fields": "nextPageToken, files(id, name)"},
        )
        sent = stack.standin.sent()
        assert (sent.method, sent.path) == ("GET", "/google-drive/drive/v3/files")
        # The caller's values, then the spec's defaults for what it left out (shared drives included).
        assert sent.query == [
            ("fields", "nextPageToken, files(id, name)"),
            ("pageSize", "5"),
            ("q", query),
            ("includeItemsFromAllDrives", "true"),
            ("supportsAllDrives", "true"),
        ]
        assert sent.headers["authorization"] == "Bearer ya29.drive-access-token"
        assert result.structured_content == stack.standin.documented("google-drive", "search_files")

        result = await _call(client, "google-drive__export_file", {"fileId": "1AbC", "mimeType": "text/plain"})
        sent = stack.standin.sent()
        assert (sent.path, sent.query) == ("/google-drive/drive/v3/files/1AbC/export", [("mimeType", "text/plain")])
        assert isinstance(result.content[0], types.TextContent) and result.content[0].text == EXPORTED_TEXT


async def test_gmail(stack: Stack) -> None:
    async with stack.client(mode="legacy") as client:
        mail = {"to": ["bob@example.com"], "subject": "Hi", "text": "Hello"}
        result = await _call(client, "gmail__send_message", mail)
        sent = stack.standin.sent()
        assert (sent.method, sent.path) == ("POST", "/gmail/gmail/v1/users/me/messages/send")
        assert sent.headers["authorization"] == "Bearer ya29.gmail-access-token"
        assert sent.headers["content-type"] == "application/json"
        # The agent gave friendly fields; Gmail got the RFC 2822 message it wants, base64url-encoded.
        assert set(sent.json()) == {"raw"}
        message = base64.urlsafe_b64decode(sent.json()["raw"])
        assert b"To: bob@example.com\r\n" in message and b"Subject: Hi\r\n" in message
        assert message.endswith(b"\r\n\r\nHello\r\n")
        assert result.structured_content == stack.standin.documented("gmail", "send_message")

        await _call(client, "gmail__search_messages", {"q": "from:ada@example.com is:unread", "maxResults": 5})
        sent = stack.standin.sent()
        assert (sent.path, sent.query) == (
            "/gmail/gmail/v1/users/me/messages",
            [("maxResults", "5"), ("q", "from:ada@example.com is:unread")],
        )

        await _call(client, "gmail__modify_message_labels", {"id": "18c2f1", "removeLabelIds": ["UNREAD"]})
        sent = stack.standin.sent()
        assert (sent.path, sent.json()) == (
            "/gmail/gmail/v1/users/me/messages/18c2f1/modify",
            {"removeLabelIds": ["UNREAD"]},
        )


async def test_jira(stack: Stack) -> None:
    async with stack.client(mode="legacy") as client:
        basic = "Basic " + base64.b64encode(f"{JIRA_USER}:{JIRA_TOKEN}".encode()).decode()
        result = await _call(client, "jira__get_issue", {"issueIdOrKey": "PROJ-7", "fields": ["summary", "status"]})
        sent = stack.standin.sent()
        assert (sent.method, sent.path) == ("GET", "/jira/acme/rest/api/3/issue/PROJ-7")  # site from the credential
        assert sent.query == [("fields", "summary"), ("fields", "status")]
        assert sent.headers["authorization"] == basic
        assert result.structured_content == stack.standin.documented("jira", "get_issue")

        adf = {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "On it"}]}],
        }
        result = await _call(client, "jira__add_comment", {"issueIdOrKey": "PROJ-7", "body": adf})
        sent = stack.standin.sent()
        assert (sent.method, sent.path, sent.json()) == (
            "POST",
            "/jira/acme/rest/api/3/issue/PROJ-7/comment",
            {"body": adf},
        )
        assert sent.headers["authorization"] == basic
        assert result.structured_content == stack.standin.documented("jira", "add_comment")

        await _call(client, "jira__transition_issue", {"issueIdOrKey": "PROJ-7", "transition": {"id": "31"}})
        sent = stack.standin.sent()
        assert (sent.path, sent.json()) == (
            "/jira/acme/rest/api/3/issue/PROJ-7/transitions",
            {"transition": {"id": "31"}},
        )


async def test_jira_software(stack: Stack) -> None:
    async with stack.client(mode="legacy") as client:
        jql = 'project = PROJ AND status = "In Progress"'
        arguments = {"jql": jql, "maxResults": 2, "fields": ["summary", "status"], "nextPageToken": "CAEaAggD"}
        result = await _call(client, "jira-software__search_issues", arguments)
        sent = stack.standin.sent()
        assert (sent.method, sent.path) == ("GET", "/jira-software/acme/rest/api/3/search/jql")
        assert sent.query == [
            ("jql", jql),
            ("nextPageToken", "CAEaAggD"),
            ("maxResults", "2"),
            ("fields", "summary,status"),
        ]
        documented = stack.standin.documented("jira-software", "search_issues")
        assert result.structured_content == documented and documented["issues"][0]["key"] == "PROJ-42"

        result = await _call(client, "jira-software__list_sprints", {"boardId": 84, "state": "active"})
        sent = stack.standin.sent()
        assert (sent.method, sent.path, sent.query) == (
            "GET",
            "/jira-software/acme/rest/agile/1.0/board/84/sprint",
            [("state", "active")],
        )
        assert (
            sent.headers["authorization"] == "Basic " + base64.b64encode(f"{JIRA_USER}:{JIRA_TOKEN}".encode()).decode()
        )
        assert result.structured_content == stack.standin.documented("jira-software", "list_sprints")

        result = await _call(
            client, "jira-software__move_issues_to_sprint", {"sprintId": 37, "issues": ["PROJ-1", "PROJ-2"]}
        )
        sent = stack.standin.sent()
        assert (sent.method, sent.path, sent.json()) == (
            "POST",
            "/jira-software/acme/rest/agile/1.0/sprint/37/issue",
            {"issues": ["PROJ-1", "PROJ-2"]},
        )
        assert result.structured_content is None and "204" in result.content[0].text  # type: ignore[union-attr]


async def test_airtable(stack: Stack) -> None:
    async with stack.client(mode="legacy") as client:
        arguments = {
            "baseId": AIRTABLE_BASE,
            "tableIdOrName": "Tasks",
            "filterByFormula": "{Status}='Open'",
            "sort": [{"field": "Due", "direction": "asc"}],
            "fields": ["Name", "Due"],
            "pageSize": 10,
        }
        result = await _call(client, "airtable__list_records", arguments)
        sent = stack.standin.sent()
        assert (sent.method, sent.path) == ("GET", f"/airtable/v0/{AIRTABLE_BASE}/Tasks")
        assert sorted(sent.query) == sorted(
            [
                ("pageSize", "10"),
                ("sort[0][field]", "Due"),
                ("sort[0][direction]", "asc"),
                ("filterByFormula", "{Status}='Open'"),
                ("fields[]", "Name"),
                ("fields[]", "Due"),
            ]
        )
        assert sent.headers["authorization"] == "Bearer patTEST.secret"
        assert result.structured_content == stack.standin.documented("airtable", "list_records")

        records = [{"fields": {"Name": "Write the spec", "Status": "Open"}}]
        await _call(
            client,
            "airtable__create_records",
            {"baseId": AIRTABLE_BASE, "tableIdOrName": "Tasks", "records": records, "typecast": True},
        )
        sent = stack.standin.sent()
        assert (sent.method, sent.path, sent.json()) == (
            "POST",
            f"/airtable/v0/{AIRTABLE_BASE}/Tasks",
            {"records": records, "typecast": True},
        )


async def test_stripe(stack: Stack) -> None:
    async with stack.client(mode="legacy") as client:
        result = await _call(
            client,
            "stripe__create_customer",
            {"email": "ada@example.com", "name": "Ada", "metadata": {"plan": "pro"}, "expand": ["tax"]},
        )
        sent = stack.standin.sent()
        assert (sent.method, sent.path) == ("POST", "/stripe/v1/customers")
        assert sent.headers["authorization"] == "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc"
        assert sorted(_form(sent)) == sorted(
            [("email", "ada@example.com"), ("name", "Ada"), ("metadata[plan]", "pro"), ("expand[]", "tax")]
        )
        assert b"metadata[plan]=pro" in sent.body  # brackets travel as Stripe documents them
        documented = stack.standin.documented("stripe", "create_customer")
        customer = result.structured_content
        assert customer is not None and customer["id"] == documented["id"] and customer["email"] == documented["email"]
        assert "cash_balance" in documented and "cash_balance" not in customer  # trimmed to the billing essentials

        await _call(client, "stripe__list_customers", {"limit": 3, "email": "ada@example.com"})
        sent = stack.standin.sent()
        assert (sent.method, sent.path, sorted(sent.query)) == (
            "GET",
            "/stripe/v1/customers",
            [("email", "ada@example.com"), ("limit", "3")],
        )
        assert sent.body == b"" and "content-type" not in sent.headers

        await _call(
            client, "stripe__update_subscription", {"subscription_exposed_id": "sub_1", "cancel_at_period_end": True}
        )
        sent = stack.standin.sent()
        assert (sent.path, _form(sent)) == ("/stripe/v1/subscriptions/sub_1", [("cancel_at_period_end", "true")])


# --- Gmail bodies: decoded for the agent ----------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")  # Gmail sends base64url without padding


def _gmail_message(message_id: str, parts: list[dict[str, Any]], subject: str) -> dict[str, Any]:
    """A Message in the shape Gmail answers `format=full` with: RFC 2822 headers on the payload, MIME parts below."""
    headers = [
        {"name": "Delivered-To", "value": "agent@example.com"},
        {"name": "From", "value": "Ada Lovelace <ada@example.com>"},
        {"name": "To", "value": "agent@example.com"},
        {"name": "Subject", "value": subject},
        {"name": "Date", "value": "Mon, 30 Nov 2026 09:15:00 +0000"},
        {"name": "Message-ID", "value": f"<{message_id}@mail.example.com>"},
        {"name": "DKIM-Signature", "value": "v=1; a=rsa-sha256; d=example.com; b=AbCdEf..."},
    ]
    return {
        "id": message_id,
        "threadId": "thread-1",
        "labelIds": ["INBOX", "UNREAD"],
        "snippet": subject,
        "historyId": "9876",
        "internalDate": "1795943700000",
        "sizeEstimate": 48213,
        "payload": {"partId": "", "mimeType": "multipart/mixed", "filename": "", "headers": headers, "parts": parts},
    }


PLAIN_BODY = "Hi,\n\nthe invoice for November is attached. Total: 1 200 EUR (déjà payé).\n\nAda"
HTML_ONLY = "<html><head><style>p{color:red}</style></head><body><p>Meeting moved to <b>3pm</b>.</p><p><a href='https://cal.example.com/e/1'>Open the event</a></p></body></html>"
MULTIPART_MESSAGE = _gmail_message(
    "msg-multipart",
    [
        {
            "partId": "0",
            "mimeType": "multipart/alternative",
            "filename": "",
            "headers": [{"name": "Content-Type", "value": "multipart/alternative; boundary=b2"}],
            "body": {"size": 0},
            "parts": [
                {
                    "partId": "0.0",
                    "mimeType": "text/plain",
                    "filename": "",
                    "headers": [{"name": "Content-Type", "value": 'text/plain; charset="ISO-8859-1"'}],
                    "body": {"size": 70, "data": _b64url(PLAIN_BODY.encode("iso-8859-1"))},
                },
                {
                    "partId": "0.1",
                    "mimeType": "text/html",
                    "filename": "",
                    "headers": [{"name": "Content-Type", "value": "text/html; charset=UTF-8"}],
                    "body": {"size": 90, "data": _b64url(b"<p>Hi,</p><p>the invoice for November is attached.</p>")},
                },
            ],
        },
        {
            "partId": "1",
            "mimeType": "application/pdf",
            "filename": "invoice-2026-11.pdf",
            "headers": [{"name": "Content-Type", "value": 'application/pdf; name="invoice-2026-11.pdf"'}],
            "body": {"attachmentId": "ANGjdJ8-attachment", "size": 40211},
        },
    ],
    "November invoice",
)
HTML_MESSAGE = _gmail_message(
    "msg-html",
    [
        {
            "partId": "0",
            "mimeType": "text/html",
            "filename": "",
            "headers": [{"name": "Content-Type", "value": "text/html; charset=UTF-8"}],
            "body": {"size": len(HTML_ONLY), "data": _b64url(HTML_ONLY.encode())},
        }
    ],
    "Re: November invoice",
)


def test_the_gmail_stand_in_answers_in_gmails_documented_shape() -> None:
    import jsonschema

    document = reference(BY_SLUG["gmail"].reference).document
    for schema, value in (("Message", MULTIPART_MESSAGE), ("Thread", {"id": "thread-1", "messages": [HTML_MESSAGE]})):
        validator = jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{schema}", **document})
        validator.validate(value)


async def test_gmail_get_message_gives_decoded_text_and_the_headers_that_matter(stack: Stack) -> None:
    messages = "/gmail/gmail/v1/users/me/messages"
    stack.standin.add("GET", f"{messages}/msg-multipart", 200, MULTIPART_MESSAGE)
    stack.standin.add(
        "GET",
        "/gmail/gmail/v1/users/me/threads/thread-1",
        200,
        {"id": "thread-1", "historyId": "9877", "messages": [MULTIPART_MESSAGE, HTML_MESSAGE]},
    )
    async with stack.client(mode="legacy") as client:
        result = await _call(client, "gmail__get_message", {"id": "msg-multipart"})
        sent = stack.standin.sent()
        assert (sent.method, sent.path, sent.query) == ("GET", f"{messages}/msg-multipart", [])
        assert sent.headers["authorization"] == "Bearer ya29.gmail-access-token"
        message = result.structured_content
        assert message is not None
        assert message["body"] == PLAIN_BODY and message["bodyFormat"] == "text/plain"  # text/plain wins over HTML
        assert message["headers"] == {
            "From": "Ada Lovelace <ada@example.com>",
            "To": "agent@example.com",
            "Subject": "November invoice",
            "Date": "Mon, 30 Nov 2026 09:15:00 +0000",
            "Message-ID": "<msg-multipart@mail.example.com>",
        }
        assert message["attachments"] == [
            {
                "filename": "invoice-2026-11.pdf",
                "mimeType": "application/pdf",
                "size": 40211,
                "attachmentId": "ANGjdJ8-attachment",
                "partId": "1",
            }
        ]
        assert (message["id"], message["threadId"], message["labelIds"]) == (
            "msg-multipart",
            "thread-1",
            ["INBOX", "UNREAD"],
        )
        assert "payload" not in message and "data" not in json.dumps(message)  # no base64 blobs reach the agent

        # The raw resource is still there for an agent that wants the MIME structure.
        result = await _call(client, "gmail__get_message", {"id": "msg-multipart", "full_response": True})
        assert stack.standin.sent().query == []
        assert result.structured_content == MULTIPART_MESSAGE

        result = await _call(client, "gmail__get_thread", {"id": "thread-1"})
        thread = result.structured_content
        assert thread is not None and [m["id"] for m in thread["messages"]] == ["msg-multipart", "msg-html"]
        html = thread["messages"][1]
        assert html["bodyFormat"] == "text/html converted to text"
        assert html["body"] == "Meeting moved to 3pm.\n\nOpen the event (https://cal.example.com/e/1)"
        assert html["headers"]["Subject"] == "Re: November invoice"
