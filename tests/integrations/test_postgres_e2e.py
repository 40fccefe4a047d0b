"""PostgreSQL end to end: the official MCP client, the real hub, and the real PostgreSQL server on 127.0.0.1:5432.

A throwaway database is created and seeded for the module and dropped at the end. The user's credential is its
connection string, stored in the vault like any credential. The tests prove what the agent can and cannot do:
read-only mode is the database's (plain INSERT and an INSERT hidden in a SELECT's CTE are refused, nothing changes),
the statement timeout and the row limit hold, and the discovery tools describe tables, keys and indexes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import asyncpg
import mcp_types as types
import pytest
from mcp.client import Client

from integrations.hubs import PostgresHub, postgres_hub

SEED = """
CREATE SCHEMA shop;
CREATE TABLE shop.customers (
    id serial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT '2026-10-01T00:00:00Z'
);
COMMENT ON TABLE shop.customers IS 'People who bought something';
COMMENT ON COLUMN shop.customers.email IS 'Login and receipts';
CREATE TABLE shop.orders (
    id bigserial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES shop.customers (id),
    total numeric(10, 2) NOT NULL CHECK (total >= 0),
    status text NOT NULL DEFAULT 'new',
    placed_at timestamptz NOT NULL DEFAULT '2026-11-01T00:00:00Z'
);
CREATE INDEX orders_placed_at_idx ON shop.orders (placed_at);
CREATE VIEW shop.big_orders AS SELECT * FROM shop.orders WHERE total > 300;
INSERT INTO shop.customers (email, name) VALUES ('ada@example.com', 'Ada'), ('bob@example.com', 'Bob');
INSERT INTO shop.orders (customer_id, total, status)
    SELECT 1 + (g % 2), g * 1.5, CASE WHEN g % 3 = 0 THEN 'shipped' ELSE 'new' END FROM generate_series(1, 250) g;
CREATE TABLE public.notes (id int PRIMARY KEY, body jsonb NOT NULL);
INSERT INTO public.notes VALUES (1, '{"tags": ["a", "b"]}');
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresHub]:
    with postgres_hub(SEED, tmp_path_factory.mktemp("postgres")) as running:
        yield running


def _text(result: types.CallToolResult) -> str:
    return result.content[0].text if result.content and isinstance(result.content[0], types.TextContent) else ""


async def _call(client: Client, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(f"postgres__{name}", arguments)
    assert result.is_error is False, _text(result)
    assert result.structured_content is not None
    return result.structured_content


async def _error(client: Client, name: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(f"postgres__{name}", arguments)
    assert result.is_error is True, _text(result)
    return _text(result)


async def _count_orders(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM shop.orders"))
    finally:
        await connection.close()


async def test_tools_are_listed_and_writes_are_not(stack: PostgresHub) -> None:
    async with stack.hub.client(mode="legacy") as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    names = {name for name in listed if name.startswith("postgres__")}
    assert names == {f"postgres__{n}" for n in ("query", "list_schemas", "list_tables", "describe_table", "explain")}
    query = listed["postgres__query"]
    assert query.annotations is not None and query.annotations.read_only_hint is True
    assert query.input_schema["required"] == ["sql"]


async def test_query_with_parameters(stack: PostgresHub) -> None:
    async with stack.hub.client(mode="legacy") as client:
        result = await _call(
            client,
            "query",
            {
                "sql": "SELECT c.name, count(*) AS orders, sum(o.total) AS spent FROM shop.orders o "
                "JOIN shop.customers c ON c.id = o.customer_id WHERE o.status = $1 AND o.total > $2 "
                "GROUP BY c.name ORDER BY c.name",
                "params": ["shipped", "100"],  # a string works for the numeric placeholder
            },
        )
        assert result["columns"] == [
            {"name": "name", "type": "text"},
            {"name": "orders", "type": "int8"},
            {"name": "spent", "type": "numeric"},
        ]
        shipped = [g for g in range(1, 251) if g % 3 == 0 and g * 1.5 > 100]  # the seed's rule, computed here
        ada, bob = [g for g in shipped if g % 2 == 0], [g for g in shipped if g % 2 == 1]
        assert result["rows"] == [
            {"name": "Ada", "orders": len(ada), "spent": f"{sum(ada) * 1.5:.2f}"},
            {"name": "Bob", "orders": len(bob), "spent": f"{sum(bob) * 1.5:.2f}"},
        ]
        assert (result["row_count"], result["truncated"]) == (2, False)

        notes = await _call(client, "query", {"sql": "SELECT body, now() > '2000-01-01' AS recent FROM notes"})
        assert notes["rows"] == [{"body": {"tags": ["a", "b"]}, "recent": True}]  # jsonb arrives as JSON


async def test_read_only_mode_refuses_writes(stack: PostgresHub) -> None:
    before = await _count_orders(stack.dsn)
    async with stack.hub.client(mode="legacy") as client:
        text = await _error(client, "query", {"sql": "INSERT INTO shop.orders (customer_id, total) VALUES (1, 5)"})
        assert "cannot execute INSERT in a read-only transaction" in text and "25006" in text

        hidden = "WITH x AS (INSERT INTO shop.orders (customer_id, total) VALUES (1, 5) RETURNING *) SELECT * FROM x"
        text = await _error(client, "query", {"sql": hidden})
        # PostgreSQL names the top-level command: a SELECT that writes through its CTE is not read-only.
        assert "cannot execute SELECT in a read-only transaction" in text and "25006" in text

        text = await _error(client, "query", {"sql": "SELECT 1; DELETE FROM shop.orders"})
        assert "cannot insert multiple commands into a prepared statement" in text

        text = await _error(client, "explain", {"sql": "DELETE FROM shop.orders", "analyze": True})
        assert "read-only transaction" in text
    assert await _count_orders(stack.dsn) == before


async def test_statement_timeout_holds(stack: PostgresHub) -> None:
    async with stack.hub.client(mode="legacy") as client:
        text = await _error(client, "query", {"sql": "SELECT pg_sleep(5)", "timeout_s": 1})
    assert "ran longer than 1s (statement_timeout) and was cancelled" in text


async def test_row_limit_holds(stack: PostgresHub) -> None:
    async with stack.hub.client(mode="legacy") as client:
        result = await _call(client, "query", {"sql": "SELECT id FROM shop.orders ORDER BY id", "max_rows": 40})
        assert (result["row_count"], result["truncated"]) == (40, True)
        assert [row["id"] for row in result["rows"]] == list(range(1, 41))
        assert "first 40" in result["note"]

        result = await _call(client, "query", {"sql": "SELECT g FROM generate_series(1, 1000000) g"})
        assert (result["row_count"], result["truncated"]) == (100, True)  # the default limit

        result = await _call(client, "query", {"sql": "SELECT id FROM shop.customers"})
        assert (result["row_count"], result["truncated"]) == (2, False)


async def test_discovery(stack: PostgresHub) -> None:
    async with stack.hub.client(mode="legacy") as client:
        schemas = await _call(client, "list_schemas", {})
        assert {"public", "shop"} <= {row["schema"] for row in schemas["schemas"]}
        assert "pg_catalog" not in {row["schema"] for row in schemas["schemas"]}

        tables = await _call(client, "list_tables", {"schema": "shop"})
        assert [(t["name"], t["kind"]) for t in tables["tables"]] == [
            ("big_orders", "view"),
            ("customers", "table"),
            ("orders", "table"),
        ]
        assert next(t for t in tables["tables"] if t["name"] == "customers")["comment"] == "People who bought something"
        without_views = await _call(client, "list_tables", {"include_views": False})
        assert {(t["schema"], t["name"]) for t in without_views["tables"]} == {
            ("public", "notes"),
            ("shop", "customers"),
            ("shop", "orders"),
        }

        orders = await _call(client, "describe_table", {"table": "shop.orders"})
        assert [(c["name"], c["type"], c["nullable"]) for c in orders["columns"]] == [
            ("id", "bigint", False),
            ("customer_id", "integer", False),
            ("total", "numeric(10,2)", False),
            ("status", "text", False),
            ("placed_at", "timestamp with time zone", False),
        ]
        assert orders["columns"][3]["default"] == "'new'::text"
        assert orders["primary_key"] == ["id"]
        assert orders["foreign_keys"] == [
            {
                "name": "orders_customer_id_fkey",
                "columns": ["customer_id"],
                "references": {"table": "shop.customers", "columns": ["id"]},
            }
        ]
        assert orders["checks"] == [{"name": "orders_total_check", "definition": "CHECK ((total >= (0)::numeric))"}]
        indexes = {i["name"]: i for i in orders["indexes"]}
        assert indexes["shop.orders_pkey"]["primary"] is True
        assert indexes["shop.orders_placed_at_idx"]["definition"] == (
            "CREATE INDEX orders_placed_at_idx ON shop.orders USING btree (placed_at)"
        )

        customers = await _call(client, "describe_table", {"table": "customers", "schema": "shop"})
        assert customers["unique"] == [{"name": "customers_email_key", "columns": ["email"]}]
        assert customers["columns"][1]["comment"] == "Login and receipts"

        text = await _error(client, "describe_table", {"table": "shop.order"})
        assert "no table or view 'order' in schema 'shop'; did you mean orders" in text


async def test_explain(stack: PostgresHub) -> None:
    async with stack.hub.client(mode="legacy") as client:
        plain = await _call(client, "explain", {"sql": "SELECT * FROM shop.orders WHERE id = $1", "params": [7]})
        assert plain["plan"]["Plan"]["Node Type"] == "Index Scan"
        assert plain["plan"]["Plan"]["Index Name"] == "orders_pkey"

        measured = await _call(client, "explain", {"sql": "SELECT count(*) FROM shop.orders", "analyze": True})
        assert measured["plan"]["Plan"]["Actual Rows"] == 1
        assert "Execution Time" in measured["plan"]
