"""`mcphub export`: the exported project installs without mcphub, passes its own tests, and sends what the hub sends.

Real parts throughout: the real compiler builds the packages, uv installs the export into a fresh virtualenv
(from its cache, no mcphub in it), the export's own pytest suite runs there, and the official MCP client drives the
installed server over stdio and streamable HTTP against a local recording upstream. The same call made through the
hub's runtime against the same upstream must produce the same request, byte for byte where it counts.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from click.testing import CliRunner
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from runtime.support import Recorded, Upstream, serve
from starlette.types import Send

from mcphub.commands.export import export
from mcphub.compiler.ir import Integration
from mcphub.compiler.pipeline import Target, compile_target
from mcphub.runtime.package import load_package
from mcphub.runtime.upstream.call import HubCall
from mcphub.runtime.upstream.client import UpstreamClient
from mcphub.runtime.upstream.credentials import Credential
from mcphub.runtime.upstream.executors.http import HttpExecutor

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
KEY = "notes-key-123"
# The headers the hub sets from the call (arguments, credential, body); transport headers (user-agent, host) differ.
COMPARED_HEADERS = ("x-notes-key", "x-request-id", "cookie", "content-type", "accept", "authorization")
NOTE = {
    "folder": "inbox/2024 plans",
    "tags": ["a b", "c,d"],
    "filter": {"owner": "ada"},
    "X-Request-Id": "req-1",
    "session": "s=1",
    "title": "Grüße",
    "pinned": True,
    "priority": "high",
}


def _uv() -> str:
    found = REPO / ".tools" / "uv" / "bin" / "uv"
    if found.exists():
        return str(found)
    on_path = shutil.which("uv")
    assert on_path, "uv is needed to install the export into a fresh virtualenv: run `make` (it installs .tools/uv)"
    return on_path


class NotesUpstream(Upstream):
    """Records every request and answers each with 201 and a small JSON body."""

    async def _answer(self, r: Recorded, send: Send) -> None:
        payload = json.dumps({"id": 1, "path": r.path, "sha": "blob-sha-1"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


@dataclass
class Exported:
    venv_python: Path
    projects: dict[str, Path]  # slug -> exported project folder
    notes_package: Path  # the compiled notes package the hub mounts


def _run_export(target: str, out: Path, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(export, [target, "--out", str(out), "--json", *extra])
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.output)
    return payload


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """airtable (a built-in) and notes (this folder's spec) exported and installed into one fresh virtualenv."""
    root = tmp_path_factory.mktemp("export")
    report = compile_target(Target(HERE / "notes.yaml", is_spec=True), root / "packages")
    assert report.error is None, report.error
    projects = {slug: root / f"mcp-{slug}" for slug in ("airtable", "github", "notes")}
    for slug in ("airtable", "github"):
        assert _run_export(slug, projects[slug], "--catalog", str(REPO / "generated"))["project"] == f"mcp-{slug}"
    assert _run_export(str(root / "packages" / "notes"), projects["notes"])["tools"] == 2
    venv = root / "venv"
    uv = _uv()
    subprocess.run([uv, "venv", "--quiet", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            f"{projects['airtable']}[test]",
            str(projects["github"]),
            str(projects["notes"]),
        ],
        check=True,
        timeout=120,
    )
    return Exported(venv_python=python, projects=projects, notes_package=root / "packages" / "notes")


def test_the_export_runs_without_mcphub(exported: Exported) -> None:
    done = subprocess.run(
        [
            str(exported.venv_python),
            "-c",
            "import mcp_notes.server, mcp_airtable.server, mcp_github.server; import mcphub",
        ],
        cwd=exported.venv_python.parents[2],  # not the repository, whose mcphub/ would be importable from there
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "No module named 'mcphub'" in done.stderr  # the servers imported; mcphub is not there to import


@pytest.mark.parametrize("slug", ["airtable", "notes"])
def test_the_exports_own_tests_pass(exported: Exported, slug: str) -> None:
    done = subprocess.run(
        [str(exported.venv_python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=exported.projects[slug],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout


def test_the_export_documents_its_credentials_and_tools(exported: Exported) -> None:
    readme = (exported.projects["notes"] / "README.md").read_text(encoding="utf-8")
    for variable in ("MCPHUB_CRED_NOTES_API_KEY", "MCPHUB_CRED_NOTES_VAR_PORT", "MCPHUB_CRED_NOTES_VAR_VERSION"):
        assert f"`{variable}`" in readme
    assert "### `create_note`" in readme and "`POST /folders/{folder}/notes`" in readme
    pyproject = (exported.projects["notes"] / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "mcp-notes"' in pyproject and 'mcp-notes = "mcp_notes.server:main"' in pyproject
    assert '"mcp==2.3.0"' in pyproject


# --- the same call through the hub and through the export --------------------------------------------------------


@pytest.fixture
def upstream() -> Iterator[tuple[NotesUpstream, int]]:
    recorder = NotesUpstream()
    with serve(recorder) as base:
        yield recorder, int(base.rsplit(":", 1)[1])


def _sent(recorded: Recorded) -> dict[str, Any]:
    headers = {name: recorded.headers.get(name) for name in COMPARED_HEADERS}
    return {
        "method": recorded.method,
        "path": recorded.raw_path,
        "query": recorded.raw_query,
        "body": recorded.body,
    } | {"headers": headers}


async def _through_the_hub(package_dir: Path, port: int, arguments: dict[str, Any]) -> Any:
    package = load_package(package_dir, module_prefix="export_test")
    integration = package.integration
    client = UpstreamClient(integration)
    try:
        credential = Credential(api_key=KEY, server_variables={"port": str(port), "version": "v2"})
        tool = integration.tool("create_note")
        return await package.invoke(HubCall(tool, HttpExecutor(integration, client), credential), tool.name, arguments)
    finally:
        await client.aclose()


def _environment(port: int) -> dict[str, str]:
    return {
        "MCPHUB_CRED_NOTES_API_KEY": KEY,
        "MCPHUB_CRED_NOTES_VAR_PORT": str(port),
        "MCPHUB_CRED_NOTES_VAR_VERSION": "v2",
    }


@asynccontextmanager
async def _http_server(python: Path, port: int) -> AsyncIterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        listen = sock.getsockname()[1]
    process = subprocess.Popen(
        [str(python), "-m", "mcp_notes", "--transport", "http", "--port", str(listen)],
        env=_environment(port),
        cwd=python.parents[2],
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", listen), timeout=1):
                    break
            except OSError:
                assert process.poll() is None, "mcp-notes --transport http exited"
                assert time.monotonic() < deadline, "mcp-notes --transport http did not start listening"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{listen}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_the_export_sends_what_the_hub_sends(exported: Exported, upstream: tuple[NotesUpstream, int]) -> None:
    recorder, port = upstream
    hub_output = await _through_the_hub(exported.notes_package, port, NOTE)
    assert hub_output.is_error is False, hub_output.text
    from_hub = _sent(recorder.last())
    assert from_hub["path"] == "/v2/folders/inbox%2F2024%20plans/notes"
    assert from_hub["headers"]["x-notes-key"] == KEY

    stdio = StdioServerParameters(
        command=str(exported.venv_python),
        args=["-m", "mcp_notes"],
        env=_environment(port),
        cwd=exported.venv_python.parents[2],
    )
    async with Client(stdio) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert sorted(tools) == ["create_note", "get_note"]
        assert (
            tools["create_note"].input_schema
            == Integration.from_manifest((exported.notes_package / "manifest.json").read_bytes())
            .tool("create_note")
            .input_schema
        )
        result = await client.call_tool("create_note", NOTE)
    assert result.is_error is False, result.content
    assert result.structured_content == {"id": 1, "path": "/v2/folders/inbox/2024 plans/notes", "sha": "blob-sha-1"}
    assert _sent(recorder.last()) == from_hub

    async with (
        _http_server(exported.venv_python, port) as url,
        httpx2.AsyncClient(timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        result = await client.call_tool("create_note", NOTE)
        assert result.is_error is False, result.content
        assert _sent(recorder.last()) == from_hub

        refused = await client.call_tool("get_note", {"id": "7"})  # a string where the schema says integer
    assert refused.is_error is True
    assert "Nothing was sent" in refused.content[0].text
    assert len(recorder.requests) == 3


async def test_an_input_transform_sends_what_the_hub_sends(
    exported: Exported, upstream: tuple[NotesUpstream, int]
) -> None:
    """github's write_file: the hub's transform looks up the file's sha (a GET), then PUTs base64 content with it."""
    recorder, port = upstream
    base = f"http://127.0.0.1:{port}"
    arguments = {"owner": "octo", "repo": "hello", "path": "docs/a b.md", "message": "Add", "content": "héllo"}
    package = load_package(REPO / "generated" / "github", module_prefix="export_test")
    policy = package.integration.policy.model_copy(
        update={"allowed_hosts": ["127.0.0.1"], "allow_private_network": True}
    )
    integration = package.integration.model_copy(update={"base_url": base, "policy": policy})
    client = UpstreamClient(integration)
    try:
        tool = integration.tool("write_file")
        output = await package.invoke(
            HubCall(tool, HttpExecutor(integration, client), Credential(token=KEY)), tool.name, arguments
        )
    finally:
        await client.aclose()
    assert output.is_error is False, output.text
    from_hub = [_sent(r) for r in recorder.requests]
    assert [r["method"] for r in from_hub] == ["GET", "PUT"]
    assert json.loads(from_hub[1]["body"])["sha"] == "blob-sha-1"

    environment = {"MCPHUB_CRED_GITHUB_TOKEN": KEY, "MCPHUB_CRED_GITHUB_BASE_URL": base}
    stdio = StdioServerParameters(
        command=str(exported.venv_python),
        args=["-m", "mcp_github"],
        env=environment,
        cwd=exported.venv_python.parents[2],
    )
    async with Client(stdio) as mcp:
        result = await mcp.call_tool("write_file", arguments)
    assert result.is_error is False, result.content
    assert [_sent(r) for r in recorder.requests[2:]] == from_hub


@pytest.mark.parametrize(
    ("slug", "kind"), [("linear", "a GraphQL"), ("postgres", "an SQL"), ("time", "an upstream MCP")]
)
def test_non_http_integrations_say_export_is_not_supported(tmp_path: Path, slug: str, kind: str) -> None:
    result = CliRunner().invoke(export, [slug, "--out", str(tmp_path / "out"), "--catalog", str(REPO / "generated")])
    assert result.exit_code == 1
    assert f"{slug} is {kind} integration" in result.output
    assert "export supports HTTP integrations only" in result.output and "mcphub serve" in result.output
    assert not (tmp_path / "out").exists()


def test_a_missing_package_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(export, ["nope", "--out", str(tmp_path / "out"), "--catalog", str(tmp_path)])
    assert result.exit_code == 1
    assert "no compiled package" in result.output and "mcphub compile" in result.output


def test_an_occupied_out_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    result = CliRunner().invoke(
        export, ["airtable", "--out", str(tmp_path / "out"), "--catalog", str(REPO / "generated")]
    )
    assert result.exit_code == 1
    assert "not an empty folder" in result.output
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
