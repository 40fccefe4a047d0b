"""The schema: migrations reach head on both databases and match the models exactly."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from mcphub.runtime.store.migrations import alembic_config, current_revision, upgrade
from mcphub.runtime.store.models import Base

from .conftest import _create_pg, _drop_pg, _pg


async def test_migrations_reach_head_and_match_the_models(db_url: str) -> None:
    await upgrade(db_url)
    await upgrade(db_url)  # idempotent: `serve` runs it at every start
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert await current_revision(db_url) == head

    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_replicas_starting_together_migrate_once() -> None:
    name = f"mcphub_test_{secrets.token_hex(6)}"
    await _create_pg(name)
    url = _pg(name).replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        await asyncio.gather(*(upgrade(url) for _ in range(4)))
        assert await current_revision(url) == ScriptDirectory.from_config(alembic_config()).get_current_head()
    finally:
        await _drop_pg(name)
