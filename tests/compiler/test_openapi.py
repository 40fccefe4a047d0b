from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from mcphub.compiler.errors import CompileError, SourceError
from mcphub.compiler.ir import ArgBinding, ArgLocation, Integration, SourceInfo, Tool
from mcphub.compiler.naming import is_legal_tool_name
from mcphub.compiler.schemas import tool_schema_problems
from mcphub.compiler.sources.openapi import load_document, openapi_to_integration

FIXTURES = Path(__file__).parent / "fixtures" / "openapi"


def compile_fixture(name: str, slug: str = "pets", **kwargs: Any) -> Integration:
    document, label = load_document(FIXTURES / name)
    integration = openapi_to_integration(document, slug=slug, source=SourceInfo(kind="openapi", path=name), **kwargs)
    assert integration.source.format == label
    for tool in integration.tools:
        assert is_legal_tool_name(tool.name)
        assert tool_schema_problems(tool.input_schema) == [], tool.name
    # The manifest round-trips (the runtime reads exactly this).
    assert Integration.from_manifest(integration.to_manifest()) == integration
    return integration


def arg(tool: Tool, name: str) -> ArgBinding:
    assert tool.http is not None
    return next(a for a in tool.http.args if a.name == name)


@pytest.fixture(scope="module")
def pets31() -> Integration:
    return compile_fixture("petstore31.yaml")


@pytest.fixture(scope="module")
def pets30() -> Integration:
    return compile_fixture("petstore30.yaml")


@pytest.fixture(scope="module")
def swagger() -> Integration:
    return compile_fixture("swagger2.yaml")


def test_document_level_fields(pets31: Integration) -> None:
    assert pets31.name == "Pet Store 3.1"
    assert pets31.api_version == "2.0.1"
    assert pets31.source.format == "openapi 3.1.0"
    assert pets31.base_url == "https://{region}.pets.example.com/{basePath}"
    assert pets31.server_variables["region"].enum == ["eu", "us"]
    assert pets31.server_variables["basePath"].default == "v2"
    assert [t.name for t in pets31.tools] == [
        "get_pet_by_id",
        "update_pet",
        "delete_pet",
        "post_pets_id_rename",
        "upload_photo",
        "search_pets",
    ]


def test_several_security_schemes(pets31: Integration) -> None:
    schemes = {s.id: s for s in pets31.auth}
    assert schemes["apiKey"].type == "api_key" and schemes["apiKey"].location == "header"
    assert schemes["apiKey"].param_name == "X-API-Key"
    assert schemes["bearer"].type == "bearer" and schemes["bearer"].bearer_format == "JWT"
    assert schemes["basic"].type == "basic"
    assert schemes["oidc"].type == "openid_connect"
    oauth = schemes["oauth"]
    assert [f.kind for f in oauth.flows] == ["authorization_code", "client_credentials"]
    assert oauth.flows[0].scopes == {"pets:read": "Read pets", "pets:write": "Write pets"}
    assert oauth.scopes == ["pets:read"]
    assert pets31.default_security == [["apiKey"], ["oauth"]]
    tools = {t.name: t for t in pets31.tools}
    assert tools["get_pet_by_id"].http is not None and tools["get_pet_by_id"].http.security is None
    assert tools["update_pet"].http is not None and tools["update_pet"].http.security == [["bearer"], ["basic"]]
    assert tools["delete_pet"].http is not None and tools["delete_pet"].http.security == []


def test_parameters_cookies_and_skipped_headers(pets31: Integration) -> None:
    tool = pets31.tool("get_pet_by_id")
    assert tool.http is not None
    assert [(a.name, a.location) for a in tool.http.args] == [
        ("id", ArgLocation.PATH),
        ("session", ArgLocation.COOKIE),
        ("X-Trace-Id", ArgLocation.HEADER),
    ]  # Accept is the runtime's, X-API-Key is the apiKey scheme's
    assert arg(tool, "X-Trace-Id").python_name == "x_trace_id"
    assert tool.input_schema["required"] == ["id"]
    assert tool.input_schema["properties"]["id"]["description"] == "The pet's id."
    assert tool.annotations.read_only_hint is True and tool.annotations.open_world_hint is True
    assert tool.title == "Get a pet"
    assert "Returns a `Pet` object" in tool.description
    assert tool.http.response_content_type == "application/json"


def test_recursive_body_and_read_only(pets31: Integration) -> None:
    tool = pets31.tool("update_pet")
    schema = tool.input_schema
    assert "id" in schema["properties"] and arg(tool, "id").location is ArgLocation.PATH  # readOnly body id dropped
    assert schema["properties"]["parent"] == {"$ref": "#/$defs/Pet"}
    assert "parent" in schema["$defs"]["Pet"]["properties"]
    assert schema["properties"]["nickname"]["type"] == ["string", "null"]
    # relative-file $ref, bundled: Owner and its Address come from components.yaml
    assert schema["properties"]["owner"]["properties"]["address"]["properties"]["city"] == {"type": "string"}
    assert tool.annotations.idempotent_hint is True
    validator = Draft202012Validator(schema)
    assert validator.is_valid({"id": 1, "name": "Rex", "parent": {"name": "Old", "parent": {"name": "Older"}}})
    assert not validator.is_valid({"id": 1})


def test_delete_is_compiled_but_disabled(pets31: Integration) -> None:
    tool = pets31.tool("delete_pet")
    assert tool.enabled is False
    assert tool.annotations.destructive_hint is True
    assert "no content" in tool.description


def test_collisions_are_renamed_and_recorded(pets31: Integration) -> None:
    tool = pets31.tool("post_pets_id_rename")
    assert tool.http is not None
    assert [(a.name, a.location, a.wire_name) for a in tool.http.args] == [
        ("id", ArgLocation.PATH, "id"),
        ("query_id", ArgLocation.QUERY, "id"),
        ("body_id", ArgLocation.BODY, "id"),
        ("name", ArgLocation.BODY, "name"),
    ]
    assert any("'body_id'" in w and "POST /pets/{id}/rename" in w for w in pets31.warnings)


def test_deprecated_operation(pets31: Integration) -> None:
    tool = pets31.tool("post_pets_id_rename")
    assert tool.deprecated is True
    assert tool.description.startswith("Deprecated")
    assert tool.source_ref == "POST /pets/{id}/rename"


def test_multipart_upload_and_operation_server(pets31: Integration) -> None:
    tool = pets31.tool("upload_photo")
    assert tool.http is not None
    assert tool.http.body_encoding == "multipart" and tool.http.body_required is True
    assert tool.http.server_url == "https://upload.pets.example.com"
    file_arg = arg(tool, "file")
    assert file_arg.location is ArgLocation.MULTIPART and file_arg.content_type == "image/png"
    file_schema = tool.input_schema["properties"]["file"]
    assert file_schema["type"] == "string" and file_schema["contentEncoding"] == "base64"
    assert arg(tool, "extra").content_type == "application/octet-stream"
    assert arg(tool, "caption").content_type is None
    assert tool.input_schema["required"] == ["id", "file"]


def test_root_union_that_flat_arguments_cannot_state_is_one_body_argument(pets31: Integration) -> None:
    # Cat and Dog require nothing, so flat arguments ({} or meows with barks) could match both or neither variant.
    tool = pets31.tool("search_pets")
    schema = tool.input_schema
    assert schema["type"] == "object" and set(schema["properties"]) == {"body"}
    assert "oneOf" not in schema  # no combinator at the root, where clients refuse it
    body = schema["properties"]["body"]
    assert len(body["oneOf"]) == 2
    assert "exactly one of the shapes" in body["description"]
    assert [a.location for a in tool.http.args] == [ArgLocation.BODY_ROOT]  # type: ignore[union-attr]
    assert "a list of `Pet` objects" in tool.description


def test_all_of_nullable_and_keywords_30(pets30: Integration) -> None:
    tool = pets30.tool("create_item")
    props = tool.input_schema["properties"]
    assert tool.input_schema["required"] == ["label"]  # Base.id is readOnly
    assert props["label"]["type"] == ["string", "null"]
    assert props["tags"]["type"] == ["array", "null"]
    assert props["count"] == {"type": "integer", "exclusiveMinimum": 0, "examples": [3]}
    assert props["kind"]["enum"] == ["a", "b", None] and "`a`: The A kind" in props["kind"]["description"]
    assert "pattern" not in props["bad"]
    assert "docs.example.com/name" in props["name"]["description"]
    assert props["children"]["items"] == {"$ref": "#/$defs/Base"}
    assert any("pattern '[a-z'" in w and "create-item" in w for w in pets30.warnings)
    assert pets30.base_url == "https://api.example.com/v1"


def test_non_object_and_raw_bodies(pets30: Integration) -> None:
    bulk = pets30.tool("put_items_bulk")
    assert bulk.http is not None
    assert [(a.name, a.location, a.wire_name) for a in bulk.http.args] == [("body", ArgLocation.BODY_ROOT, "")]
    assert bulk.input_schema["properties"]["body"]["type"] == "array"
    note = pets30.tool("put_items_item_id_note")
    assert note.http is not None
    assert note.http.body_encoding is None
    assert arg(note, "body").content_type == "text/plain"
    assert arg(note, "itemId").python_name == "item_id"


def test_form_body_with_bracket_names(pets30: Integration) -> None:
    tool = pets30.tool("post_charges")
    assert tool.http is not None and tool.http.body_encoding == "form"
    expand = arg(tool, "expand")
    assert expand.wire_name == "expand[]" and expand.location is ArgLocation.FORM
    assert (expand.style, expand.explode) == ("deepObject", True)
    assert arg(tool, "metadata").wire_name == "metadata[key]"
    assert arg(tool, "body_metadata").wire_name == "metadata"


def test_swagger2(swagger: Integration) -> None:
    assert swagger.source.format == "swagger 2.0"
    assert swagger.base_url == "https://files.example.com/api"
    assert swagger.default_security == [["key"]]
    schemes = {s.id: s for s in swagger.auth}
    assert schemes["key"].location == "query"
    assert schemes["oauth"].flows[0].kind == "authorization_code"
    assert schemes["oauth"].scopes == ["files:write"]
    assert schemes["basic"].type == "basic"

    listing = swagger.tool("folders_list")
    assert listing.http is not None
    assert [a.name for a in listing.http.args] == ["limit", "ids"]  # api_key belongs to the scheme
    assert (arg(listing, "ids").style, arg(listing, "ids").explode) == ("form", True)
    assert listing.input_schema["properties"]["limit"] == {"type": "integer", "maximum": 100, "default": 10}

    create = swagger.tool("folders_create")
    assert create.http is not None and create.http.body_encoding == "json" and create.http.body_required
    assert create.input_schema["properties"]["x-nullable-field"]["type"] == ["string", "null"]
    assert create.input_schema["$defs"]["Folder"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Folder"}

    upload = swagger.tool("files_upload")
    assert upload.http is not None and upload.http.body_encoding == "multipart"
    assert arg(upload, "file").content_type == "application/octet-stream"
    assert upload.http.security == [["oauth"]]

    post = swagger.tool("chat_post_message")
    assert post.http is not None and post.http.body_encoding == "form"
    assert [(a.name, a.location, a.required) for a in post.http.args] == [
        ("channel", ArgLocation.FORM, True),
        ("text", ArgLocation.FORM, False),
    ]


def test_long_names_fit_the_prefixed_budget() -> None:
    slug = "abcdefghij-klmnopqrs"
    integration = compile_fixture("petstore31.yaml", slug=slug, max_full_length=36)
    assert all(len(f"{slug}__{t.name}") <= 36 for t in integration.tools)
    assert len({t.name for t in integration.tools}) == len(integration.tools)


def test_placeholder_host_becomes_a_server_variable() -> None:
    document = {
        "openapi": "3.0.1",
        "info": {"title": "Jira-like", "version": "3"},
        "servers": [{"url": "https://your-domain.atlassian.net"}],
        "paths": {},
    }
    integration = openapi_to_integration(document, slug="jira", source=SourceInfo(kind="openapi"))
    assert integration.base_url == "https://{domain}.atlassian.net"
    assert integration.server_variables["domain"].default == "your-domain"


def test_relative_file_refs_are_bundled(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "thing.json").write_text(
        json.dumps({"Thing": {"type": "object", "properties": {"n": {"type": "integer"}, "self": {"$ref": "#/Thing"}}}})
    )
    (tmp_path / "api.yaml").write_text(
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /t:\n    post:\n      requestBody:\n"
        "        content:\n          application/json:\n            schema: {$ref: 'schemas/thing.json#/Thing'}\n"
        "      responses: {'200': {description: ok}}\n"
    )
    document, label = load_document(tmp_path / "api.yaml")
    assert label == "openapi 3.1.0"
    integration = openapi_to_integration(document, slug="t", source=SourceInfo(kind="openapi"))
    schema = integration.tools[0].input_schema
    assert schema["properties"]["n"] == {"type": "integer"}
    assert schema["properties"]["self"]["$ref"].startswith("#/$defs/Thing")
    assert tool_schema_problems(schema) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("openapi: 3.0.0\ninfo: {title: x\npaths: [\n", "line 3"),
        ('{"openapi": "3.0.0", ', "invalid JSON"),
        ("just: a mapping\n", "no 'openapi' or 'swagger'"),
        ("- a list\n", "not a mapping"),
        ("openapi: 4.0.0\n", "unsupported OpenAPI version"),
        ("swagger: '1.2'\n", "only 2.0"),
        ("openapi: 3.0.0\npaths: [1, 2]\n", "'paths' must be a mapping"),
    ],
)
def test_broken_descriptions_give_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    suffix = ".json" if content.startswith("{") else ".yaml"
    path = tmp_path / f"api{suffix}"
    path.write_text(content)
    with pytest.raises(SourceError) as info:
        document, _ = load_document(path)
        openapi_to_integration(document, slug="x", source=SourceInfo(kind="openapi", path=str(path)))
    text = str(info.value)
    assert message in text and "\n" not in text
    assert isinstance(info.value, CompileError)


def test_missing_files_are_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="file not found"):
        load_document(tmp_path / "nope.yaml")
    (tmp_path / "api.yaml").write_text(
        "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths:\n  /t:\n    get:\n      parameters:\n"
        "        - $ref: 'missing.yaml#/P'\n      responses: {'200': {description: ok}}\n"
    )
    with pytest.raises(SourceError, match="missing file"):
        load_document(tmp_path / "api.yaml")


def test_slug_too_long_for_the_budget() -> None:
    with pytest.raises(SourceError, match="slug"):
        openapi_to_integration({"openapi": "3.0.0", "paths": {}}, slug="s" * 40, source=SourceInfo(kind="openapi"))


def test_bad_operations_become_warnings_not_crashes() -> None:
    document = {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a": {"get": "nope", "post": {"parameters": [{"in": "query"}, 7], "responses": {}}},
            "/b": ["not", "a", "mapping"],
        },
    }
    integration = openapi_to_integration(document, slug="t", source=SourceInfo(kind="openapi"))
    assert [t.name for t in integration.tools] == ["post_a"]
    assert len(integration.warnings) >= 3
    assert all(w.startswith(("GET /a", "POST /a", "paths./b", "document")) for w in integration.warnings)


def test_huge_request_schemas_are_cut_with_a_warning() -> None:
    leaf = {"type": "object", "properties": {f"x{i}": {"type": "string"} for i in range(30)}}
    body = {
        "type": "object",
        "properties": {f"f{i}": {"type": "object", "properties": {"inner": leaf}} for i in range(80)},
    }
    document = {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/big": {"post": {"requestBody": {"content": {"application/json": {"schema": body}}}, "responses": {}}}
        },
    }
    integration = openapi_to_integration(document, slug="t", source=SourceInfo(kind="openapi"))
    schema = integration.tools[0].input_schema
    assert tool_schema_problems(schema) == []
    assert set(schema["properties"]) == {f"f{i}" for i in range(80)}  # every argument is still there
    assert len(json.dumps(schema)) < len(json.dumps(body))
    assert any("nesting depth" in w and "POST /big" in w for w in integration.warnings)


def test_yaml_dates_stay_strings_and_anchor_cycles_terminate(tmp_path: Path) -> None:
    path = tmp_path / "api.yaml"
    path.write_text(
        "openapi: 3.0.0\ninfo: {title: t, version: 2024-01-01}\npaths:\n  /x:\n    post:\n      requestBody:\n"
        "        content:\n          application/json:\n            schema: &s\n              type: object\n"
        "              properties:\n                self: *s\n                when: {type: string, example: 2024-01-01}\n"
        "      responses: {}\n"
    )
    document, _ = load_document(path)
    integration = openapi_to_integration(document, slug="t", source=SourceInfo(kind="openapi"))
    assert integration.api_version == "2024-01-01"
    schema = integration.tools[0].input_schema
    assert schema["properties"]["when"]["examples"] == ["2024-01-01"]
    assert tool_schema_problems(schema) == []
    assert any("nested deeper" in w for w in integration.warnings)


def test_unsupported_security_never_means_no_auth() -> None:
    document = {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "components": {
            "securitySchemes": {
                "digest": {"type": "http", "scheme": "digest"},
                "key": {"type": "apiKey", "in": "header", "name": "K"},
            }
        },
        "security": [{"key": []}],
        "paths": {
            "/a": {"get": {"security": [{"digest": []}], "responses": {}}},
            "/b": {"get": {"security": [], "responses": {}}},
        },
    }
    integration = openapi_to_integration(document, slug="t", source=SourceInfo(kind="openapi"))
    a, b = integration.tools
    assert a.http is not None and a.http.security is None  # falls back to the default, with warnings
    assert b.http is not None and b.http.security == []  # explicitly anonymous
    assert [s.id for s in integration.auth] == ["key"]
    assert any("digest" in w for w in integration.warnings)
