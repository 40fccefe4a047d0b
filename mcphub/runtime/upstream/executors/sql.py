"""Runs SQL tools against PostgreSQL with asyncpg: read-only by the database's own rules, bounded in time and rows.

The connection string is the user's credential: `Credential.token` holds a libpq URI
(`postgresql://user:password@host:5432/dbname?sslmode=require`; `MCPHUB_CRED_<SLUG>_TOKEN` from the environment).
Writes are off unless the connection string itself opts in with `mcphub_allow_writes=true` (removed before
connecting) and the spec enables the `execute` tool, which is compiled disabled.

Safety comes from PostgreSQL, not from parsing SQL:
- reads run in a `READ ONLY` transaction that is always rolled back, so no statement (writable CTEs and functions
  included) can change data, and any `SET` it makes is undone;
- `statement_timeout` and `lock_timeout` are set for the transaction (`SET LOCAL`) from the integration's policy
  (`timeout_s`; a call's `timeout_s` may only lower it), with an asyncio deadline behind them;
- rows are read through a cursor, at most `max_rows + 1`, so a huge result is never materialised here;
- one statement per call (the extended protocol refuses several).
Egress: the host of the connection string must match `policy.allowed_hosts` when the spec sets them, and hosts
resolving to loopback, private or reserved addresses are refused unless `policy.allow_private_network` is set
(the same rule as the HTTP client's, `upstream/egress.py`, checked here because asyncpg opens its own sockets; unix sockets are refused).
Pools are per (executor, connection string) and live until the executor is closed (its mount retired).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import difflib
import hashlib
import json
import logging
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]

from mcphub.compiler.ir import Integration, Tool
from mcphub.runtime.errors import HubError
from mcphub.runtime.package import ToolOutput
from mcphub.runtime.upstream.client import UpstreamClient
from mcphub.runtime.upstream.credentials import Credential, env_prefix
from mcphub.runtime.upstream.egress import PrivateAddress, UnresolvableHost, resolve_public
from mcphub.runtime.upstream.executors.http import HttpExecutor

__all__ = ["ALLOW_WRITES_PARAM", "SqlExecutor", "SqlToolError", "execute_sql", "parse_connection"]

logger = logging.getLogger(__name__)

ALLOW_WRITES_PARAM = "mcphub_allow_writes"
DEFAULT_MAX_ROWS = 100
MAX_ROWS = 1000
_MAX_CELL_BYTES = 10_000
_SYSTEM_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
_SYSTEM_SCHEMAS += "AND n.nspname NOT LIKE 'pg\\_temp\\_%'"


class SqlToolError(HubError):
    """A call that can't run; the message is the tool error the agent sees."""


# --- the connection string -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connection:
    """A parsed connection string: what asyncpg gets, where it goes, and what it allows."""

    dsn: str  # without our own parameters
    hosts: tuple[tuple[str, int], ...]
    allow_writes: bool

    @property
    def key(self) -> str:
        return hashlib.sha256(self.dsn.encode()).hexdigest()


def parse_connection(text: str) -> Connection:
    """Parse a `postgresql://` URI; raise SqlToolError (never echoing the secret) when it isn't usable."""
    text = text.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("postgresql", "postgres"):
        raise SqlToolError(
            "the connection string must be a URI like postgresql://user:password@host:5432/dbname "
            "(key=value connection strings are not supported)"
        )
    query = parse_qsl(parts.query, keep_blank_values=True)
    allow_writes = any(k == ALLOW_WRITES_PARAM and v.lower() in ("true", "1", "yes", "on") for k, v in query)
    kept = [(k, v) for k, v in query if k != ALLOW_WRITES_PARAM]
    hosts = _hosts(
        parts.netloc.rpartition("@")[2], [v for k, v in kept if k == "host"], [v for k, v in kept if k == "port"]
    )
    dsn = urlunsplit(parts._replace(query=urlencode(kept)))
    return Connection(dsn=dsn, hosts=hosts, allow_writes=allow_writes)


def _hosts(netloc: str, host_params: list[str], port_params: list[str]) -> tuple[tuple[str, int], ...]:
    specs = [h for value in host_params for h in value.split(",")] or [h for h in netloc.split(",") if h]
    default_port = 5432
    if port_params and port_params[0].isdigit():
        default_port = int(port_params[0])
    hosts: list[tuple[str, int]] = []
    for spec in specs:
        spec = unquote(spec)
        if spec.startswith("/") or spec.startswith("@"):
            raise SqlToolError("unix-socket connections are not reachable from tools; give a host name")
        if spec.startswith("["):
            host, _, rest = spec[1:].partition("]")
            port_text = rest.lstrip(":")
        else:
            host, _, port_text = spec.partition(":")
        if not host:
            raise SqlToolError(
                "the connection string names no host; give one, e.g. postgresql://user@db.example.com/app"
            )
        hosts.append((host.lower(), int(port_text) if port_text.isdigit() else default_port))
    if not hosts:
        raise SqlToolError("the connection string names no host; give one, e.g. postgresql://user@db.example.com/app")
    return tuple(hosts)


async def _check_egress(client: UpstreamClient, connection: Connection) -> None:
    integration = client.integration
    for host, port in connection.hosts:
        if integration.policy.allowed_hosts and not client.policy.host_allowed(host):
            raise SqlToolError(f"refused by policy: host {host!r} is not in the allowed hosts of {integration.slug!r}")
        if client.policy.allow_private_network:
            continue
        try:
            await resolve_public(host, port)
        except UnresolvableHost as exc:
            raise SqlToolError(f"could not resolve database host {host!r}: {exc.__cause__}") from exc
        except PrivateAddress as exc:
            raise SqlToolError(
                f"refused by policy: database host {host!r} resolves to a private, loopback or reserved address; "
                "set policy.allow_private_network to reach it"
            ) from exc


# --- pools ---------------------------------------------------------------------------------------------------------


async def _init_connection(connection: asyncpg.Connection) -> None:
    # json/jsonb as values, not JSON text, so agents get objects.
    for name in ("json", "jsonb"):
        await connection.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class _Pools:
    """The connection pools of one SQL executor, one per (event loop, database) its callers connect to."""

    def __init__(self) -> None:
        self._pools: dict[tuple[int, str], asyncpg.Pool] = {}
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}

    async def get(self, client: UpstreamClient, connection: Connection) -> asyncpg.Pool:
        key = (id(asyncio.get_running_loop()), connection.key)
        pool = self._pools.get(key)
        if pool is not None:
            return pool
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = await asyncpg.create_pool(
                    connection.dsn,
                    min_size=0,
                    max_size=4,
                    max_inactive_connection_lifetime=60.0,
                    timeout=client.policy.connect_timeout_s,
                    init=_init_connection,
                    server_settings={"application_name": "mcphub"},
                )
                self._pools[key] = pool
        return pool

    async def aclose(self) -> None:
        """Close every pool this event loop opened; pools of other loops are terminated."""
        loop_id = id(asyncio.get_running_loop())
        for key in list(self._pools):
            pool = self._pools.pop(key)
            self._locks.pop(key, None)
            if key[0] != loop_id:
                pool.terminate()
                continue
            try:
                await asyncio.wait_for(pool.close(), timeout=5)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pool.terminate()


# --- values --------------------------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """A JSON value for one cell (exact numbers as strings when a float would round them)."""
    if value is None or isinstance(value, bool | int | str):
        if isinstance(value, str) and len(value) > _MAX_CELL_BYTES:
            return value[:_MAX_CELL_BYTES] + f"... ({len(value)} characters, cut)"
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        text = "\\x" + raw[: _MAX_CELL_BYTES // 2].hex()
        return text if len(raw) <= _MAX_CELL_BYTES // 2 else text + f"... ({len(raw)} bytes, cut)"
    if isinstance(value, asyncpg.Record):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return str(value)  # UUID, network addresses, ranges, geometric types...


_INTEGERS = frozenset({"int2", "int4", "int8", "oid"})
_FLOATS = frozenset({"float4", "float8"})
_TRUE = frozenset({"true", "t", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "f", "0", "no", "n", "off"})


def _convert(value: Any, type_name: str) -> Any:
    """One parameter as the Python value asyncpg expects for the type PostgreSQL inferred."""
    if value is None:
        return None
    if type_name in _INTEGERS:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return int(value) if isinstance(value, str | int) and not isinstance(value, bool) else value
    if type_name in _FLOATS:
        return float(value) if isinstance(value, str | int) and not isinstance(value, bool) else value
    if type_name == "numeric":
        return decimal.Decimal(str(value)) if not isinstance(value, bool) else value
    if type_name == "bool" and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
    if isinstance(value, str):
        parse = {
            "date": dt.date.fromisoformat,
            "timestamp": dt.datetime.fromisoformat,
            "timestamptz": dt.datetime.fromisoformat,
            "time": dt.time.fromisoformat,
            "uuid": uuid.UUID,
        }.get(type_name)
        if parse is not None:
            return parse(value)
        if type_name in ("json", "jsonb"):
            try:
                return json.loads(value)
            except ValueError:
                return value
    if type_name in ("text", "varchar", "bpchar", "name") and not isinstance(value, str):
        return json.dumps(value) if isinstance(value, bool) else str(value)
    return value


def _arguments(statement: asyncpg.prepared_stmt.PreparedStatement, params: Sequence[Any]) -> list[Any]:
    wanted = statement.get_parameters()
    if len(params) != len(wanted):
        raise SqlToolError(
            f"the statement has {len(wanted)} placeholder(s) ($1...) but params has {len(params)} value(s)"
        )
    converted = []
    for index, (value, pg_type) in enumerate(zip(params, wanted, strict=True)):
        try:
            converted.append(_convert(value, pg_type.name))
        except (ValueError, TypeError, decimal.InvalidOperation) as exc:
            raise SqlToolError(
                f"params[{index}] ({value!r}) is not a valid {pg_type.name} for ${index + 1}: {exc}"
            ) from exc
    return converted


def _columns(statement: asyncpg.prepared_stmt.PreparedStatement) -> list[dict[str, str]]:
    return [{"name": attribute.name, "type": attribute.type.name} for attribute in statement.get_attributes()]


def _rows(columns: list[dict[str, str]], records: Sequence[asyncpg.Record]) -> list[dict[str, Any]]:
    names: list[str] = []
    for column in columns:  # `SELECT 1, 1` has two columns named ?column?: keep both
        name, n = column["name"], 2
        while name in names:
            name, n = f"{column['name']}_{n}", n + 1
        names.append(name)
    return [{name: _jsonable(value) for name, value in zip(names, record.values(), strict=True)} for record in records]


# --- running statements --------------------------------------------------------------------------------------------


def _timeout(client: UpstreamClient, arguments: Mapping[str, Any]) -> float:
    ceiling = client.policy.timeout_s
    asked = arguments.get("timeout_s")
    if isinstance(asked, int | float) and not isinstance(asked, bool) and asked > 0:
        return min(float(asked), ceiling)
    return ceiling


def _max_rows(arguments: Mapping[str, Any]) -> int:
    value = arguments.get("max_rows")
    if isinstance(value, int) and not isinstance(value, bool):
        return max(1, min(value, MAX_ROWS))
    return DEFAULT_MAX_ROWS


async def _limits(connection: asyncpg.Connection, timeout_s: float) -> None:
    ms = max(1, int(timeout_s * 1000))
    await connection.execute(f"SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms}")


async def _read_only(
    connection: asyncpg.Connection, timeout_s: float, sql: str, params: Sequence[Any], limit: int
) -> tuple[list[dict[str, str]], list[asyncpg.Record], bool]:
    """Run one statement in a READ ONLY transaction that is rolled back; at most `limit` rows (+ truncated)."""
    transaction = connection.transaction(readonly=True)
    await transaction.start()
    try:
        await _limits(connection, timeout_s)
        statement = await connection.prepare(sql)
        args = _arguments(statement, params)
        columns = _columns(statement)
        if not columns:
            await statement.fetch(*args)
            return columns, [], False
        cursor = await statement.cursor(*args)
        records = await cursor.fetch(limit + 1)
        return columns, records[:limit], len(records) > limit
    finally:
        try:
            await transaction.rollback()
        except (asyncpg.PostgresError, asyncpg.InterfaceError):
            # The statement ended the transaction itself (COMMIT/ROLLBACK); never reuse a connection in doubt.
            connection.terminate()


def _result(
    columns: list[dict[str, str]], records: Sequence[asyncpg.Record], truncated: bool, limit: int
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "columns": columns,
        "rows": _rows(columns, records),
        "row_count": len(records),
        "truncated": truncated,
    }
    if truncated:
        result["note"] = (
            f"more rows matched; these are the first {limit} (max_rows). Add ORDER BY with LIMIT/OFFSET or a "
            f"narrower WHERE to see others, or raise max_rows (at most {MAX_ROWS})"
        )
    return result


def _sql_argument(arguments: Mapping[str, Any]) -> tuple[str, list[Any]]:
    sql = arguments.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise SqlToolError("`sql` is required: one SQL statement")
    params = arguments.get("params") or []
    if not isinstance(params, list):
        raise SqlToolError("`params` must be a list of values for $1, $2, ...")
    return sql, params


async def _query(
    connection: asyncpg.Connection, client: UpstreamClient, arguments: Mapping[str, Any]
) -> dict[str, Any]:
    sql, params = _sql_argument(arguments)
    limit = _max_rows(arguments)
    columns, records, truncated = await _read_only(connection, _timeout(client, arguments), sql, params, limit)
    return _result(columns, records, truncated, limit)


async def _catalog(
    connection: asyncpg.Connection, client: UpstreamClient, sql: str, *params: Any, limit: int = MAX_ROWS
) -> list[dict[str, Any]]:
    columns, records, _ = await _read_only(connection, client.policy.timeout_s, sql, params, limit)
    return _rows(columns, records)


async def _list_schemas(
    connection: asyncpg.Connection, client: UpstreamClient, arguments: Mapping[str, Any]
) -> dict[str, Any]:
    rows = await _catalog(
        connection,
        client,
        "SELECT n.nspname AS schema, pg_get_userbyid(n.nspowner) AS owner, "
        "has_schema_privilege(n.oid, 'USAGE') AS usable, obj_description(n.oid, 'pg_namespace') AS comment "
        f"FROM pg_namespace n WHERE {_SYSTEM_SCHEMAS} ORDER BY 1",
    )
    return {"schemas": rows}


_KINDS = "CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view' "
_KINDS += "WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' END"


async def _list_tables(
    connection: asyncpg.Connection, client: UpstreamClient, arguments: Mapping[str, Any]
) -> dict[str, Any]:
    kinds = ["r", "p", "f"] + (["v", "m"] if arguments.get("include_views", True) is not False else [])
    schema = arguments.get("schema")
    rows = await _catalog(
        connection,
        client,
        f"SELECT n.nspname AS schema, c.relname AS name, {_KINDS} AS kind, "
        "CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END AS rows, "
        "obj_description(c.oid, 'pg_class') AS comment "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE c.relkind::text = ANY($1::text[]) AND (($2::text IS NULL AND {_SYSTEM_SCHEMAS}) OR n.nspname = $2) "
        "ORDER BY 1, 2",
        kinds,
        schema if isinstance(schema, str) and schema else None,
    )
    return {"tables": rows}


async def _describe_table(
    connection: asyncpg.Connection, client: UpstreamClient, arguments: Mapping[str, Any]
) -> dict[str, Any]:
    table = str(arguments.get("table") or "").strip()
    schema = arguments.get("schema")
    if not table:
        raise SqlToolError("`table` is required")
    if not schema and "." in table:
        schema, table = table.split(".", 1)
    schema = str(schema or "public")
    found = await _catalog(
        connection,
        client,
        f"SELECT c.oid::int8 AS oid, {_KINDS} AS kind, obj_description(c.oid, 'pg_class') AS comment "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
        schema,
        table,
    )
    if not found:
        names = await _catalog(
            connection,
            client,
            "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
            schema,
        )
        close = difflib.get_close_matches(table, [row["name"] for row in names], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; list them with list_tables"
        raise SqlToolError(f"no table or view {table!r} in schema {schema!r}{hint}")
    oid = found[0]["oid"]
    columns = await _catalog(
        connection,
        client,
        "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable, "
        "pg_get_expr(d.adbin, d.adrelid) AS default, col_description(a.attrelid, a.attnum) AS comment "
        "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        oid,
    )
    constraints = await _catalog(
        connection,
        client,
        "SELECT k.conname AS name, k.contype::text AS type, pg_get_constraintdef(k.oid) AS definition, "
        "ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(n, i) JOIN pg_attribute a "
        "ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i) AS columns, "
        "CASE WHEN k.confrelid = 0 THEN NULL ELSE k.confrelid::regclass::text END AS referenced_table, "
        "ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(n, i) JOIN pg_attribute a "
        "ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i) AS referenced_columns "
        "FROM pg_constraint k WHERE k.conrelid = $1::int8::oid ORDER BY k.conname",
        oid,
    )
    indexes = await _catalog(
        connection,
        client,
        "SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition, "
        "i.indisunique AS unique, i.indisprimary AS primary "
        "FROM pg_index i WHERE i.indrelid = $1::int8::oid ORDER BY 1",
        oid,
    )
    primary: list[str] = next((c["columns"] for c in constraints if c["type"] == "p"), [])
    foreign = [
        {
            "name": c["name"],
            "columns": c["columns"],
            "references": {"table": c["referenced_table"], "columns": c["referenced_columns"]},
        }
        for c in constraints
        if c["type"] == "f"
    ]
    unique = [{"name": c["name"], "columns": c["columns"]} for c in constraints if c["type"] == "u"]
    checks = [{"name": c["name"], "definition": c["definition"]} for c in constraints if c["type"] == "c"]
    return {
        "schema": schema,
        "table": table,
        "kind": found[0]["kind"],
        "comment": found[0]["comment"],
        "columns": columns,
        "primary_key": primary,
        "foreign_keys": foreign,
        "unique": unique,
        "checks": checks,
        "indexes": indexes,
    }


async def _explain(
    connection: asyncpg.Connection, client: UpstreamClient, arguments: Mapping[str, Any]
) -> dict[str, Any]:
    sql, params = _sql_argument(arguments)
    options = "FORMAT JSON, ANALYZE, BUFFERS" if arguments.get("analyze") is True else "FORMAT JSON"
    _, records, _ = await _read_only(connection, _timeout(client, arguments), f"EXPLAIN ({options}) {sql}", params, 1)
    plan = records[0][0] if records else None
    return {"plan": plan[0] if isinstance(plan, list) and len(plan) == 1 else plan}


async def _execute(
    connection: asyncpg.Connection, client: UpstreamClient, arguments: Mapping[str, Any], allowed: bool
) -> dict[str, Any]:
    if not allowed:
        raise SqlToolError(
            "writes are disabled for this connection; the connection string must end with "
            f"?{ALLOW_WRITES_PARAM}=true to allow them (use a database role with only the rights you intend)"
        )
    sql, params = _sql_argument(arguments)
    limit = _max_rows(arguments)
    async with connection.transaction():
        await _limits(connection, _timeout(client, arguments))
        statement = await connection.prepare(sql)
        records = await statement.fetch(*_arguments(statement, params))
        columns = _columns(statement)
        status = statement.get_statusmsg()
    result = _result(columns, records[:limit], len(records) > limit, limit)
    return {"status": status, **result}


_READERS = {
    "query": _query,
    "list_schemas": _list_schemas,
    "list_tables": _list_tables,
    "describe_table": _describe_table,
    "explain": _explain,
}


def _postgres_message(action: str, exc: asyncpg.PostgresError, timeout_s: float) -> str:
    if isinstance(exc, asyncpg.QueryCanceledError):
        return (
            f"{action}: the statement ran longer than {timeout_s:g}s (statement_timeout) and was cancelled; "
            "narrow it (WHERE, LIMIT, an index) or, if the integration's limit allows, raise timeout_s"
        )
    text = f"{action}: PostgreSQL error {exc.sqlstate}: {exc.args[0] if exc.args else exc}"
    detail, hint = getattr(exc, "detail", None), getattr(exc, "hint", None)
    if detail:
        text += f" DETAIL: {detail}"
    if hint:
        text += f" HINT: {hint}"
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        text += f" ({action} is read-only: the database refused the write)"
    return text


async def execute_sql(
    tool: Tool, client: UpstreamClient, pools: _Pools, credential: Credential | None, arguments: Mapping[str, Any]
) -> ToolOutput:
    """Run one SQL tool call; every failure is a tool error whose message never contains the connection string."""
    binding = tool.sql
    if binding is None:
        return ToolOutput(text=f"tool {tool.name!r} has no SQL binding", is_error=True)
    action = binding.action
    secret = credential.token if credential is not None else None
    if not secret:
        prefix = env_prefix(client.integration.slug)
        return ToolOutput(
            text=f"no connection string configured for {client.integration.name} ({client.integration.slug}); "
            f"connect it with a postgresql:// URI (or set {prefix}TOKEN) and retry",
            is_error=True,
        )
    timeout_s = _timeout(client, arguments)
    try:
        connection_info = parse_connection(secret)
        await _check_egress(client, connection_info)
        pool = await pools.get(client, connection_info)
        # The database enforces the timeout; this deadline only catches a network that stops answering.
        async with asyncio.timeout(timeout_s + client.policy.connect_timeout_s + 5):
            async with pool.acquire() as connection:
                if action == "execute":
                    result = await _execute(connection, client, arguments, connection_info.allow_writes)
                else:
                    result = await _READERS[action](connection, client, arguments)
    except SqlToolError as exc:
        return ToolOutput(text=f"{action}: {exc}", is_error=True)
    except asyncpg.PostgresError as exc:
        return ToolOutput(text=_postgres_message(action, exc, timeout_s), is_error=True)
    except TimeoutError:
        return ToolOutput(text=f"{action}: the database did not answer within {timeout_s:g}s", is_error=True)
    except (OSError, asyncpg.InterfaceError) as exc:
        logger.warning("sql %s for %s failed to connect: %s", action, client.integration.slug, type(exc).__name__)
        return ToolOutput(text=f"{action}: could not reach the database: {type(exc).__name__}: {exc}", is_error=True)
    text = json.dumps(result, separators=(",", ":"), ensure_ascii=False, default=str)
    return ToolOutput(text=text, structured=result, mime_type="application/json")


class SqlExecutor(HttpExecutor):
    """SQL integrations: tools run on this executor's own connection pools, closed with it."""

    def __init__(self, integration: Integration, client: UpstreamClient | None = None) -> None:
        super().__init__(integration, client)
        self._pools = _Pools()

    async def run(self, tool: Tool, credential: Credential | None, arguments: Mapping[str, Any]) -> ToolOutput:
        return await execute_sql(tool, self.client, self._pools, credential, arguments)

    async def aclose(self) -> None:
        try:
            await self._pools.aclose()
        finally:
            await super().aclose()
