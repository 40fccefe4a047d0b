"""`mcphub usage`: calls, errors and latency per integration and tool; monthly meters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from mcphub.commands._common import data_dir_option, emit, json_option, open_tenancy, resolve_user, run, user_option
from mcphub.runtime.store.db import utcnow
from mcphub.runtime.tenancy.usage import monthly, summary


def parse_time(text: str | None, default: datetime) -> datetime:
    """ISO date or time; naive values are UTC."""
    if not text:
        return default
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO date/time like 2026-11-01 or 2026-11-01T12:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@click.command("usage")
@click.option("--since", help="Start (ISO date/time, UTC); default: 30 days ago.")
@click.option("--until", help="End (ISO date/time, UTC); default: now.")
@click.option("--by", type=click.Choice(["tool", "integration"]), default="tool", show_default=True)
@click.option("--all", "everyone", is_flag=True, help="Every user (admin view).")
@click.option("--monthly", "show_monthly", is_flag=True, help="Show monthly meters (calls per user per month).")
@user_option
@data_dir_option
@json_option
def usage(
    since: str | None,
    until: str | None,
    by: str,
    everyone: bool,
    show_monthly: bool,
    user_email: str | None,
    data_dir: Path,
    as_json: bool,
) -> None:
    """Calls, errors and p50/p95 latency per integration (and tool) for a time range."""
    end = parse_time(until, utcnow())
    start = parse_time(since, end - timedelta(days=30))

    async def go() -> None:
        async with open_tenancy(data_dir) as tenancy:
            user_id = None if everyone else (await resolve_user(tenancy, user_email)).id
            if show_monthly:
                meters = await monthly(tenancy.db, user_id=user_id)
                emails = {u.id: u.email for u in await tenancy.accounts.list_users()}
                meter_rows = [[m.month, emails.get(m.user_id, m.user_id), m.calls, m.errors] for m in meters]
                emit(as_json, meters, ["month", "user", "calls", "errors"], meter_rows, empty="no calls metered yet")
                return
            stats = await summary(tenancy.db, user_id=user_id, since=start, until=end, by_tool=by == "tool")
        rows: list[list[object]] = [
            [s.integration, s.tool or "*", s.calls, s.errors, s.p50_ms, s.p95_ms] for s in stats
        ]
        emit(
            as_json,
            stats,
            ["integration", "tool", "calls", "errors", "p50 ms", "p95 ms"],
            rows,
            empty=f"no calls between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC",
        )

    run(go())


def register(main: click.Group) -> None:
    main.add_command(usage)
