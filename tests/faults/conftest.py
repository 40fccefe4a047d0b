"""Fixtures of the fault tests: the tenancy tests' throwaway databases (`db_url`: a SQLite file, or PostgreSQL
emptied for the test)."""

from __future__ import annotations

from tenancy.conftest import db_url, pg_database, sqlite_template

__all__ = ["db_url", "pg_database", "sqlite_template"]
