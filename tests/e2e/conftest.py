"""Fixtures for end-to-end tests: a recording upstream and the hub, both real servers on 127.0.0.1.

The hub is the real app with its tenancy (a SQLite file in a tmp data dir); the test user, its key, its
enabled integrations and its upstream credential are made through the tenancy layer before the hub starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from runtime.support import Account, Upstream, closed_port, mcp_client, petstore, provision, serve, write_package

from mcphub.app import Settings, create_app

ADMIN_TOKEN = "test-admin-token"
TOKEN = "sk_test_123"


@dataclass
class RunningHub:
    url: str
    catalog: Path
    upstream: Upstream
    account: Account

    @property
    def mcp(self) -> str:
        return f"{self.url}/mcp"

    @property
    def key(self) -> str:
        return self.account.key

    @property
    def headers(self) -> dict[str, str]:
        return self.account.headers

    def client(self, *, path: str = "/mcp", **options: Any) -> AbstractAsyncContextManager[Client]:
        """The official SDK client on `path`, authenticated with the test user's key."""
        return mcp_client(self.url + path, self.key, **options)


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    recorder = Upstream()
    with serve(recorder) as base:
        recorder.base_url = base
        yield recorder


def start_hub(catalog: Path, upstream: Upstream, *, also: tuple[str, ...] = ()) -> Iterator[RunningHub]:
    """Serve `catalog` for a user who enabled and connected its packages and `also` (packages added later)."""
    data_dir = catalog.with_name(f"{catalog.name}-data")
    slugs = [path.name for path in catalog.iterdir() if (path / "manifest.json").exists()] + list(also)
    [account] = provision(
        data_dir, ("agent@example.com", {"enable": slugs, "credentials": {slug: {"token": TOKEN} for slug in slugs}})
    )
    settings = Settings(port=0, catalog_dirs=[catalog], admin_token=ADMIN_TOKEN, data_dir=data_dir)
    app = create_app(settings)
    with serve(app, health_path="/healthz") as base:
        yield RunningHub(base, catalog, upstream, account)


@pytest.fixture(scope="module")
def hub(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    catalog = tmp_path_factory.mktemp("catalog")
    write_package(petstore(upstream.base_url), catalog)
    write_package(petstore(f"http://127.0.0.1:{closed_port()}", slug="down"), catalog)
    yield from start_hub(catalog, upstream)


@pytest.fixture
def fresh_hub(upstream: Upstream, tmp_path: Path) -> Iterator[RunningHub]:
    """A hub of its own, for tests that change its catalog."""
    catalog = tmp_path / "catalog"
    write_package(petstore(upstream.base_url), catalog)
    yield from start_hub(catalog, upstream, also=("extra",))  # test_reload adds an `extra` package
