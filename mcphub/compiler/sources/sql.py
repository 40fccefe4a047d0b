"""SQL source kind: the fixed PostgreSQL tool set, run by the runtime's SQL executor (`mcphub.runtime.upstream.executors.sql`).

There is no API description to parse: a database integration is the same six tools for every database, and the
connection string (the user's credential) says which database. Reads run in a READ ONLY transaction that is always
rolled back, with a statement timeout and a row limit; `execute` (writes) is compiled disabled, and even when a spec
enables it the runtime refuses it unless the connection string opts in (see `mcphub.runtime.upstream.executors.sql`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from mcphub.compiler.ir import Integration, JsonSchema, Policy, SqlBinding, Tool, ToolAnnotations
from mcphub.compiler.spec import HubSpec

__all__ = ["DEFAULT_MAX_ROWS", "MAX_ROWS", "integration_from_spec", "sql_tools"]

DEFAULT_MAX_ROWS = 100
MAX_ROWS = 1000

_SQL = {"type": "string", "minLength": 1}
_PARAMS: JsonSchema = {
    "type": "array",
    "items": {"description": "A string, number, boolean or null."},
    "description": "Values for the placeholders $1, $2, ... in `sql`, in order. Always pass values this way, never by "
    "pasting them into the SQL text. Each is converted to the type PostgreSQL infers for its placeholder (a string "
    "works for numbers, dates, UUIDs); cast in the SQL when the type is ambiguous, e.g. `$1::int`.",
}
_MAX_ROWS: JsonSchema = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_ROWS,
    "default": DEFAULT_MAX_ROWS,
    "description": f"Return at most this many rows (default {DEFAULT_MAX_ROWS}, at most {MAX_ROWS}); "
    "`truncated` says whether more rows matched.",
}
_TIMEOUT: JsonSchema = {
    "type": "number",
    "exclusiveMinimum": 0,
    "description": "Statement timeout in seconds for this call; it can only lower the integration's own limit.",
}


def _schema(properties: dict[str, Any], required: list[str] | None = None) -> JsonSchema:
    schema: JsonSchema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


Action = Literal["query", "list_schemas", "list_tables", "describe_table", "explain", "execute"]


def _tool(
    action: Action, name: str, description: str, schema: JsonSchema, *, read_only: bool, destructive: bool = False
) -> Tool:
    return Tool(
        name=name,
        description=description,
        input_schema=schema,
        annotations=ToolAnnotations(
            read_only_hint=read_only,
            destructive_hint=destructive if not read_only else None,
            idempotent_hint=True if read_only else None,
            open_world_hint=False,
        ),
        source_ref=action,
        tags=["sql"],
        sql=SqlBinding(action=action),
    )


def sql_tools() -> list[Tool]:
    """The PostgreSQL tools, in the order a user reads them."""
    return [
        _tool(
            "query",
            "query",
            "Runs one read-only SQL statement (SELECT, WITH, VALUES, SHOW, ...) and returns `columns`, `rows` (objects "
            "keyed by column name), `row_count` and `truncated`. The database itself enforces read-only mode: the "
            "statement runs in a READ ONLY transaction that is rolled back, so writes (INSERT, UPDATE, DELETE, DDL, "
            "writable CTEs) fail. Use $1, $2, ... placeholders with `params`; add ORDER BY and LIMIT/OFFSET to page "
            "through large results. Find tables with list_tables and their columns with describe_table first.",
            _schema({"sql": _SQL, "params": _PARAMS, "max_rows": _MAX_ROWS, "timeout_s": _TIMEOUT}, ["sql"]),
            read_only=True,
        ),
        _tool(
            "list_schemas",
            "list_schemas",
            "Lists the database's schemas (namespaces) with their owner, leaving out PostgreSQL's own (pg_catalog, "
            "information_schema, pg_toast). Tables live in a schema; `public` is the default one.",
            _schema({}),
            read_only=True,
        ),
        _tool(
            "list_tables",
            "list_tables",
            "Lists tables, views and materialized views (`schema`, `name`, `kind`, estimated `rows`, `comment`), in one "
            "schema or in every non-system schema when `schema` is omitted. Use describe_table for the columns.",
            _schema(
                {
                    "schema": {"type": "string", "description": "Only this schema (e.g. public); all when omitted."},
                    "include_views": {
                        "type": "boolean",
                        "default": True,
                        "description": "Include views and materialized views (default true).",
                    },
                }
            ),
            read_only=True,
        ),
        _tool(
            "describe_table",
            "describe_table",
            "Describes a table or view: `columns` (name, type, nullable, default, comment), `primary_key`, "
            "`foreign_keys` (columns -> referenced table and columns), `unique` constraints, `indexes` (name, "
            "definition) and `comment`. `table` may be schema-qualified (`sales.orders`).",
            _schema(
                {
                    "table": {"type": "string", "minLength": 1, "description": "Table or view name, e.g. orders."},
                    "schema": {"type": "string", "description": "Schema of the table (default: public)."},
                },
                ["table"],
            ),
            read_only=True,
        ),
        _tool(
            "explain",
            "explain",
            "Shows PostgreSQL's plan for a statement (EXPLAIN, JSON format) without running it; with `analyze` the "
            "statement runs (in a READ ONLY transaction that is rolled back) and the plan shows real times and row "
            "counts. Use it to see why a query is slow: sequential scans, missing indexes, estimates.",
            _schema(
                {
                    "sql": _SQL,
                    "params": _PARAMS,
                    "analyze": {
                        "type": "boolean",
                        "default": False,
                        "description": "Run the statement to measure it (EXPLAIN ANALYZE); read-only statements only.",
                    },
                    "timeout_s": _TIMEOUT,
                },
                ["sql"],
            ),
            read_only=True,
        ),
        _tool(
            "execute",
            "execute",
            "Runs one statement that changes data or schema (INSERT, UPDATE, DELETE, CREATE, ...) in its own "
            "transaction, committed when it succeeds. Returns the command `status` (e.g. `INSERT 0 1`) and the rows of "
            "a RETURNING clause. Only available when the connection allows writes; prefer query for reading.",
            _schema({"sql": _SQL, "params": _PARAMS, "max_rows": _MAX_ROWS, "timeout_s": _TIMEOUT}, ["sql"]),
            read_only=False,
            destructive=True,
        ),
    ]


def integration_from_spec(spec: HubSpec, spec_path: Path) -> Integration:
    """Source stage for `kind: sql`: the fixed tool set; the spec curates names, descriptions and enablement."""
    if spec.source.path is not None or spec.source.url is not None or spec.source.npm is not None:
        field = "source.path" if spec.source.path is not None else "source.url" if spec.source.url else "source.npm"
        raise spec.error(
            field,
            "is not used by kind 'sql': the database is the user's connection string (their credential); remove it",
            spec_path,
        )
    return Integration(
        slug=spec.slug,
        name=spec.name,
        source=spec.source.to_source_info().model_copy(update={"format": "postgresql"}),
        base_url=spec.base_url or "",
        tools=sql_tools(),
        # A database is reached over its own protocol, never HTTP; the timeout is each statement's.
        policy=Policy(allowed_methods=[], timeout_s=30.0),
    )
