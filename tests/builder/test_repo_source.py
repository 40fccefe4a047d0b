"""A code repository as a source: its OpenAPI file, else its FastAPI/Flask routes read statically with libcst.

Judged against real published code fetched pinned from PyPI at test time: FastAPI's own example applications
(its sdist's `docs_src/`, compared with the OpenAPI description FastAPI itself generates for each app) and
Flask's tutorial application; the last test calls a tool made from a FastAPI app through the hub while that very
app, run for real, is the upstream.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from integrations.hubs import RunningHub, spec_hub
from runtime.support import serve

from builder.published import published_sdist
from mcphub.compiler.errors import SourceError
from mcphub.compiler.sources.python_routes import scan_python_routes
from mcphub.compiler.sources.repo import find_openapi_files, read_repository

FASTAPI = ("fastapi", "0.165.0", "dd94d4128319c1e1d50535ab023ab698f850a4d2822f0e181747b46f4ff3c0ab")
FLASK = ("flask", "3.1.2", "bf656c15c80190ed628ad08cdfd3aaa35beb087855e2f494910aa3774cc4fd87")
METHODS = ("get", "post", "put", "patch", "delete", "head", "options")

# FastAPI's own description of every single-file example app of its docs, computed in a child process so that
# importing hundreds of example modules leaves this test process alone.
THEIRS = """
import importlib, json, sys, warnings
from pathlib import Path
warnings.simplefilter("ignore")
root = Path(sys.argv[1]); sys.path.insert(0, str(root))
out = {}
for f in sorted((root / "docs_src").rglob("tutorial*.py")):
    name = ".".join(f.relative_to(root).with_suffix("").parts)
    try:
        app = getattr(importlib.import_module(name), "app", None)
        if app is not None and hasattr(app, "openapi"):
            out[str(f.relative_to(root))] = app.openapi()
    except Exception:
        pass
print(json.dumps(out))
"""


def shape(document: dict[str, Any]) -> dict[str, Any]:
    """What a tool is made of: per operation, its parameters (location, name, required) and whether it has a body."""
    result = {}
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in METHODS:
                parameters = sorted(
                    (p["in"], p["name"].lower(), bool(p.get("required"))) for p in operation.get("parameters", [])
                )
                result[f"{method.upper()} {path}"] = [parameters, "requestBody" in operation]
    return result


@pytest.fixture(scope="module")
def fastapi_sdist() -> Path:
    return published_sdist(*FASTAPI)


@pytest.fixture(scope="module")
def flask_sdist() -> Path:
    return published_sdist(*FLASK)


def test_fastapi_example_apps_read_statically_match_what_fastapi_itself_describes(
    fastapi_sdist: Path, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", THEIRS, str(fastapi_sdist)], capture_output=True, text=True, timeout=300, check=True
    )
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(theirs) >= 300, "FastAPI's sdist should hold some 300 example apps"
    mismatched = []
    for relative, document in theirs.items():
        folder = tmp_path / relative.replace("/", "_")
        folder.mkdir()
        shutil.copy(fastapi_sdist / relative, folder / "main.py")
        if shape(scan_python_routes(folder).document) != shape(document):
            mismatched.append(relative)
    matched = len(theirs) - len(mismatched)
    # 301 of 320 on 2026-12-06; what is left is class-based dependencies, dataclass bodies, callbacks routers,
    # OAuth2PasswordRequestForm and openapi_extra bodies (see the module docstring of python_routes).
    assert matched / len(theirs) >= 0.93, f"{matched}/{len(theirs)} match; first misses: {mismatched[:10]}"


def test_a_multi_file_fastapi_app_with_routers_prefixes_and_dependencies(fastapi_sdist: Path) -> None:
    app = fastapi_sdist / "docs_src" / "bigger_applications" / "app"
    findings = read_repository(app)
    assert findings.origin == "FastAPI routes"
    ours = shape(findings.document)
    token = ("query", "token", True)  # the app's own dependency
    x_token = ("header", "x-token", True)  # the items router's and the admin include's dependency
    assert ours == {
        "GET /users/": [[token], False],
        "GET /users/me": [[token], False],
        "GET /users/{username}": [[("path", "username", True), token], False],
        "GET /items/": [[x_token, token], False],
        "GET /items/{item_id}": [[x_token, ("path", "item_id", True), token], False],
        "PUT /items/{item_id}": [[x_token, ("path", "item_id", True), token], False],
        "POST /admin/": [[x_token, token], False],
        "GET /": [[token], False],
    }
    read_item = findings.document["paths"]["/items/{item_id}"]["get"]
    assert read_item["x-mcphub-source"] == "routers/items.py:22"
    assert read_item["tags"] == ["items"]  # the router's tags, as FastAPI gives them
    assert findings.document["paths"]["/items/{item_id}"]["put"]["tags"] == ["items", "custom"]
    assert findings.document["paths"]["/admin/"]["post"]["tags"] == ["admin"]  # include_router(tags=...)


def test_flask_blueprints_converters_and_request_use(flask_sdist: Path) -> None:
    findings = read_repository(flask_sdist / "examples" / "tutorial")
    assert findings.origin == "Flask routes"
    ours = shape(findings.document)
    assert set(ours) == {
        "GET /auth/register",
        "POST /auth/register",
        "GET /auth/login",
        "POST /auth/login",
        "GET /auth/logout",
        "GET /",
        "GET /create",
        "POST /create",
        "GET /{id}/update",
        "POST /{id}/update",
        "POST /{id}/delete",
    }
    update = findings.document["paths"]["/{id}/update"]["post"]
    assert update["parameters"] == [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    form = update["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert set(form) == {"title", "body"}
    assert "requestBody" not in findings.document["paths"]["/create"]["get"]  # the form is read only on POST
    assert findings.document["paths"]["/auth/login"]["post"]["x-mcphub-source"].startswith("flaskr/auth.py:")


def test_a_repository_s_own_openapi_file_wins(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("from fastapi import FastAPI\napp = FastAPI()\n@app.get('/x')\ndef x(): ...\n")
    (tmp_path / "docs").mkdir()
    description = {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "paths": {"/things": {"get": {"operationId": "list_things", "responses": {"200": {"description": "ok"}}}}},
    }
    (tmp_path / "docs" / "openapi.yaml").write_text(yaml.safe_dump(description))
    (tmp_path / "package.json").write_text('{"name": "not a description"}')
    assert find_openapi_files(tmp_path) == [tmp_path / "docs" / "openapi.yaml"]
    findings = read_repository(tmp_path)
    assert findings.origin == "openapi file docs/openapi.yaml"
    assert list(findings.document["paths"]) == ["/things"]


def test_a_repository_with_nothing_to_read_says_so(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# just words")
    (tmp_path / "broken.py").write_text("def (:\n")
    with pytest.raises(
        SourceError, match="no OpenAPI/Swagger description and no FastAPI, Flask, Express, Fastify or NestJS routes"
    ):
        read_repository(tmp_path)
    assert "broken.py: not readable as Python" in scan_python_routes(tmp_path).warnings[0]


@pytest.fixture
def bigger_app(fastapi_sdist: Path) -> Iterator[str]:
    """FastAPI's `bigger_applications` example, run for real as the upstream (on 127.0.0.1)."""
    sys.path.insert(0, str(fastapi_sdist))
    try:
        from docs_src.bigger_applications.app.main import app  # type: ignore[import-not-found]

        with serve(app) as base:
            yield base
    finally:
        sys.path.remove(str(fastapi_sdist))


@pytest.fixture
def hub(tmp_path: Path, fastapi_sdist: Path, bigger_app: str) -> Iterator[RunningHub]:
    spec = {
        "slug": "shop",
        "name": "Bigger application",
        "source": {"kind": "repo", "path": str(fastapi_sdist / "docs_src" / "bigger_applications" / "app")},
        "base_url": bigger_app,
        "policy": {"allow_private_network": True},
    }
    (tmp_path / "shop.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    with spec_hub(tmp_path / "shop.yaml", {}) as running:
        yield running


async def test_a_tool_read_from_a_fastapi_app_calls_that_app(hub: RunningHub) -> None:
    async with hub.client() as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        read_item = tools["shop__read_item"]
        assert set(read_item.input_schema["required"]) == {"item_id", "token", "x-token"}
        result = await client.call_tool(
            "shop__read_item", {"item_id": "plumbus", "token": "jessica", "x-token": "fake-super-secret-token"}
        )
        assert result.is_error is False, result.content
        assert result.structured_content == {"name": "Plumbus", "item_id": "plumbus"}
        refused = await client.call_tool(
            "shop__read_item", {"item_id": "plumbus", "token": "jessica", "x-token": "wrong"}
        )
        assert refused.is_error is True
        assert "X-Token header invalid" in refused.content[0].text  # type: ignore[union-attr]
