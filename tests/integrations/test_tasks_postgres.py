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


# A warehouse of seven tables of one row shape, so their sizes follow their row counts; events has no index on
# user_id, which makes looking up one user's events a sequential scan.
WAREHOUSE = "\n".join(
    f"CREATE TABLE {name} (id serial PRIMARY KEY, user_id int NOT NULL, payload text NOT NULL);\n"
    f"INSERT INTO {name} (user_id, payload) SELECT g % 997, repeat('x', 40) FROM generate_series(1, {rows}) g;"
    for name, rows in (
        ("events", 50_000),  # under 8 MB: no parallel plan (min_parallel_table_scan_size)
        ("page_views", 30_000),
        ("audit_log", 10_000),
        ("users", 2_000),
        ("invoices", 500),
        ("countries", 50),
        ("tags", 0),
    )
)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresHub]:
    with postgres_hub(WAREHOUSE, tmp_path_factory.mktemp("warehouse")) as running:
        yield running


async def test_what_are_the_five_largest_tables(warehouse: PostgresHub) -> None:
    async with warehouse.hub.client() as client:
        schemas = await call(client, "postgres__list_schemas", {})
        listed = await call(client, "postgres__list_tables", {"schema": "public", "include_views": False})
        names = [t["name"] for t in listed["tables"]]
        sizes = await call(
            client,
            "postgres__query",
            {
                "sql": "SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes, "
                "pg_size_pretty(pg_total_relation_size(c.oid)) AS size FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) ORDER BY bytes DESC LIMIT 5",
                "params": ["public", names],
            },
        )

    assert "public" in [s["schema"] for s in schemas["schemas"]]
    assert sorted(names) == ["audit_log", "countries", "events", "invoices", "page_views", "tags", "users"]
    assert [row["name"] for row in sizes["rows"]] == ["events", "page_views", "audit_log", "users", "invoices"]
    assert sizes["row_count"] == 5 and sizes["truncated"] is False
    assert all(row["size"].endswith(("kB", "MB")) for row in sizes["rows"])


async def test_explain_a_slow_query_and_find_the_missing_index(warehouse: PostgresHub) -> None:
    slow = "SELECT id, payload FROM events WHERE user_id = $1"
    async with warehouse.hub.client() as client:
        described = await call(client, "postgres__describe_table", {"table": "events"})
        planned = await call(client, "postgres__explain", {"sql": slow, "params": [42]})
        measured = await call(client, "postgres__explain", {"sql": slow, "params": [42], "analyze": True})
        # Fixing it is not the agent's to do here: the connection is read-only, so it recommends the index instead.
        create = await refused(client, "postgres__query", {"sql": "CREATE INDEX ON events (user_id)"})
        analyze_a_delete = await refused(
            client,
            "postgres__explain",
            {"sql": "DELETE FROM events WHERE user_id = $1", "params": [42], "analyze": True},
        )

    assert [index["name"] for index in described["indexes"]] == ["events_pkey"]  # nothing on user_id
    assert planned["plan"]["Plan"]["Node Type"] == "Seq Scan" and "Actual Rows" not in planned["plan"]["Plan"]
    assert planned["plan"]["Plan"]["Filter"] == "(user_id = 42)"
    plan = measured["plan"]["Plan"]
    matching = sum(1 for g in range(1, 50_001) if g % 997 == 42)
    assert plan["Node Type"] == "Seq Scan" and plan["Actual Rows"] == matching
    assert plan["Rows Removed by Filter"] == 50_000 - matching  # every row read to find a few: the index is missing
    assert "Execution Time" in measured["plan"]
    assert "read-only" in create and "read-only" in analyze_a_delete
    connection = await asyncpg.connect(warehouse.dsn)
    try:
        indexes = await connection.fetch("SELECT indexname FROM pg_indexes WHERE tablename = 'events'")
        remaining = await connection.fetchval("SELECT count(*) FROM events WHERE user_id = 42")
    finally:
        await connection.close()
    assert [r["indexname"] for r in indexes] == ["events_pkey"] and remaining == matching
