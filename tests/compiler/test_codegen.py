"""Codegen: a hand-built IR renders into a package that loads as the hub mounts it (written by the pipeline)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mcphub.compiler.codegen import python_type, render_package
from mcphub.compiler.ir import (
    ArgBinding,
    ArgLocation,
    HttpBinding,
    Integration,
    SourceInfo,
    Tool,
    ToolAnnotations,
)
from mcphub.compiler.pipeline import write_integration
from mcphub.runtime.package import ToolOutput, load_package


def _integration() -> Integration:
    create = Tool(
        name="create_issue",
        title="Create an issue",
        description='Creates an issue. Text with """quotes""" and a \\ backslash.',
        input_schema={
            "type": "object",
            "properties": {
                "owner": {"type": "string", "description": "Account owner"},
                "repo": {"type": "string"},
                "title": {"type": ["string", "integer"]},
                "labels": {"type": "array", "items": {"type": "string"}},
                "call": {"type": "string", "description": "a property that shadows the generated `call`"},
                "X-Trace": {"type": "string"},
            },
            "required": ["owner", "repo", "title"],
        },
        annotations=ToolAnnotations(readOnlyHint=False),
        source_ref="issues/create",
        http=HttpBinding(
            method="POST",
            path="/repos/{owner}/{repo}/issues",
            body_encoding="json",
            args=[
                ArgBinding(
                    name="owner", python_name="owner", location=ArgLocation.PATH, wire_name="owner", required=True
                ),
                ArgBinding(name="repo", python_name="repo", location=ArgLocation.PATH, wire_name="repo", required=True),
                ArgBinding(
                    name="title", python_name="title", location=ArgLocation.BODY, wire_name="title", required=True
                ),
                ArgBinding(name="labels", python_name="labels", location=ArgLocation.BODY, wire_name="labels"),
                ArgBinding(name="call", python_name="call", location=ArgLocation.QUERY, wire_name="call"),
                ArgBinding(name="X-Trace", python_name="x_trace", location=ArgLocation.HEADER, wire_name="X-Trace"),
            ],
        ),
    )
    delete = Tool(
        name="delete_repo",
        description="Deletes a repository.",
        enabled=False,
        annotations=ToolAnnotations(destructiveHint=True),
        input_schema={"type": "object", "properties": {"body": {"type": "array"}}},
        http=HttpBinding(
            method="DELETE",
            path="/repos",
            args=[ArgBinding(name="body", python_name="body", location=ArgLocation.BODY_ROOT, wire_name="")],
        ),
    )
    return Integration(
        slug="demo",
        name="Demo",
        description="A demo API.",
        source=SourceInfo(kind="openapi", path="demo.json"),
        base_url="https://api.example.com",
        tools=[create, delete],
    )


class RecordingCall:
    """A Call that records what generated code asks for (the real one is runtime/upstream/call.HubCall)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def http(self, **parts: Any) -> ToolOutput:
        self.requests.append(parts)
        return ToolOutput(text="ok")


def test_render_is_deterministic() -> None:
    first = render_package(_integration(), source_label="demo.json")
    second = render_package(_integration(), source_label="demo.json")
    assert first == second
    assert set(first) == {"__init__.py", "server.py", "manifest.json", "README.md"}


def test_written_package_loads_and_routes_arguments(tmp_path: Path) -> None:
    package_dir = write_integration(_integration(), tmp_path)
    package = load_package(package_dir)
    assert [t.name for t in package.integration.tools] == ["create_issue", "delete_repo"]
    call = RecordingCall()
    arguments = {"owner": "o", "repo": "r", "title": "t", "call": "q", "X-Trace": "abc"}
    output = asyncio.run(package.invoke(call, "create_issue", arguments))  # type: ignore[arg-type]
    assert output.text == "ok"
    assert call.requests == [
        {
            "path": {"owner": "o", "repo": "r"},
            "body": {"title": "t", "labels": None},
            "query": {"call": "q"},
            "headers": {"X-Trace": "abc"},
        }
    ]
    asyncio.run(package.invoke(call, "delete_repo", {"body": [1, 2]}))  # type: ignore[arg-type]
    assert call.requests[-1] == {"body": [1, 2]}


def test_generated_files_are_formatted_python_and_documented(tmp_path: Path) -> None:
    package_dir = write_integration(_integration(), tmp_path)
    server = (package_dir / "server.py").read_text()
    compile(server, "server.py", "exec")
    assert not (package_dir / "models.py").exists()  # the typed signatures in server.py document the arguments
    assert "async def create_issue(" in server
    assert "POST /repos/{owner}/{repo}/issues" in server
    readme = (package_dir / "README.md").read_text()
    assert "### `demo__create_issue`" in readme
    assert "| `owner` | str | yes | Account owner |" in readme
    assert "## Disabled tools" in readme and "`demo__delete_repo`" in readme


def test_unchanged_package_is_left_untouched(tmp_path: Path) -> None:
    package_dir = write_integration(_integration(), tmp_path)
    server = package_dir / "server.py"
    stamp = server.stat().st_mtime_ns
    assert write_integration(_integration(), tmp_path) == package_dir
    assert server.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no staging left behind


def test_failed_build_keeps_previous_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package_dir = write_integration(_integration(), tmp_path)
    before = (package_dir / "server.py").read_bytes()
    broken = _integration()
    broken.tools[0].name = "renamed"

    def fail(directory: Path) -> None:
        raise RuntimeError("formatter crashed")

    monkeypatch.setattr("mcphub.compiler.codegen.format_python", fail)
    with pytest.raises(RuntimeError):
        write_integration(broken, tmp_path)
    assert (package_dir / "server.py").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "str"),
        ({"type": ["integer", "null"]}, "int | None"),
        ({"type": "array", "items": {"type": "number"}}, "list[float]"),
        ({"enum": ["a", "b"]}, "str"),
        ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, "Any"),
    ],
)
def test_python_type(schema: dict[str, Any], expected: str) -> None:
    assert python_type(schema) == expected
