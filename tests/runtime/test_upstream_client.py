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
from mcphub.runtime.credentials import Credential
from mcphub.runtime.http import HubCall, UpstreamClient
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
    call = HubCall(tool, client, Credential(token="t", server_variables={"version": "9"}))
    output = await call.http(path={"key": "A-1"})
    assert output.is_error
    assert "server variable 'version' must be one of ['2', '3'], got '9'" in output.text


async def test_missing_credential_says_how_to_configure_it(clients: list[UpstreamClient]) -> None:
    client = _client(_jira(auth=[AuthScheme(id="b", type="bearer", label="API token")]), clients)
    output = await HubCall(client.integration.tools[0], client, None).http(path={"key": "A-1"})
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
    output = await HubCall(integration.tools[0], client, None).http(path={"key": "A-1"})
    assert output.is_error
    assert "refused by policy: host 'localhost' resolves to a private, loopback or reserved address" in output.text


async def test_literal_private_ip_is_refused(clients: list[UpstreamClient]) -> None:
    integration = _jira(auth=[], security=[], allowed_hosts=["10.1.2.3", "169.254.169.254"])
    for host in ("10.1.2.3", "169.254.169.254"):
        integration.base_url = f"http://{host}"
        client = _client(integration, clients)
        output = await HubCall(integration.tools[0], client, None).http(path={"key": "A-1"})
        assert f"host '{host}' resolves to a private" in output.text


async def test_methods_outside_the_policy_are_refused(clients: list[UpstreamClient]) -> None:
    integration = _jira(auth=[], security=[], allowed_methods=["GET"])
    integration.tools[1].http.security = []  # type: ignore[union-attr]
    client = _client(integration, clients)
    output = await HubCall(integration.tools[1], client, None).http(path={"key": "A-1"})
    assert output.is_error
    assert "refused by policy: method DELETE is not allowed for 'jira-cloud'" in output.text


async def test_a_call_of_a_binding_kind_the_tool_lacks_is_a_clear_tool_error(clients: list[UpstreamClient]) -> None:
    client = _client(_jira(auth=[]), clients)
    call = HubCall(client.integration.tools[0], client, None)  # an HTTP tool
    for method, kind in ((call.graphql, "GraphQL"), (call.sql, "SQL"), (call.mcp, "upstream MCP")):
        output = await method({})
        assert output.is_error and f"tool 'get_issue' has no {kind} binding" in output.text


def test_credential_repr_hides_secrets() -> None:
    text = repr(Credential(token="s3cr3t", password="hunter2", username="me"))
    assert "s3cr3t" not in text and "hunter2" not in text
    assert "token" in text
