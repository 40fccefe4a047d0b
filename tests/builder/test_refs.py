"""A multi-file OpenAPI description (by URL or as a local file) is bundled into one pinned document: relative files
and URLs fetched through the egress-checked fetch, bounded in count and size, cycles fetched once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from runtime.support import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from mcphub.builder.build import BuildOptions, build
from mcphub.builder.refs import bundle_refs
from mcphub.compiler.errors import SourceError
from mcphub.compiler.ir import Integration
from mcphub.compiler.pipeline import Target, compile_targets

ROOT_DOC = """openapi: 3.0.3
info: {title: Clinic, version: "1"}
servers: [{url: "https://clinic.example/v1"}]
paths:
  /pets/{pet_id}:
    get:
      operationId: get_pet
      parameters: [{$ref: "parameters.yaml#/PetId"}]
      responses:
        "200":
          description: The pet
          content: {application/json: {schema: {$ref: "schemas/pet.yaml#/Pet"}}}
        default: {$ref: "{base}/shared/errors.json#/components/responses/Problem"}
  /owners:
    post:
      operationId: create_owner
      requestBody:
        content: {application/json: {schema: {$ref: "./schemas/owner.yaml#/Owner"}}}
      responses: {"201": {description: Created}}
"""
DOCS: dict[str, Any] = {
    "/api/v1/parameters.yaml": "PetId: {name: pet_id, in: path, required: true, schema: {type: integer}}\n",
    "/api/v1/schemas/pet.yaml": (
        "Pet:\n  type: object\n  required: [name]\n  properties:\n    name: {type: string}\n"
        "    owner: {$ref: 'owner.yaml#/Owner'}\n    kind: {$ref: '#/Kind'}\n"
        "Kind: {type: string, enum: [cat, dog]}\n"
    ),
    "/api/v1/schemas/owner.yaml": (
        "Owner:\n  type: object\n  required: [email]\n  properties:\n    email: {type: string, format: email}\n"
        "    pets: {type: array, items: {$ref: 'pet.yaml#/Pet'}}\n"
    ),
    "/shared/errors.json": {
        "components": {
            "responses": {
                "Problem": {
                    "description": "A problem",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                }
            },
            "schemas": {"Problem": {"type": "object", "properties": {"title": {"type": "string"}}}},
        }
    },
}


async def clinic(request: Request) -> Response:
    path, base = request.url.path, str(request.base_url).rstrip("/")
    requested.append(path)
    if path == "/api/v1/openapi.yaml":
        return PlainTextResponse(ROOT_DOC.replace("{base}", base), media_type="application/yaml")
    if path.startswith("/chain/"):  # every document refers to the next one: an endless description
        number = int(path.removeprefix("/chain/").removesuffix(".yaml"))
        return PlainTextResponse(f"Next: {{$ref: '{number + 1}.yaml#/Next'}}\n")
    if path == "/api/v1/private.yaml":
        return PlainTextResponse(ROOT_DOC.replace("{base}/shared/errors.json", "moved/errors.json"))
    if path == "/api/v1/moved/errors.json":
        return RedirectResponse("http://10.1.2.3/errors.json", status_code=302)
    if path in DOCS:
        content = DOCS[path]
        return JSONResponse(content) if isinstance(content, dict) else PlainTextResponse(content)
    return PlainTextResponse("not found", status_code=404)


requested: list[str] = []


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serve(Starlette(routes=[Route("/{path:path}", clinic)])) as base:
        yield base


def options(tmp_path: Path, source: str, **changes: Any) -> BuildOptions:
    return BuildOptions(source=source, out_dir=tmp_path / "specs", catalog_dir=tmp_path / "generated", **changes)


async def test_a_description_by_url_is_bundled_with_its_files_and_urls(tmp_path: Path, site: str) -> None:
    requested.clear()
    (tmp_path / "specs").mkdir()
    result = await build(options(tmp_path, f"{site}/api/v1/openapi.yaml", slug="clinic", allow_private=True))
    assert result.tools == ["get_pet", "create_owner"]
    # Each document fetched once although pet.yaml and owner.yaml refer to each other.
    assert sorted(requested) == [
        "/api/v1/openapi.yaml",
        "/api/v1/parameters.yaml",
        "/api/v1/schemas/owner.yaml",
        "/api/v1/schemas/pet.yaml",
        "/shared/errors.json",
    ]
    pinned = json.loads((tmp_path / "specs" / "clinic" / "openapi.json").read_text())
    assert sorted(pinned["x-bundled"]) == ["errors.json", "owner.yaml", "parameters.yaml", "pet.yaml"]
    assert pinned["x-bundled"]["pet.yaml"]["Pet"]["properties"]["owner"] == {"$ref": "#/x-bundled/owner.yaml/Owner"}
    assert pinned["x-bundled"]["pet.yaml"]["Pet"]["properties"]["kind"] == {"$ref": "#/x-bundled/pet.yaml/Kind"}
    assert f"{site}/shared/errors.json" in " ".join(result.warnings)
    manifest = Integration.from_manifest((tmp_path / "generated" / "clinic" / "manifest.json").read_bytes())
    tools = {tool.name: tool for tool in manifest.tools}
    assert tools["get_pet"].input_schema["properties"]["pet_id"]["type"] == "integer"
    owner = tools["create_owner"].input_schema
    assert owner["properties"]["email"] == {"format": "email", "type": "string"}
    [pet] = [schema for name, schema in owner["$defs"].items() if name.startswith("Pet")]  # owner ⇄ pet: a cycle
    assert pet["properties"]["kind"]["enum"] == ["cat", "dog"] and pet["required"] == ["name"]
    # What was written compiles again with no network: every reference is inside the pinned document.
    spec = yaml.safe_load(result.spec_path.read_text())
    assert spec["source"] == {"kind": "openapi", "path": "clinic/openapi.json"}
    [report] = compile_targets([Target(result.spec_path, is_spec=True)], tmp_path / "generated", check=True)
    assert report.error is None and report.stale == []


async def test_a_local_file_referring_to_urls_and_files_beside_it(tmp_path: Path, site: str) -> None:
    folder = tmp_path / "upload"
    (folder / "schemas").mkdir(parents=True)
    (folder / "openapi.yaml").write_text(ROOT_DOC.replace("{base}", site))
    (folder / "parameters.yaml").write_text(DOCS["/api/v1/parameters.yaml"])
    for name in ("pet", "owner"):
        (folder / "schemas" / f"{name}.yaml").write_text(DOCS[f"/api/v1/schemas/{name}.yaml"])
    (tmp_path / "specs").mkdir()
    result = await build(options(tmp_path, str(folder / "openapi.yaml"), slug="clinic", allow_private=True))
    assert result.tools == ["get_pet", "create_owner"]
    pinned = json.loads((tmp_path / "specs" / "clinic" / "openapi.json").read_text())
    assert sorted(pinned["x-bundled"]) == ["errors.json", "owner.yaml", "parameters.yaml", "pet.yaml"]
    # Without allow_private the URL reference meets the egress rules like any fetch.
    with pytest.raises(SourceError) as error:
        await build(options(tmp_path, str(folder / "openapi.yaml"), slug="other"))
    assert f"{folder / 'openapi.yaml'}: $ref '{site}/shared/errors.json#/components/responses/Problem': " in str(
        error.value
    )
    assert "private, loopback or reserved address" in str(error.value)


async def test_a_reference_out_of_the_source_s_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.yaml").write_text("Key: {type: string, default: hunter2}\n")
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "parameters.yaml").write_text(DOCS["/api/v1/parameters.yaml"])
    (upload / "openapi.yaml").write_text(ROOT_DOC.replace("schemas/pet.yaml#/Pet", "../secret.yaml#/Key"))
    with pytest.raises(SourceError, match=r"\$ref '\.\./secret\.yaml#/Key' leads out of the source's folder"):
        await bundle_refs(yaml.safe_load((upload / "openapi.yaml").read_text()), str(upload / "openapi.yaml"))
    (upload / "absolute.yaml").write_text(ROOT_DOC.replace("schemas/pet.yaml#/Pet", "file:///etc/passwd#/x"))
    with pytest.raises(SourceError, match="only http"):
        await bundle_refs(yaml.safe_load((upload / "absolute.yaml").read_text()), str(upload / "absolute.yaml"))


async def test_endless_missing_redirected_and_oversized_references(site: str) -> None:
    with pytest.raises(SourceError) as error:
        await bundle_refs({"a": {"$ref": "0.yaml#/Next"}}, f"{site}/chain/root.yaml", allow_private=True)
    assert str(error.value).startswith(f"{site}/chain/98.yaml: $ref '99.yaml#/Next': more than 100 documents")
    with pytest.raises(SourceError, match=r"root\.yaml: \$ref 'nothing\.yaml#/X': .*answered 404"):
        await bundle_refs({"a": {"$ref": "nothing.yaml#/X"}}, f"{site}/api/v1/root.yaml", allow_private=True)
    with pytest.raises(SourceError) as error:
        await bundle_refs(
            yaml.safe_load(ROOT_DOC.replace("{base}/shared/errors.json", "moved/errors.json")),
            f"{site}/api/v1/private.yaml",
            allow_private=True,
        )
    assert "$ref 'moved/errors.json#/components/responses/Problem'" in str(error.value)
    assert "redirected to another host (http://10.1.2.3/errors.json)" in str(error.value)
    with pytest.raises(SourceError, match="over the"):
        await bundle_refs(
            yaml.safe_load(ROOT_DOC.replace("{base}", site)), f"{site}/api/v1/openapi.yaml",
            allow_private=True, max_bytes=300,
        )  # fmt: skip
