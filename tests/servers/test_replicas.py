"""Two `mcphub serve` processes on one PostgreSQL database (no Redis: the change feed) with separate data dirs:
`mcphub build … --deploy` in a third process stores the package in the database, and both hubs mount it and
serve its tools; `mcphub servers delete` reaches both. The CLI's `--json` answers are checked too."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from runtime.support import mcp_client, provision, serve
from support.hub_process import MCPHUB, cli, hub_env, hub_process
from tenancy.conftest import migrated_pg_database

from servers.standin import Shop, shop_openapi

SHOW_UP_S = 20.0  # the change feed is polled once a second; a loaded machine needs more


@pytest.fixture
def pg_url() -> Iterator[str]:
    with migrated_pg_database() as url:
        yield url


async def _tools(base: str, key: str) -> set[str]:
    async with mcp_client(f"{base}/mcp", key, mode="legacy") as client:
        return {tool.name for tool in (await client.list_tools()).tools}


async def _until(base: str, key: str, expected: set[str]) -> None:
    deadline = time.monotonic() + SHOW_UP_S
    while (seen := await _tools(base, key)) != expected:
        assert time.monotonic() < deadline, f"{base} serves {seen}, not {expected}"
        await anyio.sleep(0.3)


async def _call(base: str, key: str, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    async with mcp_client(f"{base}/mcp", key, mode="legacy") as client:
        return await client.call_tool(name, arguments)


def test_two_hubs_on_postgresql_serve_a_build_deployed_by_the_cli(tmp_path: Path, pg_url: str) -> None:
    shop = Shop()
    with serve(shop.app()) as shop_base:
        description = tmp_path / "shop.json"
        description.write_text(json.dumps(shop_openapi(shop_base)))
        first, second = tmp_path / "one" / "data", tmp_path / "two" / "data"
        _admin, ada = provision(first, ("admin@example.com", {}), ("ada@example.com", {}), url=pg_url)
        second.mkdir(parents=True)
        shutil.copy(first / "secret.key", second / "secret.key")  # one vault key, two machines' data dirs
        env_one = hub_env(pg_url, first, MCPHUB_BUILDS_PRIVATE_NETWORK="1")
        env_two = hub_env(pg_url, second, MCPHUB_BUILDS_PRIVATE_NETWORK="1")
        catalog = tmp_path / "catalog"
        catalog.mkdir()
        with hub_process(env_one, catalog) as one, hub_process(env_two, catalog) as two:
            built = cli(
                env_one,
                "build", str(description), "--slug", "shop", "--deploy", "--allow-private-network",
                "--user", "ada@example.com", "--catalog", str(catalog), "--json",
            )  # fmt: skip
            result = json.loads(built.stdout)
            assert result["server"]["deployed_version"] == 1
            assert set(result["tools"]) == {"list_items", "create_item", "get_item"}  # delete_item: destructive, off
            expected = {"shop__list_items", "shop__create_item", "shop__get_item"}
            for base in (one, two):
                anyio.run(_until, base, ada.key, expected)
                answer = anyio.run(_call, base, ada.key, "shop__get_item", {"item_id": 5})
                assert not answer.is_error
            assert [request[:2] for request in shop.requests[-2:]] == [("GET", "/items/5")] * 2
            # Hub two never had the package on its disk but from the database.
            assert any((second / "packages").iterdir())

            listed = json.loads(cli(env_two, "servers", "list", "--user", "ada@example.com", "--json").stdout)
            assert [(s["slug"], s["deployed_version"], s["visibility"]) for s in listed] == [("shop", 1, "private")]
            versions = json.loads(
                cli(env_two, "servers", "versions", "shop", "--user", "ada@example.com", "--json").stdout
            )
            assert [(v["number"], v["status"], v["deployed"]) for v in versions] == [(1, "built", True)]
            assert versions[0]["last_run"]["status"] == "ok"

            shown = json.loads(cli(env_one, "servers", "show", "shop", "--user", "ada@example.com", "--json").stdout)
            assert shown["server"]["owner_email"] == "ada@example.com" and shown["deployed"]["number"] == 1
            again = cli(env_two, "servers", "rollback", "shop", "1", "--user", "ada@example.com", "--json")
            assert json.loads(again.stdout)["server"]["deployed_version"] == 1  # already built: nothing compiled
            refused = subprocess.run(
                [*MCPHUB, "servers", "deploy", "shop", "--user", "admin@example.com", "--version", "9", "--json"],
                env=env_one, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert refused.returncode == 1 and "no version 9" in json.loads(refused.stdout)["error"]["message"]

            cli(env_two, "servers", "delete", "shop", "--user", "ada@example.com")
            for base in (one, two):
                anyio.run(_until, base, ada.key, set())
