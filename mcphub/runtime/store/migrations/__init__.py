"""Alembic migrations, run programmatically (`await upgrade(url)`; `mcphub db upgrade`; `serve` at start).

Writing a new revision (developers): against a scratch database at head,

    .venv/bin/python -c "from mcphub.runtime.store.migrations import revision; revision('add x', 'sqlite:///scratch.db')"

then review the file under versions/ — autogenerate is a draft, not a verdict.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

# alembic is imported where it is used: it costs ~0.15 s of every hub start otherwise.

__all__ = ["alembic_config", "current_revision", "revision", "upgrade"]

HERE = Path(__file__).resolve().parent
_MIGRATION_LOCK = 0x6D63_7068_7562_01  # "mcphub" + 1: the advisory lock id of schema migrations


def alembic_config(url: str | None = None) -> Config:
    """An Alembic `Config` that needs no alembic.ini (script location is this package)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(HERE / "versions"))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(database_url: str, revision_id: str = "head") -> None:
    """Bring the database at `database_url` (async driver URL) up to `revision_id`."""

    def run(connection: Connection) -> None:
        from alembic import command

        if connection.dialect.name == "postgresql":
            # Replicas starting together: one migrates, the others wait here and then find the schema at head.
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK})
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision_id)

    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run)
    finally:
        await engine.dispose()


async def current_revision(database_url: str) -> str | None:
    """The revision the database is at (None: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()


def revision(message: str, sync_url: str) -> None:
    """Autogenerate a new revision by comparing the models with a database at head (developer tool)."""
    from alembic import command

    command.revision(alembic_config(sync_url), message=message, autogenerate=True)
