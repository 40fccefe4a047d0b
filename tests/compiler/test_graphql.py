"""The GraphQL source kind: operations over an SDL schema compiled to tools, and their runtime.

Compile side: root-field arguments and document variables become tool arguments (input objects, enums, lists,
non-null, defaults, custom scalars), selections come from the spec or a bounded default, every document is
validated against the schema with the spec line of any problem. Runtime side: one POST per call through the
integration's UpstreamClient, the `errors` array as a tool error (partial data kept), `data` at the result path.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from graphql import GraphQLError, build_schema, graphql_sync, parse, print_ast, validate

from mcphub.compiler.errors import SpecError
from mcphub.compiler.ir import Integration
from mcphub.compiler.pipeline import parse_spec
from mcphub.compiler.schemas import tool_schema_problems
from mcphub.compiler.spec import load_spec
from mcphub.runtime.upstream.client import UpstreamClient
from mcphub.runtime.upstream.credentials import Credential
from mcphub.runtime.upstream.executors.graphql import execute_graphql

ROOT = Path(__file__).resolve().parents[2]

SDL = """
"A point in time, ISO 8601. Accepts shortcuts."
scalar DateTime
scalar JSONObject

enum Priority {
  "Drop everything"
  URGENT
  LOW
}

input StringComparator { eq: String, in: [String!], contains: String }
input TeamFilter { key: StringComparator }
input UserFilter { name: StringComparator, teams: TeamFilter }
"Filters issues."
input IssueFilter { title: StringComparator, priority: Priority, and: [IssueFilter!], assignee: UserFilter }
input IssueCreateInput {
  "The team"
  teamId: String!
  title: String!
  labelIds: [String!]
  dueDate: DateTime
  priority: Priority = LOW
  meta: JSONObject
}

type User { id: ID! name: String! email: String avatar(size: Int!): String }
type PageInfo { hasNextPage: Boolean! endCursor: String startCursor: String }
type Issue {
  id: ID!
  identifier: String!
  title: String!
  priority: Priority
  createdAt: DateTime!
  assignee: User
  labels: [String!]!
  old: String @deprecated(reason: "gone")
  comments(first: Int!): [String!]!
  parent: Issue
}
type IssueConnection { nodes: [Issue!]! pageInfo: PageInfo! }
type IssuePayload { success: Boolean! issue: Issue }
type Query {
  "One issue by id."
  issue(id: String!): Issue!
  issues(filter: IssueFilter, first: Int = 50, after: String): IssueConnection!
  count: Int!
}
type Mutation {
  issueCreate(input: IssueCreateInput!): IssuePayload!
  issueDelete(id: String!): IssuePayload!
}
"""

HEAD = """\
slug: tracker
name: Tracker
source: {kind: graphql, path: schema.graphql}
base_url: https://api.tracker.example/graphql
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "schema.graphql").write_text(SDL)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def compile_spec(body: str, head: str = HEAD) -> Integration:
    path = Path("specs/tracker.yaml")
    path.write_text(head + textwrap.dedent(body))
    return parse_spec(path)


def compile_error(body: str, head: str = HEAD) -> str:
    with pytest.raises(SpecError) as caught:
        compile_spec(body, head)
    return str(caught.value)


def canonical(document: str) -> str:
    return print_ast(parse(document))


# --- arguments -------------------------------------------------------------------------------------------------------


def test_root_field_arguments_become_tool_arguments(project: Path) -> None:
    integration = compile_spec(
        """
        tools:
          - {operation: query issues, name: list_issues, selection: "nodes { id } pageInfo { endCursor }"}
          - {operation: mutation issueCreate, name: create_issue, selection: "success"}
        """
    )
    issues = integration.tool("list_issues").input_schema
    assert "required" not in issues and issues["additionalProperties"] is False
    assert issues["properties"]["first"] == {"type": "integer", "default": 50}
    assert issues["properties"]["after"] == {"type": "string"}
    # IssueFilter refers to itself (and: [IssueFilter!]), so it lives in $defs; the flat comparator is spelled out
    # inline; UserFilter nests another input object, so it stays an open object that names its type.
    assert issues["properties"]["filter"] == {"$ref": "#/$defs/IssueFilter"}
    issue_filter = issues["$defs"]["IssueFilter"]
    assert issue_filter["description"] == "Filters issues."
    assert issue_filter["properties"]["and"] == {"type": "array", "items": {"$ref": "#/$defs/IssueFilter"}}
    assert issue_filter["properties"]["title"]["properties"]["in"] == {"type": "array", "items": {"type": "string"}}
    assert issue_filter["properties"]["assignee"]["type"] == "object"
    assert "UserFilter" in issue_filter["properties"]["assignee"]["description"]
    assert "properties" not in issue_filter["properties"]["assignee"]

    create = integration.tool("create_issue").input_schema
    assert create["required"] == ["input"]
    payload = create["properties"]["input"]
    assert payload["required"] == ["teamId", "title"]
    assert payload["properties"]["teamId"] == {"type": "string", "description": "The team"}
    assert payload["properties"]["labelIds"] == {"type": "array", "items": {"type": "string"}}
    assert payload["properties"]["dueDate"] == {
        "type": "string",
        "description": "DateTime (custom scalar, sent as a string). A point in time, ISO 8601.",
    }
    assert payload["properties"]["priority"] == {
        "type": "string",
        "enum": ["URGENT", "LOW"],
        "description": "URGENT: Drop everything",
        "default": "LOW",
    }
    assert payload["properties"]["meta"] == {"type": "object"}
    for tool in integration.tools:
        assert tool_schema_problems(tool.input_schema) == [], tool.name
    binding = integration.tool("create_issue").graphql
    assert binding is not None
    assert (binding.operation_name, binding.variables, binding.result_path) == (
        "IssueCreate",
        {"input": "input"},
        ["issueCreate"],
    )
    assert binding.document == canonical(
        "mutation IssueCreate($input: IssueCreateInput!) { issueCreate(input: $input) { success } }"
    )


def test_non_null_argument_with_default_is_optional(project: Path) -> None:
    schema = SDL.replace("count: Int!", "count(limit: Int! = 10): Int!")
    Path("specs/schema.graphql").write_text(schema)
    integration = compile_spec("tools: [{operation: query count}]\n")
    tool = integration.tool("count")
    assert tool.input_schema["properties"]["limit"] == {"type": "integer", "default": 10}
    assert "required" not in tool.input_schema
    assert tool.graphql is not None
    assert tool.graphql.document == canonical("query Count($limit: Int) { count(limit: $limit) }")


# --- selections ------------------------------------------------------------------------------------------------------


def test_default_selection_is_scalars_and_identities_of_nested_objects(project: Path) -> None:
    integration = compile_spec("tools: [{operation: query issue, name: get_issue}, query issues]\n")
    issue = integration.tool("get_issue")
    assert issue.graphql is not None
    # Not `old` (deprecated), not `comments` (needs an argument); nested objects by their identifying fields.
    assert issue.graphql.document == canonical(
        """
        query Issue($id: String!) {
          issue(id: $id) {
            id identifier title priority createdAt
            assignee { id name email }
            labels
            parent { id identifier title }
          }
        }
        """
    )
    assert issue.description == "One issue by id."
    assert issue.annotations.read_only_hint is True
    connection = integration.tool("issues").graphql
    assert connection is not None
    assert "nodes {\n      id\n      identifier" in connection.document
    assert "pageInfo {\n      hasNextPage\n      endCursor\n    }" in connection.document


def test_spec_selection_and_whole_documents(project: Path) -> None:
    integration = compile_spec(
        """
        tools:
          - operation: query issue
            name: get_issue
            selection: "id title assignee { name }"
          - operation: IssueTitles
            name: issue_titles
            document: |
              query IssueTitles($first: Int = 5, $title: String!) {
                issues(first: $first, filter: {title: {contains: $title}}) { nodes { title } }
              }
        """
    )
    issue = integration.tool("get_issue").graphql
    assert issue is not None
    assert issue.document == canonical("query Issue($id: String!) { issue(id: $id) { id title assignee { name } } }")
    titles = integration.tool("issue_titles")
    assert titles.graphql is not None
    assert (titles.graphql.operation_name, titles.graphql.result_path) == ("IssueTitles", ["issues"])
    assert titles.graphql.variables == {"first": "first", "title": "title"}
    assert titles.input_schema["properties"] == {
        "first": {"type": "integer", "default": 5},
        "title": {"type": "string"},
    }
    assert titles.input_schema["required"] == ["title"]


def test_every_root_field_without_tools(project: Path) -> None:
    integration = compile_spec("")
    assert [t.name for t in integration.tools] == ["issue", "issues", "count", "issue_create", "issue_delete"]
    delete = integration.tool("issue_delete")
    assert (delete.enabled, delete.annotations.destructive_hint) == (False, True)  # destructive: opt-in
    assert integration.tool("issue_create").enabled is True
    count = integration.tool("count").graphql
    assert count is not None and count.document == canonical("query Count { count }")


# --- errors, at the spec line ----------------------------------------------------------------------------------------


def test_selection_error_names_the_spec_line(project: Path) -> None:
    message = compile_error(
        """
        tools:
          - operation: query issue
            selection: "id titel"
        """
    )
    assert message == (
        "specs/tracker.yaml:8: tools[0].selection does not match the schema: "
        "Cannot query field 'titel' on type 'Issue'. Did you mean 'title'?"
    )


def test_document_error_names_the_line_inside_the_document(project: Path) -> None:
    message = compile_error(
        """
        tools:
          - operation: Titles
            document: |
              query Titles {
                issues {
                  nodes { title colour }
                }
              }
        """
    )
    assert message.startswith("specs/tracker.yaml:11: tools[0].document does not match the schema: ")
    assert "Cannot query field 'colour' on type 'Issue'." in message


def test_document_syntax_and_naming_errors(project: Path) -> None:
    message = compile_error("tools: [{operation: Broken, document: 'query Broken { issues { '}]\n")
    assert message.startswith("specs/tracker.yaml:5: tools[0].document is not valid GraphQL: Syntax Error:")
    assert message.endswith("; fix the syntax")
    message = compile_error("tools: [{operation: Titels, document: 'query Titles { count }'}]\n")
    assert message == (
        "specs/tracker.yaml:5: tools[0].document has no operation named 'Titels' (operation: names the document's "
        "operation; it has Titles); did you mean 'Titles'?"
    )
    message = compile_error("tools: [{operation: Count, document: '{ count }'}]\n")
    assert "has an anonymous operation; name it 'Count'" in message
    message = compile_error("tools: [{operation: Bad, document: 'query Bad($x: Nope) { count }'}]\n")
    assert "does not match the schema:" in message and "Unknown type 'Nope'." in message


def test_unknown_operation_suggests_root_fields(project: Path) -> None:
    message = compile_error("tools: [{operation: query isue}]\n")
    assert message == (
        "specs/tracker.yaml:5: tools[0].operation 'query isue' not found in the schema; "
        "did you mean 'query issue' or 'query issues' or 'query count'?"
    )
    message = compile_error("tools: [{operation: 'GET /issues'}]\n")
    assert "is not a GraphQL root field; write 'query <field>' or 'mutation <field>'" in message
    message = compile_error("tools: [{operation: query count, selection: id}]\n")
    assert "tools[0].selection is not used: 'query count' returns Int!, which has no fields; remove it" in message


def test_graphql_keys_are_refused_elsewhere_and_exclusive(project: Path) -> None:
    Path("specs/openapi.yaml").write_text("openapi: 3.0.3\n")
    path = Path("specs/other.yaml")
    path.write_text(
        "slug: other\nname: Other\nsource: {kind: openapi, path: openapi.yaml}\ntools:\n  - {operation: a, selection: id}\n"
    )
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert str(caught.value) == (
        "specs/other.yaml:5: tools[0].selection is only used by source kind 'graphql', not 'openapi'; remove it"
    )
    message = compile_error("tools: [{operation: query issue, selection: id, document: 'query A { count }'}]\n")
    assert message.startswith("specs/tracker.yaml:5: tools[0].selection and document: both say what to fetch")


def test_pinned_sha256_is_checked(project: Path) -> None:
    head = HEAD.replace("path: schema.graphql}", "path: schema.graphql, sha256: '" + "0" * 64 + "'}")
    message = compile_error("tools: [query count]\n", head)
    assert message.startswith("specs/tracker.yaml:3: source.sha256 is " + "0" * 64 + " but ")
    assert "if the new schema is intended, update source.sha256" in message


# --- the Linear built-in ---------------------------------------------------------------------------------------------


def test_linear_spec_compiles_against_the_reference_schema() -> None:
    integration = parse_spec(ROOT / "specs" / "linear.yaml")
    reference = build_schema((ROOT / "specs" / "linear" / "schema.graphql").read_text())
    for tool in integration.tools:
        assert tool.graphql is not None
        assert validate(reference, parse(tool.graphql.document)) == [], tool.name
        assert tool_schema_problems(tool.input_schema) == [], tool.name
        assert len(json.dumps(tool.input_schema)) < 40_000, tool.name  # filters stay bounded
    schemes = {scheme.id: scheme for scheme in integration.auth}
    assert (schemes["api_key"].location, schemes["api_key"].param_name) == ("header", "Authorization")
    assert schemes["oauth2"].flows[0].token_url == "https://api.linear.app/oauth/token"
    assert {t.name for t in integration.tools if not t.enabled} == {"archive_issue", "delete_issue"}


# --- runtime ---------------------------------------------------------------------------------------------------------


def _issue(info: Any, id: str) -> dict[str, Any]:
    if id == "missing":
        raise GraphQLError("Entity not found: Issue")
    return {"id": id, "title": "Flaky test", "assignee": _no_assignee}


def _no_assignee(info: Any) -> None:
    raise GraphQLError("assignee is private")


@dataclass
class GraphQLStandIn:
    """An httpx2 transport that executes requests against SDL, or answers `raw` as it is when set."""

    raw: tuple[int, bytes] | None = None
    requests: list[httpx2.Request] = field(default_factory=list)

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if self.raw is not None:
            status, body = self.raw
        else:
            payload = json.loads(request.content)
            result = graphql_sync(
                build_schema(SDL),
                payload["query"],
                root_value={"issue": _issue, "count": 3},
                variable_values=payload["variables"],
                operation_name=payload["operationName"],
            )
            status, body = 200, json.dumps(result.formatted).encode()
        return httpx2.Response(status, content=body, headers={"content-type": "application/json"})

    def client(self, integration: Integration) -> UpstreamClient:
        return UpstreamClient(integration, transport=httpx2.MockTransport(self.handle))

    def last(self) -> tuple[httpx2.Request, Any]:
        return self.requests[-1], json.loads(self.requests[-1].content)


@pytest.fixture
def standin() -> GraphQLStandIn:
    return GraphQLStandIn()


def _runtime_integration(tmp_path: Path, base_url: str) -> Integration:
    (tmp_path / "schema.graphql").write_text(SDL)
    spec = tmp_path / "tracker.yaml"
    spec.write_text(
        HEAD.replace("https://api.tracker.example/graphql", base_url)
        + textwrap.dedent(
            """
            auth:
              - {type: oauth2, authorization_url: "https://tracker.example/authorize", token_url: "https://tracker.example/token"}
              - {type: api_key, in: header, name: Authorization}
            tools:
              - {operation: query issue, selection: "id title assignee { name }"}
              - {operation: query count}
            policy: {allowed_hosts: [127.0.0.1], allow_private_network: true}
            """
        )
    )
    return parse_spec(spec)


async def test_data_at_the_result_path(standin: GraphQLStandIn, tmp_path: Path) -> None:
    integration = _runtime_integration(tmp_path, "http://127.0.0.1/graphql")
    client = standin.client(integration)
    try:
        output = await execute_graphql(integration.tool("count"), client, Credential(token="oauth-token"), {})
        assert (output.is_error, output.structured, output.text) == (False, 3, "3")
        sent, body = standin.last()
        assert (sent.method, str(sent.url), sent.headers["authorization"]) == (
            "POST",
            "http://127.0.0.1/graphql",
            "Bearer oauth-token",
        )
        assert sent.headers["content-type"] == "application/json"
        assert body == {"query": "query Count {\n  count\n}", "variables": {}, "operationName": "Count"}

        output = await execute_graphql(integration.tool("count"), client, Credential(api_key="key-123"), {})
        assert standin.last()[0].headers["authorization"] == "key-123"  # the api_key scheme: the header is the key
    finally:
        await client.aclose()


async def test_errors_array_is_a_tool_error_with_partial_data(standin: GraphQLStandIn, tmp_path: Path) -> None:
    integration = _runtime_integration(tmp_path, "http://127.0.0.1/graphql")
    client = standin.client(integration)
    credential = Credential(api_key="key-123")
    try:
        output = await execute_graphql(integration.tool("issue"), client, credential, {"id": "I-1", "unused": None})
        assert standin.last()[1]["variables"] == {"id": "I-1"}  # None is left out
        assert output.is_error is True
        assert output.text == "Issue: GraphQL errors: assignee is private (at issue.assignee) (partial data included)"
        assert output.structured["data"] == {"issue": {"id": "I-1", "title": "Flaky test", "assignee": None}}
        assert output.structured["errors"][0]["path"] == ["issue", "assignee"]

        output = await execute_graphql(integration.tool("issue"), client, credential, {"id": "missing"})
        assert (output.is_error, output.text) == (True, "Issue: GraphQL errors: Entity not found: Issue (at issue)")
    finally:
        await client.aclose()


async def test_http_errors_and_non_graphql_answers(standin: GraphQLStandIn, tmp_path: Path) -> None:
    integration = _runtime_integration(tmp_path, "http://127.0.0.1/graphql")
    client = standin.client(integration)
    credential = Credential(api_key="key-123")
    try:
        standin.raw = (400, json.dumps({"errors": [{"message": "Variable '$id' is required"}]}).encode())
        output = await execute_graphql(integration.tool("issue"), client, credential, {})
        assert (output.is_error, output.upstream_status) == (True, 400)
        assert output.text == "Issue: HTTP 400: GraphQL errors: Variable '$id' is required"

        standin.raw = (200, b'{"hello": "world"}')
        output = await execute_graphql(integration.tool("issue"), client, credential, {"id": "x"})
        assert output.is_error is True and "did not answer with a GraphQL response" in output.text

        standin.raw = (500, b'{"message": "down"}')
        output = await execute_graphql(integration.tool("issue"), client, credential, {"id": "x"})
        assert output.is_error is True and "HTTP 500" in output.text and "down" in output.text
    finally:
        await client.aclose()


async def test_egress_policy_applies(tmp_path: Path) -> None:
    integration = _runtime_integration(tmp_path, "https://evil.example/graphql")
    client = UpstreamClient(integration)
    try:
        output = await execute_graphql(integration.tool("count"), client, Credential(api_key="k"), {})
        assert output.is_error is True
        assert (
            output.text
            == "POST /graphql: refused by policy: host 'evil.example' is not in the allowed hosts of 'tracker'"
        )
    finally:
        await client.aclose()
