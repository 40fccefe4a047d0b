"""Built integrations end to end: a user's upload → review → deploy → versions → rollback, through the JSON API of a
real hub (the app served by uvicorn), seen by the official MCP SDK client of that user and of another user.

The stand-in API runs on 127.0.0.1, so the hub lets users' builds reach private addresses
(`MCPHUB_BUILDS_PRIVATE_NETWORK=1`, an operator's setting).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp.client.session import IncomingMessage
from runtime.support import Account, make_account, mcp_client, open_tenancy, serve

from mcphub.app import Settings, create_app
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.runtime.upstream.egress import EgressPolicy
from servers.standin import Shop, shop_openapi

EVENT_WAIT_S = 15.0
PASSWORD = "correct horse battery staple"


@pytest.fixture
def shop() -> Iterator[tuple[Shop, str]]:
    standin = Shop()
    with serve(standin.app()) as base:
        yield standin, base


@pytest.fixture
async def tenancy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Tenancy]:
    for name in ("MCPHUB_DATABASE_URL", "MCPHUB_REDIS_URL", "MCPHUB_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MCPHUB_BUILDS_PRIVATE_NETWORK", "1")
    opened = await open_tenancy(tmp_path / "data", f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    try:
        yield opened
    finally:
        await opened.aclose()


class Listener:
    """Counts `notifications/tools/list_changed` a client receives."""

    def __init__(self) -> None:
        self.count = 0
        self.arrived = anyio.Event()

    async def __call__(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self.count += 1
            self.arrived.set()

    async def wait(self) -> None:
        with anyio.fail_after(EVENT_WAIT_S):
            await self.arrived.wait()
        self.arrived = anyio.Event()


def names(result: types.ListToolsResult) -> set[str]:
    return {tool.name for tool in result.tools}


def text(result: types.CallToolResult) -> str:
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))


@asynccontextmanager
async def signed_in(base: str, account: Account) -> AsyncIterator[httpx2.AsyncClient]:
    """A web session of `account` on the JSON API (cookie + CSRF header), as the builder pages use it."""
    async with httpx2.AsyncClient(base_url=f"{base}/api/v1", timeout=httpx2.Timeout(120.0)) as http:
        answer = await http.post("/auth/sign-in", json={"email": account.email, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        http.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        yield http


def ok(response: httpx2.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def test_a_user_builds_reviews_deploys_iterates_and_rolls_back(
    tenancy: Tenancy, tmp_path: Path, shop: tuple[Shop, str]
) -> None:
    standin, shop_base = shop
    admin = await make_account(tenancy, "admin@example.com")
    ada = await make_account(tenancy, "ada@example.com")
    bob = await make_account(tenancy, "bob@example.com")
    settings = Settings(
        port=0,
        catalog_dirs=[tmp_path / "catalog"],
        admin_token="t",
        data_dir=tenancy.data_dir,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
    )
    ada_hears, bob_hears = Listener(), Listener()
    app = create_app(settings)
    with serve(app, health_path="/healthz") as base:
        async with (
            signed_in(base, ada) as api,
            mcp_client(f"{base}/mcp", ada.key, mode="legacy", message_handler=ada_hears) as ada_mcp,
            mcp_client(f"{base}/mcp", bob.key, mode="legacy", message_handler=bob_hears) as bob_mcp,
        ):
            assert names(await ada_mcp.list_tools()) == set() == names(await bob_mcp.list_tools())

            # 1. Upload: version 1 is a draft of every operation, the destructive one off.
            upload = json.dumps(shop_openapi(shop_base)).encode()
            created = ok(
                await api.post(
                    "/servers",
                    json={
                        "source": {
                            "kind": "file",
                            "filename": "shop.json",
                            "content_base64": base64.b64encode(upload).decode(),
                        },
                        "slug": "shop",
                        "allow_private_network": True,  # the stand-in is on 127.0.0.1
                    },
                ),
                201,
            )
            assert created["server"]["owner_email"] == "ada@example.com"
            assert created["server"]["visibility"] == "private" and created["server"]["deployed_version"] is None
            assert created["version"]["number"] == 1 and created["version"]["status"] == "draft"
            assert [stage["stage"] for stage in created["stages"]] == ["fetch", "analyze"]
            draft = ok(await api.get("/servers/shop/draft"))["draft"]
            operations = {op["operation"]: op for op in draft["operations"]}
            assert set(operations) == {"list_items", "create_item", "get_item", "delete_item"}
            assert operations["delete_item"]["destructive"] and not operations["delete_item"]["selected"]
            assert operations["get_item"]["method"] == "GET" and operations["get_item"]["path"] == "/items/{item_id}"
            assert draft["base_url"] == shop_base

            # 2. Review: drop create_item, rename list_items, describe get_item; version 2.
            reviewed = ok(
                await api.post(
                    "/servers/shop/review",
                    json={
                        "tools": [
                            {"operation": "list_items", "name": "find_items"},
                            {"operation": "get_item", "description": "Read one item of the shop by its numeric id."},
                        ],
                        "policy": {"rate_limit": "3/min", "timeout_s": 5},
                        "message": "first review",
                    },
                ),
                201,
            )["version"]
            assert reviewed["number"] == 2 and reviewed["message"] == "first review"

            # 3. Deploy: Ada's client hears list_changed and sees exactly the reviewed tools at once.
            deployed = ok(await api.post("/servers/shop/deploy", json={}))["server"]
            assert deployed["deployed_version"] == 2
            await ada_hears.wait()
            assert names(await ada_mcp.list_tools(cache_mode="refresh")) == {"shop__find_items", "shop__get_item"}
            found = await ada_mcp.call_tool("shop__find_items", {"q": "lamp"})
            assert not found.is_error, text(found)
            assert "chair" in text(found) and standin.requests[-1][:3] == ("GET", "/items", "q=lamp")
            # The built-ins' sandbox: hosts from the servers, only the enabled tools' methods, the reviewed policy.
            mounted = app.state.hub.snapshot.mounts["shop"].integration
            egress = EgressPolicy.from_integration(mounted)
            assert egress.methods == {"GET"}  # delete_item and create_item were not selected
            assert egress.host_allowed("127.0.0.1") and not egress.host_allowed("attacker.example")
            assert (mounted.policy.rate_limit, mounted.policy.timeout_s) == ("3/min", 5)

            # Bob sees nothing — not even a list_changed —, even with the slug enabled, and cannot call it.
            assert names(await bob_mcp.list_tools(cache_mode="refresh")) == set()
            assert bob_hears.count == 0
            # Nor does any page or API of his name it, or let him enable it or store a credential for it.
            async with signed_in(base, bob) as bob_api:
                listed = ok(await bob_api.get("/integrations"))["integrations"]
                assert "shop" not in {item["slug"] for item in listed}
                assert (await bob_api.put("/integrations/shop", json={"enabled": True})).status_code == 404
                stored = await bob_api.put("/credentials/shop", json={"fields": {"api_key": "x"}})
                assert stored.status_code == 404
                assert (await bob_api.post("/integrations/shop/oauth/start", json={})).status_code == 404
                for page in ("/integrations", "/keys", "/logs"):
                    seen = await bob_api.get(f"{base}{page}")
                    assert seen.status_code == 200 and "shop" not in seen.text, page
            await tenancy.integrations.enable(bob.user_id, "shop")
            assert names(await bob_mcp.list_tools(cache_mode="refresh")) == set()
            refused = await bob_mcp.call_tool("shop__get_item", {"item_id": 1})
            assert refused.is_error and "not enabled" in text(refused)
            async with httpx2.AsyncClient(base_url=base) as anonymous:
                assert (await anonymous.get("/integrations/shop/docs")).status_code == 404
                page = await api.get(f"{base}/integrations/shop/docs")  # Ada's own: her session sees it
                assert page.status_code == 200 and "shop__find_items" in page.text
                assert "<script" not in page.text

                # An admin shares it: Bob (who enabled it) now sees the tools; the docs are public.
                shared = await anonymous.put(
                    "/api/v1/servers/shop/sharing", json={"shared": True}, headers=admin.headers
                )
                assert ok(shared)["server"]["visibility"] == "shared"
                # Bob's enable was written by the test's own Tenancy, another process as far as the hub knows: it
                # reaches the hub's cache of his states through the change feed (polled every second).
                for _ in range(50):
                    bob_sees = names(await bob_mcp.list_tools(cache_mode="refresh"))
                    if bob_sees:
                        break
                    await asyncio.sleep(0.1)
                assert bob_sees == {"shop__find_items", "shop__get_item"}
                # The reviewed rate limit holds for Bob's calls as for a built-in's: 3 a minute.
                answers = [await bob_mcp.call_tool("shop__get_item", {"item_id": n}) for n in range(4)]
                assert [a.is_error for a in answers] == [False, False, False, True]
                assert "rate limited" in text(answers[-1])
                docs = await anonymous.get("/integrations/shop/docs")
                assert docs.status_code == 200 and "shop__get_item" in docs.text
            assert "numeric id" in ok(await api.get("/servers/shop/docs"))["markdown"]

            # 4. Iterate in the editor: version 3 renames get_item; built in the background, streamed as events.
            spec = ok(await api.get("/servers/shop/versions/2"))["version"]["spec_yaml"]
            edited = spec.replace("- operation: get_item\n", "- operation: get_item\n  name: read_item\n")
            assert edited != spec
            assert (
                ok(await api.post("/servers/shop/versions", json={"spec_yaml": edited}), 201)["version"]["number"] == 3
            )
            started = ok(await api.post("/servers/shop/builds", json={"version": 3}), 202)
            events: list[tuple[str, Any]] = []
            async with api.stream("GET", f"/servers/shop/builds/{started['run_id']}/events") as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                name = ""
                async for line in stream.aiter_lines():
                    if line.startswith("event: "):
                        name = line.removeprefix("event: ")
                    elif line.startswith("data: "):
                        events.append((name, json.loads(line.removeprefix("data: "))))
            stages = [data["stage"] for kind, data in events if kind == "stage"]
            assert stages[:2] == ["check", "parse"] and "scan" in stages and "codegen" in stages
            assert events[-1][0] == "done" and events[-1][1]["status"] == "ok"
            run = events[-1][1]
            assert run["lint"]["score"] > 0 and run["findings"] == [] and run["test_report"]["passed"] is True
            ok(await api.post("/servers/shop/deploy", json={"version": 3}))
            assert names(await ada_mcp.list_tools(cache_mode="refresh")) == {"shop__find_items", "shop__read_item"}

            # 5. Rollback to version 2 restores its tools, for Ada and for Bob.
            ok(await api.post("/servers/shop/rollback", json={"version": 2}))
            assert names(await ada_mcp.list_tools(cache_mode="refresh")) == {"shop__find_items", "shop__get_item"}
            assert names(await bob_mcp.list_tools(cache_mode="refresh")) == {"shop__find_items", "shop__get_item"}

            # 6. A failing build (an operation the source does not have) leaves version 2 serving.
            broken = edited.replace("operation: get_item", "operation: get_items_typo")
            ok(await api.post("/servers/shop/versions", json={"spec_yaml": broken, "message": "typo"}), 201)
            failed = await api.post("/servers/shop/deploy", json={})
            assert failed.status_code == 422, failed.text
            assert failed.json()["error"]["code"] == "build_failed"
            assert "get_items_typo" in failed.json()["error"]["message"]
            assert failed.json()["run"]["stages"][-1]["status"] == "failed"
            assert names(await ada_mcp.list_tools(cache_mode="refresh")) == {"shop__find_items", "shop__get_item"}
            item = await ada_mcp.call_tool("shop__get_item", {"item_id": 7})
            assert not item.is_error and standin.requests[-1][:2] == ("GET", "/items/7")
            versions = ok(await api.get("/servers/shop/versions"))["versions"]
            assert [(v["number"], v["status"], v["deployed"]) for v in versions] == [
                (4, "failed", False),
                (3, "built", False),
                (2, "built", True),
                (1, "draft", False),
            ]
            assert ok(await api.get("/servers/shop"))["server"]["deployed_version"] == 2

            # 7. Bob may read the shared integration but not change it; deleting it unmounts it everywhere.
            async with signed_in(base, bob) as bob_api:
                assert (await bob_api.post("/servers/shop/rollback", json={"version": 3})).status_code == 403
                assert (await bob_api.get("/servers")).json()["servers"][0]["slug"] == "shop"
            assert (await api.delete("/servers/shop")).status_code == 204
            assert names(await ada_mcp.list_tools(cache_mode="refresh")) == set()
            assert (await api.get("/servers/shop")).status_code == 404
