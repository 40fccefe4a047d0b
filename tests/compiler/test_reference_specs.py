"""Every published description of a service we ship compiles into client-safe tools."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from mcphub.compiler.ir import ArgBinding, ArgLocation, Integration, SourceInfo, Tool
from mcphub.compiler.naming import is_legal_tool_name
from mcphub.compiler.schemas import tool_schema_problems
from mcphub.compiler.sources.openapi import HTTP_METHODS, SKIPPED_HEADERS, load_document, openapi_to_integration

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs"
SLUG = "abcdefghij-klmnopqrs"  # 20 characters: the tightest budget we promise (48 - 20 - 2 = 26)
REFERENCE = {
    "github.openapi.json": ("openapi 3.0.3", 1223),
    "stripe.openapi.json": ("openapi 3.0.0", 452),
    "jira.openapi.json": ("openapi 3.0.1", 499),
    "slack.swagger2.json": ("swagger 2.0", 174),
    "notion.openapi.json": ("openapi 3.1.0", 24),
    "google-drive.openapi.json": ("openapi 3.0.0", 50),
    "gmail.openapi.json": ("openapi 3.0.0", 79),
}


@functools.cache
def compiled(file: str) -> tuple[dict[str, Any], str, Integration]:
    document, label = load_document(SPECS / file)
    integration = openapi_to_integration(document, slug=SLUG, source=SourceInfo(kind="openapi", path=file))
    return document, label, integration


def by_source(integration: Integration, ref: str) -> Tool:
    return next(t for t in integration.tools if t.source_ref == ref)


def binding(tool: Tool, name: str) -> ArgBinding:
    assert tool.http is not None
    return next(a for a in tool.http.args if a.name == name)


def resolve(document: dict[str, Any], value: Any) -> Any:
    while isinstance(value, dict) and "$ref" in value:
        node: Any = document
        for part in value["$ref"][2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        value = node
    return value


@pytest.mark.parametrize("file", sorted(REFERENCE))
def test_reference_description_compiles(file: str) -> None:
    document, label, integration = compiled(file)
    expected_label, expected_ops = REFERENCE[file]
    assert label == expected_label
    operations = [
        (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    ]
    assert len(operations) == expected_ops
    assert len(integration.tools) == expected_ops  # one tool per operation

    names = [t.name for t in integration.tools]
    assert len(set(names)) == len(names)
    for name in names:
        assert is_legal_tool_name(name) and len(f"{SLUG}__{name}") <= 48, name

    api_key_params = {(s.location, (s.param_name or "").lower()) for s in integration.auth if s.type == "api_key"}
    for (method, path, op), tool in zip(operations, integration.tools, strict=True):
        assert tool.http is not None and (tool.http.method, tool.http.path) == (method, path)
        assert tool_schema_problems(tool.input_schema) == [], tool.name
        required = set(tool.input_schema.get("required", []))
        assert {a.name for a in tool.http.args if a.required} == required
        # Every required source parameter is a required argument at the same place on the wire.
        item = document["paths"][path]
        for raw in [*item.get("parameters", []), *op.get("parameters", [])]:
            param = resolve(document, raw)
            location = param["in"]
            if not (param.get("required") or location == "path") or location in ("body", "formData"):
                continue
            if location == "header" and param["name"].lower() in SKIPPED_HEADERS:
                continue
            if (location, param["name"].lower()) in api_key_params:
                continue
            match = [a for a in tool.http.args if a.wire_name == param["name"] and a.location.value == location]
            assert match and match[0].name in required, (tool.name, param["name"])
        if tool.http.method == "DELETE":
            assert not tool.enabled and tool.annotations.destructive_hint
        if tool.http.method == "GET":
            assert tool.annotations.read_only_hint
        assert tool.output_schema is None
        assert tool.deprecated == (op.get("deprecated") is True)


def test_github_issues_create() -> None:
    _, _, github = compiled("github.openapi.json")
    tool = by_source(github, "issues/create")
    assert tool.name == "issues_create"
    assert tool.http is not None
    assert (tool.http.method, tool.http.path, tool.http.body_encoding) == (
        "POST",
        "/repos/{owner}/{repo}/issues",
        "json",
    )
    for name in ("owner", "repo"):
        assert binding(tool, name).location is ArgLocation.PATH and binding(tool, name).required
    assert binding(tool, "title").location is ArgLocation.BODY and binding(tool, "title").required
    assert binding(tool, "body").location is ArgLocation.BODY and not binding(tool, "body").required
    labels = tool.input_schema["properties"]["labels"]
    assert labels["type"] == "array"
    assert tool.input_schema["required"] == ["owner", "repo", "title"]
    assert tool.title == "Create an issue"
    assert "Returns an `issue` object" in tool.description
    assert github.base_url == "https://api.github.com"


def test_stripe_form_encoded_expand() -> None:
    _, _, stripe = compiled("stripe.openapi.json")
    assert stripe.base_url == "https://api.stripe.com"
    assert {s.id: s.type for s in stripe.auth} == {"basicAuth": "basic", "bearerAuth": "bearer"}
    assert stripe.default_security == [["basicAuth"], ["bearerAuth"]]
    create = by_source(stripe, "PostCustomers")
    assert create.http is not None and create.http.body_encoding == "form"
    expand = binding(create, "expand")
    assert (expand.location, expand.wire_name, expand.style, expand.explode) == (
        ArgLocation.FORM,
        "expand",
        "deepObject",
        True,
    )
    assert create.input_schema["properties"]["expand"]["type"] == "array"
    # `address` is an anyOf (object or ""): kept below the root.
    assert "anyOf" in create.input_schema["properties"]["address"]
    listing = by_source(stripe, "GetCustomers")
    assert binding(listing, "expand").location is ArgLocation.QUERY
    assert binding(listing, "created").style == "deepObject"


def test_slack_swagger2_form_data() -> None:
    _, _, slack = compiled("slack.swagger2.json")
    assert slack.base_url == "https://slack.com/api"
    assert [s.type for s in slack.auth] == ["oauth2"]
    post = by_source(slack, "chat_postMessage")
    assert post.http is not None
    assert (post.http.method, post.http.path, post.http.body_encoding) == ("POST", "/chat.postMessage", "form")
    channel = binding(post, "channel")
    assert channel.location is ArgLocation.FORM and channel.required
    assert binding(post, "token").location is ArgLocation.HEADER
    assert post.http.security == [["slackAuth"]]
    assert {"chat:write:user", "chat:write:bot"} <= set(next(s for s in slack.auth if s.id == "slackAuth").scopes)


def test_jira_server_variables() -> None:
    _, _, jira = compiled("jira.openapi.json")
    assert jira.base_url == "https://{domain}.atlassian.net"
    assert jira.server_variables["domain"].default == "your-domain"
    assert {s.id for s in jira.auth} == {"OAuth2", "basicAuth"}
    tool = by_source(jira, "getIssue")
    assert tool.http is not None and tool.http.path == "/rest/api/3/issue/{issueIdOrKey}"
    assert binding(tool, "issueIdOrKey").python_name == "issue_id_or_key"
    assert tool.http.security is not None and ["OAuth2"] in tool.http.security


def test_notion_openapi_31() -> None:
    _, label, notion = compiled("notion.openapi.json")
    assert label == "openapi 3.1.0"
    tool = by_source(notion, "post-page")
    assert tool.http is not None and (tool.http.method, tool.http.path) == ("POST", "/v1/pages")
    assert binding(tool, "Notion-Version").location is ArgLocation.HEADER
    assert binding(tool, "parent").location is ArgLocation.BODY
    assert "oneOf" in tool.input_schema["properties"]["parent"]
    assert notion.default_security == [["bearerAuth"]]


def test_google_apis() -> None:
    _, _, gmail = compiled("gmail.openapi.json")
    create = by_source(gmail, "gmail.users.labels.create")
    assert create.http is not None and create.http.body_encoding == "json"
    assert binding(create, "userId").location is ArgLocation.PATH
    assert binding(create, ".xgafv").python_name == "xgafv"
    # messages.send documents only message/* media types with the Message object as schema; at this (non-upload)
    # path Gmail takes that object as JSON ({"raw": "<base64url RFC 2822>"}), so it compiles to a JSON body.
    send = by_source(gmail, "gmail.users.messages.send")
    assert send.http is not None and send.http.body_encoding == "json"
    assert binding(send, "raw").location is ArgLocation.BODY
    _, _, drive = compiled("google-drive.openapi.json")
    assert drive.base_url == "https://www.googleapis.com/drive/v3"
