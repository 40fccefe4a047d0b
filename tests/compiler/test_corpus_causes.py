"""More causes the corpus run found (issue 13b), each through the real compile and the real runtime.

Like `test_corpus_cases.py`: `mcphub compile` runs the scan and the test stage (every tool called through the hub's
runtime against the stage's recording upstream, each request checked by openapi-core); the requests asserted on
here are the bytes that upstream recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import fromstring

import pytest
from click.testing import CliRunner
from test_corpus_cases import OK, _compile, _description, _requests

from mcphub.cli import main
from mcphub.compiler.ir import ArgLocation, Integration
from mcphub.compiler.testing.mock import Received
from mcphub.compiler.testing.source import SourceOperations
from mcphub.runtime.upstream.xml_body import NotSendableAsXml, to_xml


def test_a_server_variable_holding_the_base_path_keeps_the_host_allowed(tmp_path: Path) -> None:
    """eBay's `https://api.ebay.com{basePath}`: every call was refused by the egress policy (host not allowed)."""
    document = _description(
        {"/charity_org": {"get": {"operationId": "get_charity_orgs", "responses": OK}}},
        server="https://api.example.com{basePath}",
    )
    document["servers"][0]["variables"] = {"basePath": {"default": "/commerce/charity/v1"}}
    code, output, package = _compile(tmp_path, document, "ebay")
    assert code == 0, output
    sent = _requests(package, document)["get_charity_orgs"]
    assert sent and all(r.target == "/commerce/charity/v1/charity_org" for r in sent)
    integration = Integration.from_manifest((package / "manifest.json").read_bytes())
    assert integration.base_url == "https://api.example.com{basePath}"


def test_an_xml_body_is_sent_as_xml_named_as_the_description_says(tmp_path: Path) -> None:
    """AWS's query APIs (1,798 operations of the corpus): an object body of `text/xml` went out as JSON text."""
    entry = {
        "type": "object",
        "title": "Entry",
        "xml": {"name": "member"},
        "properties": {"Id": {"type": "string"}, "Delay": {"type": "integer"}, "Flag": {"type": "boolean"}},
        "required": ["Id"],
    }
    message = {
        "type": "object",
        "title": "SendBatchRequest",
        "required": ["QueueUrl", "Entries"],
        "properties": {
            "QueueUrl": {"allOf": [{"type": "string", "minLength": 1}, {"description": "the queue"}]},
            "Entries": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Entry"}},
            "Labels": {"type": "array", "xml": {"wrapped": True}, "items": {"type": "string", "xml": {"name": "L"}}},
            "Version": {"type": "string", "xml": {"attribute": True}},
        },
    }
    document = _description(
        {
            "/": {
                "post": {
                    "operationId": "SendBatch",
                    "requestBody": {
                        "required": True,
                        "content": {"text/xml": {"schema": {"$ref": "#/components/schemas/SendBatchRequest"}}},
                    },
                    "responses": OK,
                }
            }
        },
        components={"schemas": {"SendBatchRequest": message, "Entry": entry}},
    )
    code, output, package = _compile(tmp_path, document, "aws")
    assert code == 0, output
    for request in _requests(package, document)["send_batch"]:
        assert request.header("content-type") == "text/xml"
        assert request.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?><SendBatchRequest')
        root = fromstring(request.body)
        assert root.find("QueueUrl") is not None and root.findall("member")  # items repeat under their xml.name
        assert root.find("Entries") is None

    # The runtime's own bytes for one call: attribute, wrapped array, unwrapped items, scalars as text.
    integration = Integration.from_manifest((package / "manifest.json").read_bytes())
    (tool,) = integration.tools
    (body,) = [a for a in tool.http.args if a.location is ArgLocation.BODY_ROOT]  # type: ignore[union-attr]
    value = {
        "QueueUrl": "q",
        "Entries": [{"Id": "1", "Delay": 3, "Flag": True}],
        "Labels": ["a", "b"],
        "Version": "2012-11-05",
    }
    assert to_xml(value, body.xml or {}) == (
        b'<?xml version="1.0" encoding="UTF-8"?><SendBatchRequest Version="2012-11-05"><QueueUrl>q</QueueUrl>'
        b"<member><Id>1</Id><Delay>3</Delay><Flag>true</Flag></member><Labels><L>a</L><L>b</L></Labels>"
        b"</SendBatchRequest>"
    )


def test_the_stage_refuses_json_text_labelled_as_xml_and_a_character_xml_cannot_carry(tmp_path: Path) -> None:
    document = _description(
        {
            "/": {
                "post": {
                    "operationId": "put_item",
                    "requestBody": {
                        "content": {
                            "application/xml": {
                                "schema": {"type": "object", "properties": {"Name": {"type": "string"}}}
                            }
                        }
                    },
                    "responses": OK,
                }
            }
        }
    )
    source = SourceOperations(document)
    json_text = Received("POST", "/v1/", [("content-type", "application/xml")], b'{"Name": "x"}')
    assert any("the body is not XML" in p for p in source.check(json_text, "/v1", "post", "/").problems)
    good = Received("POST", "/v1/", [("content-type", "application/xml")], b"<body><Name>x</Name></body>")
    assert source.check(good, "/v1", "post", "/").problems == []
    wrong = Received("POST", "/v1/", [("content-type", "application/xml")], b"<body><Name><a>1</a></Name></body>")
    assert source.check(wrong, "/v1", "post", "/").problems  # an element where the schema says text
    as_json = Received("POST", "/v1/", [("content-type", "application/json")], b'{"Name": "x"}')
    assert any("declares only XML" in p for p in source.check(as_json, "/v1", "post", "/").problems)
    with pytest.raises(NotSendableAsXml, match="U\\+001F"):
        to_xml({"Name": "a\x1fb"}, {"name": "body"})


def test_a_parameter_whose_wire_form_openapi_leaves_undefined_is_the_descriptions_fault(tmp_path: Path) -> None:
    """AWS's GET forms of its query APIs put arrays of objects in `form` query parameters: OpenAPI defines no wire
    form for those, so no request can be right; the stage says so (cause `description-fault`) instead of
    calling it a wire bug. A form-exploded map (`Tags`) is OpenAPI's `key=value` pairs and passes."""
    entries = {"type": "array", "items": {"type": "object", "properties": {"Id": {"type": "string"}}}}
    tags = {"type": "object", "additionalProperties": {"type": "string"}}
    document = _description(
        {
            "/batch": {
                "get": {
                    "operationId": "batch",
                    "parameters": [{"name": "Entries", "in": "query", "required": True, "schema": entries}],
                    "responses": OK,
                }
            },
            "/tag": {
                "get": {
                    "operationId": "tag",
                    "parameters": [{"name": "Tags", "in": "query", "required": True, "schema": tags}],
                    "responses": OK,
                }
            },
        }
    )
    by_name = _test_json(tmp_path, document)
    assert by_name["tag"]["status"] == "passed", by_name["tag"]
    assert by_name["batch"]["failure"]["cause"] == "description-fault", by_name["batch"]
    assert "array of objects" in by_name["batch"]["failure"]["message"]


def _test_json(tmp_path: Path, document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`mcphub test <description> --json`: every tool's verdict, by name."""
    source = tmp_path / "description.json"
    source.write_text(json.dumps(document))
    result = CliRunner().invoke(main, ["test", str(source), "--json"])
    return {t["tool"]: t for t in json.loads(result.output)["tools"]}


def test_a_json_body_goes_with_its_declared_media_type_and_header_formats_are_honoured(tmp_path: Path) -> None:
    """Kubernetes' and Zuora's `application/merge-patch+json` went out as `application/json`; Zuora's `Zuora-Version`
    header (format date) was generated as any text, and Mozilla's `If-Match` pattern let a NUL through."""
    patch = {"type": "object", "properties": {"name": {"type": "string"}}}
    document = _description(
        {
            "/things/{id}": {
                "patch": {
                    "operationId": "patch_thing",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "Zuora-Version", "in": "header", "schema": {"type": "string", "format": "date"}},
                        {"name": "If-Match", "in": "header", "schema": {"type": "string", "pattern": "^.+$"}},
                    ],
                    "requestBody": {"required": True, "content": {"application/merge-patch+json": {"schema": patch}}},
                    "responses": OK,
                }
            }
        }
    )
    code, output, package = _compile(tmp_path, document, "k8s")
    assert code == 0, output
    sent = _requests(package, document)["patch_thing"]
    assert sent and all(r.header("content-type") == "application/merge-patch+json" for r in sent)


def test_a_parameter_default_that_breaks_its_own_schema_is_left_unchecked(tmp_path: Path) -> None:
    """Snyk's `includeGroupAdmins` (boolean, default "false"): openapi-core checks the default of a parameter left
    out; the request (the optional parameter left out) is right, so the tool passes with that default noted."""
    document = _description(
        {
            "/members": {
                "get": {
                    "operationId": "list_members",
                    "parameters": [
                        {"name": "admins", "in": "query", "schema": {"type": "boolean", "default": "false"}},
                    ],
                    "responses": OK,
                }
            }
        }
    )
    tool = _test_json(tmp_path, document)["list_members"]
    assert tool["status"] == "passed", tool
    assert "query parameter admins (its default in the description breaks its schema)" in tool["note"]


def test_text_and_binary_bodies_of_types_openapi_core_cannot_read_are_checked(tmp_path: Path) -> None:
    """LGTM's `application/x-yaml` and Docker's `application/octet-stream` bodies of `type: string` reached the schema
    as bytes (`b'0' is not of type 'string'`): every request failed, right or wrong."""
    document = _description(
        {
            "/projects": {
                "post": {
                    "operationId": "add_project",
                    "requestBody": {
                        "required": True,
                        "content": {"application/x-yaml": {"schema": {"type": "string"}}},
                    },
                    "responses": OK,
                }
            },
            "/archive": {
                "put": {
                    "operationId": "put_archive",
                    "requestBody": {
                        "required": True,
                        "content": {"application/octet-stream": {"schema": {"type": "string"}}},
                    },
                    "responses": OK,
                }
            },
        }
    )
    code, output, package = _compile(tmp_path, document, "lgtm")
    assert code == 0, output
    sent = _requests(package, document)
    assert all(r.header("content-type") == "application/x-yaml" for r in sent["add_project"])
    assert all(r.header("content-type") == "application/octet-stream" for r in sent["put_archive"])


def test_a_key_parameter_made_the_credential_is_sent_with_every_operation(tmp_path: Path) -> None:
    """Nexmo declares `api_key` as a query parameter of some operations and no security scheme: the compiler makes
    it the credential, which the runtime then sends with every call; the stage took it for an undeclared parameter
    on the others."""
    key = {"name": "api_key", "in": "query", "required": True, "schema": {"type": "string"}}
    form = {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]}
    document = _description(
        {
            "/search": {"get": {"operationId": "search", "parameters": [key], "responses": OK}},
            "/check": {
                "post": {
                    "operationId": "check",
                    "requestBody": {
                        "required": True,
                        "content": {"application/x-www-form-urlencoded": {"schema": form}},
                    },
                    "responses": OK,
                }
            },
        }
    )
    code, output, package = _compile(tmp_path, document, "nexmo")
    assert code == 0, output
    sent = _requests(package, document)
    assert sent["check"] and all("api_key=" in r.target for r in sent["check"])


def test_a_nullable_path_parameter_is_still_required_text(tmp_path: Path) -> None:
    """VTEX's `facets` path parameter is `nullable`: a null argument left the path template unfilled."""
    facets = {"name": "facets", "in": "path", "required": True, "schema": {"type": "string", "nullable": True}}
    document = _description(
        {"/banners/{facets}": {"get": {"operationId": "banners", "parameters": [facets], "responses": OK}}}
    )
    code, output, package = _compile(tmp_path, document, "vtex")
    assert code == 0, output
    (tool,) = Integration.from_manifest((package / "manifest.json").read_bytes()).tools
    assert tool.input_schema["properties"]["facets"]["type"] == "string"


def test_a_required_property_the_description_never_defines_is_its_fault(tmp_path: Path) -> None:
    """Turbine Labs and Plaid list in `required` names their schemas never define: no argument can carry them."""
    listener = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name", "host"]}
    document = _description(
        {
            "/listener": {
                "post": {
                    "operationId": "post_listener",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": listener}}},
                    "responses": OK,
                }
            }
        }
    )
    tool = _test_json(tmp_path, document)["post_listener"]
    assert tool["failure"]["cause"] == "description-fault", tool
    assert "requires host but defines no such property" in tool["failure"]["message"]


def test_the_siblings_of_a_ref_are_ignored_in_openapi_3_0(tmp_path: Path) -> None:
    """Britbox's bodies are `{$ref: ItvChangeEmailRequest, type: string}`: OpenAPI 3.0 ignores what stands beside a
    `$ref`; read as a conjunction (3.1), no argument could satisfy it and no call could be generated."""
    change = {"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]}
    body = {"$ref": "#/components/schemas/Change", "type": "string", "description": "New email address."}
    document = _description(
        {
            "/changeemail": {
                "post": {
                    "operationId": "change_email",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                    "responses": OK,
                }
            }
        },
        components={"schemas": {"Change": change}},
    )
    code, output, package = _compile(tmp_path, document, "britbox")
    assert code == 0, output
    sent = _requests(package, document)["change_email"]
    assert sent and all(json.loads(r.body).keys() == {"email"} for r in sent)


def test_an_authorization_parameter_beside_a_key_in_another_header_is_an_argument(tmp_path: Path) -> None:
    """Azure LUIS: the subscription key is the declared scheme (`Ocp-Apim-Subscription-Key`), and some operations
    also need the user's ARM token in `Authorization`; it was dropped, so those calls always lacked it."""
    token = {"name": "Authorization", "in": "header", "required": True, "schema": {"type": "string"}}
    document = _description(
        {"/azureaccounts": {"get": {"operationId": "azure_accounts", "parameters": [token], "responses": OK}}},
        components={
            "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "Ocp-Apim-Subscription-Key"}}
        },
        security=[{"key": []}],
    )
    code, output, package = _compile(tmp_path, document, "luis")
    assert code == 0, output
    sent = _requests(package, document)["azure_accounts"]
    assert sent and all(r.header("authorization") is not None and r.header("ocp-apim-subscription-key") for r in sent)


def test_unions_form_exploded_objects_and_nested_deep_objects_are_read_as_sent(tmp_path: Path) -> None:
    """PandaScore (27 tools): `page` (an integer or an object, style form) sends the object's properties as pairs of
    their own, `filter` (deepObject) nests arrays, `league_id_or_slug` is an id or a slug; openapi-core read the
    first as undeclared names, the second as a failed cast and the third as an integer only."""
    slug = {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^[a-z0-9_-]+$"}]}
    page = {
        "oneOf": [
            {"type": "integer"},
            {"type": "object", "additionalProperties": False, "properties": {"number": {"type": "integer"}}},
        ]
    }
    filter_ = {"type": "object", "properties": {"id": {"type": "array", "items": {"type": "integer"}}}}
    document = _description(
        {
            "/leagues/{league_id_or_slug}/matches": {
                "get": {
                    "operationId": "league_matches",
                    "parameters": [
                        {"name": "league_id_or_slug", "in": "path", "required": True, "schema": slug},
                        {"name": "page", "in": "query", "schema": page},
                        {"name": "filter", "in": "query", "style": "deepObject", "explode": True, "schema": filter_},
                    ],
                    "responses": OK,
                }
            }
        }
    )
    code, output, package = _compile(tmp_path, document, "pandascore")
    assert code == 0, output
    assert _requests(package, document)["league_matches"]


def test_a_required_array_of_a_form_body_needs_an_item(tmp_path: Path) -> None:
    """Twilio's `Permission` (required, an array, form body): `[]` put no pair on the wire, so the field was missing."""
    form = {
        "type": "object",
        "properties": {"Permission": {"type": "array", "items": {"type": "string"}}, "Name": {"type": "string"}},
        "required": ["Permission", "Name"],
    }
    document = _description(
        {
            "/Roles": {
                "post": {
                    "operationId": "create_role",
                    "requestBody": {
                        "required": True,
                        "content": {"application/x-www-form-urlencoded": {"schema": form}},
                    },
                    "responses": OK,
                }
            }
        }
    )
    code, output, package = _compile(tmp_path, document, "twilio")
    assert code == 0, output
    assert all(b"Permission=" in r.body for r in _requests(package, document)["create_role"])


def test_a_body_that_must_not_be_empty_is_refused_before_sending_when_no_field_is_given(tmp_path: Path) -> None:
    """Webflow's PATCH bodies (`minProperties: 1`, no required field): a call giving none of them sent `{}`."""
    import asyncio

    from mcphub.compiler.testing.source import SourceOperations
    from mcphub.compiler.testing.stage import _Runner
    from mcphub.runtime.package import load_package

    body = {
        "type": "object",
        "minProperties": 1,
        "properties": {"name": {"type": "string"}, "slug": {"type": "string"}, "archived": {"type": "boolean"}},
    }
    document = _description(
        {
            "/collections/{collection_id}": {
                "patch": {
                    "operationId": "update_collection",
                    "parameters": [
                        {"name": "collection_id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
                    "responses": OK,
                }
            }
        }
    )
    code, output, package = _compile(tmp_path, document, "webflow")
    assert code == 0 and "left out" not in output, output  # every generated call passes openapi-core's check
    integration = Integration.from_manifest((package / "manifest.json").read_bytes())
    (tool,) = integration.tools
    assert tool.http is not None and tool.http.body_needs_one_of == ["name", "slug", "archived"]
    assert "Give at least one of `name`, `slug`, `archived`" in tool.description
    for request in _requests(package, document)["update_collection"]:
        assert json.loads(request.body)  # never `{}`

    # Through the hub's call pipeline with the recording upstream: refused, nothing sent; one field given: sent.
    loop = asyncio.new_event_loop()
    runner = _Runner(
        loop, load_package(package, module_prefix="mcphub_test_webflow"), SourceOperations(document, []), 1
    )
    try:
        loop.run_until_complete(runner.start())
        refused, sent = runner._call(tool, {"collection_id": "c1", "name": None})
        assert refused.is_error and not sent
        text = " ".join(getattr(part, "text", "") for part in refused.content)
        assert "give at least one of 'name', 'slug', 'archived'" in text
        assert "Nothing was sent" in text
        accepted, sent = runner._call(tool, {"collection_id": "c1", "archived": False})
        assert not accepted.is_error, accepted.content
        (request,) = sent
        assert request.method == "PATCH" and json.loads(request.body) == {"archived": False}
    finally:
        loop.run_until_complete(runner.close())
        loop.close()
