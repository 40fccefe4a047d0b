"""PostgreSQL tasks an agent is asked to do, read-only, through the hub with the official MCP client.

The "stand-in" is the real PostgreSQL server with a throwaway database: the agent discovers the tables, finds the
timestamp column of each, and answers with one query; an attempt to change data on the way is refused by the
database's read-only transaction, and the test checks afterwards that nothing changed.
"""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import pytest

from integrations.agent_tasks import call, refused
from integrations.hubs import PostgresHub, postgres_hub

# Row counts per table and month: orders grew by 120 in November, signups by 40, tickets by 15.
SEED = """
CREATE TABLE signups (id serial PRIMARY KEY, email text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, total numeric(10, 2) NOT NULL, placed_at timestamptz NOT NULL);
CREATE TABLE tickets (id serial PRIMARY KEY, subject text NOT NULL, opened_at timestamptz NOT NULL);
INSERT INTO signups (email, created_at)
    SELECT 'u' || g || '@example.com', '2026-10-15'::timestamptz + (g % 15) * interval '1 day' FROM generate_series(1, 60) g;
INSERT INTO signups (email, created_at)
    SELECT 'n' || g || '@example.com', '2026-11-02'::timestamptz + (g % 25) * interval '1 day' FROM generate_series(1, 40) g;
INSERT INTO orders (total, placed_at)
    SELECT g * 2.5, '2026-10-03'::timestamptz + (g % 20) * interval '1 day' FROM generate_series(1, 30) g;
INSERT INTO orders (total, placed_at)
    SELECT g * 1.5, '2026-11-01'::timestamptz + (g % 29) * interval '1 day' FROM generate_series(1, 120) g;
INSERT INTO tickets (subject, opened_at)
    SELECT 'Ticket ' || g, '2026-11-05'::timestamptz + (g % 20) * interval '1 day' FROM generate_series(1, 15) g;
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresHub]:
    with postgres_hub(SEED, tmp_path_factory.mktemp("postgres")) as running:
        yield running


async def _counts(dsn: str) -> dict[str, int]:
    connection = await asyncpg.connect(dsn)
    try:
        return {
            t: int(await connection.fetchval(f"SELECT count(*) FROM {t}")) for t in ("signups", "orders", "tickets")
        }
    finally:
        await connection.close()


async def test_which_table_grew_the_most_last_month(stack: PostgresHub) -> None:
    before = await _counts(stack.dsn)
    async with stack.hub.client() as client:
        tables = await call(client, "postgres__list_tables", {"schema": "public"})
        names = [t["name"] for t in tables["tables"]]
        assert names == ["orders", "signups", "tickets"]
        stamps = {}
        for name in names:
            described = await call(client, "postgres__describe_table", {"table": f"public.{name}"})
            [stamps[name]] = [c["name"] for c in described["columns"] if c["type"].startswith("timestamp")]
        growth = " UNION ALL ".join(
            f"SELECT '{name}' AS table_name, count(*) AS added FROM {name} "
            f"WHERE {column} >= $1::timestamptz AND {column} < $2::timestamptz"
            for name, column in stamps.items()
        )
        answer = await call(
            client,
            "postgres__query",
            {"sql": f"{growth} ORDER BY added DESC", "params": ["2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"]},
        )
        # Tidying up on the way is not allowed: the integration is read-only.
        error = await refused(client, "postgres__query", {"sql": "DELETE FROM tickets WHERE opened_at < now()"})

    assert stamps == {"orders": "placed_at", "signups": "created_at", "tickets": "opened_at"}
    assert answer["rows"] == [
        {"table_name": "orders", "added": 120},
        {"table_name": "signups", "added": 40},
        {"table_name": "tickets", "added": 15},
    ]
    assert "read-only" in error
    assert await _counts(stack.dsn) == before == {"signups": 100, "orders": 150, "tickets": 15}
