"""Source kind `mcp`: recording a real upstream MCP server's tools at compile time, and what goes wrong clearly.

The upstream is the real PyPI server `mcp-server-time` run over stdio (the HTTP kind, with
`@modelcontextprotocol/server-everything`, is compiled and mounted in tests/integrations/test_upstream_mcp.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcphub.compiler.errors import SourceError
from mcphub.compiler.ir import Integration, SourceInfo
from mcphub.compiler.pipeline import Target, compile_target, parse_spec
from mcphub.compiler.sources import mcp as mcp_source
from mcphub.compiler.sources.mcp import UpstreamListing, listing_to_integration

TIME_COMMAND = [sys.executable, "-m", "mcp_server_time", "--local-timezone", "Etc/UTC"]


def write_spec(folder: Path, source: dict[str, Any], **extra: Any) -> Path:
    spec = {"slug": "time", "name": "Time", "source": {"kind": "mcp", **source}, **extra}
    path = folder / "time.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def test_compiles_the_tools_of_mcp_server_time(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, {"command": TIME_COMMAND, "env": {"TZ": "UTC"}})
    report = compile_target(Target(spec, is_spec=True), tmp_path / "out")
    assert report.error is None, report.error
    manifest = Integration.from_manifest((tmp_path / "out" / "time" / "manifest.json").read_bytes())
    assert [t.name for t in manifest.tools] == ["get_current_time", "convert_time"]
    assert manifest.source.command == TIME_COMMAND
    assert manifest.source.env == {"TZ": "UTC"}
    assert manifest.api_version  # the server's version, so a new upstream release shows as a changed package
    now = manifest.tool("get_current_time")
    assert now.mcp is not None and now.mcp.upstream_name == "get_current_time"
    assert now.http is None
    assert now.input_schema["required"] == ["timezone"]
    assert now.output_schema is not None and "datetime" in now.output_schema["properties"]
    assert now.annotations.read_only_hint is True
    assert now.annotations.destructive_hint is False
    server = (tmp_path / "out" / "time" / "server.py").read_text()
    assert "return await call.mcp(arguments)" in server
    assert report.warnings == []


def test_a_recompile_is_identical_and_check_passes(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, {"command": TIME_COMMAND})
    out = tmp_path / "out"
    assert compile_target(Target(spec, is_spec=True), out).error is None
    first = (out / "time" / "manifest.json").read_text()
    check = compile_target(Target(spec, is_spec=True), out, check=True)
    assert check.error is None and check.stale == []
    assert (out / "time" / "manifest.json").read_text() == first


def test_curation_selects_and_renames_upstream_tools(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        {"command": TIME_COMMAND},
        tools=[{"operation": "get_current_time", "name": "now", "description": "The time now."}],
    )
    integration = parse_spec(spec)
    assert [(t.name, t.mcp.upstream_name if t.mcp else None) for t in integration.tools] == [
        ("now", "get_current_time")
    ]
    assert integration.tools[0].description == "The time now."


def test_unknown_upstream_tool_in_curation_names_the_spec_line(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, {"command": TIME_COMMAND}, tools=[{"operation": "get_curent_time"}])
    with pytest.raises(Exception, match=r"time\.yaml:\d+: .*get_curent_time.*did you mean 'get_current_time'"):
        parse_spec(spec)


# --- failures name the spec file, the field and the fix ---------------------------------------------------


def test_command_not_found(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, {"command": ["mcp-server-that-does-not-exist", "--flag"]})
    report = compile_target(Target(spec, is_spec=True), tmp_path / "out")
    assert report.error is not None
    assert str(spec) in report.error
    assert "source.command" in report.error
    assert "'mcp-server-that-does-not-exist' was not found" in report.error
    assert "give its full path" in report.error
    assert not (tmp_path / "out" / "time").exists()


def test_server_that_crashes_before_answering(tmp_path: Path) -> None:
    crash = [sys.executable, "-c", "import sys; sys.stderr.write('missing API_TOKEN'); sys.exit(3)"]
    spec = write_spec(tmp_path, {"command": crash})
    with pytest.raises(SourceError) as caught:
        parse_spec(spec)
    message = str(caught.value)
    assert message.startswith(f"{spec}:")
    assert "exited (or closed its stdout) before answering" in message
    assert "missing API_TOKEN" in message  # the server's own stderr says why
    assert "source.env" in message


def test_server_that_never_answers_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mcp_source, "COMPILE_TIMEOUT_S", 1.0)
    silent = [sys.executable, "-c", "import time; time.sleep(60)"]
    spec = write_spec(tmp_path, {"command": silent})
    with pytest.raises(SourceError, match=r"did not answer initialize and tools/list within 1 s"):
        parse_spec(spec)


def test_url_nobody_listens_on(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = write_spec(tmp_path, {"url": f"http://127.0.0.1:{port}/mcp"})
    with pytest.raises(SourceError) as caught:
        parse_spec(spec)
    message = str(caught.value)
    assert message.startswith(f"{spec}:") and "source.url" in message
    assert "could not be reached" in message and "start the server or fix the URL" in message


def test_the_child_gets_only_the_declared_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCPHUB_CRED_SECRET_TOKEN", "hub-secret")
    # A server that dumps its environment to stderr and exits: the compile error shows what it saw.
    dump = [sys.executable, "-c", "import os, sys, json; sys.stderr.write(json.dumps(sorted(os.environ))); sys.exit(1)"]
    spec = write_spec(tmp_path, {"command": dump, "env": {"GREETING": "hi"}})
    with pytest.raises(SourceError) as caught:
        parse_spec(spec)
    seen = json.loads(str(caught.value).split("stderr ends with: ")[1].split(";")[0].strip("'\""))
    assert "GREETING" in seen and "PATH" in seen
    assert "MCPHUB_CRED_SECRET_TOKEN" not in seen


# --- conversion (pure) -------------------------------------------------------------------------------------


def test_conversion_fixes_names_and_schemas_and_drops_unusable_tools() -> None:
    listing = UpstreamListing(
        server_name="odd",
        server_version="1.0",
        tools=[
            {"name": "fine", "inputSchema": {"type": "object", "properties": {"a": {"type": "string"}}}},
            {"name": "dotted.name/with spaces", "inputSchema": {"type": "object"}},
            {"name": "x" * 80, "inputSchema": {"type": "object"}},
            {"name": "array_root", "inputSchema": {"type": "array"}},
            {
                "name": "draft7",
                "inputSchema": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "properties": {"p": {"$ref": "#/definitions/P"}},
                    "definitions": {"P": {"type": "string"}},
                },
                "annotations": {"destructiveHint": True, "vendorThing": 1},
                "title": "Draft seven",
            },
        ],
    )
    source = SourceInfo(kind="mcp", command=["odd"])
    integration = listing_to_integration(listing, slug="odd", name="Odd", source=source, max_full_length=48)
    names = {t.source_ref: t.name for t in integration.tools}
    assert names["fine"] == "fine"
    assert names["dotted.name/with spaces"] == "dotted_name_with_spaces"
    assert len(names["x" * 80]) <= 48 - len("odd__")
    assert "array_root" not in names
    assert any("array_root" in w and "left out" in w for w in integration.warnings)
    draft7 = next(t for t in integration.tools if t.source_ref == "draft7")
    assert draft7.input_schema["properties"]["p"] == {"$ref": "#/$defs/P"}
    assert "$schema" not in draft7.input_schema
    assert draft7.annotations.destructive_hint is True
    assert draft7.title == "Draft seven"
    assert all(t.mcp is not None and t.mcp.upstream_name == t.source_ref for t in integration.tools)
    assert integration.description == "Tools of the MCP server odd 1.0."


async def test_compiling_from_inside_an_event_loop_works(tmp_path: Path) -> None:
    # The builder compiles from request handlers; the recording then runs on a loop of its own.
    spec = write_spec(tmp_path, {"command": TIME_COMMAND})
    integration = parse_spec(spec)
    assert [t.name for t in integration.tools] == ["get_current_time", "convert_time"]
