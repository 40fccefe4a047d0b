"""Fixtures for end-to-end tests: a recording upstream and the hub, both real servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from runtime.support import Upstream, closed_port, petstore, serve, write_package

from mcphub.app import Settings, create_app
from mcphub.runtime.credentials import Credential, StaticCredentialProvider

ADMIN_TOKEN = "test-admin-token"
TOKEN = "sk_test_123"


@dataclass
class RunningHub:
    url: str
    catalog: Path
    upstream: Upstream

    @property
    def mcp(self) -> str:
        return f"{self.url}/mcp"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    recorder = Upstream()
    with serve(recorder) as base:
        recorder.base_url = base
        yield recorder


def start_hub(catalog: Path, upstream: Upstream) -> Iterator[RunningHub]:
    settings = Settings(port=0, catalog_dirs=[catalog], admin_token=ADMIN_TOKEN, data_dir=catalog.parent / "data")
    credentials = StaticCredentialProvider({slug: Credential(token=TOKEN) for slug in ("pets", "down")})
    app = create_app(settings, credentials=credentials)
    with serve(app, health_path="/healthz") as base:
        yield RunningHub(base, catalog, upstream)


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
    yield from start_hub(catalog, upstream)
