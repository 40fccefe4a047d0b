"""Hot reload: an atomic swap, in-flight calls finish on the old version, sessions of both eras are told."""

from __future__ import annotations

import time
from typing import Any

import anyio
import httpx2
import mcp_types as types
from mcp.client.session import IncomingMessage
from mcp.shared.subscriptions import ToolsListChanged
from runtime.support import petstore, write_package

from e2e.conftest import ADMIN_TOKEN, RunningHub


async def _reload(hub: RunningHub, token: str | None = ADMIN_TOKEN) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with httpx2.AsyncClient() as http:
        return await http.post(f"{hub.url}/admin/reload", headers=headers, timeout=30)


def _disable(hub: RunningHub, *names: str, slug: str = "pets") -> None:
    integration = petstore(hub.upstream.base_url, slug=slug)
    for tool in integration.tools:
        if tool.name in names:
            tool.enabled = False
    write_package(integration, hub.catalog)


async def test_reload_requires_the_admin_token(fresh_hub: RunningHub) -> None:
    assert (await _reload(fresh_hub, token=None)).status_code == 401
    response = await _reload(fresh_hub, token="wrong")
    assert response.status_code == 401
    assert "admin token required" in response.json()["error"]


async def test_reload_swaps_the_catalog_and_notifies_both_eras(fresh_hub: RunningHub) -> None:
    hub = fresh_hub
    legacy_changed = anyio.Event()

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            legacy_changed.set()

    async with (
        hub.client(mode="legacy", message_handler=on_message) as legacy,
        hub.client(mode="2026-07-28") as modern,
    ):
        assert "pets__fail" in [t.name for t in (await legacy.list_tools()).tools]
        async with modern.listen(tools_list_changed=True) as subscription:
            _disable(hub, "fail")
            write_package(petstore(hub.upstream.base_url, slug="extra"), hub.catalog)
            response = await _reload(hub)
            assert response.status_code == 200
            assert response.json() == {
                "loaded": ["extra", "pets"],
                "added": ["extra"],
                "removed": [],
                "updated": ["pets"],
                "errors": {},
                "changed": True,
            }
            with anyio.fail_after(5):
                event = await subscription.__anext__()
            assert isinstance(event, ToolsListChanged)
        with anyio.fail_after(5):
            await legacy_changed.wait()
        names = [t.name for t in (await legacy.list_tools(cache_mode="refresh")).tools]
        assert "pets__fail" not in names
        assert "extra__get_pet" in names
        modern_names = [t.name for t in (await modern.list_tools(cache_mode="refresh")).tools]
        assert modern_names == names


async def test_unchanged_reload_reports_no_change(fresh_hub: RunningHub) -> None:
    body = (await _reload(fresh_hub)).json()
    assert body["changed"] is False
    assert body["loaded"] == ["pets"]


async def test_in_flight_call_finishes_on_the_old_version(fresh_hub: RunningHub) -> None:
    hub = fresh_hub
    results: list[Any] = []

    async with hub.client(mode="legacy") as client:

        async def slow_call() -> None:
            results.append(await client.call_tool("pets__slowish", {}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(slow_call)
            deadline = time.monotonic() + 5
            while not any(r.path == "/slowish" for r in hub.upstream.requests):
                assert time.monotonic() < deadline, "the slow call never reached the upstream"
                await anyio.sleep(0.01)
            _disable(hub, "slowish")  # the new version no longer has the tool at all
            assert (await _reload(hub)).json()["updated"] == ["pets"]
        assert results[0].is_error is False
        assert results[0].structured_content == {"slow": True}
        assert "pets__slowish" not in [t.name for t in (await client.list_tools(cache_mode="refresh")).tools]
        # The new version's pooled client works too.
        assert (await client.call_tool("pets__get_text", {})).is_error is False


async def test_a_broken_package_keeps_serving_its_previous_version(fresh_hub: RunningHub) -> None:
    hub = fresh_hub
    (hub.catalog / "pets" / "server.py").write_text("raise RuntimeError('half-written')\n")
    body = (await _reload(hub)).json()
    assert body["changed"] is False
    assert body["loaded"] == ["pets"]
    [(directory, message)] = body["errors"].items()
    assert directory.endswith("pets")
    assert "import failed: RuntimeError: half-written" in message
    async with hub.client(mode="legacy") as client:
        assert (await client.call_tool("pets__get_text", {})).is_error is False
    async with httpx2.AsyncClient() as http:
        health = (await http.get(f"{hub.url}/healthz")).json()
    assert health["packages"] == ["pets"]
    assert list(health["errors"]) == [directory]


async def test_a_removed_package_is_unmounted(fresh_hub: RunningHub) -> None:
    hub = fresh_hub
    for path in (hub.catalog / "pets").iterdir():
        path.unlink()
    (hub.catalog / "pets").rmdir()
    assert (await _reload(hub)).json()["removed"] == ["pets"]
    async with hub.client(mode="legacy") as client:
        assert (await client.list_tools()).tools == []
