"""The spec features the built-ins use to finish tasks: `input:` (friendly arguments built by a transform) and
`source.supplement` (operations the published description lacks, from a description of ours).

Each is compiled from a small spec in a temporary project, as a contributor would write it; mistakes are reported
with the file, line and field, and say what to do.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mcphub.compiler.errors import CompileError, SpecError
from mcphub.compiler.ir import ArgLocation, Integration
from mcphub.compiler.pipeline import Target, compile_target
from mcphub.compiler.spec import load_spec

SOURCE = """\
openapi: 3.0.3
info: {title: Files, version: "1"}
servers: [{url: https://api.example.test}]
components:
  schemas:
    Problem: {type: object, properties: {message: {type: string}}}
paths:
  /files/{path}:
    put:
      operationId: putFile
      parameters: [{name: path, in: path, required: true, schema: {type: string}}]
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [content, message]
              properties:
                content: {type: string, description: Base64 of the file.}
                message: {type: string}
                sha: {type: string, description: Required when updating.}
      responses: {"200": {description: ok}}
    delete:
      operationId: deleteFile
      parameters: [{name: path, in: path, required: true, schema: {type: string}}]
      responses: {"204": {description: gone}}
"""

SUPPLEMENT = """\
openapi: 3.0.3
info: {title: Files, what the published description lacks, version: "1"}
components:
  schemas:
    Problem: {type: object, properties: {error: {type: string}}}
paths:
  /search:
    get:
      operationId: searchFiles
      parameters: [{name: q, in: query, required: true, schema: {type: string}}]
      responses:
        "200": {description: hits}
        "400":
          description: bad query
          content: {application/json: {schema: {$ref: "#/components/schemas/Problem"}}}
"""

SPEC = """\
slug: files
name: Files
source: {kind: openapi, path: files/openapi.yaml, supplement: files/extra.openapi.yaml}
tools:
  - operation: putFile
    name: write_file
    input: {transform: github_file}
  - operation: searchFiles
    name: search
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "specs" / "files").mkdir(parents=True)
    (tmp_path / "specs" / "files" / "openapi.yaml").write_text(SOURCE)
    (tmp_path / "specs" / "files" / "extra.openapi.yaml").write_text(SUPPLEMENT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _compile(spec: str, project: Path) -> Integration:
    path = Path("specs/files.yaml")
    path.write_text(textwrap.dedent(spec))
    report = compile_target(Target(path, is_spec=True), project / "generated")
    if report.error is not None:
        raise CompileError(report.error)
    return Integration.from_manifest((project / "generated" / "files" / "manifest.json").read_bytes())


def test_input_transform_swaps_the_built_fields_for_friendly_ones(project: Path) -> None:
    integration = _compile(SPEC, project)
    tool = integration.tool("write_file")
    properties = tool.input_schema["properties"]
    assert properties["content"]["description"].startswith("The whole new content of the file as text")
    assert "looked up when left out" in properties["sha"]["description"]
    assert tool.input_schema["required"] == ["path", "message", "content"]
    assert tool.input is not None and (tool.input.transform, tool.input.arguments) == ("github_file", ["content"])
    assert tool.http is not None
    assert [(a.name, a.location) for a in tool.http.args if a.name == "content"] == [("content", ArgLocation.BODY)]
    # Tools without `input:` keep manifests as they were: no `input` key at all.
    assert '"input"' not in next(
        line
        for line in (project / "generated/files/manifest.json").read_text().splitlines()
        if '"name":"search"' in line
    )


def test_supplement_adds_operations_beside_the_descriptions(project: Path) -> None:
    # Both files define a `Problem` schema, differently: the supplement's operation still compiles (its own is kept
    # apart under another name) and the description's operations are untouched.
    integration = _compile(SPEC, project)
    search = integration.tool("search")
    assert search.http is not None and (search.http.method, search.http.path) == ("GET", "/search")
    assert search.input_schema["required"] == ["q"]
    assert search.http.server_url is None  # the description's server
    assert [tool.name for tool in integration.tools] == ["write_file", "search"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("transform: github_file", "transform: github_fille"),
            "specs/files.yaml:7: tools[0].input.transform 'github_fille' is not an input transform; did you mean "
            "'github_file'? (one of drive_upload, github_file, gmail_compose, slack_upload)",
        ),
        (
            ("transform: github_file}", "transform: gmail_compose}"),
            "specs/files.yaml:7: tools[0].input.transform 'gmail_compose' builds the body field 'raw', which 'putFile' "
            "does not have (its body fields: content, message, sha); to send what it builds as one field, name it "
            "with into:",
        ),
        (
            ("transform: github_file}", "transform: github_file, into: mesage}"),
            "specs/files.yaml:7: tools[0].input.into 'mesage' is not a body field of 'putFile'; did you mean "
            "'message'? (its body fields: content, message, sha)",
        ),
        (
            ("supplement: files/extra.openapi.yaml", "supplement: files/missing.yaml"),
            "specs/files.yaml:3: source.supplement",
        ),
    ],
)
def test_mistakes_name_the_line_and_say_what_to_do(project: Path, change: tuple[str, str], expected: str) -> None:
    with pytest.raises((SpecError, CompileError)) as caught:
        _compile(SPEC.replace(*change), project)
    assert str(caught.value).startswith(expected), str(caught.value)


def test_an_operation_described_twice_is_refused(project: Path) -> None:
    (project / "specs" / "files" / "extra.openapi.yaml").write_text(
        SUPPLEMENT + "  /files/{path}:\n    delete: {operationId: deleteAgain, responses: {'204': {description: x}}}\n"
    )
    with pytest.raises(CompileError, match=r"extra\.openapi\.yaml: DELETE /files/\{path\} is in the source already"):
        _compile(SPEC, project)


def test_supplement_is_only_for_openapi_sources(project: Path) -> None:
    path = Path("specs/files.yaml")
    path.write_text(SPEC.replace("kind: openapi", "kind: graphql"))
    with pytest.raises(SpecError, match=r"specs/files.yaml:3: source.supplement adds operations to an OpenAPI"):
        load_spec(path)
