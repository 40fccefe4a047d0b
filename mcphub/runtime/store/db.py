"""The async engine and session factory, configured for SQLite (default) or PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

__all__ = ["Database", "database_url", "default_data_dir", "utcnow"]

DB_FILENAME = "mcphub.db"


def utcnow() -> datetime:
    return datetime.now(UTC)


def default_data_dir() -> Path:
    """`MCPHUB_DATA_DIR`, else `./data` (what `mcphub serve --data-dir` defaults to)."""
    return Path(os.environ.get("MCPHUB_DATA_DIR") or "data")


def database_url(data_dir: Path | None = None) -> str:
    """`MCPHUB_DATABASE_URL`, else a SQLite file in the data dir (created on first use)."""
    url = os.environ.get("MCPHUB_DATABASE_URL")
    if url:
        return url
    directory = data_dir or default_data_dir()
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{(directory / DB_FILENAME).resolve()}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the request path) proceed while the usage flusher writes; busy_timeout makes a
    # second writer (CLI next to a running hub) wait instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    """One engine per process; `session()` is a unit of work that commits on success."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()  # "sqlite" | "postgresql"
        if self.dialect == "sqlite" and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        options: dict[str, Any] = {"pool_pre_ping": self.dialect != "sqlite"}
        options.update(engine_options)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session, session.begin():
            yield session

    async def aclose(self) -> None:
        await self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"
