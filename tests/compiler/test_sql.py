"""The SQL source kind: the fixed PostgreSQL tool set, its spec rules, and its executor against the real server.

End-to-end behaviour through the hub is in tests/integrations/test_postgres_e2e.py; here the executor is driven
directly (its `SqlExecutor`) to cover its policy: egress checks on the connection string's host,
writes gated by the connection string, parameter conversion, limits only lowered by a call, and secret-free errors.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from mcphub.compiler.errors import SpecError
from mcphub.compiler.ir import Integration
from mcphub.compiler.pipeline import parse_spec
from mcphub.compiler.schemas import tool_schema_problems
from mcphub.runtime.upstream.credentials import Credential
from mcphub.runtime.upstream.executors import sql

ROOT = Path(__file__).resolve().parents[2]
SERVER = "postgresql://postgres@127.0.0.1:5432"
ACTIONS = ["query", "list_schemas", "list_tables", "describe_table", "explain", "execute"]


def compile_sql(tmp_path: Path, body: str = "") -> Integration:
    spec = tmp_path / "db.yaml"
    spec.write_text("slug: db\nname: DB\nsource: {kind: sql}\n" + textwrap.dedent(body))
    return parse_spec(spec)


# --- compile ---------------------------------------------------------------------------------------------------------


def test_the_fixed_tool_set(tmp_path: Path) -> None:
    integration = compile_sql(tmp_path)
    assert [t.name for t in integration.tools] == ACTIONS
    assert [t.sql.action for t in integration.tools if t.sql] == ACTIONS
    execute = integration.tool("execute")
    assert (execute.enabled, execute.annotations.destructive_hint, execute.annotations.read_only_hint) == (
        False,
        True,
        False,
    )
    for tool in integration.tools[:5]:
        assert tool.enabled and tool.annotations.read_only_hint is True, tool.name
    for tool in integration.tools:
        assert tool_schema_problems(tool.input_schema) == [], tool.name
    query = integration.tool("query").input_schema
    assert query["required"] == ["sql"]
    assert query["properties"]["max_rows"]["maximum"] == sql.MAX_ROWS
    assert integration.policy.allowed_methods == []


def test_spec_curates_names_and_enables_writes(tmp_path: Path) -> None:
    integration = compile_sql(
        tmp_path,
        """
        tools:
          - {operation: query, name: run_sql, description: Read the warehouse.}
          - {operation: execute, enabled: true}
        """,
    )
    assert [(t.name, t.enabled) for t in integration.tools] == [("run_sql", True), ("execute", True)]
    assert integration.tool("run_sql").description == "Read the warehouse."


def test_a_source_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "schema.sql").write_text("")
    spec = tmp_path / "db.yaml"
    spec.write_text("slug: db\nname: DB\nsource: {kind: sql, path: schema.sql}\n")
    with pytest.raises(SpecError) as caught:
        parse_spec(spec)
    assert str(caught.value) == (
        f"{spec}:3: source.path is not used by kind 'sql': the database is the user's connection string "
        "(their credential); remove it"
    )
    with pytest.raises(SpecError, match=r"tools\[0\].operation 'select' not found in source"):
        compile_sql(tmp_path, "tools: [select]\n")


def test_builtin_postgres_spec() -> None:
    integration = parse_spec(ROOT / "specs" / "postgres.yaml")
    assert [t.name for t in integration.tools if t.enabled] == ACTIONS[:5]
    assert [(a.id, a.type, a.label) for a in integration.auth] == [("bearer", "bearer", "Connection string")]
    assert integration.policy.timeout_s == 15


def test_connection_strings() -> None:
    parsed = sql.parse_connection(
        "postgresql://u:p%40ss@db.example.com:6543/app?sslmode=require&mcphub_allow_writes=true"
    )
    assert parsed.hosts == (("db.example.com", 6543),)
    assert parsed.allow_writes is True
    assert parsed.dsn == "postgresql://u:p%40ss@db.example.com:6543/app?sslmode=require"
    assert sql.parse_connection("postgres://u@a:1,b/app").hosts == (("a", 1), ("b", 5432))
    assert sql.parse_connection("postgresql://u@[::1]:5433/app").hosts == (("::1", 5433),)
    assert sql.parse_connection("postgresql://u@h/app?mcphub_allow_writes=no").allow_writes is False
    for bad, message in (
        ("host=db user=u", "must be a URI like postgresql://"),
        ("postgresql:///app", "names no host"),
        ("postgresql://u@/app?host=/var/run/postgresql", "unix-socket connections are not reachable"),
    ):
        with pytest.raises(sql.SqlToolError, match=message):
            sql.parse_connection(bad)


# --- the executor against the real server ----------------------------------------------------------------------------


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A throwaway database with one table; dropped (with this loop's pools closed) afterwards."""
    name = f"mcphub_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        seed = await asyncpg.connect(f"{SERVER}/{name}")
        try:
            await seed.execute(
                "CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL, price numeric, due date, ok bool);"
                "INSERT INTO items VALUES (1, 'one', 1.5, '2026-01-01', true), (2, 'two', 2.25, NULL, false)"
            )
        finally:
            await seed.close()
        yield f"{SERVER}/{name}"
    finally:
        for executor in _EXECUTORS:  # the pools of this test's executors
            await executor.aclose()
        _EXECUTORS.clear()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


_EXECUTORS: list[sql.SqlExecutor] = []


def _client(
    tmp_path: Path, policy: str = "{allow_private_network: true, timeout_s: 5}", tools: str = ""
) -> sql.SqlExecutor:
    executor = sql.SqlExecutor(compile_sql(tmp_path, f"policy: {policy}\n{tools}"))
    _EXECUTORS.append(executor)
    return executor


async def run(client: sql.SqlExecutor, tool: str, dsn: str | None, **arguments: Any) -> Any:
    credential = Credential(token=dsn) if dsn is not None else None
    return await client.run(client.client.integration.tool(tool), credential, arguments)


async def test_private_network_and_allowed_hosts_are_enforced(database: str, tmp_path: Path) -> None:
    refused = await run(_client(tmp_path, "{timeout_s: 5}"), "query", database, sql="SELECT 1")
    assert refused.is_error is True
    assert refused.text == (
        "query: refused by policy: database host '127.0.0.1' resolves to a private, loopback or reserved address; "
        "set policy.allow_private_network to reach it"
    )
    elsewhere = _client(tmp_path, "{allow_private_network: true, allowed_hosts: [db.example.com]}")
    refused = await run(elsewhere, "query", database, sql="SELECT 1")
    assert refused.text == "query: refused by policy: host '127.0.0.1' is not in the allowed hosts of 'db'"
    allowed = _client(tmp_path, "{allow_private_network: true, allowed_hosts: [127.0.0.1]}")
    assert (await run(allowed, "query", database, sql="SELECT 1 AS one")).structured["rows"] == [{"one": 1}]


async def test_parameters_are_converted_to_the_inferred_types(database: str, tmp_path: Path) -> None:
    client = _client(tmp_path)
    result = await run(
        client,
        "query",
        database,
        sql="SELECT id, label, price, due, ok FROM items WHERE id = $1 AND price > $2 AND due = $3 AND ok = $4",
        params=["1", 1, "2026-01-01", "true"],
    )
    assert result.is_error is False, result.text
    assert result.structured["rows"] == [{"id": 1, "label": "one", "price": "1.5", "due": "2026-01-01", "ok": True}]
    wrong = await run(client, "query", database, sql="SELECT $1::int", params=["seven"])
    assert wrong.is_error is True and "params[0] ('seven') is not a valid int4 for $1" in wrong.text
    count = await run(client, "query", database, sql="SELECT $1::int, $2::int", params=[1])
    assert "the statement has 2 placeholder(s) ($1...) but params has 1 value(s)" in count.text


async def test_a_call_can_only_lower_the_timeout(database: str, tmp_path: Path) -> None:
    client = _client(tmp_path, "{allow_private_network: true, timeout_s: 1}")
    slow = await run(client, "query", database, sql="SELECT pg_sleep(3)", timeout_s=60)
    assert slow.is_error is True and "ran longer than 1s (statement_timeout)" in slow.text


async def test_writes_need_the_connection_to_allow_them(database: str, tmp_path: Path) -> None:
    client = _client(tmp_path, tools="tools: [{operation: execute, enabled: true}, query]\n")
    insert = "INSERT INTO items (id, label) VALUES ($1, $2) RETURNING id, label"
    refused = await run(client, "execute", database, sql=insert, params=[3, "three"])
    assert refused.is_error is True
    assert refused.text == (
        "execute: writes are disabled for this connection; the connection string must end with "
        "?mcphub_allow_writes=true to allow them (use a database role with only the rights you intend)"
    )
    written = await run(client, "execute", f"{database}?mcphub_allow_writes=true", sql=insert, params=[3, "three"])
    assert written.is_error is False, written.text
    assert written.structured["status"] == "INSERT 0 1"
    assert written.structured["rows"] == [{"id": 3, "label": "three"}]
    # The same connection's reads stay read-only.
    refused = await run(client, "query", f"{database}?mcphub_allow_writes=true", sql="DELETE FROM items")
    assert refused.is_error is True and "read-only transaction" in refused.text
    count = await run(client, "query", database, sql="SELECT count(*) AS n FROM items")
    assert count.structured["rows"] == [{"n": 3}]


async def test_session_changes_do_not_outlive_a_call(database: str, tmp_path: Path) -> None:
    client = _client(tmp_path)
    changed = await run(client, "query", database, sql="SELECT set_config('statement_timeout', '0', false) AS v")
    assert changed.is_error is False, changed.text
    after = await run(client, "query", database, sql="SELECT current_setting('statement_timeout') AS v")
    assert after.structured["rows"] == [{"v": "5s"}]  # the rolled-back transaction took the change with it
    ended = await run(client, "query", database, sql="COMMIT")
    assert ended.is_error is False
    again = await run(client, "query", database, sql="SELECT 1 AS one")
    assert again.structured["rows"] == [{"one": 1}]


async def test_errors_never_show_the_connection_string(tmp_path: Path) -> None:
    client = _client(tmp_path)
    missing = await run(client, "query", None, sql="SELECT 1")
    assert missing.text == (
        "no connection string configured for DB (db); connect it with a postgresql:// URI "
        "(or set MCPHUB_CRED_DB_TOKEN) and retry"
    )
    wrong = await run(client, "query", "postgresql://nobody:hunter2@127.0.0.1:5432/nowhere", sql="SELECT 1")
    assert wrong.is_error is True and "hunter2" not in wrong.text
    await client.aclose()
