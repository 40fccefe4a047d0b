"""Issue 9's CLI dead ends that need a running hub: `mcphub add` (#12), `mcphub connect` with a wrong key (#2),
and key scopes checked in the JSON API too (#8). One real `mcphub serve` process for the module.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult
from runtime.support import Upstream, mcp_client, petstore, serve, write_package
from starlette.types import Receive, Scope, Send
from support.hub_process import hub_env, hub_process

from cli.conftest import as_json, run_cli, run_process

PETS = """\
openapi: 3.0.3
info: {title: Pets, version: "1"}
paths:
  /pets/{petId}:
    get:
      operationId: getPet
      summary: Fetch one pet by id.
      parameters:
        - {name: petId, in: path, required: true, schema: {type: string}}
      responses:
        "200": {description: The pet, content: {application/json: {schema: {type: object}}}}
"""


@dataclass
class Hub:
    url: str
    env: dict[str, str]  # what the CLI next to it uses: same database and data dir
    project: Path  # the working directory: specs/ and generated/
    upstream: Upstream


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    project = tmp_path_factory.mktemp("project")
    (project / "generated").mkdir()
    # Sign-up open: one test signs up a second account through the JSON API, as a new user would.
    env = {**hub_env(f"sqlite+aiosqlite:///{project / 'hub.db'}", project / "data"), "MCPHUB_SIGNUP": "open"}
    recorder = Upstream()
    with serve(recorder) as upstream_url:
        recorder.base_url = upstream_url
        # An integration that needs no credential, mounted from the start (new accounts get it enabled).
        write_package(petstore(upstream_url, slug="zoo").model_copy(update={"auth": []}), project / "generated")
        with hub_process(env, project / "generated") as url:
            cli_env = {k: v for k, v in env.items() if k != "MCPHUB_ADMIN_TOKEN"}  # the operator, not the token
            yield Hub(url, {**cli_env, "MCPHUB_PUBLIC_URL": url}, project, recorder)


def test_add_mounts_a_new_api_in_one_command(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(hub.project)
    (hub.project / "pets.yaml").write_text(PETS)
    added = run_process(
        hub.env,
        "add",
        "pets.yaml",
        "--base-url",
        hub.upstream.base_url,
        "--allow-private-network",
        "--json",
        cwd=hub.project,
    )
    result = as_json(added)
    assert result == {
        "slug": "pets",
        "spec": "specs/pets.yaml",
        "package": "generated/pets",
        "tools": 1,
        "enabled_for": "admin@localhost",  # the operator: the admin the first start created
        "needs_credential": False,
        "mounted": True,
        "hub": f"{hub.url}/mcp serves pets's tools now",
    }
    spec = (hub.project / "specs" / "pets.yaml").read_text()
    assert "path: ../pets.yaml" in spec and "allow_private_network: true" in spec
    assert run_cli(hub.env, "compile", "specs/pets.yaml", "--check").returncode == 0  # an ordinary spec

    key = as_json(run_cli(hub.env, "keys", "create", "--name", "agent", "--json"))["secret"]

    async def call_a_pets_tool() -> CallToolResult:
        async with mcp_client(f"{hub.url}/mcp", key) as client:
            [tool] = [t for t in (await client.list_tools()).tools if t.name.startswith("pets__")]
            [argument] = tool.input_schema["required"]  # the path parameter, named as the compiler names it
            return await client.call_tool(tool.name, {argument: "7"})

    called = asyncio.run(call_a_pets_tool())
    assert called.is_error is False, called
    assert hub.upstream.last().raw_path == "/pets/7"
    # The reload used a one-minute key of the operator, revoked at once.
    keys = {k["name"]: k for k in as_json(run_cli(hub.env, "keys", "list", "--json"))}
    assert keys["mcphub add (reload)"]["revoked_at"] is not None

    again = run_process(hub.env, "add", "pets.yaml", cwd=hub.project, code=1)
    assert "specs/pets.yaml exists: edit it and run `mcphub compile specs/pets.yaml`" in again.stderr


async def _description(scope: Scope, receive: Receive, send: Send) -> None:
    """A server publishing PETS at /pets.yaml, as an API vendor's site would."""
    found = scope["type"] == "http" and scope["path"] == "/pets.yaml"
    body = PETS.encode() if found else b"not found"
    await send({"type": "http.response.start", "status": 200 if found else 404, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_add_fetches_a_description_from_a_url(hub: Hub) -> None:
    with serve(_description) as site:
        refused = run_process(hub.env, "add", f"{site}/pets.yaml", "--slug", "webpets", cwd=hub.project, code=1)
        assert "127.0.0.1" in refused.stderr and not (hub.project / "specs" / "webpets.yaml").exists()
        added = run_process(
            hub.env,
            "add",
            f"{site}/pets.yaml",
            "--slug",
            "webpets",
            "--base-url",
            hub.upstream.base_url,
            "--allow-private-network",  # both the fetch and the hub's calls go to 127.0.0.1 here
            "--json",
            cwd=hub.project,
        )
    assert as_json(added)["mounted"] is True
    assert (hub.project / "specs" / "webpets" / "pets.yaml").read_text() == PETS
    spec = (hub.project / "specs" / "webpets.yaml").read_text()
    assert f"fetched from {site}/pets.yaml" in spec and "path: webpets/pets.yaml" in spec


def test_add_leaves_nothing_behind_when_the_source_does_not_compile(hub: Hub) -> None:
    (hub.project / "broken.yaml").write_text("openapi: 3.0.3\ninfo: {title: X}\npaths: 7\n")
    failed = run_process(hub.env, "add", "broken.yaml", "--json", cwd=hub.project, code=1)
    assert as_json(failed)["error"]["message"].startswith("broken.yaml was not added: ")
    assert not (hub.project / "specs" / "broken.yaml").exists()
    assert not (hub.project / "generated" / "broken").exists()


def test_build_then_add_serves_the_built_spec(hub: Hub) -> None:
    """`mcphub build` writes a spec (here from a folder holding a FastAPI app); `mcphub add SPEC` mounts it as is."""
    service = hub.project / "orders-service"
    service.mkdir()
    (service / "main.py").write_text(
        "from fastapi import FastAPI\napp = FastAPI()\n\n@app.get('/pets/{pet_id}')\n"
        "def fetch_pet(pet_id: str):\n    'Returns one pet by its id.'\n"
    )
    built = run_process(
        hub.env,
        "build",
        "orders-service",
        "--slug",
        "orders",
        "--base-url",
        hub.upstream.base_url,
        "--allow-private-network",
        "--json",
        cwd=hub.project,
    )
    assert as_json(built)["tools"] == ["fetch_pet"]
    added = as_json(run_process(hub.env, "add", "specs/orders.yaml", "--json", cwd=hub.project))
    assert (added["slug"], added["mounted"], added["tools"]) == ("orders", True, 1)
    assert "kind: repo" in (hub.project / "specs" / "orders.yaml").read_text()  # add kept the spec build wrote

    key = as_json(run_cli(hub.env, "keys", "create", "--name", "orders-agent", "--json"))["secret"]

    async def call() -> CallToolResult:
        async with mcp_client(f"{hub.url}/mcp", key) as client:
            return await client.call_tool("orders__fetch_pet", {"pet_id": "42"})

    called = asyncio.run(call())
    assert called.is_error is False, called
    assert hub.upstream.last().raw_path == "/pets/42"


async def test_connect_with_a_wrong_key_says_the_hub_refused_it(hub: Hub) -> None:
    wrong = "mcp_sk_" + "x" * 43
    bridge = StdioServerParameters(
        command=sys.executable, args=["-m", "mcphub.cli", "connect", "--url", f"{hub.url}/mcp", "--token", wrong]
    )
    with pytest.raises(BaseExceptionGroup) as refused:  # the SDK client raises from its task group
        async with Client(bridge, mode="legacy"):
            pass
    [error] = [e for e in _leaves(refused.value) if isinstance(e, MCPError)]
    message = str(error)
    assert f"the hub at {hub.url}/mcp refused the API key mcp_sk_xxxxxxxx… (HTTP 401" in message
    assert "mcphub keys create --name NAME" in message


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def test_the_json_api_checks_key_scopes_against_the_catalog(hub: Hub) -> None:
    key = as_json(run_cli(hub.env, "keys", "create", "--name", "api", "--json"))["secret"]
    created = httpx2.post(
        f"{hub.url}/api/v1/keys",
        json={"name": "scoped", "scope": ["nosuch"]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert created.status_code == 400
    assert created.json()["error"]["message"].startswith("scope 'nosuch': no integration 'nosuch' in the catalog")


def test_a_new_account_lists_the_tools_that_need_no_credential(hub: Hub) -> None:
    with httpx2.Client(base_url=f"{hub.url}/api/v1", timeout=30) as web:
        signed_up = web.post("/auth/sign-up", json={"email": "newcomer@example.com", "password": "long enough pw"})
        assert signed_up.status_code == 201, signed_up.text
        csrf = {"X-CSRF-Token": signed_up.json()["csrf_token"]}
        states = {i["slug"]: i for i in web.get("/integrations").json()["integrations"]}
        assert states["zoo"]["enabled"] is True
        key = web.post("/keys", json={"name": "first"}, headers=csrf).json()["secret"]

    async def tool_names() -> list[str]:
        async with mcp_client(f"{hub.url}/mcp", key) as client:
            return [t.name for t in (await client.list_tools()).tools]

    assert "zoo__get_pet" in asyncio.run(tool_names())
