"""Fixtures of the deployment tests: the tenancy tests' throwaway PostgreSQL database."""

from __future__ import annotations

from tenancy.conftest import pg_database

__all__ = ["pg_database"]
