"""Request building, credential injection and the egress policy of `UpstreamClient` (refusals send nothing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from mcphub.compiler.ir import (
    ArgLocation,
    AuthScheme,
    HttpBinding,
    Integration,
    Policy,
    ServerVariable,
    SourceInfo,
    Tool,
)
from mcphub.runtime.upstream.call import HubCall
from mcphub.runtime.upstream.client import UpstreamClient
from mcphub.runtime.upstream.credentials import Credential
from mcphub.runtime.upstream.executors.http import HttpExecutor
from runtime.support import _arg


def _jira(*, auth: list[AuthScheme], security: list[list[str]] | None = None, **policy: Any) -> Integration:
    return Integration(
        slug="jira-cloud",
        name="Jira",
        source=SourceInfo(kind="openapi"),
        base_url="https://{site}.atlassian.net/rest/api/{version}",
        server_variables={
            "site": ServerVariable(default="your-domain"),
            "version": ServerVariable(default="3", enum=["2", "3"]),
        },
        auth=auth,
        default_security=[[scheme.id] for scheme in auth],
        tools=[
            Tool(
                name="get_issue",
                input_schema={"type": "object", "properties": {"key": {"type": "string"}}},
                http=HttpBinding(
                    method="GET",
                    path="/issue/{key}",
                    args=[_arg("key", ArgLocation.PATH, required=True)],
                    security=security,
                ),
            ),
            Tool(name="delete_issue", http=HttpBinding(method="DELETE", path="/issue/{key}")),
        ],
        policy=Policy(**policy),
    )


@pytest.fixture
async def clients() -> AsyncIterator[list[UpstreamClient]]:
    made: list[UpstreamClient] = []
    yield made
    for client in made:
        await client.aclose()


def _client(integration: Integration, made: list[UpstreamClient]) -> UpstreamClient:
    client = UpstreamClient(integration)
    made.append(client)
    return client


def _call(tool: Tool, client: UpstreamClient, credential: Credential | None) -> HubCall:
    """The Call generated code gets for `tool`, on an HTTP executor around `client`."""
    return HubCall(tool, HttpExecutor(client.integration, client), credential)


def _prepare(client: UpstreamClient, credential: Credential | None, **path: Any) -> Any:
    tool = client.integration.tools[0]
    return client.prepare(
        tool, credential, path=path, query=None, headers=None, cookies=None, body=None, form=None, multipart=None
    )


@pytest.mark.parametrize(
    ("scheme", "credential", "where", "expected"),
    [
        (AuthScheme(id="b", type="bearer"), Credential(token="t0k"), "header", ("Authorization", "Bearer t0k")),
        (
            AuthScheme(id="gh", type="bearer", prefix="token"),
            Credential(token="t0k"),
            "header",
            ("Authorization", "token t0k"),
        ),
        (
            AuthScheme(id="basic", type="basic"),
            Credential(username="me@x.io", password="p:w"),
            "header",
            ("Authorization", "Basic bWVAeC5pbzpwOnc="),
        ),
        (AuthScheme(id="o", type="oauth2"), Credential(token="acc"), "header", ("Authorization", "Bearer acc")),
        (
            AuthScheme(id="k", type="api_key", location="header", param_name="X-Key"),
            Credential(api_key="k 1"),
            "header",
            ("X-Key", "k 1"),
        ),
        (
            AuthScheme(id="k", type="api_key", location="query", param_name="key"),
            Credential(api_key="k 1"),
            "query",
            "key=k%201",
        ),
        (
            AuthScheme(id="k", type="api_key", location="cookie", param_name="sid"),
            Credential(token="k1"),
            "header",
            ("Cookie", "sid=k1"),
        ),
    ],
)
async def test_credential_injection(
    clients: list[UpstreamClient], scheme: AuthScheme, credential: Credential, where: str, expected: Any
) -> None:
    client = _client(_jira(auth=[scheme]), clients)
    prepared = _prepare(client, credential, key="PRJ-1")
    if where == "query":
        assert prepared.url.endswith("?" + expected)
    else:
        name, value = expected
        assert prepared.headers[name] == value


async def test_server_variables_come_from_defaults_and_credential(clients: list[UpstreamClient]) -> None:
    client = _client(_jira(auth=[AuthScheme(id="b", type="bearer")]), clients)
    assert (
        _prepare(client, Credential(token="t"), key="A-1").url
        == "https://your-domain.atlassian.net/rest/api/3/issue/A-1"
    )
    custom = Credential(token="t", server_variables={"site": "acme", "version": "2"})
    assert _prepare(client, custom, key="A-1").url == "https://acme.atlassian.net/rest/api/2/issue/A-1"
    assert client.policy.host_allowed("acme.atlassian.net")
    assert not client.policy.host_allowed("acme.atlassian.net.evil.io")
    assert not client.policy.host_allowed("a.b.atlassian.net")


async def test_server_variable_outside_its_enum_is_a_tool_error(clients: list[UpstreamClient]) -> None:
    client = _client(_jira(auth=[AuthScheme(id="b", type="bearer")]), clients)
    tool = client.integration.tools[0]
    call = _call(tool, client, Credential(token="t", server_variables={"version": "9"}))
    output = await call.http(path={"key": "A-1"})
    assert output.is_error
    assert "server variable 'version' must be one of ['2', '3'], got '9'" in output.text


async def test_missing_credential_says_how_to_configure_it(clients: list[UpstreamClient]) -> None:
    client = _client(_jira(auth=[AuthScheme(id="b", type="bearer", label="API token")]), clients)
    output = await _call(client.integration.tools[0], client, None).http(path={"key": "A-1"})
    assert output.is_error
    assert "no credential configured for Jira (jira-cloud); it needs bearer (API token)" in output.text
    assert "MCPHUB_CRED_JIRA_CLOUD_TOKEN" in output.text


async def test_optional_security_sends_anonymously(clients: list[UpstreamClient]) -> None:
    client = _client(_jira(auth=[AuthScheme(id="b", type="bearer")], security=[[], ["b"]]), clients)
    assert "Authorization" not in _prepare(client, None, key="A-1").headers
    assert _prepare(client, Credential(token="t"), key="A-1").headers["Authorization"] == "Bearer t"


async def test_private_addresses_are_refused_before_connecting(clients: list[UpstreamClient]) -> None:
    integration = _jira(auth=[], security=[])
    integration.base_url = "http://localhost:9/api"
    integration.server_variables = {}
    integration.policy.allowed_hosts = ["localhost"]
    client = _client(integration, clients)
    output = await _call(integration.tools[0], client, None).http(path={"key": "A-1"})
    assert output.is_error
    assert "refused by policy: host 'localhost' resolves to a private, loopback or reserved address" in output.text


async def test_literal_private_ip_is_refused(clients: list[UpstreamClient]) -> None:
    integration = _jira(auth=[], security=[], allowed_hosts=["10.1.2.3", "169.254.169.254"])
    for host in ("10.1.2.3", "169.254.169.254"):
        integration.base_url = f"http://{host}"
        client = _client(integration, clients)
        output = await _call(integration.tools[0], client, None).http(path={"key": "A-1"})
        assert f"host '{host}' resolves to a private" in output.text


async def test_methods_outside_the_policy_are_refused(clients: list[UpstreamClient]) -> None:
    integration = _jira(auth=[], security=[], allowed_methods=["GET"])
    integration.tools[1].http.security = []  # type: ignore[union-attr]
    client = _client(integration, clients)
    output = await _call(integration.tools[1], client, None).http(path={"key": "A-1"})
    assert output.is_error
    assert "refused by policy: method DELETE is not allowed for 'jira-cloud'" in output.text


async def test_a_call_of_a_binding_kind_the_tool_lacks_is_a_clear_tool_error(clients: list[UpstreamClient]) -> None:
    client = _client(_jira(auth=[]), clients)
    call = _call(client.integration.tools[0], client, None)  # an HTTP tool
    for method, kind in ((call.graphql, "GraphQL"), (call.sql, "SQL"), (call.mcp, "upstream MCP")):
        output = await method({})
        assert output.is_error and f"tool 'get_issue' has no {kind} binding" in output.text


def test_credential_repr_hides_secrets() -> None:
    text = repr(Credential(token="s3cr3t", password="hunter2", username="me"))
    assert "s3cr3t" not in text and "hunter2" not in text
    assert "token" in text


# --- spec defaults and response shaping -------------------------------------------------------------------------


def _search_tool() -> Tool:
    return Tool(
        name="search",
        input_schema={"type": "object", "properties": {"q": {}, "per_page": {}, "fields": {}, "page_size": {}}},
        http=HttpBinding(
            method="POST",
            path="/search",
            args=[
                _arg("q", ArgLocation.QUERY),
                _arg("per_page", ArgLocation.QUERY),
                _arg("fields", ArgLocation.QUERY, explode=False),
                _arg("page_size", ArgLocation.BODY),
            ],
            body_encoding="json",
            fixed={ArgLocation.HEADER: {"X-Version": "3"}, ArgLocation.BODY: {"kind": "page"}},
        ),
        defaults={"per_page": 20, "fields": ["summary", "status"], "page_size": 25},
    )


async def test_spec_defaults_are_sent_for_omitted_arguments_only(clients: list[UpstreamClient]) -> None:
    integration = _jira(auth=[], security=[])
    integration.tools.append(_search_tool())
    client = _client(integration, clients)
    tool = integration.tools[-1]
    parts: dict[str, Any] = {"path": None, "headers": None, "cookies": None, "form": None, "multipart": None}

    prepared = client.prepare(tool, None, query={"q": "bug", "per_page": None}, body={"page_size": None}, **parts)
    assert prepared.url.endswith("/search?q=bug&per_page=20&fields=summary,status")
    assert prepared.headers["X-Version"] == "3"
    assert prepared.content == b'{"page_size": 25, "kind": "page"}'

    given = client.prepare(tool, None, query={"per_page": 5, "fields": ["key"]}, body={"page_size": 3}, **parts)
    assert given.url.endswith("/search?per_page=5&fields=key")
    assert given.content == b'{"page_size": 3, "kind": "page"}'


def test_the_runtime_implements_every_transform_the_compiler_accepts() -> None:
    from mcphub.compiler.ir import RESPONSE_TRANSFORMS
    from mcphub.runtime.upstream.transforms import TRANSFORMS

    assert set(TRANSFORMS) == set(RESPONSE_TRANSFORMS)


def test_keep_projects_objects_and_maps_arrays() -> None:
    from mcphub.compiler.ir import ResponseShape
    from mcphub.runtime.upstream.transforms import shaper_for

    issue = {
        "number": 7,
        "title": "Crash",
        "node_id": "I_1",
        "user": {"login": "ada", "id": 1, "avatar_url": "https://…"},
        "labels": [{"name": "bug", "color": "f00"}, {"name": "p1", "color": "0f0"}],
        "milestone": None,
        "pull_request": {"url": "https://…", "html_url": "https://github.com/o/r/pull/7"},
    }
    keep = shaper_for(
        ResponseShape(keep=["number", "title", "user.login", "labels.name", "milestone.title", "pull_request"])
    )
    trimmed = {
        "number": 7,
        "title": "Crash",
        "user": {"login": "ada"},
        "labels": [{"name": "bug"}, {"name": "p1"}],
        "milestone": None,
        "pull_request": issue["pull_request"],
    }
    assert keep(issue) == trimmed
    assert keep([issue, {"number": 8}]) == [trimmed, {"number": 8}]  # a list answer: each item

    each = shaper_for(ResponseShape(keep=["number"], items="items"))
    assert each({"total_count": 2, "items": [issue, issue]}) == {"total_count": 2, "items": [{"number": 7}] * 2}
    assert each({"message": "rate limited"}) == {"message": "rate limited"}  # not the list shape: untouched


def test_html_mail_bodies_become_readable_text() -> None:
    from mcphub.runtime.upstream.transforms import html_to_text

    html = (
        "<html><head><title>x</title><style>p{}</style></head><body><h1>Order shipped</h1>"
        "<p>Hello&nbsp;Ada,</p><ul><li>Book</li><li>Lamp</li></ul><script>track()</script>"
        "<p><a href='https://shop.example.com/t/1'>Track it</a> &amp; <a href='#top'>top</a></p></body></html>"
    )
    assert html_to_text(html) == (
        "Order shipped\n\nHello Ada,\n\n- Book\n- Lamp\n\nTrack it (https://shop.example.com/t/1) & top"
    )
