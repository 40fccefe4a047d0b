"""The test stage (`mcphub test`, and the compile's test stage): built-ins pass, a wrong request is caught and shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openapi_spec_validator import validate

from mcphub.cli import main
from mcphub.compiler.errors import SourceUnavailable
from mcphub.compiler.ir import Integration
from mcphub.compiler.testing import check_package, load_source
from mcphub.compiler.testing.swagger import swagger_to_openapi3

ROOT = Path(__file__).resolve().parents[2]
OK = {"200": {"description": "ok", "content": {"application/json": {"example": {"ok": True, "items": [1, 2]}}}}}

DESCRIPTION: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Shop", "version": "1"},
    "servers": [{"url": "https://shop.example/api"}],
    "paths": {
        "/items": {
            "get": {
                "operationId": "list_items",
                "parameters": [
                    {
                        "name": "tag",
                        "in": "query",
                        "style": "form",
                        "explode": False,
                        "schema": {"type": "array", "items": {"type": "string"}},
                    },
                    {"name": "filter", "in": "query", "content": {"application/json": {"schema": {"type": "object"}}}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                ],
                "responses": OK,
            },
            "post": {
                "operationId": "create_item",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": {"type": "string"}, "price": {"type": "number"}},
                            }
                        }
                    }
                },
                "responses": {"201": {"description": "created", "content": {"application/json": {"schema": {}}}}},
            },
        },
        "/items/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"operationId": "get_item", "responses": OK},
            "put": {
                "operationId": "replace_item_image",
                "requestBody": {
                    "required": True,
                    "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                },
                "responses": {"204": {"description": "stored"}},
            },
        },
        "/items/{id}/notes": {
            "post": {
                "operationId": "add_note",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["text"],
                                "properties": {
                                    "text": {"type": "string"},
                                    "file": {"type": "string", "format": "binary"},
                                    "to": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                            "encoding": {"file": {"contentType": "text/csv"}},
                        }
                    },
                },
                "responses": {"200": {"description": "ok", "content": {"text/plain": {"example": "noted"}}}},
            }
        },
        "/messages": {
            "post": {
                "operationId": "send_message",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["To"],
                                "properties": {
                                    "To": {"type": "string"},
                                    "MediaUrl": {"type": "array", "items": {"type": "string"}},
                                },
                            }
                        }
                    },
                },
                "responses": OK,
            }
        },
    },
}


def _run(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["test", *args, "--json"])
    assert result.output.strip(), result.output
    return result.exit_code, json.loads(result.output.strip().splitlines()[-1])


@pytest.fixture
def description(tmp_path: Path) -> Path:
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(DESCRIPTION))
    return path


def test_a_description_passes_with_a_report_per_tool(description: Path) -> None:
    code, report = _run(str(description), "--examples", "15")
    assert code == 0, report
    assert report["passed"] is True
    tools = {tool["tool"]: tool for tool in report["tools"]}
    assert set(tools) == {"list_items", "create_item", "get_item", "replace_item_image", "add_note", "send_message"}
    assert all(tool["status"] == "passed" for tool in tools.values())
    assert tools["add_note"]["operation"] == "POST /items/{id}/notes"
    assert all(tool["calls"] >= 1 for tool in tools.values())  # each tool really sent requests
    assert report["counts"] == {"passed": 6, "failed": 0, "skipped": 0}


def _tamper(package: Path, tool: str, wire_name: str, **changes: Any) -> None:
    """Change one argument binding in manifest.json, as a compiler bug would."""
    manifest = package / "manifest.json"
    integration = Integration.from_manifest(manifest.read_bytes())
    binding = integration.tool(tool).http
    assert binding is not None
    for arg in binding.args:
        if arg.wire_name == wire_name:
            for key, value in changes.items():
                setattr(arg, key, value)
    manifest.write_text(integration.to_manifest())


def test_a_wrong_serialisation_fails_with_the_counter_example_and_the_request(
    description: Path, tmp_path: Path
) -> None:
    out = tmp_path / "generated"
    compiled = CliRunner().invoke(main, ["compile", str(description), "--out", str(out)])
    assert compiled.exit_code == 0, compiled.output
    _tamper(out / "shop", "list_items", "tag", explode=True)  # `tag=a&tag=b` instead of `tag=a,b`

    code, report = _run("shop", "--out", str(out), "--specs", str(description.parent), "--tool", "list_items")
    assert code == 1
    (tool,) = report["tools"]
    assert tool["status"] == "failed"
    failure = tool["failure"]
    assert failure["cause"] == "request-invalid"
    tags = failure["arguments"]["tag"]
    assert len(tags) >= 2  # shrunk to the smallest list that shows the difference
    assert failure["request"].startswith("GET /api/items?")
    assert failure["request"].count("tag=") == len(tags)
    assert "Host: shop.example" in failure["request"]


def test_the_text_report_shows_what_was_sent(description: Path, tmp_path: Path) -> None:
    out = tmp_path / "generated"
    assert CliRunner().invoke(main, ["compile", str(description), "--out", str(out)]).exit_code == 0
    _tamper(out / "shop", "replace_item_image", "", content_type="application/json")  # the old wire bug
    result = CliRunner().invoke(
        main, ["test", str(out / "shop"), "--specs", str(description.parent), "--tool", "replace_item_image"]
    )
    assert result.exit_code == 1
    assert "✗ replace_item_image" in result.output
    assert "request-invalid" in result.output
    assert "content-type: application/json" in result.output
    assert "shop: 0 passed, 1 failed" in result.output


def test_a_target_that_is_no_package_says_what_to_give(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["test", "nothing-here", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "no compiled package here or in" in result.output
    assert "mcphub compile" in result.output


def _builtins() -> list[str]:
    found = []
    for manifest in sorted((ROOT / "generated").glob("*/manifest.json")):
        if json.loads(manifest.read_text())["source"]["kind"] == "openapi":
            found.append(manifest.parent.name)
    return found


@pytest.mark.parametrize("slug", _builtins())
def test_builtin_packages_pass_the_stage(slug: str) -> None:
    package = ROOT / "generated" / slug
    integration = Integration.from_manifest((package / "manifest.json").read_bytes())
    try:
        source = load_source(integration, ROOT / "specs")
    except SourceUnavailable as exc:  # pragma: no cover - npm unreachable: the compile itself cannot run either
        pytest.fail(f"the source of {slug} is needed: {exc}")
    report = check_package(package, source, examples=3)
    failed = {t.name: t.failure.to_json() for t in report.failed if t.failure is not None}
    assert report.error is None
    assert not failed, json.dumps(failed, indent=1)[:3000]
    assert all(t.status == "passed" for t in report.tools)


def _bulk_description(tmp_path: Path) -> Path:
    # A body whose description contradicts itself (Jira's security-level members: it requires a field its
    # `additionalProperties: false` forbids): no request can be valid, and the stage says so.
    either = {
        "type": "object",
        "additionalProperties": False,
        "required": ["ids"],
        "properties": {"names": {"type": "array", "items": {"type": "string"}}},
    }
    description = {
        "openapi": "3.0.3",
        "info": {"title": "Bulk", "version": "1"},
        "servers": [{"url": "https://bulk.example"}],
        "paths": {
            "/items": {"get": {"operationId": "list_items", "responses": OK}},
            "/items/delete": {
                "post": {
                    "operationId": "delete_many",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": either}}},
                    "responses": OK,
                }
            },
        },
    }
    path = tmp_path / "bulk.json"
    path.write_text(json.dumps(description))
    return path


def test_a_raw_description_is_written_without_the_tools_that_fail_the_stage(tmp_path: Path) -> None:
    path, out = _bulk_description(tmp_path), tmp_path / "out"

    written = CliRunner().invoke(main, ["compile", str(path), "--out", str(out)])
    assert written.exit_code == 0, written.output
    # One warning per tool left out, naming it, its operation and its first counter-example.
    assert "! left out (disabled), its requests fail the test stage: delete_many (POST /items/delete): " in (
        written.output
    )
    assert "with arguments {" in written.output
    assert "1 tools (+1 disabled)" in written.output
    manifest = json.loads((out / "bulk" / "manifest.json").read_text())
    assert {t["name"]: t["enabled"] for t in manifest["tools"]} == {"list_items": True, "delete_many": False}

    # The package as the hub mounts it serves the passing tool only; `inspect --all` shows the other as disabled.
    served = CliRunner().invoke(main, ["inspect", str(out / "bulk"), "--json"])
    assert served.exit_code == 0, served.output
    assert [t["name"] for t in json.loads(served.output)["tools"]] == ["list_items"]
    listed = CliRunner().invoke(main, ["inspect", str(out / "bulk"), "--all"])
    assert "delete_many" in listed.output and "[disabled]" in listed.output

    summary = CliRunner().invoke(main, ["compile", str(path), "--out", str(tmp_path / "json"), "--json"])
    assert summary.exit_code == 0, summary.output
    (left_out,) = json.loads(summary.output.splitlines()[-1])["left_out"]
    assert left_out.startswith("delete_many (POST /items/delete): ")


def test_a_raw_description_that_fails_the_stage_with_strict_writes_nothing(tmp_path: Path) -> None:
    path, out = _bulk_description(tmp_path), tmp_path / "out"

    failed = CliRunner().invoke(main, ["compile", str(path), "--out", str(out), "--strict"])
    assert failed.exit_code == 1, failed.output
    assert "the test stage failed 1 tool; first: delete_many" in failed.output
    assert "without --strict the package is written with the failing tools left out" in failed.output
    assert not (out / "bulk").exists()  # nothing half-written

    tried = CliRunner().invoke(main, ["compile", str(path), "--out", str(out), "--strict", "--no-test"])
    assert tried.exit_code == 0, tried.output
    assert (out / "bulk" / "manifest.json").exists()


def test_a_raw_description_whose_every_tool_fails_the_stage_writes_nothing(tmp_path: Path) -> None:
    """A package of no working tool is no try-out: the build fails as with --strict."""
    path = _bulk_description(tmp_path)
    document = json.loads(path.read_text())
    del document["paths"]["/items"]
    path.write_text(json.dumps(document))
    out = tmp_path / "out"

    failed = CliRunner().invoke(main, ["compile", str(path), "--out", str(out)])
    assert failed.exit_code == 1, failed.output
    assert "the test stage failed 1 tool; first: delete_many" in failed.output
    assert not (out / "bulk").exists()


def test_a_hub_spec_whose_tool_fails_the_stage_still_fails_its_build(tmp_path: Path) -> None:
    """A reviewed integration never loses a tool silently: the spec's build fails, --strict or not."""
    _bulk_description(tmp_path)
    spec = tmp_path / "bulk.yaml"
    spec.write_text("slug: bulk\nname: Bulk\ndescription: d\nsource: {kind: openapi, path: bulk.json}\n")
    out = tmp_path / "generated"

    failed = CliRunner().invoke(main, ["compile", str(spec), "--out", str(out)])
    assert failed.exit_code == 1, failed.output
    assert "the test stage failed 1 tool; first: delete_many" in failed.output
    assert "left out" not in failed.output
    assert not (out / "bulk").exists()


SWAGGER: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "Legacy", "version": "1"},
    "host": "legacy.example",
    "basePath": "/v1",
    "schemes": ["https"],
    "definitions": {
        "Item": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "note": {"type": "string", "x-nullable": True}},
        }
    },
    "paths": {
        "/items": {
            "get": {
                "operationId": "find_items",
                "produces": ["application/json"],
                "parameters": [
                    {
                        "name": "q",
                        "in": "query",
                        "type": "array",
                        "items": {"type": "string"},
                        "collectionFormat": "pipes",
                    },
                    {"name": "ids", "in": "query", "type": "array", "items": {"type": "integer"}},  # csv
                    {"name": "limit", "in": "query", "type": "integer", "maximum": 50},
                ],
                "responses": {
                    "200": {"description": "ok", "schema": {"type": "array", "items": {"$ref": "#/definitions/Item"}}}
                },
            },
            "post": {
                "operationId": "add_item",
                "consumes": ["application/json"],
                "parameters": [
                    {"name": "item", "in": "body", "required": True, "schema": {"$ref": "#/definitions/Item"}}
                ],
                "responses": {"201": {"description": "made", "schema": {"$ref": "#/definitions/Item"}}},
            },
        },
        "/items/{id}/tags": {
            "parameters": [{"name": "id", "in": "path", "required": True, "type": "string"}],
            "post": {
                "operationId": "tag_item",
                "consumes": ["application/x-www-form-urlencoded"],
                "parameters": [
                    {
                        "name": "tag",
                        "in": "formData",
                        "required": True,
                        "type": "array",
                        "items": {"type": "string"},
                        "collectionFormat": "multi",
                    },
                    {"name": "why", "in": "formData", "type": "string"},
                ],
                "responses": {"204": {"description": "tagged"}},
            },
        },
    },
}


def test_swagger_2_converts_to_a_valid_openapi_3_document() -> None:
    converted = swagger_to_openapi3(SWAGGER)
    validate(converted)  # openapi-spec-validator: a valid 3.0 description
    assert converted["servers"] == [{"url": "https://legacy.example/v1"}]
    find = converted["paths"]["/items"]["get"]["parameters"]
    assert find[0] == {
        "name": "q",
        "in": "query",
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "pipeDelimited",
        "explode": False,
    }
    assert find[1]["style"] == "form" and find[1]["explode"] is False  # csv, the 2.0 default
    tag = converted["paths"]["/items/{id}/tags"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert tag["encoding"] == {"tag": {"style": "form", "explode": True}}  # multi
    assert converted["components"]["schemas"]["Item"]["properties"]["note"] == {"type": "string", "nullable": True}
    body = converted["paths"]["/items"]["post"]["requestBody"]
    assert body == {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}},
    }


def test_swagger_2_requests_are_checked_against_the_descriptions_openapi_3_form(tmp_path: Path) -> None:
    path = tmp_path / "legacy.json"
    path.write_text(json.dumps(SWAGGER))
    code, report = _run(str(path), "--examples", "10")
    assert code == 0, report
    assert report["error"] is None
    assert report["counts"] == {"passed": 3, "failed": 0, "skipped": 0}
    assert all(tool["note"] is None for tool in report["tools"])  # every part of each request was checked

    # A wrong collection format is caught: `q=a&q=b` where the description says `q=a|b`.
    out = tmp_path / "generated"
    assert CliRunner().invoke(main, ["compile", str(path), "--out", str(out), "--no-test"]).exit_code == 0
    _tamper(out / "legacy", "find_items", "q", style="form", explode=True)
    code, report = _run("legacy", "--out", str(out), "--specs", str(tmp_path), "--tool", "find_items")
    assert code == 1
    (tool,) = report["tools"]
    assert tool["failure"]["cause"] == "request-invalid"
    assert tool["failure"]["request"].startswith("GET /v1/items?")


WIRE: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Wire", "version": "1"},
    "servers": [{"url": "https://wire.example"}],
    "paths": {
        "/recipes": {
            "post": {
                "operationId": "create_recipe",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["Wine Pairing"],
                                "properties": {
                                    "Wine Pairing": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "required": ["Pairing Text"],
                                        "properties": {"Pairing Text": {"type": "string"}},
                                    },
                                    "steps": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "additionalProperties": False,
                                            "required": ["@odata.type"],
                                            "properties": {"@odata.type": {"type": "string", "enum": ["#step"]}},
                                        },
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": OK,
            }
        },
        "/items/add": {
            "post": {
                "operationId": "add_item",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "id": {"type": "integer"},
                                    "owner": {"type": "string"},
                                    "number": {"type": "integer"},
                                    "value": {"nullable": True, "oneOf": [{"type": "string"}, {"type": "number"}]},
                                },
                                "oneOf": [{"required": ["id"]}, {"required": ["owner", "number"]}],
                            }
                        }
                    },
                },
                "responses": OK,
            }
        },
    },
}


def test_nested_names_and_union_bodies_pass_the_stage_and_a_wrong_wire_map_fails(tmp_path: Path) -> None:
    path = tmp_path / "wire.json"
    path.write_text(json.dumps(WIRE))
    code, report = _run(str(path), "--examples", "25")
    assert code == 0, report
    assert report["counts"] == {"passed": 2, "failed": 0, "skipped": 0}
    assert all(tool["note"] is None for tool in report["tools"])  # every request checked in full

    out = tmp_path / "generated"
    assert CliRunner().invoke(main, ["compile", str(path), "--out", str(out)]).exit_code == 0
    manifest = out / "wire" / "manifest.json"
    integration = Integration.from_manifest(manifest.read_bytes())
    binding = integration.tool("create_recipe").http
    assert binding is not None
    pairing = next(arg for arg in binding.args if arg.wire_name == "Wine Pairing")
    assert pairing.name == "Wine_Pairing" and pairing.wire_names == {"rename": {"Pairing_Text": "Pairing Text"}}
    pairing.wire_names = None  # as a runtime that ignored the map would send: `Pairing_Text`
    manifest.write_text(integration.to_manifest())
    code, report = _run("wire", "--out", str(out), "--specs", str(tmp_path), "--tool", "create_recipe")
    assert code == 1
    (tool,) = report["tools"]
    assert tool["failure"]["cause"] == "request-invalid"
    assert '"Pairing_Text"' in tool["failure"]["request"]
