"""What compiled tools put on the wire, through the real runtime to a recording upstream on 127.0.0.1.

Each case is a description shape that used to go out wrong (issue 13): the description is compiled by the
real parser and codegen, the package is loaded as the hub mounts it, and the call goes through `HubCall`
and the hub's HTTP transport. The upstream records the bytes it receives.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from mcphub.compiler.ir import Integration, Policy, SourceInfo
from mcphub.compiler.sources.openapi import openapi_to_integration
from mcphub.runtime.package import Package, ToolOutput, load_package
from mcphub.runtime.upstream.call import HubCall
from mcphub.runtime.upstream.client import UpstreamClient
from mcphub.runtime.upstream.credentials import Credential
from mcphub.runtime.upstream.executors.http import HttpExecutor
from runtime.support import Recorded, Upstream, serve, write_package

PNG = b"\x89PNG\r\n\x1a\n\x00\x01binary\xff"


def _op(operation_id: str, **extra: Any) -> dict[str, Any]:
    return {"operationId": operation_id, "responses": {"200": {"description": "ok"}}, **extra}


def _body(media_type: str, schema: dict[str, Any], **media: Any) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema, **media}}}}


BINARY = {"type": "string", "format": "binary"}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Wire", "version": "1"},
    "paths": {
        "/zip": {"post": _op("upload_zip", **_body("application/zip", BINARY))},
        "/octet": {"put": _op("put_bytes", **_body("application/octet-stream", BINARY))},
        "/text": {"post": _op("send_text", **_body("text/plain", {"type": "string"}))},
        "/xml": {"post": _op("send_xml", **_body("application/xml", {"type": "string"}))},
        "/files": {
            "post": _op(
                "upload_file",
                **_body(
                    "multipart/form-data",
                    {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": BINARY,
                            "attachments": {"type": "array", "items": BINARY},
                            "note": {"type": "string"},
                            "meta": {"type": "object", "properties": {"a": {"type": "integer"}}},
                        },
                    },
                    encoding={"file": {"contentType": "image/png"}, "meta": {"contentType": "application/json"}},
                ),
            )
        },
        "/Messages.json": {
            "post": _op(
                "send_message",
                **_body(
                    "application/x-www-form-urlencoded",
                    {
                        "type": "object",
                        "properties": {
                            "To": {"type": "string"},
                            "MediaUrl": {"type": "array", "items": {"type": "string"}},
                            "Tags": {"type": "array", "items": {"type": "string"}},
                            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                        },
                    },
                    encoding={"Tags": {"style": "form", "explode": False}, "metadata": {"style": "deepObject"}},
                ),
            )
        },
        "/labels": {
            "post": _op(
                "create_label",
                **_body(
                    "application/json",
                    {
                        "type": "object",
                        "required": ["name", "color"],
                        "properties": {"name": {"type": "string"}, "color": {"type": "string", "nullable": True}},
                    },
                ),
                parameters=[
                    {
                        "name": "ids",
                        "in": "query",
                        "explode": False,
                        "schema": {"type": "array", "items": {"type": "string"}},
                    }
                ],
            )
        },
        "/search": {
            "get": _op(
                "search",
                parameters=[
                    {
                        "name": "filter",
                        "in": "query",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                ],
            )
        },
        "/echo/{id}": {
            "get": _op(
                "get_item",
                parameters=[
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "X-Ünï", "in": "header", "schema": {"type": "string"}},
                    {"name": "X-Title", "in": "header", "schema": {"type": "string"}},
                ],
            )
        },
        "/recipes": {
            "post": _op(
                "create_recipe",
                **_body(
                    "application/json",
                    {
                        "type": "object",
                        "required": ["title"],
                        "properties": {
                            "title": {"type": "string"},
                            "Wine Pairing": {
                                "type": "object",
                                "required": ["Pairing Text"],
                                "properties": {"Pairing Text": {"type": "string"}, "a_b": {"type": "string"}},
                            },
                            "steps": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "@odata.type": {"type": "string"},
                                        "a b": {"type": "string"},  # collides with the legal `a_b` below
                                        "a_b": {"type": "integer"},
                                    },
                                },
                            },
                            "tree": {"$ref": "#/components/schemas/Node"},
                        },
                    },
                ),
            )
        },
        "/bulk": {
            "post": _op(
                "delete_many",
                **_body(
                    "application/json",
                    {
                        "oneOf": [
                            {
                                "type": "object",
                                "required": ["ids"],
                                "properties": {"ids": {"type": "array", "items": {"type": "string"}}},
                            },
                            {
                                "type": "object",
                                "required": ["names"],
                                "properties": {"names": {"type": "array", "items": {"type": "string"}}},
                            },
                        ]
                    },
                ),
            )
        },
        "/bulk-form": {
            "post": _op(
                "delete_many_form",
                **_body(
                    "application/x-www-form-urlencoded",
                    {
                        "anyOf": [
                            {
                                "type": "object",
                                "required": ["id"],
                                "properties": {"id": {"type": "string"}},
                                "additionalProperties": False,
                            },
                            {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": {"type": "string"}},
                                "additionalProperties": False,
                            },
                        ]
                    },
                ),
            )
        },
        "/files/{name}.{ext}": {
            "get": _op(
                "get_file",
                parameters=[
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "ext", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
            )
        },
    },
}

OPENAPI["components"] = {
    "schemas": {
        # Recursive, so it stays under the tool schema's `$defs` and its map in the binding's `wire_defs`.
        "Node": {
            "type": "object",
            "properties": {
                "@id": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            },
        }
    }
}

SWAGGER: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "Legacy", "version": "1"},
    "paths": {
        "/items": {
            "post": _op(
                "add_items",
                consumes=["application/x-www-form-urlencoded"],
                parameters=[
                    {"name": "ids", "in": "formData", "type": "array", "items": {"type": "string"}},
                    {
                        "name": "tags",
                        "in": "formData",
                        "type": "array",
                        "items": {"type": "string"},
                        "collectionFormat": "multi",
                    },
                    {
                        "name": "q",
                        "in": "query",
                        "type": "array",
                        "items": {"type": "string"},
                        "collectionFormat": "pipes",
                    },
                ],
            )
        }
    },
}


class Recording(Upstream):
    """Answers every request with `{"ok": true}` after recording it."""

    async def _answer(self, r: Recorded, send: Any) -> None:
        body = b'{"ok": true}'
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def upstream() -> Iterator[Recording]:
    recording = Recording()
    with serve(recording) as base:
        recording.base_url = base
        yield recording


def _compile(document: dict[str, Any], slug: str, base_url: str, out: Path) -> Package:
    parsed = openapi_to_integration(document, slug=slug, source=SourceInfo(kind="openapi"))
    integration: Integration = parsed.model_copy(
        update={"base_url": base_url, "policy": Policy(allowed_hosts=["127.0.0.1"], allow_private_network=True)}
    )
    return load_package(write_package(integration, out))


class Caller:
    def __init__(self, package: Package, upstream: Recording) -> None:
        self.package, self.upstream = package, upstream
        self.executor = HttpExecutor(package.integration, UpstreamClient(package.integration))

    async def __call__(self, tool: str, **arguments: Any) -> tuple[ToolOutput, Recorded | None]:
        before = len(self.upstream.requests)
        call = HubCall(self.package.integration.tool(tool), self.executor, Credential())
        output = await self.package.invoke(call, tool, arguments)
        sent = self.upstream.requests[before:]
        return output, (sent[-1] if sent else None)


@pytest.fixture
async def wire(upstream: Recording, tmp_path: Path) -> AsyncIterator[Caller]:
    caller = Caller(_compile(OPENAPI, "wire", upstream.base_url + "/api", tmp_path), upstream)
    yield caller
    await caller.executor.aclose()


@pytest.fixture
async def legacy(upstream: Recording, tmp_path: Path) -> AsyncIterator[Caller]:
    caller = Caller(_compile(SWAGGER, "legacy", upstream.base_url, tmp_path), upstream)
    yield caller
    await caller.executor.aclose()


def _parts(request: Recorded) -> list[tuple[str, str | None, str | None, bytes]]:
    """(name, filename, content type, bytes) of each part of a multipart/form-data body."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    parts = []
    for part in message.iter_parts():
        disposition = part.get("content-disposition", "")
        params = dict(part.get_params(header="content-disposition")[1:])
        assert disposition.startswith("form-data")
        raw = part.get_payload(decode=True)
        parts.append((params["name"], params.get("filename"), part.get("content-type"), raw))
    return parts


@pytest.mark.parametrize(
    ("tool", "content_type"), [("upload_zip", "application/zip"), ("put_bytes", "application/octet-stream")]
)
async def test_binary_bodies_are_sent_as_their_bytes(wire: Caller, tool: str, content_type: str) -> None:
    output, sent = await wire(tool, body=base64.b64encode(PNG).decode())
    assert not output.is_error, output.text
    assert sent is not None
    assert sent.headers["content-type"] == content_type
    assert sent.body == PNG


@pytest.mark.parametrize(("tool", "content_type"), [("send_text", "text/plain"), ("send_xml", "application/xml")])
async def test_text_bodies_are_sent_as_text(wire: Caller, tool: str, content_type: str) -> None:
    text = '<note lang="fr">Crème brûlée</note>'
    output, sent = await wire(tool, body=text)
    assert not output.is_error, output.text
    assert sent is not None
    assert sent.headers["content-type"] == content_type
    assert sent.body == text.encode()  # not '"<note ...>"' as a JSON string


async def test_binary_body_that_is_not_base64_is_a_tool_error_and_nothing_is_sent(wire: Caller) -> None:
    output, sent = await wire("upload_zip", body="not base64!")
    assert output.is_error
    assert "is not valid base64" in output.text
    assert sent is None


async def test_multipart_files_are_decoded_and_keep_their_part_content_types(wire: Caller) -> None:
    output, sent = await wire(
        "upload_file",
        file=base64.b64encode(PNG).decode(),
        attachments=[base64.b64encode(b"one").decode(), base64.b64encode(b"two").decode()],
        note="hello",
        meta={"a": 1},
    )
    assert not output.is_error, output.text
    assert sent is not None
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    parts = _parts(sent)
    assert ("file", "file", "image/png", PNG) in parts
    attachments = [p for p in parts if p[0] == "attachments"]
    assert [p[3] for p in attachments] == [b"one", b"two"]
    assert all(p[1] for p in attachments)  # file parts carry a filename
    assert ("note", None, None, b"hello") in [(n, f, t if t != "text/plain" else None, b) for n, f, t, b in parts]
    meta = next(p for p in parts if p[0] == "meta")
    assert meta[2] == "application/json"
    assert json.loads(meta[3]) == {"a": 1}


async def test_form_bodies_follow_style_and_explode(wire: Caller) -> None:
    output, sent = await wire(
        "send_message",
        To="+15550001",
        MediaUrl=["https://a.example/1.png", "https://a.example/2.png"],
        Tags=["x", "y"],
        metadata={"order": "42"},
    )
    assert not output.is_error, output.text
    assert sent is not None
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(sent.body.decode()) == [
        ("To", "+15550001"),
        ("MediaUrl", "https://a.example/1.png"),  # form/explode (the default): the key repeats, as Twilio expects
        ("MediaUrl", "https://a.example/2.png"),
        ("Tags", "x,y"),  # explode: false
        ("metadata[order]", "42"),  # deepObject
    ]


async def test_swagger_collection_formats_apply_to_form_fields_and_queries(legacy: Caller) -> None:
    output, sent = await legacy("add_items", ids=["a", "b"], tags=["t1", "t2"], q=["x", "y"])
    assert not output.is_error, output.text
    assert sent is not None
    assert parse_qsl(sent.body.decode()) == [("ids", "a,b"), ("tags", "t1"), ("tags", "t2")]  # csv, multi
    assert sent.query == [("q", "x|y")]  # pipes


async def test_a_query_parameter_with_json_content_is_one_json_value(wire: Caller) -> None:
    output, sent = await wire("search", filter={"a": 1, "b": "x y"})
    assert not output.is_error, output.text
    assert sent is not None
    assert [(name, json.loads(value)) for name, value in sent.query] == [("filter", {"a": 1, "b": "x y"})]


async def test_a_header_name_outside_ascii_is_a_tool_error_not_a_crash(wire: Caller) -> None:
    names = {arg.wire_name: arg.name for arg in wire.package.integration.tool("get_item").http.args}  # type: ignore[union-attr]
    output, sent = await wire("get_item", id="1", **{names["X-Ünï"]: "v"})
    assert output.is_error
    assert "header 'X-Ünï' cannot be sent" in output.text
    assert sent is None


async def test_header_values_outside_ascii_are_sent_as_utf8(wire: Caller) -> None:
    output, sent = await wire("get_item", id="1", **{"X-Title": "Crème"})
    assert not output.is_error, output.text
    assert sent is not None
    assert sent.headers["x-title"] == "Crème"  # the recorder decodes header bytes as UTF-8


async def test_a_header_value_with_a_line_break_is_refused_before_sending(wire: Caller) -> None:
    output, sent = await wire("get_item", id="1", **{"X-Title": "a\r\nX-Injected: 1"})
    assert output.is_error
    assert "line break" in output.text
    assert sent is None


@pytest.mark.parametrize(("value", "raw"), [("..", "%2E%2E"), (".", "%2E"), ("a/../b", "a%2F..%2Fb")])
async def test_dot_segments_stay_inside_their_segment(wire: Caller, value: str, raw: str) -> None:
    output, sent = await wire("get_item", id=value)
    assert not output.is_error, output.text
    assert sent is not None
    assert sent.raw_path == f"/api/echo/{raw}"


async def test_dot_segments_made_of_several_values_are_encoded(wire: Caller) -> None:
    output, sent = await wire("get_file", name=".", ext="")
    assert output.is_error  # an empty path value is refused: `/files/x.` and `/files/.` are other paths
    assert "path parameter 'ext' is empty" in output.text
    output, sent = await wire("get_file", name="", ext=".")
    assert output.is_error
    output, sent = await wire("get_file", name=".", ext=".")
    assert not output.is_error, output.text
    assert sent is not None
    assert sent.raw_path == "/api/files/..."  # one segment of three dots is no dot segment


async def test_a_required_nullable_field_given_as_null_is_sent_and_empty_lists_are_left_out(wire: Caller) -> None:
    output, sent = await wire("create_label", name="bug", color=None, ids=[])
    assert not output.is_error, output.text
    assert sent is not None
    assert sent.json() == {"name": "bug", "color": None}  # not {"name": "bug"}: the field is required
    assert sent.raw_query == ""  # not `ids=`: an empty list is no value


def _property_names(schema: Any) -> list[str]:
    found: list[str] = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                found.extend(value)
            found.extend(_property_names(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(_property_names(value))
    return found


async def test_nested_property_names_are_client_safe_and_sent_as_the_api_names_them(wire: Caller) -> None:
    tool = wire.package.integration.tool("create_recipe")
    schema = tool.input_schema
    assert all(re.fullmatch(r"[a-zA-Z0-9_.-]{1,64}", name) for name in _property_names(schema))
    props = schema["properties"]
    assert props["Wine_Pairing"]["required"] == ["Pairing_Text"]  # `required` follows the renaming
    # Collisions: the legal `a_b` keeps its name, `a b` takes the next free one, deterministically.
    assert set(props["steps"]["items"]["properties"]) == {"odata.type", "a_b", "a_b_2"}
    assert set(schema["$defs"]["Node"]["properties"]) == {"id", "children"}

    output, sent = await wire(
        "create_recipe",
        title="Risotto",
        Wine_Pairing={"Pairing_Text": "Soave", "a_b": "x"},
        steps=[{"odata.type": "#step", "a_b_2": "stir", "a_b": 2}, {"a_b": 3}],
        tree={"id": "1", "children": [{"id": "2", "children": [{"id": "3"}]}]},
    )
    assert not output.is_error, output.text
    assert sent is not None
    assert sent.json() == {
        "title": "Risotto",
        "Wine Pairing": {"Pairing Text": "Soave", "a_b": "x"},
        "steps": [{"@odata.type": "#step", "a b": "stir", "a_b": 2}, {"a_b": 3}],
        "tree": {"@id": "1", "children": [{"@id": "2", "children": [{"@id": "3"}]}]},
    }


async def test_a_body_of_several_shapes_is_one_body_argument_sent_as_given(wire: Caller) -> None:
    schema = wire.package.integration.tool("delete_many").input_schema
    assert schema["type"] == "object" and set(schema["properties"]) == {"body"} and schema["required"] == ["body"]
    assert len(schema["properties"]["body"]["oneOf"]) == 2  # the union one level down, where clients accept it
    output, sent = await wire("delete_many", body={"names": ["a"]})
    assert not output.is_error, output.text
    assert sent is not None and sent.json() == {"names": ["a"]}


async def test_a_form_body_of_several_shapes_sends_the_chosen_shapes_fields(wire: Caller) -> None:
    output, sent = await wire("delete_many_form", body={"name": "old"})
    assert not output.is_error, output.text
    assert sent is not None
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(sent.body.decode()) == [("name", "old")]
