"""Auth schemes with their own server URL, authorization parameters and discovered server variables.

From the spec (errors cite file:line: field), through the compiled manifest, to the URL and credential of the
request the runtime builds. The whole flow against real servers is in test_jira_oauth_e2e.py.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mcphub.compiler.errors import SpecError
from mcphub.compiler.ir import Integration
from mcphub.compiler.pipeline import Target, compile_target
from mcphub.compiler.spec import load_spec
from mcphub.runtime.upstream.client import UpstreamClient
from mcphub.runtime.upstream.credentials import Credential, EnvCredentialProvider

SOURCE = """\
openapi: 3.0.3
info: {title: Sites, version: "1"}
paths:
  /rest/api/3/issue/{key}:
    get:
      operationId: getIssue
      parameters: [{name: key, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
"""

HEAD = """\
slug: sites
name: Sites
source: {kind: openapi, path: sites/openapi.yaml}
base_url: https://{site}.example.net
server_variables:
  site: {default: your-site, description: The site name.}
"""

OAUTH = """\
auth:
  - type: basic
  - type: oauth2
    authorization_url: https://auth.example.test/authorize
    token_url: https://auth.example.test/oauth/token
    scopes: [read]
    refresh_scope: offline_access
    authorization_params: {audience: api.example.test, prompt: consent}
    base_url: https://api.example.test/ex/sites/{cloudId}
    discover:
      cloudId: {url: https://api.example.test/oauth/token/accessible-resources, label: url}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "specs" / "sites").mkdir(parents=True)
    (tmp_path / "specs" / "sites" / "openapi.yaml").write_text(SOURCE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write(text: str) -> Path:
    path = Path("specs/sites.yaml")
    path.write_text(textwrap.dedent(text))
    return path


def _error(text: str) -> str:
    with pytest.raises(SpecError) as caught:
        load_spec(_write(text))
    return str(caught.value)


def _compile(text: str, project: Path) -> tuple[Integration, list[str]]:
    report = compile_target(Target(_write(text), is_spec=True), project / "generated")
    assert report.error is None, report.error
    manifest = (project / "generated" / "sites" / "manifest.json").read_bytes()
    return Integration.from_manifest(manifest), report.warnings


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            (
                "    authorization_params: {audience: api.example.test, prompt: consent}",
                "    authorization_params: {scope: x}",
            ),
            "specs/sites.yaml:14: auth[1].authorization_params 'scope' is set by scopes: and refresh_scope:; "
            "remove it from authorization_params",
        ),
        (
            (
                "    authorization_params: {audience: api.example.test, prompt: consent}",
                "    authorization_params: {state: x}",
            ),
            "specs/sites.yaml:14: auth[1].authorization_params 'state' is set by the hub for every connection",
        ),
        (
            ("      cloudId: {url", "      tenant: {url"),
            "specs/sites.yaml:17: auth[1].discover.tenant is not used by base_url "
            "'https://api.example.test/ex/sites/{cloudId}'; use {tenant} in the scheme's base_url or remove it",
        ),
        (
            (
                "      cloudId: {url: https://api.example.test/oauth/token/accessible-resources, label: url}",
                "      cloudId: {label: url}",
            ),
            "specs/sites.yaml:17: auth[1].discover.cloudId.url is required; add the URL that lists what the user granted",
        ),
        (
            ("label: url}", "label: site url}"),
            "specs/sites.yaml:17: auth[1].discover.cloudId.label 'site url' must be the name of a field of the answer",
        ),
        (
            ("    refresh_scope: offline_access", "    refresh_scope: offline access"),
            "specs/sites.yaml:13: auth[1].refresh_scope 'offline access' must be one scope without spaces",
        ),
        (
            ("    refresh_scope: offline_access", "    refresh_scope: read"),
            "specs/sites.yaml:13: auth[1].refresh_scope 'read' is also in scopes:; keep it in one of them",
        ),
        (
            ("    base_url: https://api.example.test/ex/sites/{cloudId}", "    base_url: /ex/sites/{cloudId}"),
            "specs/sites.yaml:15: auth[1].base_url '/ex/sites/{cloudId}' must be an absolute http(s) URL",
        ),
    ],
    ids=[
        "hub's scope",
        "hub's state",
        "unused discovery",
        "no url",
        "bad label",
        "spaced scope",
        "scope twice",
        "relative",
    ],
)
def test_spec_errors_name_file_line_and_field(project: Path, change: tuple[str, str], expected: str) -> None:
    text = HEAD + OAUTH
    assert change[0] in text
    assert expected in _error(text.replace(*change))


def test_a_discovered_variable_is_not_also_a_server_variable(project: Path) -> None:
    text = HEAD + "  cloudId: {default: x}\n" + OAUTH
    assert "specs/sites.yaml:18: auth[1].discover.cloudId is also in server_variables:" in _error(text)


def test_discovery_belongs_to_the_authorization_code_flow(project: Path) -> None:
    text = (HEAD + OAUTH).replace(
        "    authorization_url: https://auth.example.test/authorize\n", "    flow: client_credentials\n"
    )
    assert "specs/sites.yaml:14: auth[1].authorization_params is only used by the authorization_code flow" in _error(
        text
    )


def test_a_scheme_server_variable_must_resolve_at_compile_time(project: Path) -> None:
    text = HEAD + OAUTH.replace("ex/sites/{cloudId}", "ex/{region}/{cloudId}")
    report = compile_target(Target(_write(text), is_spec=True), project / "generated")
    assert report.error is not None
    assert (
        "specs/sites.yaml:15: auth[1].base_url 'https://api.example.test/ex/{region}/{cloudId}' uses {region}, "
        "which is neither a server variable nor discovered; add server_variables: {region: {default: ...}}"
    ) in str(report.error)


def test_a_scheme_host_outside_the_allowed_hosts_is_a_warning(project: Path) -> None:
    _, warnings = _compile(HEAD + OAUTH + "policy: {allowed_hosts: ['*.example.net']}\n", project)
    assert (
        "specs/sites.yaml:15: auth[1].base_url host 'api.example.test' is not in policy.allowed_hosts (*.example.net)"
        in "\n".join(warnings)
    )
    assert "auth[1].discover.cloudId.url host 'api.example.test'" in "\n".join(warnings)
    _, warnings = _compile(HEAD + OAUTH + "policy: {allowed_hosts: ['*.example.net', api.example.test]}\n", project)
    assert not [w for w in warnings if "allowed_hosts" in w]


async def test_the_request_goes_to_the_server_of_the_scheme_the_credential_was_made_with(project: Path) -> None:
    integration, _ = _compile(HEAD + OAUTH, project)
    [basic, oauth] = integration.auth
    assert oauth.base_url == "https://api.example.test/ex/sites/{cloudId}" and oauth.refresh_scope == "offline_access"
    assert oauth.authorization_params == {"audience": "api.example.test", "prompt": "consent"}
    assert oauth.discover["cloudId"].value == "id" and oauth.discover["cloudId"].label == "url"
    assert "base_url" not in basic.model_dump(mode="json")  # unset keys stay out of manifests
    tool = integration.tool("get_issue")
    client = UpstreamClient(integration)
    try:
        # Without allowed_hosts the runtime admits the hosts of every server, the scheme's and discovery's included.
        assert client.policy.host_allowed("api.example.test") and client.policy.host_allowed("acme.example.net")

        parts = {"path": {"key": "A-1"}, "query": None, "headers": None, "cookies": None}
        parts |= {"body": None, "form": None, "multipart": None}

        def url(credential: Credential) -> tuple[str, str]:
            prepared = client.prepare(tool, credential, **parts)
            return prepared.url, prepared.headers["Authorization"].split()[0]

        token = Credential(token="at-1", scheme="oauth2", server_variables={"cloudId": "c-1"})
        assert url(token) == ("https://api.example.test/ex/sites/c-1/rest/api/3/issue/A-1", "Bearer")
        password = Credential(username="ada", password="pw", scheme="basic", server_variables={"site": "acme"})
        assert url(password) == ("https://acme.example.net/rest/api/3/issue/A-1", "Basic")
        # An operator's token from the environment, scheme unpinned: the OAuth scheme is the one it satisfies.
        env = {"MCPHUB_CRED_SITES_TOKEN": "at-2", "MCPHUB_CRED_SITES_VAR_CLOUDID": "c-2"}
        from_env = await EnvCredentialProvider(env).get(integration)
        assert from_env is not None and dict(from_env.server_variables) == {"cloudId": "c-2"}
        assert url(from_env)[0] == "https://api.example.test/ex/sites/c-2/rest/api/3/issue/A-1"
        missing = await client.send(tool, Credential(token="at-3", scheme="oauth2"), **parts)
        assert missing.is_error
        assert "server variable 'cloudId' of 'sites' has no value; connect sites again with Sign in (OAuth)" in (
            missing.text or ""
        )
    finally:
        await client.aclose()
