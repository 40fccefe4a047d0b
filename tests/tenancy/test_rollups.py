"""Hourly usage rollups against the raw events they fold, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from mcphub.runtime.store.db import utcnow
from mcphub.runtime.tenancy import rollups
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.runtime.tenancy.usage import CallRecord, summary


async def test_rollups_count_every_event_once_and_place_percentiles_in_the_right_bucket(tenancy: Tenancy) -> None:
    now = utcnow()
    records = [
        CallRecord(1, 1, "pets", "get_pet", "ok", latency, ts=now - timedelta(minutes=5))
        for latency in (3.0, 8.0, 12.0, 40.0, 90.0, 95.0, 120.0, 400.0, 900.0, 7000.0)
    ] + [
        CallRecord(1, 1, "pets", "fail", "upstream_error", 30.0, ts=now - timedelta(hours=3)),
        CallRecord(1, 1, "zoo", "get_text", "ok", 4.0, ts=now - timedelta(days=2)),
        CallRecord(2, 7, "pets", "get_pet", "ok", 1.0, ts=now),  # another user's
    ]
    for record in records[:6]:
        tenancy.usage.record(record)
    await tenancy.usage.flush()
    assert await rollups.roll_up(tenancy.db) == 6
    for record in records[6:]:  # a second run folds only what is new
        tenancy.usage.record(record)
    await tenancy.usage.flush()
    assert await rollups.roll_up(tenancy.db) == len(records) - 6
    assert await rollups.roll_up(tenancy.db) == 0

    day = now - timedelta(hours=24)
    assert await rollups.call_counts(tenancy.db, 1, day) == {"pets": (11, 1)}
    assert (await rollups.call_counts(tenancy.db, 2, day)) == {"pets": (1, 0)}
    [pets] = await rollups.totals(tenancy.db, 1, day, now + timedelta(hours=1), by_tool=False)
    exact = {s.integration: s for s in await summary(tenancy.db, user_id=1, since=day, by_tool=False)}["pets"]
    assert (pets.calls, pets.errors) == (exact.calls, exact.errors)
    # Within the histogram bucket of the exact value (p50 = 90 ms -> [75, 100); p95 -> [5000, ...)).
    assert 75 <= pets.p50_ms < 100 and exact.p50_ms == 90
    assert pets.p95_ms >= 5000
    tools = await rollups.totals(tenancy.db, 1, now - timedelta(days=3), now + timedelta(hours=1), by_tool=True)
    assert [(t.integration, t.tool, t.calls) for t in tools] == [
        ("pets", "get_pet", 10),
        ("pets", "fail", 1),
        ("zoo", "get_text", 1),
    ]
    for daily in (False, True):  # the same calls per hour and per day
        rows = await rollups.series(tenancy.db, 1, now - timedelta(days=3), now + timedelta(hours=1), daily=daily)
        assert sum(calls for _, _, calls, _ in rows) == 12 and sum(errors for *_, errors in rows) == 1
        assert all(start.minute == 0 and start.tzinfo is not None for start, *_ in rows)
        assert all(start.hour == 0 for start, *_ in rows) or not daily
    # Longer spans read the daily rows: whole days from the day `since` falls in.
    assert await rollups.call_counts(tenancy.db, 1, now - timedelta(days=3)) == {"pets": (11, 1), "zoo": (1, 0)}
