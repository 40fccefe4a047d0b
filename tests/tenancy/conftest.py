"""Fixtures: a throwaway database per test on SQLite *and* PostgreSQL, Redis under a unique prefix."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
from argon2 import PasswordHasher
from redis.asyncio import Redis

from mcphub.compiler.ir import AuthScheme, Integration, Policy, SourceInfo, Tool
from mcphub.runtime.store.migrations import upgrade
from mcphub.runtime.store.models import Base
from mcphub.runtime.tenancy.services import Tenancy

PG_ADMIN_DSN = os.environ.get("MCPHUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("MCPHUB_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _pg(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def _create_pg(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_pg(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _truncate(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@contextmanager
def migrated_pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database at the head migration (its asyncpg URL), dropped afterwards."""
    name = f"mcphub_test_{secrets.token_hex(6)}"
    asyncio.run(_create_pg(name))
    url = _pg(name).replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        asyncio.run(upgrade(url))
        yield url
    finally:
        asyncio.run(_drop_pg(name))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One throwaway PostgreSQL database for the run (migrated once), dropped at the end."""
    with migrated_pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating every test's file costs more than the test)."""
    path = tmp_path_factory.mktemp("template") / "hub.db"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database: a fresh SQLite file, or the run's PostgreSQL database emptied for this test."""
    if request.param == "sqlite":
        target = tmp_path / "hub.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("pg_database")
    asyncio.run(_truncate(url.replace("postgresql+asyncpg://", "postgresql://", 1)))
    return url


@pytest.fixture
def pg_dsn(db_url: str) -> str | None:
    """The libpq DSN of the test database when it is PostgreSQL (for pg_dump)."""
    return db_url.replace("postgresql+asyncpg://", "postgresql://", 1) if db_url.startswith("postgresql") else None


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MCPHUB_SECRET_KEY", "MCPHUB_SECRET_KEY_PREVIOUS", "MCPHUB_DATABASE_URL", "MCPHUB_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("MCPHUB_KEY_RATE_LIMIT", raising=False)


@pytest.fixture
def namespace() -> str:
    return f"mcphub-test-{secrets.token_hex(6)}"


@pytest.fixture
async def redis(namespace: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        keys = [key async for key in client.scan_iter(match=f"{namespace}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def tenancy(db_url: str, tmp_path: Path) -> AsyncIterator[Tenancy]:
    hub = await Tenancy.open(tmp_path / "data", url=db_url, redis_url="", password_hasher=FAST_HASHER)
    try:
        yield hub
    finally:
        await hub.aclose()


# argon2id still, with small costs: the production parameters take ~0.5 s per hash on a CI machine.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _make_integration(
    slug: str, *, rate_limit: str | None = None, auth: bool = True, tools: tuple[str, ...] = ("ping",)
) -> Integration:
    """A minimal catalog entry (the policy checks only need slug, name, auth and policy)."""
    return Integration(
        slug=slug,
        name=slug.title(),
        source=SourceInfo(kind="openapi"),
        base_url=f"https://{slug}.example.com",
        auth=[AuthScheme(id="bearer", type="bearer")] if auth else [],
        tools=[Tool(name=name) for name in tools],
        policy=Policy(rate_limit=rate_limit),
    )


@pytest.fixture
def make_integration() -> Callable[..., Integration]:
    """Build a catalog entry: `make_integration("github", rate_limit="2/min", auth=False)`."""
    return _make_integration
