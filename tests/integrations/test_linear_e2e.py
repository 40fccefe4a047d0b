"""Linear end to end: the official MCP client, the real hub, and a GraphQL stand-in of api.linear.app on 127.0.0.1.

The stand-in executes every request with graphql-core against Linear's real schema (the reference SDL) and resolvers
returning fixtures, so a document the hub sends that Linear would reject fails here too. Tests check the exact
request (endpoint, method, auth header without a Bearer prefix, the compiled document, variables, operation name)
and what the agent sees, including GraphQL errors as tool errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from graphql import GraphQLError, GraphQLSchema, build_schema, graphql_sync
from mcp.client import Client
from runtime.support import Recorded, Upstream, serve
from starlette.types import Send

from integrations.hubs import RunningHub, compile_local, local_endpoint, running_hub
from mcphub.compiler.ir import Integration

# The schema ships with the spec (specs/linear/NOTICE.md): the stand-in executes requests against it.
REFERENCE = Path(__file__).resolve().parents[2] / "specs" / "linear" / "schema.graphql"
API_KEY = "lin_api_0123456789abcdef"

USER = {"id": "u-ada", "name": "Ada Lovelace", "email": "ada@example.com", "displayName": "ada"}
STATE = {"id": "s-progress", "name": "In Progress", "type": "started"}
TEAM = {"id": "t-eng", "key": "ENG", "name": "Engineering"}
ISSUE: dict[str, Any] = {
    "id": "9cfb482a-81e3-4154-b5b9-2c805e70a726",
    "identifier": "ENG-123",
    "title": "Checkout fails on Safari",
    "description": "Steps:\n1. Open checkout\n2. Pay",
    "priority": 2.0,
    "priorityLabel": "High",
    "estimate": 3.0,
    "dueDate": "2026-12-01",
    "url": "https://linear.app/acme/issue/ENG-123",
    "branchName": "ada/eng-123-checkout-fails-on-safari",
    "createdAt": "2026-11-20T09:00:00.000Z",
    "updatedAt": "2026-11-24T17:30:00.000Z",
    "completedAt": None,
    "canceledAt": None,
    "state": STATE,
    "assignee": USER,
    "creator": USER,
    "team": TEAM,
    "project": {"id": "p-web", "name": "Web checkout"},
    "cycle": {"id": "c-42", "number": 42.0, "name": "Cycle 42"},
    "parent": None,
    "labels": {"nodes": [{"id": "l-bug", "name": "Bug"}]},
    "children": {"nodes": []},
    "comments": lambda info, **page: {
        "nodes": [
            {
                "id": "cm-1",
                "body": "Reproduced on Safari 18.",
                "createdAt": "2026-11-21T10:00:00.000Z",
                "editedAt": None,
                "url": "https://linear.app/acme/issue/ENG-123#comment-cm-1",
                "user": USER,
                "parent": None,
            }
        ],
        "pageInfo": {"hasNextPage": False, "endCursor": "cm-1"},
    },
}


def _issue(info: Any, id: str) -> dict[str, Any]:
    if id in (ISSUE["id"], ISSUE["identifier"]):
        return ISSUE
    raise GraphQLError("Entity not found: Issue - Could not find referenced Issue.")


def _issue_create(info: Any, input: dict[str, Any]) -> dict[str, Any]:
    created = {
        **ISSUE,
        "id": "new-issue",
        "identifier": "ENG-124",
        "title": input["title"],
        "url": "https://linear.app/acme/issue/ENG-124",
    }
    return {"success": True, "lastSyncId": 1.0, "issue": created}


def _comment_create(info: Any, input: dict[str, Any]) -> dict[str, Any]:
    comment = {"id": "cm-2", "body": input["body"], "url": "https://linear.app/acme/comment/cm-2"}
    return {
        "success": True,
        "lastSyncId": 2.0,
        "comment": {**comment, "createdAt": "2026-11-25T08:00:00.000Z", "user": USER},
    }


def _search(info: Any, term: str, **options: Any) -> dict[str, Any]:
    found = [ISSUE] if term.lower() in ISSUE["title"].lower() else []
    return {"nodes": found, "pageInfo": {"hasNextPage": False, "endCursor": None}, "totalCount": float(len(found))}


def _workflow_states(info: Any, **options: Any) -> dict[str, Any]:
    states = [
        {**STATE, "color": "#f2c94c", "position": 2.0, "team": TEAM},
        {"id": "s-done", "name": "Done", "type": "completed", "color": "#5e6ad2", "position": 3.0, "team": TEAM},
    ]
    return {"nodes": states, "pageInfo": {"hasNextPage": False, "endCursor": "s-done"}}


ROOT = {
    "issue": _issue,
    "issueCreate": _issue_create,
    "commentCreate": _comment_create,
    "searchIssues": _search,
    "workflowStates": _workflow_states,
    "teams": lambda info, **options: {
        "nodes": [{**TEAM, "description": None, "private": False, "cyclesEnabled": True}],
        "pageInfo": {"hasNextPage": False, "endCursor": "t-eng"},
    },
}


@cache
def linear_schema() -> GraphQLSchema:
    return build_schema(REFERENCE.read_text(encoding="utf-8"))


@dataclass
class LinearStandIn(Upstream):
    """api.linear.app/graphql: executes each request against the real schema; records requests and answers."""

    answers: list[dict[str, Any]] = field(default_factory=list)

    async def _answer(self, r: Recorded, send: Send) -> None:
        if (r.method, r.path) != ("POST", "/graphql"):
            status, payload = 404, {"errors": [{"message": f"no route {r.method} {r.path}"}]}
        else:
            request = r.json()
            result = graphql_sync(
                linear_schema(),
                request["query"],
                root_value=ROOT,
                variable_values=request.get("variables"),
                operation_name=request.get("operationName"),
            )
            status, payload = 200, result.formatted
        self.answers.append(payload)
        body = json.dumps(payload).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@dataclass
class Stack:
    hub: RunningHub
    standin: LinearStandIn
    integration: Integration

    def sent(self) -> Recorded:
        return self.standin.last()

    def document(self, tool: str) -> str:
        binding = self.integration.tool(tool).graphql
        assert binding is not None
        return binding.document


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    standin = LinearStandIn()
    with serve(standin) as url:
        specs, catalog = tmp_path_factory.mktemp("specs"), tmp_path_factory.mktemp("catalog")
        integration = compile_local(
            "linear",
            specs,
            catalog,
            base_url=local_endpoint(url, "https://api.linear.app/graphql"),
            policy={"allowed_hosts": ["127.0.0.1"], "allow_private_network": True},
        )
        with running_hub(catalog, {"linear": {"api_key": API_KEY}}) as hub:
            yield Stack(hub, standin, integration)


async def _call(client: Client, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    result = await client.call_tool(name, arguments)
    text = result.content[0].text if result.content and isinstance(result.content[0], types.TextContent) else ""
    assert result.is_error is False, text
    return result


def _assert_request(stack: Stack, tool: str, operation: str, variables: dict[str, Any]) -> None:
    sent = stack.sent()
    assert (sent.method, sent.path, sent.raw_query) == ("POST", "/graphql", "")
    assert sent.headers["authorization"] == API_KEY  # Linear's personal keys go without "Bearer"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == {"query": stack.document(tool), "variables": variables, "operationName": operation}


async def test_linear_tools_are_listed_and_destructive_ones_are_not(stack: Stack) -> None:
    async with stack.hub.client(mode="legacy") as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    linear = {name for name in listed if name.startswith("linear__")}
    assert {f"linear__{tool.name}" for tool in stack.integration.tools if tool.enabled} == linear
    for wanted in (
        "search_issues",
        "get_issue",
        "create_issue",
        "update_issue",
        "comment_on_issue",
        "list_projects",
        "list_cycles",
        "list_teams",
        "list_users",
        "list_workflow_states",
    ):
        assert f"linear__{wanted}" in linear
    assert "linear__delete_issue" not in listed and "linear__archive_issue" not in listed
    get_issue = listed["linear__get_issue"]
    assert get_issue.input_schema["required"] == ["id"]
    assert get_issue.annotations is not None and get_issue.annotations.read_only_hint is True


async def test_get_issue(stack: Stack) -> None:
    async with stack.hub.client(mode="legacy") as client:
        result = await _call(client, "linear__get_issue", {"id": "ENG-123"})
    _assert_request(stack, "get_issue", "Issue", {"id": "ENG-123"})
    issue = result.structured_content
    assert issue == stack.standin.answers[-1]["data"]["issue"]
    assert issue is not None
    assert (issue["identifier"], issue["state"], issue["assignee"]["name"]) == ("ENG-123", STATE, "Ada Lovelace")
    assert issue["labels"] == {"nodes": [{"id": "l-bug", "name": "Bug"}]}
    assert "comments" not in issue  # only the spec's selection is fetched


async def test_search_and_list_states(stack: Stack) -> None:
    async with stack.hub.client(mode="legacy") as client:
        result = await _call(client, "linear__search_issues", {"term": "safari", "teamId": "t-eng", "first": 10})
        _assert_request(stack, "search_issues", "SearchIssues", {"term": "safari", "teamId": "t-eng", "first": 10})
        found = result.structured_content
        assert found is not None and found["totalCount"] == 1
        assert found["nodes"][0]["identifier"] == "ENG-123" and found["nodes"][0]["team"] == {
            "id": "t-eng",
            "key": "ENG",
        }

        team_filter = {"team": {"key": {"eq": "ENG"}}}
        result = await _call(client, "linear__list_workflow_states", {"filter": team_filter})
        # `first` was left out: the spec's default page size (100) is sent, not Linear's own (50).
        _assert_request(stack, "list_workflow_states", "WorkflowStates", {"filter": team_filter, "first": 100})
        assert result.structured_content is not None
        assert [s["name"] for s in result.structured_content["nodes"]] == ["In Progress", "Done"]


async def test_create_issue_and_comment(stack: Stack) -> None:
    async with stack.hub.client(mode="legacy") as client:
        new = {"teamId": "t-eng", "title": "Add Apple Pay", "description": "As discussed", "priority": 3}
        result = await _call(client, "linear__create_issue", {"input": new})
        _assert_request(stack, "create_issue", "IssueCreate", {"input": new})
        assert result.structured_content is not None
        assert result.structured_content["success"] is True
        assert result.structured_content["issue"]["identifier"] == "ENG-124"

        comment = {"issueId": ISSUE["id"], "body": "Fixed in **#881**"}
        result = await _call(client, "linear__comment_on_issue", {"input": comment})
        _assert_request(stack, "comment_on_issue", "CommentCreate", {"input": comment})
        assert result.structured_content is not None
        assert result.structured_content["comment"]["body"] == "Fixed in **#881**"


async def test_comments_of_an_issue_use_the_spec_document(stack: Stack) -> None:
    async with stack.hub.client(mode="legacy") as client:
        result = await _call(client, "linear__list_issue_comments", {"id": "ENG-123", "first": 20})
    _assert_request(stack, "list_issue_comments", "IssueComments", {"id": "ENG-123", "first": 20})
    assert result.structured_content is not None
    comments = result.structured_content["comments"]
    assert comments["nodes"][0]["body"] == "Reproduced on Safari 18." and comments["pageInfo"]["hasNextPage"] is False


async def test_graphql_errors_become_tool_errors(stack: Stack) -> None:
    async with stack.hub.client(mode="legacy") as client:
        result = await client.call_tool("linear__get_issue", {"id": "ENG-999"})
    assert result.is_error is True
    text = result.content[0].text if isinstance(result.content[0], types.TextContent) else ""
    assert "GraphQL errors: Entity not found: Issue - Could not find referenced Issue. (at issue)" in text
    _assert_request(stack, "get_issue", "Issue", {"id": "ENG-999"})
