"""Issue 9's spec dead ends, each as a newcomer meets it: through `mcphub compile` on files in a folder."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcphub.cli import main
from mcphub.compiler import sources
from mcphub.compiler.spec import SOURCE_KINDS

PETSTORE = Path(__file__).parent / "fixtures" / "openapi" / "petstore30.yaml"

# An API that declares its key as a header parameter instead of a security scheme (as Listen Notes does).
LISTEN = """\
openapi: 3.0.0
info: {title: Listen API, version: "2.0"}
servers: [{url: "https://listen-api.listennotes.com/api/v2"}]
paths:
  /search:
    get:
      operationId: search
      parameters:
        - {name: X-ListenAPI-Key, in: header, required: true, schema: {type: string}}
        - {name: q, in: query, required: true, schema: {type: string}}
        - {name: page_token, in: query, schema: {type: string}}
      responses: {"200": {description: OK}}
"""
NO_SERVERS = """\
openapi: 3.0.0
info: {title: Nowhere, version: "1"}
paths:
  /things:
    get:
      operationId: list-things
      responses: {"200": {description: OK}}
"""


def _compile(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["compile", *args])
    return result.exit_code, result.output


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def _manifest(package: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((package / "manifest.json").read_text())
    return data


# --- 3: a hub spec with a typo is still a hub spec ----------------------------------------------------------------


def test_misspelt_source_key_is_a_spec_error_with_did_you_mean(tmp_path: Path) -> None:
    spec = _write(tmp_path, "pets.yaml", "slug: pets\nname: Pets\nsorce: {kind: openapi, path: petstore.yaml}\n")
    code, output = _compile(str(spec), "--out", str(tmp_path / "out"))
    assert code == 1
    assert f"{spec}:3: sorce is not a known key; did you mean 'source'?" in output
    assert "not an OpenAPI description" not in output


def test_missing_slug_is_named(tmp_path: Path) -> None:
    shutil.copy(PETSTORE, tmp_path / "petstore.yaml")
    spec = _write(tmp_path, "pets.yaml", "name: Pets\nsource: {kind: openapi, path: petstore.yaml}\n")
    code, output = _compile(str(spec), "--out", str(tmp_path / "out"))
    assert code == 1
    assert f"{spec}:1: slug is required; add e.g. slug:" in output


def test_kind_swagger_suggests_openapi(tmp_path: Path) -> None:
    shutil.copy(PETSTORE, tmp_path / "petstore.yaml")
    spec = _write(tmp_path, "pets.yaml", "slug: pets\nname: Pets\nsource: {kind: swagger, path: petstore.yaml}\n")
    code, output = _compile(str(spec), "--out", str(tmp_path / "out"))
    assert code == 1
    assert "source.kind 'swagger' is not one of" in output and "did you mean 'openapi'?" in output


def test_a_kind_this_compiler_lacks_lists_the_ones_it_has(tmp_path: Path) -> None:
    # A kind the spec format names (the IR's list) that no module implements yet.
    unbuilt = [kind for kind in SOURCE_KINDS if kind not in sources.names()]
    assert unbuilt, "every source kind is registered now: this test needs another subject"
    kind = unbuilt[0]
    spec = _write(
        tmp_path, "notes.yaml", f"slug: notes\nname: Notes\nsource: {{kind: {kind}, url: https://example.com}}\n"
    )
    code, output = _compile(str(spec), "--out", str(tmp_path / "out"))
    assert code == 1
    assert f"{spec}: source kind '{kind}' is not supported by this version of the compiler yet" in output
    assert "openapi" in output and "postman" in output and "graphql" in output


def test_misspelt_spec_in_a_folder_is_reported_not_skipped(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    _write(specs, "pets.yaml", "slug: pets\nnme: Pets\nsource: {kind: openapi, path: petstore.yaml}\n")
    _write(specs, "notes.yaml", "owner: someone\nreviewed: true\n")  # not a spec: skipped
    code, output = _compile(str(specs), "--out", str(tmp_path / "out"))
    assert code == 1
    assert "nme is not a known key; did you mean 'name'?" in output
    assert "notes.yaml" not in output


# --- 5: a raw description compiles beside generated/, so --check stays green -------------------------------------


def test_raw_description_goes_to_build_and_check_stays_green(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    shutil.copy(PETSTORE, tmp_path / "specs" / "petstore.yaml")
    _write(tmp_path / "specs", "shop.yaml", "slug: shop\nname: Shop\nsource: {kind: openapi, path: petstore.yaml}\n")
    assert _compile()[0] == 0
    shutil.copy(PETSTORE, tmp_path / "petstore.yaml")

    code, output = _compile("petstore.yaml", "--slug", "pets")  # the README's example, as written
    assert code == 0, output
    assert (tmp_path / "build" / "raw" / "pets" / "manifest.json").is_file()
    assert "mcphub inspect build/raw/pets" in output
    assert sorted(p.name for p in (tmp_path / "generated").iterdir()) == ["shop"]

    code, output = _compile("--check")
    assert code == 0, output


def test_specs_and_raw_descriptions_together_need_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(PETSTORE, tmp_path / "petstore.yaml")
    _write(tmp_path, "shop.yaml", "slug: shop\nname: Shop\nsource: {kind: openapi, path: petstore.yaml}\n")
    code, output = _compile("shop.yaml", "petstore.yaml")
    assert code == 1 and "compile them separately" in output and "--out" in output
    assert _compile("shop.yaml", "petstore.yaml", "--out", "elsewhere")[0] == 0


# --- 6: an API key declared as a parameter is the credential, not a tool argument ---------------------------------


def test_key_parameter_without_security_schemes_becomes_an_auth_scheme(tmp_path: Path) -> None:
    description = _write(tmp_path, "listen.yaml", LISTEN)
    code, output = _compile(str(description), "--out", str(tmp_path / "out"), "-v")
    assert code == 0, output
    manifest = _manifest(tmp_path / "out" / "listen")
    [scheme] = manifest["auth"]  # type: ignore[misc]
    assert (scheme["type"], scheme["location"], scheme["param_name"]) == ("api_key", "header", "X-ListenAPI-Key")
    [tool] = manifest["tools"]  # type: ignore[misc]
    assert sorted(tool["input_schema"]["properties"]) == ["page_token", "q"]  # page_token is no credential
    assert "'X-ListenAPI-Key' looks like a credential" in output


def test_key_parameter_beside_other_schemes_is_flagged_with_the_fix(tmp_path: Path) -> None:
    declared = LISTEN + "components:\n  securitySchemes:\n    token: {type: http, scheme: bearer}\n"
    description = _write(tmp_path, "listen.yaml", declared)
    code, output = _compile(str(description), "--out", str(tmp_path / "out"), "-v")
    assert code == 0, output
    assert "header parameter 'X-ListenAPI-Key' looks like a credential but is an argument of search" in output
    assert "credential_params: ['header:X-ListenAPI-Key']" in output

    # Following the advice silences it and removes the argument.
    shutil.copy(description, tmp_path / "listen.openapi.yaml")
    spec = _write(
        tmp_path,
        "listen-spec.yaml",
        """\
        slug: listen
        name: Listen Notes
        source: {kind: openapi, path: listen.openapi.yaml}
        credential_params: ["header:X-ListenAPI-Key"]
        auth: [{type: api_key, in: header, name: X-ListenAPI-Key}]
        """,
    )
    code, output = _compile(str(spec), "--out", str(tmp_path / "specs-out"), "-v")
    assert code == 0, output
    assert "looks like a credential" not in output
    [tool] = _manifest(tmp_path / "specs-out" / "listen")["tools"]  # type: ignore[misc]
    assert "X-ListenAPI-Key" not in tool["input_schema"]["properties"]


# --- 7: base_url and servers ----------------------------------------------------------------------------------------


def test_base_url_in_the_spec_silences_the_missing_servers_warning(tmp_path: Path) -> None:
    _write(tmp_path, "nowhere.openapi.yaml", NO_SERVERS)
    spec = _write(
        tmp_path,
        "nowhere.yaml",
        "slug: nowhere\nname: Nowhere\nsource: {kind: openapi, path: nowhere.openapi.yaml}\n"
        "base_url: https://api.example.com/v1\n",
    )
    code, output = _compile(str(spec), "--out", str(tmp_path / "out"), "-v")
    assert code == 0, output
    assert "servers" not in output and "base URL unknown" not in output
    assert _manifest(tmp_path / "out" / "nowhere")["base_url"] == "https://api.example.com/v1"


def test_no_servers_and_no_base_url_is_an_error_naming_what_to_set(tmp_path: Path) -> None:
    _write(tmp_path, "nowhere.openapi.yaml", NO_SERVERS)
    spec = _write(
        tmp_path, "nowhere.yaml", "slug: nowhere\nname: Nowhere\nsource: {kind: openapi, path: nowhere.openapi.yaml}\n"
    )
    code, output = _compile(str(spec), "--out", str(tmp_path / "out"))
    assert code == 1
    assert f"{spec}:1: base_url is required: 'nowhere.openapi.yaml' declares no server URL" in output
    assert "add e.g. base_url: https://" in output
    assert not (tmp_path / "out" / "nowhere").exists()
