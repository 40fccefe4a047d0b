"""`mcphub serve` on an empty data dir: the newcomer's path, and operator credentials staying the operator's.

The first start creates admin@localhost and a first API key and prints them once with the Claude Code command;
integrations that need no credential are enabled, and so are those the operator configured with
MCPHUB_CRED_<SLUG>_*, which serve admins only: another user of the same hub never reaches them. On the built-in
catalog (`generated/`, what `make serve` mounts) that means the `time` integration works at once: the key the
banner printed lists and calls `time__get_current_time` before anything else is set up.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx2
import pytest
from runtime.support import Upstream, mcp_client, petstore, serve
from support.hub_process import MCPHUB_SCRIPT, start_hub

from e2e.node_support import (
    REPO,
    Hub,
    petstore_answer,
    petstore_integration,
    serve_hub,
    serve_upstream,
)

OPERATOR_TOKEN = "operator-only-token"


@pytest.fixture(scope="module")
def recorder() -> Iterator[Upstream]:
    upstream = Upstream()
    with serve(upstream) as base:
        upstream.base_url = base
        yield upstream


@pytest.fixture(scope="module")
def first_hub(recorder: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, Path]]:
    """`pets` needs no credential; `locked` needs one, which only the operator's environment provides."""
    root = tmp_path_factory.mktemp("first-run")
    with serve_upstream(petstore_answer) as upstream:
        open_integration = petstore_integration(upstream.url)
        locked = petstore(recorder.base_url, slug="locked")
        env = {"MCPHUB_CRED_LOCKED_TOKEN": OPERATOR_TOKEN}
        with serve_hub(open_integration, upstream, root, extra=[locked], env=env) as hub:
            yield hub, root


def _tools(names: list[str], slug: str) -> list[str]:
    return [name for name in names if name.startswith(f"{slug}__")]


async def test_first_start_prints_the_admin_key_and_the_command_once(first_hub: tuple[Hub, Path]) -> None:
    hub, _ = first_hub
    log = hub.log()
    assert log.count("API key:") == 1
    assert "shown ONCE" in log
    assert re.search(r"^\s*admin:\s+admin@localhost$", log, re.MULTILINE)
    assert re.search(r"^\s*password:\s+\S{12,}$", log, re.MULTILINE)
    command = f'claude mcp add --transport http mcphub {hub.mcp_url} --header "Authorization: Bearer {hub.token}"'
    assert command in log
    assert "Enabled for admin@localhost: locked, pets" in log
    async with mcp_client(hub.mcp_url, hub.token, mode="legacy") as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        assert _tools(names, "pets") and _tools(names, "locked")
        result = await client.call_tool("pets__get_pet", {"petId": 1})
        assert result.is_error is False


async def test_operator_credentials_serve_admins_only(first_hub: tuple[Hub, Path], recorder: Upstream) -> None:
    hub, _ = first_hub
    async with mcp_client(hub.mcp_url, hub.token, mode="2026-07-28") as client:
        assert (await client.call_tool("locked__get_text", {})).is_error is False
    assert recorder.last().headers["authorization"] == f"Bearer {OPERATOR_TOKEN}"
    seen = len(recorder.requests)

    # A second user, made by the admin, with their own key and `locked` enabled: no operator credential for them.
    async with httpx2.AsyncClient(base_url=hub.base_url, headers={"Authorization": f"Bearer {hub.token}"}) as admin:
        made = await admin.post("/api/v1/users", json={"email": "eve@example.com", "password": "eve's password"})
        assert made.status_code == 201, made.text
    async with httpx2.AsyncClient(base_url=hub.base_url) as eve:
        signed_in = await eve.post(
            "/api/v1/auth/sign-in", json={"email": "eve@example.com", "password": "eve's password"}
        )
        csrf = {"X-CSRF-Token": signed_in.json()["csrf_token"]}
        assert (await eve.put("/api/v1/integrations/locked", json={"enabled": True}, headers=csrf)).status_code == 200
        assert (await eve.put("/api/v1/integrations/pets", json={"enabled": True}, headers=csrf)).status_code == 200
        eve_key = (await eve.post("/api/v1/keys", json={"name": "eve"}, headers=csrf)).json()["secret"]
    async with mcp_client(hub.mcp_url, eve_key, mode="legacy") as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        assert _tools(names, "pets") and not _tools(names, "locked")
        refused = await client.call_tool("locked__get_text", {})
    assert refused.is_error is True
    assert "is not connected" in refused.content[0].text  # type: ignore[union-attr]
    assert len(recorder.requests) == seen  # nothing left the hub on Eve's behalf


def test_a_restart_creates_nothing_and_the_key_still_works(first_hub: tuple[Hub, Path], recorder: Upstream) -> None:
    hub, root = first_hub
    with serve_upstream(petstore_answer) as upstream:
        restart = root / "restart"
        restart.mkdir()
        (restart / "data").symlink_to(root / "data")
        (restart / "first-key.log").write_text((root / "first-key.log").read_text())
        with serve_hub(petstore_integration(upstream.url), upstream, restart) as again:
            assert "API key:" not in again.log()
            assert again.token == hub.token
            response = httpx2.post(
                again.mcp_url,
                json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                headers={
                    "Authorization": f"Bearer {hub.token}",
                    "Accept": "application/json, text/event-stream",
                    "Mcp-Protocol-Version": "2026-07-28",
                    "Mcp-Method": "ping",
                },
            )
            assert response.status_code != 401, response.text


async def test_oauth_authorization_server_is_discoverable_from_the_401(first_hub: tuple[Hub, Path]) -> None:
    """A remote connector with no key follows the 401 to the hub's own authorization server and registers."""
    hub, _ = first_hub
    async with httpx2.AsyncClient(base_url=hub.base_url) as http:
        refused = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert refused.status_code == 401
        challenge = refused.headers["www-authenticate"]
        found = re.search(r'resource_metadata="([^"]+)"', challenge)
        assert found is not None
        resource = (await http.get(found.group(1))).json()
        assert resource["resource"] == hub.mcp_url
        (issuer,) = resource["authorization_servers"]
        server = (await http.get(f"{issuer.rstrip('/')}/.well-known/oauth-authorization-server")).json()
        assert server["issuer"].rstrip("/") == issuer.rstrip("/") == hub.base_url
        assert "S256" in server["code_challenge_methods_supported"]
        registered = await http.post(
            server["registration_endpoint"],
            json={"client_name": "connector", "redirect_uris": ["http://127.0.0.1:9/callback"]},
        )
        assert registered.status_code == 201, registered.text
        assert registered.json()["client_id"]


@pytest.fixture(scope="module")
def builtin_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """`mcphub serve` as `make serve` runs it (default catalog, from the repository) on a fresh data dir.

    PATH holds no virtualenv, as in a shell where it was never activated: `python` in the time spec must still
    be the hub's own interpreter, the one that has mcp-server-time installed.
    """
    root = tmp_path_factory.mktemp("builtin-first-run")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MCPHUB_") and k != "VIRTUAL_ENV"}
    environ["PATH"] = os.pathsep.join(p for p in ("/usr/local/bin", "/usr/bin", "/bin") if Path(p).is_dir())
    with start_hub(
        environ, data_dir=root / "data", command=[MCPHUB_SCRIPT], cwd=REPO, log_path=root / "hub.log", deadline_s=30
    ) as hub:
        assert "time" in hub.health.get("packages", []), f"/healthz does not list time: {hub.health}"
        text = hub.log()
        key = hub.first_key()
        assert key, f"mcphub serve printed no first API key:\n{text}"
        yield hub.mcp_url, key, text


async def test_a_newcomer_calls_the_time_tool_with_the_printed_key(builtin_hub: tuple[str, str, str]) -> None:
    mcp_url, key, banner = builtin_hub
    enabled = re.search(r"^Enabled for admin@localhost: (.*)$", banner, re.MULTILINE)
    assert enabled is not None and "time" in enabled.group(1).split(", "), banner
    command = f'claude mcp add --transport http mcphub {mcp_url} --header "Authorization: Bearer {key}"'
    assert command in banner
    for mode in ("legacy", "2026-07-28"):  # Claude Code today, and a client of the current revision
        async with mcp_client(mcp_url, key, mode=mode) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert {"time__get_current_time", "time__convert_time"} <= set(tools), sorted(tools)
            assert "today's date" in (tools["time__get_current_time"].description or "")
            result = await client.call_tool("time__get_current_time", {"timezone": "Asia/Tokyo"})
            assert result.is_error is False, result.content
            answer = result.structured_content or json.loads(result.content[0].text)  # type: ignore[union-attr]
            assert answer["timezone"] == "Asia/Tokyo"
            assert datetime.fromisoformat(answer["datetime"]).utcoffset() is not None
            assert answer["datetime"].endswith("+09:00")  # Japan has no daylight saving time

            converted = await client.call_tool(
                "time__convert_time",
                {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Kolkata"},
            )
            assert converted.is_error is False, converted.content
            conversion = converted.structured_content
            assert conversion is not None
            assert conversion["target"]["datetime"][11:16] == "17:30"
            assert conversion["time_difference"] == "+5.5h"

            refused = await client.call_tool("time__get_current_time", {"timezone": "Mars/Olympus_Mons"})
            assert refused.is_error is True  # the upstream's own error, as a tool error the agent can read
