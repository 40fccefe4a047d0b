"""Hourly usage rollups: what the dashboard reads instead of scanning the raw usage events.

`roll_up(db)` folds the usage events written since its last run (a watermark: the highest event id folded,
kept in `hub_settings`) into `usage_rollups` (one row per user, hour, integration and tool) and
`usage_rollups_daily` (per UTC day): calls, errors, the latency sum and a latency histogram (`BOUNDS_MS`).
Reads of more than two days use the daily rows, whole days from the day `since` falls in. The database does the grouping (INSERT … SELECT …
GROUP BY … ON CONFLICT DO UPDATE), in one transaction with the watermark's move, so a run either counts a
batch once or not at all; on PostgreSQL the watermark row is locked, so replicas folding at the same time
take turns. Pages call it before reading (it costs one indexed query when nothing is new), so an answered call
shows up as soon as its event is written.

Percentiles come from the merged histograms (linear within a bucket): exact to the bucket's width, which is
what a chart needs; `/api/v1/usage` still computes exact ones from the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mcphub.runtime.store.db import Database, utcnow
from mcphub.runtime.store.models import HubSetting, UsageEvent, UsageRollup, UsageRollupDaily

__all__ = ["BOUNDS_MS", "Totals", "call_counts", "percentile", "roll_up", "series", "totals"]

# Upper bounds (ms) of the histogram's buckets h0..h14; h15 holds everything slower.
BOUNDS_MS: tuple[float, ...] = (5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000)
_BUCKETS = [f"h{i}" for i in range(len(BOUNDS_MS) + 1)]
_KEY = ["user_id", "start", "integration", "tool"]
Rollup = type[UsageRollup] | type[UsageRollupDaily]
_DAILY_FROM = timedelta(days=2)  # longer reads use the daily rows
_WATERMARK = "usage-rollup-id"
_BATCH = 250_000  # events per transaction: bounds one run's lock and memory


def _start(db: Database, column: Any, unit: str) -> Any:
    """The start of the hour or day of a timestamp column, in the database's own SQL."""
    if db.dialect == "postgresql":
        return func.date_trunc(unit, column)
    shape = "%Y-%m-%d %H:00:00.000000" if unit == "hour" else "%Y-%m-%d 00:00:00.000000"
    return func.strftime(shape, column)  # SQLAlchemy's own SQLite datetime text format


def _bucket_sums() -> list[Any]:
    latency = UsageEvent.latency_ms
    sums = []
    for index in range(len(_BUCKETS)):
        inside = []
        if index:
            inside.append(latency >= BOUNDS_MS[index - 1])
        if index < len(BOUNDS_MS):
            inside.append(latency < BOUNDS_MS[index])
        sums.append(func.sum(case((and_(*inside), 1), else_=0)))
    return sums


async def roll_up(db: Database) -> int:
    """Fold every usage event newer than the watermark into the rollups; returns how many events were folded."""
    folded = 0
    while True:
        batch = await _fold_batch(db)
        folded += batch
        if batch < _BATCH:
            return folded


async def _fold_batch(db: Database) -> int:
    dialect_insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
    async with db.session() as session:
        await session.execute(
            dialect_insert(HubSetting)
            .values(name=_WATERMARK, value="0", updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        query = select(HubSetting.value).where(HubSetting.name == _WATERMARK)
        if db.dialect == "postgresql":
            query = query.with_for_update()
        mark = int(await session.scalar(query) or 0)
        top = await session.scalar(
            select(func.max(UsageEvent.id)).where(UsageEvent.id > mark, UsageEvent.id <= mark + _BATCH)
        )
        if top is None:
            # Ids may jump (sequences skip on rollback): continue from the next event, if any.
            top = await session.scalar(select(func.min(UsageEvent.id)).where(UsageEvent.id > mark))
            if top is None:
                return 0
        for table, unit in ((UsageRollup, "hour"), (UsageRollupDaily, "day")):
            start = _start(db, UsageEvent.ts, unit)
            grouped = (
                select(
                    UsageEvent.user_id,
                    start,
                    UsageEvent.integration,
                    UsageEvent.tool,
                    func.count(),
                    func.sum(case((UsageEvent.status != "ok", 1), else_=0)),
                    func.sum(UsageEvent.latency_ms),
                    *_bucket_sums(),
                )
                .where(UsageEvent.id > mark, UsageEvent.id <= top, UsageEvent.user_id.is_not(None))
                .group_by(UsageEvent.user_id, start, UsageEvent.integration, UsageEvent.tool)
            )
            columns = [*_KEY, "calls", "errors", "latency_ms_sum", *_BUCKETS]
            statement = dialect_insert(table).from_select(columns, grouped)
            added = {name: getattr(table, name) + statement.excluded[name] for name in columns[len(_KEY) :]}
            await session.execute(statement.on_conflict_do_update(index_elements=_KEY, set_=added))
        await session.execute(
            update(HubSetting).where(HubSetting.name == _WATERMARK).values(value=str(top), updated_at=utcnow())
        )
        return int(top - mark)


def _table(since: datetime, until: datetime | None) -> Rollup:
    return UsageRollupDaily if (until or utcnow()) - since > _DAILY_FROM else UsageRollup


def _where(table: Rollup, user_id: int, since: datetime, until: datetime | None) -> list[Any]:
    floor = since.replace(minute=0, second=0, microsecond=0)
    if table is UsageRollupDaily:
        floor = floor.replace(hour=0)
    where = [table.user_id == user_id, table.start >= floor]
    if until is not None:
        where.append(table.start < until)
    return where


async def call_counts(db: Database, user_id: int, since: datetime) -> dict[str, tuple[int, int]]:
    """Calls and errors per integration from the hour of `since` on (the day, for more than two days back)."""
    table = _table(since, None)
    query = (
        select(table.integration, func.sum(table.calls), func.sum(table.errors))
        .where(*_where(table, user_id, since, None))
        .group_by(table.integration)
    )
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return {str(slug): (int(calls or 0), int(errors or 0)) for slug, calls, errors in rows}


@dataclass(frozen=True, slots=True)
class Totals:
    integration: str
    tool: str | None
    calls: int
    errors: int
    p50_ms: float
    p95_ms: float


def percentile(histogram: Sequence[int], q: float) -> float:
    """The q-quantile of a latency histogram over BOUNDS_MS, interpolated linearly inside its bucket."""
    total = sum(histogram)
    if not total:
        return 0.0
    rank = q * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            low = BOUNDS_MS[index - 1] if index else 0.0
            high = BOUNDS_MS[index] if index < len(BOUNDS_MS) else low * 2
            return low + (high - low) * (rank - seen) / count
        seen += count
    return BOUNDS_MS[-1]


async def totals(
    db: Database, user_id: int, since: datetime, until: datetime, *, by_tool: bool, limit: int | None = None
) -> list[Totals]:
    """Calls, errors and p50/p95 per integration (and tool), most called first."""
    table = _table(since, until)
    keys = [table.integration, table.tool] if by_tool else [table.integration]
    calls = func.sum(table.calls)
    query = (
        select(*keys, calls, func.sum(table.errors), *(func.sum(getattr(table, b)) for b in _BUCKETS))
        .where(*_where(table, user_id, since, until))
        .group_by(*keys)
        .order_by(calls.desc(), *keys)
    )
    if limit is not None:
        query = query.limit(limit)
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    found = []
    for row in rows:
        histogram = [int(v or 0) for v in row[-len(_BUCKETS) :]]
        head = row[: len(keys)]
        found.append(
            Totals(
                str(head[0]),
                str(head[1]) if by_tool else None,
                int(row[len(keys)] or 0),
                int(row[len(keys) + 1] or 0),
                percentile(histogram, 0.5),
                percentile(histogram, 0.95),
            )
        )
    return found


async def series(
    db: Database, user_id: int, since: datetime, until: datetime, *, daily: bool = False
) -> list[tuple[datetime, str, int, int]]:
    """(period start, integration, calls, errors) with calls in [since, until), per hour or per UTC day."""
    table: Rollup = UsageRollupDaily if daily else UsageRollup
    query = (
        select(table.start, table.integration, func.sum(table.calls), func.sum(table.errors))
        .where(*_where(table, user_id, since, until))
        .group_by(table.start, table.integration)
    )
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return [(hour, str(slug), int(calls or 0), int(errors or 0)) for hour, slug, calls, errors in rows]
