"""The hub spec format: what loads, and the file:line: field message + fix for everything that doesn't."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcphub.compiler.errors import CompileError, SpecError
from mcphub.compiler.spec import HubSpec, load_spec, parse_spec

FIXTURES = Path(__file__).parent / "fixtures" / "specs"

HEAD = """\
slug: demo
name: Demo
source: {kind: openapi, path: demo/openapi.yaml}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository-like folder as the working directory, so messages cite `specs/demo.yaml` as the CLI would."""
    (tmp_path / "specs" / "demo").mkdir(parents=True)
    (tmp_path / "specs" / "demo" / "openapi.yaml").write_text("openapi: 3.0.3\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def load(text: str, name: str = "specs/demo.yaml", **kwargs: Path) -> HubSpec:
    path = Path(name)
    path.write_text(textwrap.dedent(text))
    return load_spec(path, **kwargs)


def error(text: str, name: str = "specs/demo.yaml", **kwargs: Path) -> str:
    with pytest.raises(SpecError) as caught:
        load(text, name, **kwargs)
    return str(caught.value)


# ---------------------------------------------------------------------------------------------------------------------
# What loads


def test_fixture_spec_loads_every_field() -> None:
    spec = load_spec(FIXTURES / "github.yaml")
    assert (spec.slug, spec.name, spec.category) == ("github", "GitHub", "developer")
    assert spec.source.kind == "openapi" and spec.source.path == "github/openapi.yaml"
    assert spec.source_file() == (FIXTURES / "github" / "openapi.yaml").resolve()
    assert spec.base_url == "https://{host}/api/v3"
    assert spec.server_variables["host"].default == "api.github.com"
    assert [a.type for a in spec.auth or []] == ["oauth2", "bearer"]
    assert spec.auth_ids() == ["oauth2", "bearer"]
    assert spec.tools is not None and [t.operation for t in spec.tools] == [
        "issues/create",
        "POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
        "repos/delete",
        "issues/list-for-repo",
    ]
    assert spec.tools[3].defaults == {"per_page": 20, "since": "2024-01-01"}  # dates stay strings
    assert spec.tools[3].annotations is not None and spec.tools[3].annotations.read_only is True
    assert spec.include == "all" and spec.max_name_length == 48
    assert spec.policy is not None
    assert spec.policy.allowed_methods == ["GET", "POST", "PATCH", "DELETE"]
    assert spec.policy.rate_limit == "60/min"
    assert spec.path == FIXTURES / "github.yaml"


def test_line_map_cites_fields_and_falls_back_to_parents() -> None:
    spec = load_spec(FIXTURES / "github.yaml")
    assert spec.line_of("slug") == 2
    assert spec.line_of("tools[1]") == 15
    assert spec.line_of("tools[1].name") == 16
    assert spec.line_of("tools[3].defaults.per_page") == 22
    assert spec.line_of("tools[3].defaults.nonexistent") == 22  # the parent `defaults:` line
    assert spec.line_of("nothing.here") == 1
    err = spec.error("tools[1].name", "is wrong; fix it")
    assert isinstance(err, SpecError) and isinstance(err, CompileError)
    assert str(err) == f"{FIXTURES / 'github.yaml'}:16: tools[1].name is wrong; fix it"


def test_minimal_spec_defaults(project: Path) -> None:
    spec = load(HEAD)
    assert spec.category == "other"
    assert spec.description is None and spec.base_url is None and spec.auth is None
    assert spec.tools is None and spec.include is None and spec.policy is None
    assert spec.max_name_length == 48
    assert spec.source.to_source_info().model_dump(exclude_defaults=True) == {
        "kind": "openapi",
        "path": "demo/openapi.yaml",
    }


def test_parse_spec_from_text(project: Path) -> None:
    spec = parse_spec(HEAD + "tools: [issues/create]\n", Path("specs/demo.yaml"))
    assert spec.tools is not None and spec.tools[0].operation == "issues/create"  # shorthand for {operation: ...}


def test_operation_whitespace_is_normalised(project: Path) -> None:
    spec = load(HEAD + 'tools:\n  - {operation: "POST   /a/{b}"}\n')
    assert spec.tools is not None and spec.tools[0].operation == "POST /a/{b}"


@pytest.mark.parametrize(
    ("written", "canonical"),
    [("60/min", "60/min"), ("10/s", "10/s"), ("10 / second", "10/s"), ("1000/hours", "1000/hour"), ("5/d", "5/day")],
)
def test_rate_limits_are_normalised(project: Path, written: str, canonical: str) -> None:
    spec = load(HEAD + f"policy: {{rate_limit: '{written}'}}\n")
    assert spec.policy is not None and spec.policy.rate_limit == canonical


def test_hosts_lower_cased_and_wildcards_allowed(project: Path) -> None:
    spec = load(HEAD + "policy: {allowed_hosts: [API.Example.com, '*.example.com', 'localhost:8080']}\n")
    assert spec.policy is not None
    assert spec.policy.allowed_hosts == ["api.example.com", "*.example.com", "localhost:8080"]


def test_auth_ids_are_stable_and_unique(project: Path) -> None:
    spec = load(
        HEAD
        + """\
auth:
  - {type: bearer}
  - {type: api_key, in: header, name: X-Key}
  - {type: bearer, id: pat}
  - {type: bearer}
  - {type: api_key, in: query, name: key}
  - {type: basic}
  - {type: openid_connect, url: "https://id.example.com/.well-known/openid-configuration"}
  - {type: oauth2, flow: client_credentials, token_url: "https://example.com/token"}
"""
    )
    assert spec.auth_ids() == ["bearer", "api_key", "pat", "bearer_2", "api_key_2", "basic", "openid_connect", "oauth2"]


def test_mcp_sources(project: Path) -> None:
    spec = load(
        "slug: time\nname: Time\nsource: {kind: mcp, command: 'python -m mcp_server_time --local-timezone UTC', "
        "env: {TZ: UTC}}\n"
    )
    assert spec.source.command == ["python", "-m", "mcp_server_time", "--local-timezone", "UTC"]
    assert spec.source_file() is None
    assert spec.source.to_source_info().env == {"TZ": "UTC"}
    spec = load("slug: time\nname: Time\nsource: {kind: mcp, url: 'https://mcp.example.com/mcp'}\n")
    assert spec.source.url == "https://mcp.example.com/mcp"


def test_sql_source_needs_no_path(project: Path) -> None:
    assert load("slug: pg\nname: PostgreSQL\nsource: {kind: sql}\n").source.kind == "sql"


def test_source_path_from_repository_root_and_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The layout of the checkout: main/specs/x.yaml reads ../shared/specs/x.json (written from main/).
    (tmp_path / "shared" / "specs").mkdir(parents=True)
    (tmp_path / "shared" / "specs" / "x.json").write_text("{}")
    (tmp_path / "main" / "specs").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "main")
    spec = load("slug: xx\nname: X\nsource: {kind: openapi, path: ../shared/specs/x.json}\n", name="specs/x.yaml")
    assert spec.source_file() == (tmp_path / "shared" / "specs" / "x.json").resolve()
    absolute = tmp_path / "shared" / "specs" / "x.json"
    spec = load(f"slug: xx\nname: X\nsource: {{kind: openapi, path: '{absolute}'}}\n", name="specs/x.yaml")
    assert spec.source_file() == absolute


def test_yaml_aliases_are_followed_once(project: Path) -> None:
    # A "billion laughs" style document must not make the line map explode.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    text = HEAD + "x-anchors:\n" + "\n".join("  " + line for line in lines) + "\n"
    assert "x-anchors is not a known key" in error(text)


# ---------------------------------------------------------------------------------------------------------------------
# Errors: file:line: field message + fix


@pytest.mark.parametrize(
    ("slug", "fix"),
    [
        ("My Slug", "; e.g. 'my-slug'"),
        ("GitHub_API", "; e.g. 'github-api'"),
        ("-x-", ""),
        ("a", ""),
        ("x" * 33, "; e.g. '" + "x" * 32 + "'"),
    ],
)
def test_slug_errors(project: Path, slug: str, fix: str) -> None:
    message = error(f"slug: '{slug}'\nname: Demo\nsource: {{kind: openapi, path: demo/openapi.yaml}}\n")
    assert message == (
        f"specs/demo.yaml:1: slug '{slug}' must match [a-z0-9-] (2..32 lower-case letters, digits and '-', "
        f"starting and ending with a letter or digit){fix}"
    )


def test_missing_required_fields(project: Path) -> None:
    message = error("category: developer\n")
    assert message.splitlines() == [
        "specs/demo.yaml:1: slug is required; add e.g. slug: github ([a-z0-9-], becomes the tool prefix)",
        "specs/demo.yaml:1: name is required; add e.g. name: GitHub (the display name)",
        "specs/demo.yaml:1: source is required; add e.g. source: {kind: openapi, path: github/openapi.yaml}",
    ]


def test_unknown_top_level_key(project: Path) -> None:
    message = error(HEAD + "descripton: typo\n")
    assert message.startswith("specs/demo.yaml:4: descripton is not a known key; did you mean 'description'? (allowed")


def test_unknown_nested_key(project: Path) -> None:
    message = error(HEAD + "tools:\n  - {operation: a}\n  - {operation: b, nmae: x}\n")
    assert message == (
        "specs/demo.yaml:6: tools[1].nmae is not a known key; did you mean 'name'? (allowed here: operation, name, "
        "title, description, enabled, defaults, fixed, hide, annotations, response, input, selection, document)"
    )


def test_unknown_key_without_suggestion(project: Path) -> None:
    assert "specs/demo.yaml:4: zzz is not a known key (allowed here: slug, name" in error(HEAD + "zzz: 1\n")


def test_yaml_syntax_error_names_line_and_column(project: Path) -> None:
    message = error(HEAD + "tools:\n  - {operation: a\n  - b\n")
    assert message == (
        "specs/demo.yaml:7:1: YAML syntax error: while parsing a flow mapping (started on line 5, column 5) "
        "expected ',' or '}', but got '<stream end>'; check indentation, quoting and ':' spacing"
    )
    message = error("slug: demo\n  name: x\n")
    assert message.startswith("specs/demo.yaml:2:7: YAML syntax error: mapping values are not allowed here")


def test_duplicate_keys(project: Path) -> None:
    assert error(HEAD + "name: Again\n") == "specs/demo.yaml:4: name is given twice (first on line 2); keep one"


@pytest.mark.parametrize(("text", "got"), [("", "empty"), ("- a\n- b\n", "a list"), ("just text\n", "a str")])
def test_root_must_be_a_mapping(project: Path, text: str, got: str) -> None:
    assert error(text) == (
        f"specs/demo.yaml:1: the spec must be a mapping of keys (slug:, name:, source:, ...), but the file is {got}"
    )


def test_several_yaml_documents(project: Path) -> None:
    assert "YAML syntax error" in error(HEAD + "---\nslug: other\n")


def test_unreadable_file(project: Path) -> None:
    with pytest.raises(SpecError, match=r"^specs/missing.yaml: cannot read the spec: "):
        load_spec(Path("specs/missing.yaml"))


def test_wrong_types(project: Path) -> None:
    message = error(
        "slug: demo\nname: [a, b]\nsource: {kind: openapi, path: demo/openapi.yaml}\n"
        "tools:\n  - {operation: a, enabled: maybe}\n  - {operation: b, defaults: [1]}\n"
        "max_name_length: forty\n"
    )
    assert message.splitlines() == [
        "specs/demo.yaml:2: name must be text, not a list",
        "specs/demo.yaml:5: tools[0].enabled must be true or false, not 'maybe'",
        "specs/demo.yaml:6: tools[1].defaults must be a mapping, not a list",
        "specs/demo.yaml:7: max_name_length must be a whole number, not 'forty'",
    ]


def test_blank_name(project: Path) -> None:
    assert error("slug: demo\nname: ' '\nsource: {kind: sql}\n") == "specs/demo.yaml:2: name must not be empty"


def test_source_kind_typo(project: Path) -> None:
    assert error("slug: demo\nname: Demo\nsource:\n  kind: opnapi\n  path: demo/openapi.yaml\n") == (
        "specs/demo.yaml:4: source.kind 'opnapi' is not one of openapi, postman, graphql, sql, mcp, docs, repo, text; "
        "did you mean 'openapi'?"
    )


def test_source_kind_missing(project: Path) -> None:
    assert error("slug: demo\nname: Demo\nsource: {path: demo/openapi.yaml}\n") == (
        "specs/demo.yaml:3: source.kind is required; add kind: (one of openapi, postman, graphql, sql, mcp, docs, "
        "repo, text)"
    )


def test_source_path_not_found_suggests_sibling(project: Path) -> None:
    message = error("slug: demo\nname: Demo\nsource:\n  kind: openapi\n  path: demo/openapi.yml\n")
    looked = project / "specs" / "demo" / "openapi.yml"
    assert message == (
        f"specs/demo.yaml:5: source.path 'demo/openapi.yml' does not exist (looked at {looked}, relative to the "
        "spec's folder); did you mean 'openapi.yaml'?"
    )


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{kind: openapi}", "3: source kind 'openapi' needs path: (relative to the spec file) or url:"),
        (
            "{kind: openapi, path: demo/openapi.yaml, url: 'https://x.io/o.json'}",
            "3: source give either path: or url:, not both",
        ),
        (
            "{kind: openapi, url: 'ftp://x.io/o.json'}",
            "3: source.url 'ftp://x.io/o.json' must start with http:// or https://",
        ),
        ("{kind: graphql, path: ' '}", "3: source.path must not be empty"),
        ("{kind: mcp}", "3: source kind 'mcp' needs exactly one of command: (stdio server) or url: (HTTP server)"),
        (
            "{kind: mcp, command: [x], url: 'https://x.io/mcp'}",
            "3: source kind 'mcp' needs exactly one of command: (stdio server) or url: (HTTP server)",
        ),
        ("{kind: mcp, command: []}", "3: source.command must not be empty; e.g. command: [npx, -y, some-mcp-server]"),
        (
            "{kind: mcp, path: x, command: [x]}",
            "3: source.path is not used by kind 'mcp'; give command: (stdio server) or url: (HTTP server)",
        ),
        (
            "{kind: openapi, path: demo/openapi.yaml, command: [x]}",
            "3: source.command is only used by kind 'mcp', not 'openapi'; remove it",
        ),
        (
            "{kind: openapi, path: demo/openapi.yaml, env: {A: b}}",
            "3: source.env is only used by kind 'mcp', not 'openapi'; remove it",
        ),
    ],
)
def test_source_errors(project: Path, source: str, message: str) -> None:
    assert error(f"slug: demo\nname: Demo\nsource: {source}\n") == f"specs/demo.yaml:{message}"


def test_root_confines_uploaded_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    upload = tmp_path / "uploads" / "p1"
    upload.mkdir(parents=True)
    (upload / "api.json").write_text("{}")
    (tmp_path / "secret.json").write_text("{}")
    monkeypatch.chdir(upload)
    spec = load("slug: xx\nname: X\nsource: {kind: openapi, path: api.json}\n", name="x.yaml", root=upload)
    assert spec.source_file() == (upload / "api.json").resolve()
    for bad in ("../../secret.json", str(tmp_path / "secret.json")):
        message = error(f"slug: xx\nname: X\nsource: {{kind: openapi, path: '{bad}'}}\n", "x.yaml", root=upload)
        assert message == f"x.yaml:3: source.path '{bad}' must be a relative path inside the project folder"
    assert error("slug: xx\nname: X\nsource: {kind: openapi, path: apj.json}\n", "x.yaml", root=upload) == (
        "x.yaml:3: source.path 'apj.json' does not exist; did you mean 'api.json'?"
    )


def test_auth_errors(project: Path) -> None:
    message = error(
        HEAD
        + """\
auth:
  - {type: beare}
  - {label: x}
  - {type: api_key, in: head, name: X-Key}
  - {type: api_key, in: header}
  - {type: oauth2, authorization_url: "https://x.io/authorize"}
  - {type: oauth2, token_url: "https://x.io/token"}
  - {type: oauth2, flow: implicit, token_url: "ftp://x.io/token"}
  - {type: bearer, id: "has space"}
  - {type: basic, scopes: [a]}
  - {type: openid_connect}
"""
    )
    assert message.splitlines() == [
        "specs/demo.yaml:5: auth[0].type 'beare' is not one of oauth2, bearer, api_key, basic, openid_connect; "
        "did you mean 'bearer'?",
        "specs/demo.yaml:6: auth[1].type is required (one of oauth2, bearer, api_key, basic, openid_connect)",
        "specs/demo.yaml:7: auth[2].in 'head' is not one of header, query, cookie; did you mean 'header'?",
        "specs/demo.yaml:8: auth[3].name is required; add the header, query parameter or cookie name; "
        "e.g. name: X-Api-Key",
        "specs/demo.yaml:9: auth[4].token_url is required for oauth2; e.g. token_url: https://example.com/oauth/token",
        "specs/demo.yaml:10: auth[5].authorization_url is required for the authorization_code flow; add it, or set "
        "flow: client_credentials",
        "specs/demo.yaml:11: auth[6].flow 'implicit' is not one of authorization_code, client_credentials",
        "specs/demo.yaml:11: auth[6].token_url 'ftp://x.io/token' must be an absolute http(s) URL",
        "specs/demo.yaml:12: auth[7].id 'has space' must be 1..64 characters of letters, digits, '_', '.' or '-'",
        "specs/demo.yaml:13: auth[8].scopes is not a known key (allowed here: id, label, description, type)",
        "specs/demo.yaml:14: auth[9].url is required; add the OpenID Connect discovery URL "
        "(.../.well-known/openid-configuration)",
    ]


def test_duplicate_auth_ids(project: Path) -> None:
    assert error(HEAD + "auth:\n  - {type: bearer, id: pat}\n  - {type: basic, id: pat}\n") == (
        "specs/demo.yaml:5: auth[0].id 'pat' is used by two schemes; ids must be unique"
    )


def test_tool_entry_errors(project: Path) -> None:
    message = error(
        HEAD
        + """\
tools:
  - {name: x}
  - {operation: ' '}
  - {operation: b, name: "list issues!"}
  - {operation: c, fixed: {a: 1}, defaults: {a: 2}}
  - {operation: d, fixed: {a: 1}, hide: [a]}
  - {operation: e, defaults: {a: 1}, hide: [a]}
"""
    )
    assert message.splitlines() == [
        "specs/demo.yaml:5: tools[0].operation is required; add operation: with the source's operationId or "
        "'METHOD /path'",
        "specs/demo.yaml:6: tools[1].operation must not be empty; give an operationId or 'METHOD /path'",
        "specs/demo.yaml:7: tools[2].name 'list issues!' may only contain letters, digits, '_' and '-'; "
        "e.g. 'list_issues'",
        "specs/demo.yaml:8: tools[3].defaults argument 'a' is also in fixed:; keep it in one of them (fixed: always "
        "sent and hidden, defaults: sent when left out, hide: dropped when optional)",
        "specs/demo.yaml:9: tools[4].hide argument 'a' is also in fixed:; keep it in one of them (fixed: always sent "
        "and hidden, defaults: sent when left out, hide: dropped when optional)",
        "specs/demo.yaml:10: tools[5].hide argument 'a' is also in defaults:; keep it in one of them (fixed: always "
        "sent and hidden, defaults: sent when left out, hide: dropped when optional)",
    ]


def test_fixed_values_the_source_does_not_declare(project: Path) -> None:
    spec = load(HEAD + "tools:\n  - {operation: a, fixed: {'header:Accept': text/plain, 'query:v': 2}}\n")
    assert spec.tools is not None and spec.tools[0].fixed == {"header:Accept": "text/plain", "query:v": 2}
    assert error(HEAD + "tools:\n  - operation: a\n    fixed: {'body:x': 1}\n") == (
        "specs/demo.yaml:6: tools[0].fixed 'body:x' must be an argument name, or header:<Name>, query:<name> or "
        "cookie:<name> for a value the source doesn't declare"
    )
    assert error(HEAD + "tools:\n  - operation: a\n    fixed: {'header:authorization': Bearer x}\n") == (
        "specs/demo.yaml:6: tools[0].fixed 'header:authorization' can't be fixed: credentials come from the user's "
        "connection (see auth:), never from the spec"
    )


def test_empty_tools_and_include(project: Path) -> None:
    assert error(HEAD + "tools: []\n") == (
        "specs/demo.yaml:4: tools is empty, so nothing would be compiled; list operations, or add include: all"
    )
    assert error(HEAD + "include: all\n") == (
        "specs/demo.yaml:4: include 'all' is the default without tools:; remove it, or list tools to curate"
    )
    assert error(HEAD + "tools: [a]\ninclude: al\n") == (
        "specs/demo.yaml:5: include 'al' is not one of all; did you mean 'all'?"
    )
    assert load(HEAD + "tools: []\ninclude: all\n").tools == []


def test_policy_errors(project: Path) -> None:
    message = error(
        HEAD
        + """\
policy:
  allowed_hosts: [api.example.com, "https://api.example.com/v1", "bad host"]
  allowed_methods: [get, GTE]
  rate_limit: 5/fortnight
  timeout_s: 0
  max_response_bytes: -1
  allow_private_network: perhaps
"""
    )
    assert message.splitlines() == [
        "specs/demo.yaml:5: policy.allowed_hosts[1] 'https://api.example.com/v1' must be a host name, not a URL; "
        "use 'api.example.com'",
        "specs/demo.yaml:5: policy.allowed_hosts[2] 'bad host' is not a host name; e.g. api.example.com or "
        "*.example.com",
        "specs/demo.yaml:6: policy.allowed_methods[1] 'GTE' is not an HTTP method; did you mean 'GET'? (one of GET, "
        "HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE)",
        "specs/demo.yaml:7: policy.rate_limit '5/fortnight' must look like 60/min, 10/s, 1000/hour or 5000/day",
        "specs/demo.yaml:8: policy.timeout_s 0 must be > 0",
        "specs/demo.yaml:9: policy.max_response_bytes -1 must be > 0",
        "specs/demo.yaml:10: policy.allow_private_network must be true or false, not 'perhaps'",
    ]


def test_server_variable_errors(project: Path) -> None:
    message = error(HEAD + "server_variables:\n  site: {default: a, enum: [b, c]}\n  region: {description: x}\n")
    assert message.splitlines() == [
        "specs/demo.yaml:5: server_variables.site.default 'a' is not one of its enum (b, c)",
        "specs/demo.yaml:6: server_variables.region.default is required; add default: with the value used when the "
        "user gives none",
    ]


def test_base_url_must_be_http(project: Path) -> None:
    assert error(HEAD + "base_url: api.example.com\n") == (
        "specs/demo.yaml:4: base_url 'api.example.com' must be an absolute http(s) URL, e.g. https://api.example.com/v1"
    )
    assert load(HEAD + "base_url: https://api.example.com/v1/\n").base_url == "https://api.example.com/v1"
    assert load(HEAD + "base_url: '{base}/v1'\n").base_url == "{base}/v1"


def test_max_name_length_errors(project: Path) -> None:
    assert error(HEAD + "max_name_length: 65\n") == "specs/demo.yaml:4: max_name_length 65 must be <= 64"
    long_slug = "a-very-long-slug-for-names"
    assert error(f"slug: {long_slug}\nname: Demo\nsource: {{kind: sql}}\nmax_name_length: 20\n") == (
        "specs/demo.yaml:4: max_name_length 20 leaves less than 12 characters for tool names after "
        "'a-very-long-slug-for-names__'; raise it to at least 40 or shorten the slug"
    )


def test_errors_come_in_file_order(project: Path) -> None:
    message = error("policy: {timeout_s: -1}\nslug: 'X Y'\nname: Demo\nsource: {kind: sql}\n")
    assert [line.split(":")[1] for line in message.splitlines()] == ["1", "2"]


def test_deep_nesting_is_a_spec_error(project: Path) -> None:
    message = error(HEAD + "x: " + "[" * 5000 + "]" * 5000 + "\n")
    assert message in (
        "specs/demo.yaml: the YAML is nested too deeply to be a hub spec",
        "specs/demo.yaml:4: x is not a known key (allowed here: slug, name, category, description, source, base_url, "
        "server_variables, auth, tools, include, max_name_length, policy)",
    )


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
spec_keys = st.sampled_from(
    ["slug", "name", "source", "tools", "auth", "policy", "base_url", "server_variables", "include", "max_name_length"]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(spec_keys, yaml_values, max_size=8) | yaml_values)
def test_any_yaml_document_loads_or_raises_spec_error(project: Path, document: object) -> None:
    # Specs are uploaded by users: whatever they contain, the only failure is a SpecError a user can read.
    try:
        load(yaml.safe_dump(document))
    except SpecError as exc:
        assert str(exc).startswith("specs/demo.yaml")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_any_text_loads_or_raises_spec_error(project: Path, text: str) -> None:
    try:
        parse_spec(text, Path("specs/demo.yaml"))
    except SpecError as exc:
        assert str(exc).startswith("specs/demo.yaml")


def test_control_characters(project: Path) -> None:
    assert error(HEAD + "description: a\x1fb\n") == (
        "specs/demo.yaml:4: YAML error: character U+001F is not allowed in YAML; remove it"
    )
