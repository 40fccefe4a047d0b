"""Alembic migrations, run programmatically (`await upgrade(url)`; `mcphub db upgrade`; `serve` at start).

Writing a new revision (developers): against a scratch database at head,

    .venv/bin/python -c "from mcphub.runtime.store.migrations import revision; revision('add x', 'sqlite:///scratch.db')"

then review the file under versions/ — autogenerate is a draft, not a verdict.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

# alembic is imported where it is used: it costs ~0.15 s of every hub start otherwise, and a database already
# at head (every start but the first) is recognised without it.

__all__ = ["alembic_config", "current_revision", "head_revision", "revision", "upgrade"]

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


_REVISION_LINE = re.compile(r"^(revision|down_revision)\b[^=]*=\s*(.+)$", re.MULTILINE)


@functools.cache
def head_revision() -> str:
    """The newest revision id, read from the files under versions/ (alembic's own head, without importing it).

    Every revision file states `revision = "…"` and `down_revision = "…" | None` on a line of their own (the
    template's form); the head is the one revision no other names as its parent. A branched history (two
    heads) is refused here as alembic would refuse `upgrade head`.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (HERE / "versions").glob("*.py"):
        fields = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if "revision" not in fields:
            continue
        revisions.add(fields["revision"].strip().strip("\"'"))
        parents.update(re.findall(r"[\"']([^\"']+)[\"']", fields.get("down_revision", "")))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(
            f"migrations under {HERE / 'versions'} have {len(heads)} heads ({sorted(heads)}); merge them"
        )
    return heads.pop()


def _at_revision(connection: Connection, revision_id: str) -> bool:
    """Whether alembic's version table says `revision_id` (False when the table does not exist yet)."""
    try:
        with connection.begin_nested():
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:
        return False
    return [row[0] for row in rows] == [revision_id]


async def upgrade(database_url: str, revision_id: str = "head") -> None:
    """Bring the database at `database_url` (async driver URL) up to `revision_id`."""

    def run(connection: Connection) -> None:
        if revision_id == "head" and _at_revision(connection, head_revision()):
            return
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
