"""Usage: every record counted under load, redacted call log, aggregates, monthly meters, retention."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from mcphub.runtime.store.db import utcnow
from mcphub.runtime.store.models import CallLogEntry, MonthlyMeter, UsageEvent
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.runtime.tenancy.usage import REDACTED, CallRecord, Status, UsageRecorder, call_log, monthly, redact, summary


async def _count(tenancy: Tenancy, model: type) -> int:
    async with tenancy.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_ten_thousand_concurrent_calls_are_all_counted(tenancy: Tenancy) -> None:
    users = [await tenancy.accounts.create_user(f"u{i}@example.com", "correct horse battery") for i in range(3)]
    recorder = tenancy.usage  # started: its background task flushes while the calls run
    statuses: list[Status] = ["ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "tool_error", "rate_limited"]

    async def agent(worker: int) -> None:
        for i in range(100):
            user = users[(worker + i) % 3]
            recorder.record(
                CallRecord(
                    user.id, None, f"svc{i % 4}", f"tool{i % 7}", statuses[i % 10], latency_ms=random.uniform(1, 50)
                )
            )
            if i % 10 == 0:
                await asyncio.sleep(0)  # let the flusher interleave with the callers

    await asyncio.gather(*(agent(w) for w in range(100)))
    await recorder.aclose()  # graceful shutdown: flush what is left

    assert recorder.pending == 0 and recorder.written == 10_000
    assert await _count(tenancy, UsageEvent) == 10_000
    assert await _count(tenancy, CallLogEntry) == 10_000
    meters = await monthly(tenancy.db)
    assert sum(m.calls for m in meters) == 10_000 and sum(m.errors for m in meters) == 2_000
    per_user = {m.user_id: m.calls for m in await monthly(tenancy.db, month=utcnow().strftime("%Y-%m"))}
    assert sorted(per_user.values()) == [3333, 3333, 3334]


async def test_meters_are_incremental_across_flushes_and_months(tenancy: Tenancy) -> None:
    user = await tenancy.accounts.create_user("ada@example.com", "correct horse battery")
    recorder = UsageRecorder(tenancy.db)
    november = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    calls: list[tuple[datetime, Status]] = [
        (november, "ok"),
        (november, "upstream_error"),
        (november + timedelta(minutes=2), "ok"),
    ]
    for ts, status in calls:
        recorder.record(CallRecord(user.id, None, "github", "ping", status, 5.0, ts=ts))
        await recorder.flush()
    async with tenancy.db.session() as session:
        rows = (await session.scalars(select(MonthlyMeter).order_by(MonthlyMeter.month))).all()
    assert [(r.month, r.calls, r.errors) for r in rows] == [("2026-11", 2, 1), ("2026-12", 1, 0)]


async def test_summary_counts_errors_and_latency_percentiles(tenancy: Tenancy) -> None:
    ada = await tenancy.accounts.create_user("ada@example.com", "correct horse battery")
    bob = await tenancy.accounts.create_user("bob@example.com", "another long password")
    recorder = UsageRecorder(tenancy.db)
    start = utcnow() - timedelta(minutes=5)
    for latency in range(1, 101):  # 1..100 ms
        status: Status = "tool_error" if latency % 10 == 0 else "ok"
        recorder.record(CallRecord(ada.id, 1, "github", "search", status, float(latency), ts=start))
    recorder.record(CallRecord(ada.id, 1, "github", "create_issue", "ok", 7.0, ts=start))
    recorder.record(CallRecord(bob.id, 2, "slack", "post", "ok", 3.0, ts=start))
    recorder.record(CallRecord(ada.id, 1, "github", "search", "ok", 1.0, ts=start - timedelta(days=2)))  # outside
    await recorder.flush()

    stats = await summary(tenancy.db, user_id=ada.id, since=start - timedelta(minutes=1))
    by_tool = {(s.integration, s.tool): s for s in stats}
    assert set(by_tool) == {("github", "search"), ("github", "create_issue")}  # never bob's
    search = by_tool[("github", "search")]
    assert (search.calls, search.errors) == (100, 10)
    assert abs(search.p50_ms - 50.5) < 1e-6 and abs(search.p95_ms - 95.05) < 1e-6
    [per_integration] = await summary(tenancy.db, user_id=ada.id, since=start - timedelta(minutes=1), by_tool=False)
    assert (per_integration.integration, per_integration.tool, per_integration.calls) == ("github", None, 101)
    everyone = await summary(tenancy.db, user_id=None, since=start - timedelta(minutes=1), by_tool=False)
    assert [(s.integration, s.calls) for s in everyone] == [("github", 101), ("slack", 1)]


def test_redact_names_patterns_and_known_values() -> None:
    value = {
        "query": "repo:acme",
        "password": "hunter22",
        "Authorization": "Bearer abc.def.ghi",
        "headers": {"X-Api-Key": "k-123", "x-request-id": "r1"},
        "nested": [{"client_secret": "cs"}, "the value sk_live_abcdefghijkl leaked", "mcp_sk_" + "A" * 43],
        "note": "token=MY-STORED-CREDENTIAL-VALUE in text",
        "empty_token": "",
    }
    clean = redact(value, ["MY-STORED-CREDENTIAL-VALUE"])
    assert clean["query"] == "repo:acme"
    assert clean["password"] == clean["Authorization"] == clean["headers"]["X-Api-Key"] == REDACTED
    assert clean["headers"]["x-request-id"] == "r1"
    assert clean["nested"] == [{"client_secret": REDACTED}, f"the value {REDACTED} leaked", REDACTED]
    assert clean["note"] == f"token={REDACTED} in text"
    assert clean["empty_token"] == ""
    assert redact("Authorization: Basic dXNlcjpwYXNzd29yZA==") == f"Authorization: {REDACTED}"


async def test_call_log_is_redacted_with_the_callers_stored_credentials(tenancy: Tenancy) -> None:
    ada = await tenancy.accounts.create_user("ada@example.com", "correct horse battery")
    bob = await tenancy.accounts.create_user("bob@example.com", "another long password")
    ada_token = "ada-upstream-token-0000111122223333"
    await tenancy.credentials.set(ada.id, "github", {"token": ada_token, "username": "ada-gh"})
    tenancy.usage.record(
        CallRecord(
            ada.id,
            7,
            "github",
            "search",
            "upstream_error",
            12.5,
            upstream_status=401,
            arguments={"q": f"echo {ada_token}", "api_token": "x" * 10, "page": 2},
            result=f"upstream said: bad credentials for {ada_token}" + " padding" * 1000,
            error=f"401 with header Authorization: Bearer {ada_token}",
        )
    )
    tenancy.usage.record(CallRecord(bob.id, 8, "slack", "post", "ok", 3.0, arguments={"text": "hi"}))
    tenancy.usage.record(CallRecord(bob.id, 8, "slack", "upload", "ok", 3.0, arguments={"blob": "z" * 20_000}))
    await tenancy.usage.flush()

    [entry] = await call_log(tenancy.db, user_id=ada.id)
    assert entry.arguments == {"q": f"echo {REDACTED}", "api_token": REDACTED, "page": 2}
    assert ada_token not in entry.result and REDACTED in entry.result and entry.result.endswith("…")
    assert len(entry.result) <= tenancy.usage.excerpt_chars + 1
    assert ada_token not in entry.error and entry.status == "upstream_error"
    async with tenancy.db.session() as session:
        stored = " ".join(
            f"{r.arguments} {r.result} {r.error}" for r in (await session.scalars(select(CallLogEntry))).all()
        )
    assert ada_token not in stored
    upload, post = await call_log(tenancy.db, user_id=bob.id)
    assert post.arguments == {"text": "hi"} and isinstance(upload.arguments, str) and upload.arguments.endswith("…")
    assert await call_log(tenancy.db, user_id=ada.id, integration="slack") == []


async def test_call_log_retention(tenancy: Tenancy) -> None:
    ada = await tenancy.accounts.create_user("ada@example.com", "correct horse battery")
    bob = await tenancy.accounts.create_user("bob@example.com", "another long password")
    recorder = UsageRecorder(tenancy.db, log_keep_per_user=5, log_retention=timedelta(days=7))
    old = utcnow() - timedelta(days=8)
    recorder.record(CallRecord(bob.id, None, "slack", "post", "ok", 1.0, ts=old))
    for i in range(12):
        recorder.record(CallRecord(ada.id, None, "github", f"t{i}", "ok", 1.0))
    await recorder.flush()
    removed = await recorder.prune()
    assert removed == 8  # bob's old entry + ada's 7 oldest
    assert [e.tool for e in await call_log(tenancy.db, user_id=ada.id)] == [f"t{i}" for i in range(11, 6, -1)]
    assert await _count(tenancy, UsageEvent) == 13  # usage events (billing) are not pruned with the log


async def test_a_failed_write_is_retried_whole_without_loss_or_double_counting(tenancy: Tenancy) -> None:
    user = await tenancy.accounts.create_user("ada@example.com", "correct horse battery")
    recorder = UsageRecorder(tenancy.db, batch_size=50)
    for i in range(120):
        recorder.record(CallRecord(user.id, None, "github", "search", "ok", float(i)))
    async with tenancy.db.session() as session:  # the database refuses call-log writes for a while
        await session.execute(text("ALTER TABLE call_log RENAME TO call_log_away"))
    with pytest.raises(DBAPIError):
        await recorder.flush()
    assert recorder.pending == 120  # kept, in order, for the next attempt
    async with tenancy.db.session() as session:
        await session.execute(text("ALTER TABLE call_log_away RENAME TO call_log"))
    assert await recorder.flush() == 120
    assert await _count(tenancy, UsageEvent) == 120 and await _count(tenancy, CallLogEntry) == 120
    [meter] = await monthly(tenancy.db, user_id=user.id)
    assert meter.calls == 120
