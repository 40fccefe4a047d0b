"""Fixtures of the fault tests: a throwaway database (SQLite file or PostgreSQL), migrated, per test."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from tenancy.conftest import _create_pg, _drop_pg, _pg

from mcphub.runtime.store.migrations import upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, migrated database that only this test uses."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
        asyncio.run(upgrade(url))
        yield url
        return
    name = f"mcphub_faults_{secrets.token_hex(6)}"
    asyncio.run(_create_pg(name))
    url = _pg(name).replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        asyncio.run(upgrade(url))
        yield url
    finally:
        asyncio.run(_drop_pg(name))
