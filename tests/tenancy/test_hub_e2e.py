"""Two users through the real hub and the official MCP client: each key reaches its own user's credential.

The hub is `mcphub.app.create_app` as it is today, served by uvicorn in its own thread and event loop, with a
`Tenancy` opened in that loop at startup (an asyncpg pool belongs to the loop that made it), its provider as the
hub's credential provider and `KeyAuthMiddleware` in front of /mcp. Policy and usage are not wired into the hub
yet (the lead does that).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from runtime.support import Upstream, petstore, serve, write_package

from mcphub.app import Settings, create_app
from mcphub.runtime.tenancy import Tenancy
from mcphub.web.keyauth import KeyAuthMiddleware


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    recorder = Upstream()
    with serve(recorder) as base:
        recorder.base_url = base
        yield recorder


def _hub_app(db_url: str, data_dir: Path, catalog: Path) -> Any:
    """The hub app with a Tenancy of its own, opened in the server's event loop at startup (as `serve` will)."""
    opened: list[Tenancy] = []

    class LateProvider:
        async def get(self, integration: Any) -> Any:
            return await opened[0].provider.get(integration)

    app = create_app(
        Settings(port=0, catalog_dirs=[catalog], admin_token="t", data_dir=data_dir), credentials=LateProvider()
    )

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":

            async def lifespan_receive() -> Any:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    opened.append(await Tenancy.open(data_dir, url=db_url, redis_url=""))
                elif message["type"] == "lifespan.shutdown":
                    await opened[0].aclose()
                return message

            await app(scope, lifespan_receive, send)
        elif scope["type"] == "http" and scope["path"].startswith("/mcp"):
            await KeyAuthMiddleware(app, opened[0].accounts)(scope, receive, send)
        else:
            await app(scope, receive, send)

    return asgi


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_two_users_at_once_each_with_their_own_credential(
    tenancy: Tenancy, db_url: str, upstream: Upstream, tmp_path: Path, mode: str
) -> None:
    catalog = tmp_path / "catalog"
    write_package(petstore(upstream.base_url), catalog)
    run = secrets.token_hex(4)  # the upstream is shared by the module's tests: tell this run's requests apart
    users = {}
    for name in ("ada", "bob"):
        user = await tenancy.accounts.create_user(f"{name}@example.com", "correct horse battery")
        await tenancy.integrations.enable(user.id, "pets")
        await tenancy.credentials.set(user.id, "pets", {"token": f"{name}-upstream-token"}, scheme="bearer")
        users[name] = (await tenancy.accounts.create_key(user.id, "agent")).secret

    with serve(_hub_app(db_url, tenancy.data_dir, catalog), health_path="/healthz") as base:
        async with httpx2.AsyncClient() as anonymous:
            response = await anonymous.post(f"{base}/mcp", json={})
            assert response.status_code == 401 and "resource_metadata=" in response.headers["www-authenticate"]

        async def agent(name: str) -> list[str]:
            seen = []
            async with (
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {users[name]}"}) as http,
                Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode) as client,
            ):
                for i in range(5):
                    pet = f"{name}-{run}-{i}"
                    result = await client.call_tool("pets__get_pet", {"pet_id": pet})
                    assert result.is_error is False, result
                    sent = next(r for r in upstream.requests if r.path == f"/pets/{pet}")
                    seen.append(sent.headers["authorization"])
            return seen

        ada_seen, bob_seen = await asyncio.gather(agent("ada"), agent("bob"))
    assert set(ada_seen) == {"Bearer ada-upstream-token"}
    assert set(bob_seen) == {"Bearer bob-upstream-token"}


async def test_a_session_id_presented_with_another_users_key_does_not_act_as_its_owner(
    tenancy: Tenancy, db_url: str, upstream: Upstream, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog"
    write_package(petstore(upstream.base_url), catalog)
    run = secrets.token_hex(4)
    keys = {}
    for name in ("ada", "bob"):
        user = await tenancy.accounts.create_user(f"{name}@example.com", "correct horse battery")
        await tenancy.credentials.set(user.id, "pets", {"token": f"{name}-upstream-token"}, scheme="bearer")
        keys[name] = (await tenancy.accounts.create_key(user.id, "agent")).secret
    session: dict[str, str] = {}

    async def remember(response: httpx2.Response) -> None:
        if "mcp-session-id" in response.headers:
            session["id"] = response.headers["mcp-session-id"]
            session["version"] = response.request.headers.get("mcp-protocol-version", "")

    with serve(_hub_app(db_url, tenancy.data_dir, catalog), health_path="/healthz") as base:
        async with (
            httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {keys['ada']}"}, event_hooks={"response": [remember]}
            ) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http), mode="legacy") as client,
        ):
            await client.list_tools()
            async with httpx2.AsyncClient() as bob:
                hijack = await bob.post(
                    f"{base}/mcp",
                    json={
                        "jsonrpc": "2.0",
                        "id": 7,
                        "method": "tools/call",
                        "params": {"name": "pets__get_pet", "arguments": {"pet_id": f"hijack-{run}"}},
                    },
                    headers={
                        "Authorization": f"Bearer {keys['bob']}",
                        "Accept": "application/json, text/event-stream",
                        "Mcp-Session-Id": session["id"],
                        "Mcp-Protocol-Version": session["version"] or "2025-11-25",
                    },
                )
    # The principal is bound per HTTP request, so the call runs as Bob with Bob's credential, never Ada's.
    sent = [r.headers.get("authorization") for r in upstream.requests if r.path == f"/pets/hijack-{run}"]
    assert hijack.status_code == 200 and sent == ["Bearer bob-upstream-token"]
