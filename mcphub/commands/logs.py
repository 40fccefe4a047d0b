"""`mcphub logs`: a user's recent tool calls, arguments and results with secrets redacted."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mcphub.commands._common import data_dir_option, emit, json_option, open_tenancy, resolve_user, run, user_option
from mcphub.runtime.tenancy.usage import call_log


@click.command("logs")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--integration", help="Only calls of this integration.")
@user_option
@data_dir_option
@json_option
def logs(limit: int, integration: str | None, user_email: str | None, data_dir: Path, as_json: bool) -> None:
    """Show the most recent calls (newest first)."""

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user = await resolve_user(tenancy, user_email)
            entries = await call_log(tenancy.db, user_id=user.id, limit=limit, integration=integration)
        rows = [
            [
                e.ts,
                f"{e.integration}__{e.tool}",
                e.status,
                e.latency_ms,
                json.dumps(e.arguments, ensure_ascii=False)[:60],
                (e.error or e.result).replace("\n", " ")[:60],
            ]
            for e in entries
        ]
        emit(as_json, entries, ["time", "tool", "status", "ms", "arguments", "result"], rows, empty="no calls logged")

    run(go())


def register(main: click.Group) -> None:
    main.add_command(logs)
