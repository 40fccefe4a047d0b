"""The hub and its catalog in-process, through the official SDK client's in-memory transports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp.client import Client

from mcphub.compiler.ir import Integration
from mcphub.runtime.catalog import Catalog
from mcphub.runtime.mcp.hub import Hub
from mcphub.runtime.upstream.credentials import ChainCredentialProvider, Credential, EnvCredentialProvider
from runtime.support import closed_port, petstore, write_package


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    write_package(petstore(f"http://127.0.0.1:{closed_port()}"), tmp_path / "catalog")
    hub = Hub(Catalog([tmp_path / "catalog"]))
    report = await hub.reload()
    assert report.loaded == ["pets"]
    yield hub
    await hub.catalog.aclose()


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_cached_tool_list_is_what_the_sdk_would_send(hub: Hub, mode: str) -> None:
    async with Client(hub.server, mode=mode, cache=None) as client:
        fast = await client.list_tools()
        again = await client.list_tools()
        [(scope, version, visible, key_scope)] = hub.tool_lists.pages  # answered from the cache
        assert scope is None and version == client.protocol_version
        assert visible is None and key_scope is None  # no accounts attached: everything is visible
        hub.server.middleware.remove(hub._serve_tool_list)
        slow = await client.list_tools()
    assert fast.model_dump() == slow.model_dump() == again.model_dump()
    assert len(fast.tools) == 19


async def test_env_credentials(tmp_path: Path) -> None:
    integration = Integration.model_validate(
        petstore("https://{site}.example.com").model_dump()
        | {"slug": "my-api", "server_variables": {"site": {"default": "x"}}}
    )
    environ = {
        "MCPHUB_CRED_MY_API_TOKEN": "t",
        "MCPHUB_CRED_MY_API_USERNAME": "u",
        "MCPHUB_CRED_MY_API_PASSWORD": "p",
        "MCPHUB_CRED_MY_API_SCHEME": "bearer",
        "MCPHUB_CRED_MY_API_VAR_SITE": "acme",
        "MCPHUB_CRED_OTHER_TOKEN": "nope",
    }
    credential = await EnvCredentialProvider(environ).get(integration)
    assert credential == Credential(
        token="t", username="u", password="p", scheme="bearer", server_variables={"site": "acme"}
    )
    assert await EnvCredentialProvider({}).get(integration) is None
    chained = ChainCredentialProvider(EnvCredentialProvider({}), EnvCredentialProvider(environ))
    assert await chained.get(integration) == credential


async def test_duplicate_slugs_across_catalog_dirs(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        write_package(petstore(f"http://127.0.0.1:{closed_port()}"), tmp_path / folder)
    catalog = Catalog([tmp_path / "a", tmp_path / "b"])
    report = await catalog.reload()
    try:
        assert report.loaded == ["pets"]
        [(directory, message)] = report.errors.items()
        assert directory == str(tmp_path / "b" / "pets")
        assert "slug 'pets' is already mounted from" in message
        assert catalog.snapshot.mounts["pets"].package.directory == tmp_path / "a" / "pets"
    finally:
        await catalog.aclose()


async def test_a_retired_mount_closes_its_pool_after_the_last_call(hub: Hub) -> None:
    mount = hub.snapshot.mounts["pets"]
    pool = mount.client._client
    async with mount.use():
        await mount.retire()
        assert not pool.is_closed  # a call is still running on it
    assert pool.is_closed
