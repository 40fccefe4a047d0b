"""Persistent state of the hub's tenancy: SQLAlchemy models, the engine, Alembic migrations."""

from __future__ import annotations

from mcphub.runtime.store.db import Database, database_url, default_data_dir, utcnow
from mcphub.runtime.store.migrations import upgrade

__all__ = ["Database", "database_url", "default_data_dir", "upgrade", "utcnow"]
