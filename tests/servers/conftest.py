"""The tenancy tests' throwaway databases (SQLite and PostgreSQL) for these tests too."""

from __future__ import annotations

from tenancy.conftest import db_url, pg_database, sqlite_template

__all__ = ["db_url", "pg_database", "sqlite_template"]
