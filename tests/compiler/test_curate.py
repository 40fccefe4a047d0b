"""Curation: applying a hub spec to the Integration parsed from its source."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from mcphub.compiler.curate import apply_curation
from mcphub.compiler.errors import SpecError
from mcphub.compiler.ir import (
    ArgBinding,
    ArgLocation,
    AuthScheme,
    GraphQLBinding,
    HttpBinding,
    Integration,
    McpBinding,
    OAuthFlow,
    Policy,
    ServerVariable,
    SourceInfo,
    Tool,
    ToolAnnotations,
)
from mcphub.compiler.locator import Locator
from mcphub.compiler.spec import HubSpec, load_spec

FIXTURES = Path(__file__).parent / "fixtures" / "specs"
SPEC = Path("specs/demo.yaml")


def arg(name: str, location: ArgLocation, *, required: bool = False, wire: str | None = None) -> ArgBinding:
    return ArgBinding(name=name, python_name=name, location=location, wire_name=wire or name, required=required)


def http_tool(
    name: str,
    method: str,
    path: str,
    properties: dict[str, Any],
    args: list[ArgBinding],
    *,
    source_ref: str | None = None,
    security: list[list[str]] | None = None,
    **extra: Any,
) -> Tool:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    required = [a.name for a in args if a.required]
    if required:
        schema["required"] = required
    return Tool(
        name=name,
        description=f"{method} {path}",
        input_schema=schema,
        source_ref=source_ref if source_ref is not None else f"{method} {path}",
        http=HttpBinding(method=method, path=path, args=args, security=security),
        **extra,
    )


OWNER_REPO = {"owner": {"type": "string"}, "repo": {"type": "string"}}


def owner_repo() -> list[ArgBinding]:
    return [arg("owner", ArgLocation.PATH, required=True), arg("repo", ArgLocation.PATH, required=True)]


def github() -> Integration:
    """What the OpenAPI stage makes of tests/compiler/fixtures/specs/github/openapi.yaml, written out by hand."""
    return Integration(
        slug="api",
        name="GitHub v3 REST API",
        description="From the source.",
        source=SourceInfo(kind="openapi", path="github/openapi.yaml"),
        base_url="https://{region}.example.com",
        server_variables={"region": ServerVariable(default="eu")},
        auth=[
            AuthScheme(
                id="github_oauth",
                type="oauth2",
                flows=[
                    OAuthFlow(
                        kind="authorization_code",
                        authorization_url="https://old/authorize",
                        token_url="https://old/token",
                        scopes={"repo": "Full control of private repositories", "gist": "Create gists"},
                    )
                ],
            )
        ],
        default_security=[["github_oauth"]],
        tools=[
            http_tool(
                "issues_list_for_repo",
                "GET",
                "/repos/{owner}/{repo}/issues",
                {
                    **OWNER_REPO,
                    "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
                    "since": {"type": "string"},
                    "labels": {"type": "string"},
                    "X-GitHub-Api-Version": {"type": "string", "enum": ["2022-11-28"]},
                },
                [
                    *owner_repo(),
                    arg("per_page", ArgLocation.QUERY),
                    arg("since", ArgLocation.QUERY),
                    arg("labels", ArgLocation.QUERY),
                    arg("X-GitHub-Api-Version", ArgLocation.HEADER),
                ],
                source_ref="issues/list-for-repo",
                security=[["github_oauth"]],
            ),
            http_tool(
                "issues_create",
                "POST",
                "/repos/{owner}/{repo}/issues",
                {**OWNER_REPO, "title": {"type": "string"}, "body": {"type": "string"}},
                [*owner_repo(), arg("title", ArgLocation.BODY, required=True), arg("body", ArgLocation.BODY)],
                source_ref="issues/create",
            ),
            http_tool(
                "post_repos_owner_repo_issues_comments",
                "POST",
                "/repos/{owner}/{repo}/issues/{issue_number}/comments",
                {**OWNER_REPO, "issue_number": {"type": "integer"}, "body": {"type": "string"}},
                [
                    *owner_repo(),
                    arg("issue_number", ArgLocation.PATH, required=True),
                    arg("body", ArgLocation.BODY, required=True),
                ],
            ),
            http_tool(
                "repos_delete",
                "DELETE",
                "/repos/{owner}/{repo}",
                dict(OWNER_REPO),
                owner_repo(),
                source_ref="repos/delete",
                annotations=ToolAnnotations(destructive_hint=True),
            ),
            http_tool("meta_root", "GET", "/meta", {}, [], source_ref="meta/root", security=[]),
            http_tool(
                "gists_delete",
                "DELETE",
                "/gists/{gist_id}",
                {"gist_id": {"type": "string"}},
                [arg("gist_id", ArgLocation.PATH, required=True)],
                source_ref="gists/delete",
            ),
        ],
        policy=Policy(timeout_s=60, rate_limit="10/s"),
        warnings=["from the source"],
    )


def spec(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch | None = None) -> HubSpec:
    """Write a spec under tmp_path/specs/demo.yaml (with its source file) and load it from tmp_path."""
    folder = tmp_path / "specs"
    (folder / "demo").mkdir(parents=True, exist_ok=True)
    (folder / "demo" / "openapi.yaml").write_text("openapi: 3.0.3\n")
    head = "slug: demo\nname: Demo\nsource: {kind: openapi, path: demo/openapi.yaml}\n"
    (folder / "demo.yaml").write_text(head + textwrap.dedent(text))
    return load_spec(folder / "demo.yaml")


def curate(tmp_path: Path, text: str, integration: Integration | None = None) -> Integration:
    hub = spec(tmp_path, text)
    # Errors name the spec as a user gives it on the command line (specs/demo.yaml), not the temporary folder.
    return apply_curation(integration or github(), hub, Locator(SPEC, hub.locator.lines))


def curation_error(tmp_path: Path, text: str, integration: Integration | None = None) -> str:
    with pytest.raises(SpecError) as caught:
        curate(tmp_path, text, integration)
    return str(caught.value)


# ---------------------------------------------------------------------------------------------------------------------
# The fixture spec, end to end


def test_fixture_spec_curates_the_fixture_integration() -> None:
    hub = load_spec(FIXTURES / "github.yaml")
    source = github()
    before = source.model_dump()
    result = apply_curation(source, hub, hub.locator)

    assert source.model_dump() == before  # pure: the input is untouched
    assert (result.slug, result.name, result.category) == ("github", "GitHub", "developer")
    assert result.description == "Repositories, issues, pull requests and code search."
    assert result.base_url == "https://{host}/api/v3"
    assert result.server_variables == {
        "host": ServerVariable(default="api.github.com", description="GitHub Enterprise host name")
    }
    assert [t.name for t in result.tools] == [
        "create_issue",
        "comment_on_issue",
        "repos_delete",
        "list_issues",
        "meta_root",
        "gists_delete",
    ]
    assert [t.enabled for t in result.tools] == [True, True, True, True, True, False]
    listing = result.tool("list_issues")
    assert listing.title == "List issues"
    assert listing.annotations.read_only_hint is True
    assert listing.input_schema["properties"]["per_page"]["default"] == 20
    assert listing.input_schema["properties"]["since"]["default"] == "2024-01-01"
    assert "labels" not in listing.input_schema["properties"]
    assert "X-GitHub-Api-Version" not in listing.input_schema["properties"]
    assert listing.http is not None
    assert listing.http.fixed == {
        ArgLocation.HEADER: {"X-GitHub-Api-Version": "2022-11-28", "Accept": "application/vnd.github+json"}
    }
    assert [a.name for a in listing.http.args] == ["owner", "repo", "per_page", "since"]
    assert result.tool("comment_on_issue").description == "Add a comment to an issue or pull request."
    assert result.policy == Policy(
        allowed_hosts=["api.github.com"],
        allowed_methods=["GET", "POST", "PATCH", "DELETE"],
        rate_limit="60/min",
        timeout_s=20,
    )
    assert [a.id for a in result.auth] == ["oauth2", "bearer"]
    assert result.default_security == [["oauth2"], ["bearer"]]
    assert result.warnings == ["from the source"]
    result.model_validate(result.model_dump())  # still a valid IR


def test_input_is_never_mutated(tmp_path: Path) -> None:
    source = github()
    before = source.to_manifest()
    result = curate(
        tmp_path,
        """\
        auth: [{type: bearer}]
        base_url: https://api.example.com
        tools:
          - {operation: issues/list-for-repo, name: ls, description: d, title: t, defaults: {per_page: 5},
             fixed: {X-GitHub-Api-Version: '2022-11-28', 'header:Accept': x}, hide: [labels], annotations: {read_only: true}}
          - {operation: repos/delete, enabled: true}
        include: all
        policy: {timeout_s: 5}
        """,
        source,
    )
    assert source.to_manifest() == before
    assert all(new is not old for new in result.tools for old in source.tools)


# ---------------------------------------------------------------------------------------------------------------------
# Integration-level settings


def test_without_overrides_the_source_is_kept(tmp_path: Path) -> None:
    result = curate(tmp_path, "")
    source = github()
    assert result.slug == "demo" and result.name == "Demo"
    assert result.description == source.description
    assert result.category == source.category
    assert result.auth == source.auth and result.default_security == source.default_security
    assert result.base_url == source.base_url and result.server_variables == source.server_variables
    assert result.policy == source.policy
    assert [t.name for t in result.tools] == [t.name for t in source.tools]  # no tools: every operation
    assert result.tools[0].http is not None and result.tools[0].http.security == [["github_oauth"]]


def test_policy_fields_override_one_by_one(tmp_path: Path) -> None:
    result = curate(tmp_path, "policy: {allowed_methods: [get], max_response_bytes: 1000, allow_private_network: true}")
    assert result.policy == Policy(
        allowed_methods=["GET"], max_response_bytes=1000, allow_private_network=True, timeout_s=60, rate_limit="10/s"
    )


def test_auth_replaces_the_source_schemes(tmp_path: Path) -> None:
    result = curate(
        tmp_path,
        """\
        auth:
          - {type: oauth2, authorization_url: "https://gh/authorize", token_url: "https://gh/token",
             refresh_url: "https://gh/refresh", scopes: [repo, read:org]}
          - {type: bearer, label: Personal access token, prefix: token, format: opaque}
          - {type: api_key, in: header, name: X-Api-Key, description: From settings}
          - {type: basic, label: Email + API token}
          - {type: openid_connect, url: "https://id/.well-known/openid-configuration", scopes: [openid]}
          - {type: oauth2, id: machine, flow: client_credentials, token_url: "https://gh/token"}
        """,
    )
    oauth, bearer, api_key, basic, oidc, machine = result.auth
    assert oauth == AuthScheme(
        id="oauth2",
        type="oauth2",
        label="Sign in (OAuth)",
        flows=[
            OAuthFlow(
                kind="authorization_code",
                authorization_url="https://gh/authorize",
                token_url="https://gh/token",
                refresh_url="https://gh/refresh",
                # the source's meaning of a scope is kept
                scopes={"repo": "Full control of private repositories", "read:org": ""},
            )
        ],
        scopes=["repo", "read:org"],
    )
    assert bearer == AuthScheme(
        id="bearer", type="bearer", label="Personal access token", prefix="token", bearer_format="opaque"
    )
    assert api_key == AuthScheme(
        id="api_key",
        type="api_key",
        label="API key",
        description="From settings",
        location="header",
        param_name="X-Api-Key",
    )
    assert basic == AuthScheme(id="basic", type="basic", label="Email + API token")
    assert oidc == AuthScheme(
        id="openid_connect",
        type="openid_connect",
        label="Sign in (OpenID Connect)",
        openid_connect_url="https://id/.well-known/openid-configuration",
        scopes=["openid"],
    )
    assert machine.id == "machine" and machine.flows[0].kind == "client_credentials"
    assert result.default_security == [["oauth2"], ["bearer"], ["api_key"], ["basic"], ["openid_connect"], ["machine"]]
    # Every tool now accepts the spec's schemes (the integration default), except operations the source made public.
    security = {t.name: t.http.security for t in result.tools if t.http}
    assert security.pop("meta_root") == []
    assert set(security.values()) == {None}


def test_public_lists_the_tools_without_a_credential(tmp_path: Path) -> None:
    """`public:` replaces the source's `security: []` marks: listed tools are public, every other uses the auth."""
    source = github()
    none_public = curate(tmp_path, "public: []\n", source)
    assert {t.name: t.http.security for t in none_public.tools if t.http}["meta_root"] is None
    assert source.tool("meta_root").http.security == []  # type: ignore[union-attr]  # the input is left alone
    one_public = curate(tmp_path, "public: [repos_delete]\n", source)
    security = {t.name: t.http.security for t in one_public.tools if t.http}
    assert security["repos_delete"] == [] and security["meta_root"] is None
    assert security["issues_list_for_repo"] == [["github_oauth"]]  # a tool's own requirement stays


def test_public_names_a_tool_the_spec_does_not_have(tmp_path: Path) -> None:
    message = curation_error(tmp_path, "public: [meta_roots]\n")
    assert "specs/demo.yaml" in message and "public[0]" in message
    assert "'meta_roots' is not a tool of this spec; did you mean 'meta_root'?" in message


def test_base_url_and_server_variables(tmp_path: Path) -> None:
    result = curate(
        tmp_path,
        """\
        base_url: https://{site}.atlassian.net
        server_variables: {site: {default: example, enum: [example, other], description: Your site}}
        """,
    )
    assert result.base_url == "https://{site}.atlassian.net"
    # the source's {region} belonged to the servers the spec replaced
    assert result.server_variables == {
        "site": ServerVariable(default="example", enum=["example", "other"], description="Your site")
    }


def test_source_variables_used_by_an_operation_server_are_kept(tmp_path: Path) -> None:
    source = github()
    assert source.tools[0].http is not None
    source.tools[0].http.server_url = "https://uploads.{region}.example.com"
    result = curate(tmp_path, "base_url: https://api.example.com", source)
    assert list(result.server_variables) == ["region"]
    result = curate(tmp_path, "base_url: https://api.example.com\ntools: [issues/create]", source)
    assert result.server_variables == {}


def test_source_variables_can_be_given_new_defaults(tmp_path: Path) -> None:
    result = curate(tmp_path, "server_variables: {region: {default: us}}")
    assert result.base_url == "https://{region}.example.com"
    assert result.server_variables == {"region": ServerVariable(default="us")}


def test_base_url_variable_without_definition(tmp_path: Path) -> None:
    assert curation_error(tmp_path, "category: dev\nbase_url: https://{site}.example.com/{version}\n") == (
        "specs/demo.yaml:5: base_url 'https://{site}.example.com/{version}' uses {site} but no server variable 'site' "
        "is defined; add server_variables: {site: {default: ...}}"
    )


def test_unused_server_variable(tmp_path: Path) -> None:
    assert curation_error(tmp_path, "base_url: https://api.example.com\nserver_variables:\n  site: {default: x}\n") == (
        "specs/demo.yaml:6: server_variables.site is not used by base_url 'https://api.example.com' or any "
        "operation's server; remove it or use {site} in base_url"
    )


# ---------------------------------------------------------------------------------------------------------------------
# Selecting tools


def test_listed_tools_only_in_spec_order(tmp_path: Path) -> None:
    result = curate(
        tmp_path,
        """\
        tools:
          - meta/root
          - "post /repos/{owner}/{repo}/issues/{issue_number}/comments"
          - {operation: "GET /repos/{owner}/{repo}/issues"}
          - issues_create
        """,
    )
    assert [t.name for t in result.tools] == [
        "meta_root",
        "post_repos_owner_repo_issues_comments",
        "issues_list_for_repo",
        "issues_create",
    ]


def test_include_all_appends_the_rest_in_source_order(tmp_path: Path) -> None:
    result = curate(tmp_path, "tools: [meta/root, issues/create]\ninclude: all\n")
    assert [t.name for t in result.tools] == [
        "meta_root",
        "issues_create",
        "issues_list_for_repo",
        "post_repos_owner_repo_issues_comments",
        "repos_delete",
        "gists_delete",
    ]


def test_unknown_operation_suggests_the_closest(tmp_path: Path) -> None:
    assert curation_error(tmp_path, "tools:\n  - meta/root\n  - {operation: issues/crate}\n") == (
        "specs/demo.yaml:6: tools[1].operation 'issues/crate' not found in source; did you mean 'issues/create'?"
    )
    assert curation_error(tmp_path, "tools:\n  - GET /repos/{owner}/{repo}/issue\n") == (
        "specs/demo.yaml:5: tools[0].operation 'GET /repos/{owner}/{repo}/issue' not found in source; "
        "did you mean 'GET /repos/{owner}/{repo}/issues' or 'POST /repos/{owner}/{repo}/issues' or 'DELETE /repos/{owner}/{repo}'?"
    )


def test_unknown_operation_without_a_close_match(tmp_path: Path) -> None:
    assert curation_error(tmp_path, "tools: [zzzzzz]\n") == (
        "specs/demo.yaml:4: tools[0].operation 'zzzzzz' not found in source; give an operationId or 'METHOD /path' "
        "of the source (it has 6, e.g. 'issues/list-for-repo', 'issues/create', "
        "'POST /repos/{owner}/{repo}/issues/{issue_number}/comments')"
    )


def test_same_operation_twice(tmp_path: Path) -> None:
    assert curation_error(
        tmp_path, "tools:\n  - issues/create\n  - meta/root\n  - POST /repos/{owner}/{repo}/issues\n"
    ) == (
        "specs/demo.yaml:7: tools[2].operation 'POST /repos/{owner}/{repo}/issues' selects the same operation as "
        "tools[0] (line 5); merge the two entries"
    )


def test_ambiguous_operation_asks_for_the_tool_name(tmp_path: Path) -> None:
    source = github()
    # e.g. one operation split into a tool per request-body variant, both keeping the operation's ref
    variant = source.tools[1].model_copy(deep=True, update={"name": "issues_create_from_template"})
    source.tools.append(variant)
    assert curation_error(tmp_path, "tools: [issues/create]\n", source) == (
        "specs/demo.yaml:4: tools[0].operation 'issues/create' matches 2 tools ('issues_create', "
        "'issues_create_from_template'); select one of them by its tool name"
    )
    result = curate(tmp_path, "tools: [issues_create_from_template]\n", source)
    assert [t.name for t in result.tools] == ["issues_create_from_template"]


def test_non_http_tools_are_selected_by_ref_or_name(tmp_path: Path) -> None:
    source = Integration(
        slug="x",
        name="X",
        source=SourceInfo(kind="mcp", command=["server"]),
        tools=[
            Tool(name="get_time", source_ref="get_time", mcp=McpBinding(upstream_name="get_time")),
            Tool(name="convert", source_ref="convert_time", mcp=McpBinding(upstream_name="convert_time")),
        ],
    )
    result = curate(tmp_path, "tools: [convert, {operation: get_time, name: now}]\n", source)
    assert [t.name for t in result.tools] == ["convert", "now"]


# ---------------------------------------------------------------------------------------------------------------------
# Curating one tool


def test_rename_describe_title_annotate(tmp_path: Path) -> None:
    source = github()
    source.tools[1].annotations.title = "Old title"
    result = curate(
        tmp_path,
        """\
        tools:
          - operation: issues/create
            name: create-issue
            title: Create an issue
            description: Open a new issue in a repository.
            annotations: {read_only: false, destructive: false, idempotent: false, open_world: true}
        """,
        source,
    )
    (tool,) = result.tools
    assert (tool.name, tool.title, tool.description) == (
        "create-issue",
        "Create an issue",
        "Open a new issue in a repository.",
    )
    assert tool.annotations == ToolAnnotations(
        title="Create an issue",
        read_only_hint=False,
        destructive_hint=False,
        idempotent_hint=False,
        open_world_hint=True,
    )


def test_full_name_limit_is_max_name_length(tmp_path: Path) -> None:
    assert curation_error(
        tmp_path, "max_name_length: 20\ntools:\n  - {operation: issues/create, name: create_issue_xy}\n"
    ) == (
        "specs/demo.yaml:6: tools[0].name 'create_issue_xy' makes the full name 'demo__create_issue_xy' 21 characters, "
        "over max_name_length 20; choose a shorter name (at most 14 characters)"
    )
    assert curate(tmp_path, "max_name_length: 20\ntools:\n  - {operation: issues/create, name: create_issue_x}\n")


def test_listed_tool_without_name_too_long(tmp_path: Path) -> None:
    assert curation_error(
        tmp_path, "max_name_length: 24\ntools:\n  - POST /repos/{owner}/{repo}/issues/{issue_number}/comments\n"
    ) == (
        "specs/demo.yaml:6: tools[0].operation 'POST /repos/{owner}/{repo}/issues/{issue_number}/comments' keeps its "
        "source name 'post_repos_owner_repo_issues_comments', making the full name "
        "'demo__post_repos_owner_repo_issues_comments' 43 characters, over max_name_length 24; add a shorter name: to "
        "this entry (at most 18 characters)"
    )


def test_unlisted_tool_too_long(tmp_path: Path) -> None:
    tail = (
        "gives tool 'post_repos_owner_repo_issues_comments' (from "
        "'POST /repos/{owner}/{repo}/issues/{issue_number}/comments'), making the full name "
        "'demo__post_repos_owner_repo_issues_comments' 43 characters, over max_name_length 30; list it under tools: "
        "with a shorter name: (- {operation: 'POST /repos/{owner}/{repo}/issues/{issue_number}/comments', "
        "name: ...}) (at most 24 characters)"
    )
    assert curation_error(tmp_path, "max_name_length: 30\ntools: [meta/root]\ninclude: all\n") == (
        f"specs/demo.yaml:6: include 'all' {tail}"
    )
    assert curation_error(tmp_path, "max_name_length: 30\n") == f"specs/demo.yaml:1: slug 'demo' {tail}"


def test_duplicate_names(tmp_path: Path) -> None:
    assert curation_error(tmp_path, "tools:\n  - meta/root\n  - {operation: issues/create, name: meta_root}\n") == (
        "specs/demo.yaml:6: tools[1].name 'meta_root' is already the name of the tool for 'meta/root'; tool names "
        "must be unique, so choose another name"
    )
    assert curation_error(tmp_path, "tools:\n  - {operation: issues/create, name: meta_root}\n  - meta/root\n") == (
        "specs/demo.yaml:6: tools[1].operation 'meta/root' keeps its source name 'meta_root', but that name is already "
        "taken by the tool for 'issues/create'; tool names must be unique, so add another name: to this entry"
    )
    assert curation_error(tmp_path, "tools:\n  - {operation: issues/create, name: meta_root}\ninclude: all\n") == (
        "specs/demo.yaml:6: include 'all' gives tool 'meta_root' (from 'meta/root'), but that name is already taken "
        "by the tool for 'issues/create'; tool names must be unique, so give one of them another name: under tools:"
    )


def test_defaults(tmp_path: Path) -> None:
    result = curate(tmp_path, "tools:\n  - {operation: issues/list-for-repo, defaults: {per_page: 50, owner: me}}\n")
    properties = result.tools[0].input_schema["properties"]
    assert properties["per_page"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}
    assert properties["owner"]["default"] == "me"
    assert result.tools[0].input_schema["required"] == ["owner", "repo"]  # still required: the caller may not omit it
    # Applied, not only shown: the runtime sends these for omitted arguments.
    assert result.tools[0].defaults == {"per_page": 50, "owner": "me"}
    assert github().tools[0].defaults == {}  # source defaults stay documentation only


def test_default_for_unknown_argument(tmp_path: Path) -> None:
    assert curation_error(tmp_path, "tools:\n  - operation: issues/list-for-repo\n    defaults: {perpage: 5}\n") == (
        "specs/demo.yaml:6: tools[0].defaults.perpage 'perpage' is not an argument of 'issues/list-for-repo'; "
        "did you mean 'per_page'? (its arguments: owner, repo, per_page, since, labels, X-GitHub-Api-Version)"
    )


def test_default_must_fit_the_argument_schema(tmp_path: Path) -> None:
    assert curation_error(
        tmp_path, "tools:\n  - operation: issues/list-for-repo\n    defaults:\n      per_page: 500\n"
    ) == (
        "specs/demo.yaml:7: tools[0].defaults.per_page 500 is not a valid value for the argument: "
        "500 is greater than the maximum of 100"
    )


def test_fixed(tmp_path: Path) -> None:
    result = curate(
        tmp_path,
        """\
        tools:
          - operation: issues/list-for-repo
            fixed: {owner: octocat, X-GitHub-Api-Version: "2022-11-28", per_page: 100, "header:Accept": text/plain,
                    "query:format": full, "cookie: session-kind": bot}
        """,
    )
    (tool,) = result.tools
    assert tool.input_schema == {
        "type": "object",
        "properties": {"repo": {"type": "string"}, "since": {"type": "string"}, "labels": {"type": "string"}},
        "required": ["repo"],
    }
    assert tool.http is not None
    assert [a.name for a in tool.http.args] == ["repo", "since", "labels"]
    assert tool.http.fixed == {
        ArgLocation.PATH: {"owner": "octocat"},
        ArgLocation.HEADER: {"X-GitHub-Api-Version": "2022-11-28", "Accept": "text/plain"},
        ArgLocation.QUERY: {"per_page": 100, "format": "full"},
        ArgLocation.COOKIE: {"session-kind": "bot"},
    }


def test_fixing_every_required_argument_drops_required(tmp_path: Path) -> None:
    result = curate(tmp_path, "tools:\n  - {operation: repos/delete, enabled: true, fixed: {owner: a, repo: b}}\n")
    assert result.tools[0].input_schema == {"type": "object", "properties": {}}


def test_fixed_errors(tmp_path: Path) -> None:
    assert curation_error(tmp_path, "tools:\n  - {operation: issues/create, fixed: {titel: x}}\n") == (
        "specs/demo.yaml:5: tools[0].fixed.titel 'titel' is not an argument of 'issues/create'; did you mean 'title'? "
        "(its arguments: owner, repo, title, body); to send a value the source doesn't declare, write header:<Name>"
    )
    assert curation_error(tmp_path, "tools:\n  - operation: issues/list-for-repo\n    fixed: {per_page: many}\n") == (
        "specs/demo.yaml:6: tools[0].fixed.per_page 'many' is not a valid value for the argument: "
        "'many' is not of type 'integer'"
    )


def test_fixed_argument_without_binding(tmp_path: Path) -> None:
    source = github()
    source.tools[1].input_schema["properties"]["orphan"] = {"type": "string"}
    assert curation_error(tmp_path, "tools:\n  - {operation: issues/create, fixed: {orphan: x}}\n", source) == (
        "specs/demo.yaml:5: tools[0].fixed.orphan can't be fixed: 'issues/create' sends no request argument 'orphan'"
    )


def test_fixed_needs_an_http_argument(tmp_path: Path) -> None:
    source = Integration(
        slug="x",
        name="X",
        source=SourceInfo(kind="graphql", path="schema.graphql"),
        tools=[
            Tool(
                name="issues",
                source_ref="issues",
                input_schema={"type": "object", "properties": {"first": {"type": "integer"}}},
                graphql=GraphQLBinding(document="query", operation_name="issues", variables={"first": "first"}),
            )
        ],
    )
    assert curation_error(tmp_path, "tools:\n  - {operation: issues, fixed: {first: 5}}\n", source) == (
        "specs/demo.yaml:5: tools[0].fixed.first can't be fixed: 'issues' is not an HTTP operation; use defaults: "
        "instead"
    )
    result = curate(tmp_path, "tools:\n  - {operation: issues, defaults: {first: 5}}\n", source)
    assert result.tools[0].input_schema["properties"]["first"]["default"] == 5
    assert result.tools[0].defaults == {"first": 5}
    assert curation_error(tmp_path, "tools:\n  - {operation: issues, response: {keep: [id]}}\n", source) == (
        "specs/demo.yaml:5: tools[0].response 'issues' is not an HTTP operation; GraphQL tools choose what comes "
        "back with selection:"
    )
    result = curate(tmp_path, "tools:\n  - {operation: issues, hide: [first]}\n", source)
    assert result.tools[0].input_schema["properties"] == {}
    assert result.tools[0].graphql is not None and result.tools[0].graphql.variables == {}


def test_hide(tmp_path: Path) -> None:
    result = curate(tmp_path, "tools:\n  - {operation: issues/list-for-repo, hide: [labels, since]}\n")
    (tool,) = result.tools
    assert list(tool.input_schema["properties"]) == ["owner", "repo", "per_page", "X-GitHub-Api-Version"]
    assert tool.http is not None and [a.name for a in tool.http.args] == [
        "owner",
        "repo",
        "per_page",
        "X-GitHub-Api-Version",
    ]


def test_hide_errors(tmp_path: Path) -> None:
    assert curation_error(tmp_path, "tools:\n  - {operation: issues/list-for-repo, hide: [since, owner]}\n") == (
        "specs/demo.yaml:5: tools[0].hide[1] 'owner' is a required argument, so it can't be hidden; give it a value "
        "with fixed: {owner: ...}"
    )
    assert curation_error(tmp_path, "tools:\n  - operation: issues/list-for-repo\n    hide:\n      - lables\n") == (
        "specs/demo.yaml:7: tools[0].hide[0] 'lables' is not an argument of 'issues/list-for-repo'; "
        "did you mean 'labels'? (its arguments: owner, repo, per_page, since, labels, X-GitHub-Api-Version)"
    )


# ---------------------------------------------------------------------------------------------------------------------
# Enablement


def test_destructive_tools_are_disabled_unless_enabled(tmp_path: Path) -> None:
    result = curate(tmp_path, "")
    enabled = {t.name: t.enabled for t in result.tools}
    assert enabled.pop("repos_delete") is False  # destructive_hint
    assert enabled.pop("gists_delete") is False  # DELETE without a hint
    assert set(enabled.values()) == {True}
    assert result.warnings == ["from the source"]  # nobody listed them: no noise


def test_listed_destructive_tool_stays_disabled_with_a_warning(tmp_path: Path) -> None:
    result = curate(tmp_path, "tools:\n  - meta/root\n  - {operation: repos/delete, name: delete_repo}\n")
    assert [t.enabled for t in result.tools] == [True, False]
    assert result.warnings == [
        "from the source",
        "tool 'delete_repo' is destructive and stays disabled; set enabled: true in tools[1] to compile it enabled",
    ]


def test_enabled_overrides(tmp_path: Path) -> None:
    source = github()
    source.tools[3].annotations.destructive_hint = None  # DELETE alone still counts as destructive
    result = curate(
        tmp_path,
        """\
        tools:
          - {operation: repos/delete, enabled: true}
          - {operation: gists/delete, enabled: false}
          - {operation: meta/root, enabled: false}
          - {operation: issues/create, annotations: {destructive: true}}
          - {operation: issues/list-for-repo, enabled: true}
        """,
        source,
    )
    assert [t.enabled for t in result.tools] == [True, False, False, False, True]


def test_destructive_hint_false_wins_over_delete(tmp_path: Path) -> None:
    source = github()
    source.tools[5].annotations.destructive_hint = False
    assert curate(tmp_path, "tools: [gists/delete]\n", source).tools[0].enabled is True


def test_fixture_spec_with_the_openapi_stage() -> None:
    # The same fixture through the real source stage, as `mcphub compile` runs it.
    from mcphub.compiler.sources import openapi

    hub = load_spec(FIXTURES / "github.yaml")
    source_file = hub.source_file()
    assert source_file is not None
    document, _ = openapi.load_document(source_file)
    parsed = openapi.openapi_to_integration(
        document, slug=hub.slug, name=hub.name, source=hub.source.to_source_info(), max_full_length=hub.max_name_length
    )
    result = apply_curation(parsed, hub, hub.locator)
    assert [t.name for t in result.tools][:4] == ["create_issue", "comment_on_issue", "repos_delete", "list_issues"]
    assert [t.enabled for t in result.tools] == [True] * 5
    listing = result.tool("list_issues")
    assert listing.http is not None
    assert listing.http.fixed == {
        ArgLocation.HEADER: {"X-GitHub-Api-Version": "2022-11-28", "Accept": "application/vnd.github+json"}
    }
    assert set(listing.input_schema["properties"]) == {"owner", "repo", "per_page", "since"}
    assert result.default_security == [["oauth2"], ["bearer"]]
    meta = result.tool("meta_root")
    assert meta.http is not None and meta.http.security == []


# ---------------------------------------------------------------------------------------------------------------------
# Response shaping


def test_response_keep_adds_the_full_response_argument(tmp_path: Path) -> None:
    result = curate(
        tmp_path,
        """\
        tools:
          - operation: issues/list-for-repo
            response: {keep: [number, title, user.login, labels.name]}
        """,
    )
    tool = result.tools[0]
    assert tool.response is not None
    assert (tool.response.keep, tool.response.items, tool.response.transform) == (
        ["number", "title", "user.login", "labels.name"],
        None,
        None,
    )
    assert tool.response.full_argument == "full_response"
    assert tool.input_schema["properties"]["full_response"] == {
        "type": "boolean",
        "default": False,
        "description": "The answer holds only the fields number, title, user.login, labels.name. Pass true for the "
        "whole answer as the API sends it.",
    }
    assert tool.http is not None and "full_response" not in {a.name for a in tool.http.args}  # never sent upstream


def test_response_items_and_transform_are_described(tmp_path: Path) -> None:
    result = curate(
        tmp_path,
        """\
        tools:
          - operation: issues/list-for-repo
            response: {items: data, keep: [id], full_argument: raw}
          - operation: issues/create
            response: {transform: gmail_message}
        """,
    )
    listing, create = result.tools[:2]
    assert listing.input_schema["properties"]["raw"]["description"].startswith(
        "The answer holds only the fields id of each of `data`."
    )
    assert create.response is not None and create.response.transform == "gmail_message"
    assert "decoded text body" in create.input_schema["properties"]["full_response"]["description"]


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (
            "{transform: gmail_mesage}",
            "specs/demo.yaml:6: tools[0].response.transform 'gmail_mesage' is not a response transform; did you "
            "mean 'gmail_message'? (one of github_content, gmail_draft, gmail_message, gmail_thread, slack_ok)",
        ),
        (
            "{keep: ['user..login']}",
            "specs/demo.yaml:6: tools[0].response.keep 'user..login' is not a dotted path of response fields, "
            "e.g. 'user.login' or 'items.id'",
        ),
        ("{}", "give keep: [field paths] and/or transform: <name>; an empty response: changes nothing"),
        (
            "{items: data, transform: gmail_message}",
            "items says where keep: applies, so it needs keep: [field paths] of each item",
        ),
        (
            "{keep: [id], full_argument: per_page}",
            "specs/demo.yaml:6: tools[0].response.full_argument 'per_page' is already an argument of "
            "'issues/list-for-repo'; choose another full_argument: name",
        ),
    ],
)
def test_response_errors(tmp_path: Path, response: str, message: str) -> None:
    error = curation_error(tmp_path, f"tools:\n  - operation: issues/list-for-repo\n    response: {response}\n")
    assert message in error
