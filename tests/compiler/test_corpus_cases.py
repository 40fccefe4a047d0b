"""Cases the corpus run found, each through the real compile (scan and test stage included) and the real runtime.

`mcphub compile` runs the semgrep scan and the test stage, which calls every tool through the hub's runtime against
the stage's recording upstream and checks each request with openapi-core; the requests asserted on here are the
bytes that upstream recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from mcphub.cli import main
from mcphub.compiler.ir import ArgLocation, Integration
from mcphub.compiler.sources.openapi.redact import PLACEHOLDER, find, literals
from mcphub.compiler.testing import Source, check_package
from mcphub.compiler.testing.mock import Received

OK = {"200": {"description": "ok", "content": {"application/json": {"example": {"ok": True}}}}}
TOKEN = "Bearer LRK9DAWQ1ZAEFSrCNEEzLCUwhYX1U3g7wMg4dTlkkDC96fyDuyJ39nVbVjCKSDfj"  # Hetzner's documented example
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"


def _description(paths: dict[str, Any], *, server: str = "https://api.example.com/v1", **extra: Any) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "servers": [{"url": server}],
        "paths": paths,
        **extra,
    }


def _compile(tmp_path: Path, document: dict[str, Any], slug: str = "t") -> tuple[int, str, Path]:
    source = tmp_path / f"{slug}.json"
    source.write_text(json.dumps(document))
    out = tmp_path / "generated"
    result = CliRunner().invoke(main, ["compile", str(source), "--slug", slug, "--out", str(out)])
    return result.exit_code, result.output, out / slug


def _requests(package: Path, document: dict[str, Any]) -> dict[str, list[Received]]:
    """Run the stage again over the package and keep what the recording upstream received, per tool."""
    import mcphub.compiler.testing.stage as stage_module

    seen: dict[str, list[Received]] = {}
    original = stage_module._Runner.check

    def check(runner: Any, tool: Any) -> Any:
        before = len(runner.mock.received)
        report = original(runner, tool)
        seen[tool.name] = runner.mock.received[before:]
        return report

    stage_module._Runner.check = check  # type: ignore[method-assign]
    try:
        report = check_package(package, Source(document, "test"), examples=3)
    finally:
        stage_module._Runner.check = original  # type: ignore[method-assign]
    assert report.passed, [t.failure for t in report.failed]
    return seen


# --- documented example credentials -----------------------------------------------------------------


def test_a_documented_example_credential_does_not_fail_the_scan(tmp_path: Path) -> None:
    document = _description(
        {
            "/certificates": {
                "post": {
                    "operationId": "create_certificate",
                    "description": f"Send `Authorization: {TOKEN}`.",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"private_key": {"type": "string", "example": PEM}},
                                }
                            }
                        }
                    },
                    "responses": OK,
                }
            }
        }
    )
    code, output, package = _compile(tmp_path, document, "hetzner")
    assert code == 0, output
    files = "".join(p.read_text() for p in package.iterdir() if p.is_file() and p.suffix != ".npy")  # text files
    assert "LRK9DAWQ1ZAEFSrC" not in files and "BEGIN PRIVATE KEY" not in files
    assert PLACEHOLDER in files
    warnings = Integration.from_manifest((package / "manifest.json").read_bytes()).warnings
    assert any("look like a credential" in w and w.startswith("hetzner.json:1:") for w in warnings), warnings


def test_a_credential_written_by_a_template_still_fails_the_scan(tmp_path: Path) -> None:
    """Redaction is for the description's documentation only: the scan keeps refusing what the compiler writes."""
    spec = tmp_path / "evil.yaml"
    description = tmp_path / "evil.json"
    description.write_text(json.dumps(_description({"/x": {"get": {"operationId": "x", "responses": OK}}})))
    # A hub spec's own text is not a documented example: a token in a tool description is refused.
    spec.write_text(
        "slug: evil\nname: Evil\ndescription: d\nsource: {kind: openapi, path: evil.json}\n"
        f"tools:\n  - operation: x\n    description: 'use {TOKEN}'\n"
    )
    result = CliRunner().invoke(main, ["compile", str(spec), "--out", str(tmp_path / "generated")])
    assert result.exit_code == 1, result.output
    assert "hardcoded-credential" in result.output


def test_every_pattern_of_the_scan_rule_has_a_literal_to_search_for() -> None:
    """The search reads the scan's rule file; a pattern without a literal part would make every compile slow."""
    from mcphub.compiler.sources.openapi.redact import _patterns

    assert all(parts for parts, _ in _patterns())
    assert literals(r"\b(ghp|gho)_[A-Za-z0-9]{36,}") == ("ghp_", "gho_")
    assert literals(r"\bxox[abposr]-[0-9]{6,}-[A-Za-z0-9-]{6,}") == ("xox",)
    assert find(f"x {TOKEN} y AKIAIP77Y7MMX3ITZMFA".encode()) == [
        (2, TOKEN.encode()),
        (5 + len(TOKEN), b"AKIAIP77Y7MMX3ITZMFA"),
    ]
    assert find(b"Bearer <your-token-here> and AKIAIOSFODNN7EXAMPLE") == []  # placeholders and AWS's own example


# --- path templates ------------------------------------------------------------------------------------


def test_path_templates_with_a_query_string_a_fragment_or_an_undeclared_variable(tmp_path: Path) -> None:
    name = {"name": "user.name", "in": "query", "required": True, "schema": {"type": "string"}}
    document = _description(
        {
            # Azure HDInsight: a fixed query parameter in the template
            "/templeton/v1/jobs?op=LISTAFTERID": {
                "get": {"operationId": "list_after", "parameters": [name], "responses": OK}
            },
            "/templeton/v1/jobs": {"get": {"operationId": "list_jobs", "parameters": [name], "responses": OK}},
            # ClickSend: path parameters placed in the query string
            "/numbers/search/{country}?{search}=1": {
                "get": {
                    "operationId": "search_numbers",
                    "parameters": [
                        {"name": "country", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "search", "in": "path", "required": True, "schema": {"type": "string"}},
                    ],
                    "responses": OK,
                }
            },
            # AWS: operations on one path told apart by a fragment, which is never sent
            "/#X-Amz-Target=Svc.ListThings": {"post": {"operationId": "ListThings", "responses": OK}},
            "/#X-Amz-Target=Svc.GetThing": {"post": {"operationId": "GetThing", "responses": OK}},
            # Codat: a path variable no parameter declares
            "/companies/{companyId}/accounts/{accountId}": {
                "get": {
                    "operationId": "get_account",
                    "parameters": [{"name": "companyId", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": OK,
                }
            },
        }
    )
    code, output, package = _compile(tmp_path, document)
    assert code == 0, output  # the compile's own test stage passed every tool
    integration = Integration.from_manifest((package / "manifest.json").read_bytes())
    warnings = "\n".join(integration.warnings)
    assert "holds a query string (?op=LISTAFTERID)" in warnings
    assert "path variable {accountId} is not declared" in warnings
    assert "X-Amz-Target" not in warnings  # AWS's convention is no news

    after = next(tool for tool in integration.tools if tool.source_ref == "list_after").http
    assert after is not None and after.path == "/templeton/v1/jobs"
    assert after.fixed == {ArgLocation.QUERY: {"op": "LISTAFTERID"}}
    account = next(tool for tool in integration.tools if tool.source_ref == "get_account")
    assert account.input_schema["required"] == ["companyId", "accountId"]

    by_ref = {tool.source_ref: tool.name for tool in integration.tools}
    recorded = _requests(package, document)
    sent = {ref: recorded[name] for ref, name in by_ref.items()}
    assert all("op=LISTAFTERID" in r.target for r in sent["list_after"])
    assert all("op=" not in r.target for r in sent["list_jobs"])
    assert all(r.target.startswith("/v1/numbers/search/") and "?search=" in r.target for r in sent["search_numbers"])
    assert {r.target for r in sent["ListThings"] + sent["GetThing"]} == {"/v1/"}
    assert all(r.target.count("/") == 5 for r in sent["get_account"])  # /v1/companies/<c>/accounts/<a>


# --- servers, media types, required arrays ------------------------------------------------------------------


def test_relative_and_scheme_relative_servers_media_type_case_and_required_arrays(tmp_path: Path) -> None:
    document = _description(
        {
            "/videos": {
                "get": {
                    "operationId": "videos",
                    "parameters": [
                        {
                            "name": "delivery",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "array", "items": {"type": "string", "enum": ["stream", "download"]}},
                        }
                    ],
                    "responses": OK,
                },
                "post": {
                    "operationId": "check",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/JSON; charset=utf-8": {
                                "schema": {"type": "object", "properties": {"a": {"type": "string"}}}
                            }
                        },
                    },
                    "responses": OK,
                },
            }
        },
        server="//media.example.com/api",
    )
    code, output, package = _compile(tmp_path, document)
    assert code == 0, output
    integration = Integration.from_manifest((package / "manifest.json").read_bytes())
    assert integration.base_url == "https://media.example.com/api"
    assert integration.tool("videos").input_schema["properties"]["delivery"]["minItems"] == 1
    sent = _requests(package, document)
    assert all("delivery=" in r.target for r in sent["videos"])

    # A relative server: the compile warns (set base_url), and the stage still checks the requests.
    relative = {**document, "servers": [{"url": "/api"}]}
    code, output, package = _compile(tmp_path, relative, "rel")
    assert code == 0, output
    warnings = Integration.from_manifest((package / "manifest.json").read_bytes()).warnings
    assert any("is relative; set base_url" in w for w in warnings), warnings
    sent = _requests(package, relative)
    assert all(r.target.startswith("/api/videos") for r in sent["videos"])


def test_an_authorization_header_parameter_without_a_security_scheme_is_the_credential(tmp_path: Path) -> None:
    """GoTo Training, Azure LUIS: `Authorization` declared as a required header parameter and no security scheme."""
    authorization = {"name": "Authorization", "in": "header", "required": True, "schema": {"type": "string"}}
    document = _description(
        {"/organizers": {"get": {"operationId": "organizers", "parameters": [authorization], "responses": OK}}}
    )
    code, output, package = _compile(tmp_path, document)
    assert code == 0, output
    integration = Integration.from_manifest((package / "manifest.json").read_bytes())
    assert [(s.type, s.location, s.param_name) for s in integration.auth] == [("api_key", "header", "Authorization")]
    assert "Authorization" not in integration.tool("organizers").input_schema["properties"]
    sent = _requests(package, document)
    assert all(r.header("authorization") for r in sent["organizers"])


def test_a_parameter_referenced_inside_another_paths_list_is_checked(tmp_path: Path) -> None:
    """DigitalOcean: `$ref: '#/paths/~1v2~1account~1keys/get/parameters/0'` (a list index in the pointer)."""
    page = {"name": "page", "in": "query", "required": True, "schema": {"type": "integer", "minimum": 1}}
    document = _description(
        {
            "/keys": {"get": {"operationId": "keys", "parameters": [page], "responses": OK}},
            "/actions": {
                "get": {
                    "operationId": "actions",
                    "parameters": [{"$ref": "#/paths/~1keys/get/parameters/0"}],
                    "responses": OK,
                }
            },
        }
    )
    code, output, package = _compile(tmp_path, document)
    assert code == 0, output  # the stage knew `page` as a parameter of /actions
    sent = _requests(package, document)
    assert all("page=" in r.target for r in sent["actions"])
