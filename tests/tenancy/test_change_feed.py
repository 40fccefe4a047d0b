"""Without Redis, what the CLI changes reaches a running hub process at once, through the database's change feed.

A real `mcphub serve` process and real `mcphub` CLI processes share one database (SQLite file or
PostgreSQL). The hub caches keys and users' integration states for 30 s; an open MCP session must still
get `notifications/tools/list_changed` when the CLI enables, disables or connects an integration (a cache
expiry never sends one), and a key revoked by the CLI must be refused long before its cache entry expires.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp.client.session import IncomingMessage
from runtime.support import Upstream, make_account, mcp_client, petstore, serve, write_package
from sqlalchemy import func, select, update
from support.hub_process import cli, hub_env, hub_process

from mcphub.runtime.oauth.authserver import AuthServer
from mcphub.runtime.store.db import utcnow
from mcphub.runtime.store.models import ChangeEvent, IssuedToken, McpAuthCode, McpClient, McpGrant
from mcphub.runtime.tenancy.fanout import ChangeFeed
from mcphub.runtime.tenancy.services import Tenancy

EVENT_WAIT_S = 10.0  # well under the hub's 30 s caches, which the feed is there to beat
KEY_CACHE_S = 30.0


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    recorder = Upstream()
    with serve(recorder) as base:
        recorder.base_url = base
        yield recorder


@pytest.fixture
def catalog(upstream: Upstream, tmp_path: Path) -> Path:
    folder = tmp_path / "catalog"
    write_package(petstore(upstream.base_url), folder)
    write_package(petstore(upstream.base_url, slug="zoo"), folder)
    return folder


def _names(result: types.ListToolsResult) -> set[str]:
    return {tool.name for tool in result.tools}


async def test_cli_changes_reach_a_running_hub_process_without_redis(
    tenancy: Tenancy, db_url: str, catalog: Path
) -> None:
    ada = await make_account(tenancy, "ada@example.com", enable=["pets"], credentials={"pets": {"token": "t-ada"}})
    bob = await make_account(tenancy, "bob@example.com", enable=["pets"], credentials={"pets": {"token": "t-bob"}})
    spare = await tenancy.accounts.create_key(ada.user_id, "spare")
    env = hub_env(db_url, tenancy.data_dir)
    changed = {"ada": anyio.Event(), "bob": anyio.Event()}
    count = {"ada": 0, "bob": 0}

    def on(name: str) -> Any:
        async def handler(message: IncomingMessage) -> None:
            if isinstance(message, types.ToolListChangedNotification):
                count[name] += 1
                changed[name].set()

        return handler

    with hub_process(env, catalog) as base:
        async with (
            mcp_client(f"{base}/mcp", ada.key, mode="legacy", message_handler=on("ada")) as ada_client,
            mcp_client(f"{base}/mcp", bob.key, mode="legacy", message_handler=on("bob")) as bob_client,
            httpx2.AsyncClient(base_url=base) as http,
        ):
            pets = _names(await ada_client.list_tools())
            assert pets and all(name.startswith("pets__") for name in pets)
            assert _names(await bob_client.list_tools()) == pets
            spare_headers = {"Authorization": f"Bearer {spare.secret}"}
            assert (await http.post("/mcp", json={}, headers=spare_headers)).status_code != 401  # now cached

            # Enable + connect zoo for Ada from another process: her session hears of it, Bob's does not.
            cli(env, "integrations", "enable", "zoo", "--user", ada.email, "--catalog", str(catalog))
            cli(env, "credentials", "set", "zoo", "--user", ada.email, "--stdin", input="t-ada-zoo\n")
            with anyio.fail_after(EVENT_WAIT_S):
                await changed["ada"].wait()
            zoo = {name.replace("pets__", "zoo__") for name in pets}
            deadline = time.monotonic() + EVENT_WAIT_S  # the two changes may arrive as one or two notifications
            while _names(await ada_client.list_tools(cache_mode="refresh")) != pets | zoo:
                assert time.monotonic() < deadline, "Ada's tools never showed zoo"
                await anyio.sleep(0.05)

            # Disable for Bob: his session hears of it and his list empties.
            cli(env, "integrations", "disable", "pets", "--user", bob.email, "--catalog", str(catalog))
            with anyio.fail_after(EVENT_WAIT_S):
                await changed["bob"].wait()
            assert _names(await bob_client.list_tools(cache_mode="refresh")) == set()

            # A key revoked by the CLI is refused while the hub's cache entry (30 s) would still be live.
            revoked_at = time.monotonic()
            cli(env, "keys", "revoke", str(spare.info.id), "--user", ada.email)
            while (await http.post("/mcp", json={}, headers=spare_headers)).status_code != 401:
                assert time.monotonic() - revoked_at < KEY_CACHE_S / 2, "the revoked key still works"
                await anyio.sleep(0.05)
            assert (await ada_client.call_tool("pets__get_text", {})).is_error is False  # Ada's own key still works
    assert count["bob"] == 1  # Ada's two changes never reached Bob's session


async def test_the_feed_delivers_each_message_once_to_other_processes_and_is_purged(tenancy: Tenancy) -> None:
    """Two feeds on one database (two processes): the writer does not hear itself, the reader hears each once."""
    heard: list[str] = []

    async def handler(message: str) -> None:
        heard.append(message)

    reader, writer = ChangeFeed(tenancy.db, interval=3600), ChangeFeed(tenancy.db, interval=3600)
    await writer.publish("test:channel", "before")  # written before the reader started: not replayed
    reader.subscribe("test:channel", handler)
    writer.subscribe("test:channel", handler)
    await reader.start()
    await writer.start()
    try:
        for message in ("1", "2"):
            await writer.publish("test:channel", message)
        await writer.publish("other:channel", "x")
        assert await writer.poll() == 0  # its own messages
        assert await reader.poll() == 2
        assert await reader.poll() == 0  # the look-back window re-reads rows but never re-delivers them
        assert heard == ["1", "2"]
        async with tenancy.db.session() as session:
            await session.execute(update(ChangeEvent).values(created_at=utcnow() - timedelta(hours=2)))
        assert await reader.purge() == 4
        async with tenancy.db.session() as session:
            assert await session.scalar(select(func.count()).select_from(ChangeEvent)) == 0
    finally:
        await reader.aclose()
        await writer.aclose()


async def test_housekeeping_runs_while_the_tenancy_is_open(db_url: str, tmp_path: Path) -> None:
    """`Tenancy.start` schedules the purge of expired OAuth codes and tokens and of old change-feed rows."""
    tenancy = await Tenancy.open(tmp_path / "data", url=db_url, redis_url="", housekeeping_every=0.05)
    try:
        server = tenancy.authserver = AuthServer(tenancy.db, tenancy.vault, issuer="http://127.0.0.1:8765")
        user = await tenancy.accounts.create_user("ada@example.com", "correct horse battery")
        long_ago = utcnow() - timedelta(days=3)
        async with tenancy.db.session() as session:
            session.add(McpClient(client_id="c1", metadata_json={"redirect_uris": []}, created_at=long_ago))
            await session.flush()
            grant = McpGrant(
                user_id=user.id,
                client_id="c1",
                scopes=["mcp"],
                resource=server.resource,
                created_at=long_ago,
                revoked_at=None,
            )
            session.add(grant)
            await session.flush()
            session.add(
                IssuedToken(
                    token_hash="h" * 64,
                    kind="access",
                    grant_id=grant.id,
                    created_at=long_ago,
                    expires_at=long_ago,
                    used_at=None,
                )
            )
            session.add(
                McpAuthCode(
                    code_hash="c" * 64,
                    client_id="c1",
                    user_id=user.id,
                    scopes=["mcp"],
                    resource=server.resource,
                    redirect_uri="http://localhost/cb",
                    redirect_uri_explicit=True,
                    code_challenge="x" * 43,
                    expires_at=long_ago,
                    used_at=None,
                    grant_id=None,
                )
            )
            session.add(ChangeEvent(channel="c", message="m", origin="o", created_at=long_ago))
        deadline = time.monotonic() + EVENT_WAIT_S
        while True:
            async with tenancy.db.session() as session:
                left = [
                    await session.scalar(select(func.count()).select_from(model))
                    for model in (IssuedToken, McpAuthCode, ChangeEvent)
                ]
            if left == [0, 0, 0]:
                break
            assert time.monotonic() < deadline, f"housekeeping never purged: {left}"
            await anyio.sleep(0.05)
    finally:
        await tenancy.aclose()
