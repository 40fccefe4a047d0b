"""Usage events, the call log and monthly meters: recorded off the request path, written in batches.

`UsageRecorder.record(call)` only appends to a buffer (no I/O, no await), so the request path pays
nothing. A background task writes the buffer every `flush_interval` seconds or as soon as
`batch_size` records wait, one transaction per chunk: the usage events, the call-log entries and the
monthly-meter increments of a chunk commit together or not at all, so a failed write is retried
whole (nothing lost, nothing counted twice). `aclose()` (graceful shutdown) flushes what is left.

Redaction happens before anything reaches the call log: values of fields named like a secret
(password, token, secret, authorization, api key, cookie, …), bearer/basic/`mcp_sk_` strings, and
every value of the caller's stored credentials, wherever it appears (also inside longer strings).
Excerpts are cut after redaction so a secret cannot be half-kept by the cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Table, case, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mcphub.runtime.store.db import Database, utcnow
from mcphub.runtime.store.models import CallLogEntry, MonthlyMeter, UsageEvent

__all__ = [
    "REDACTED",
    "CallRecord",
    "LogEntry",
    "MeterRow",
    "Status",
    "UsageRecorder",
    "UsageStats",
    "call_log",
    "monthly",
    "redact",
    "summary",
]

logger = logging.getLogger(__name__)

Status = Literal["ok", "tool_error", "upstream_error", "denied", "rate_limited"]
STATUSES: tuple[Status, ...] = ("ok", "tool_error", "upstream_error", "denied", "rate_limited")
REDACTED = "[REDACTED]"

_SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?|secret|token|auth(orization)?$|authori[sz]ation|api[-_]?key|apikey|access[-_]?key"
    r"|private[-_]?key|client[-_]?secret|cookie|session|credential|signature|bearer",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"(?i:\b(bearer|basic|token)\s+)[A-Za-z0-9._~+/=-]{8,}|mcp_sk_[A-Za-z0-9_-]+|\b(sk|pk|rk)_(live|test)_[A-Za-z0-9]+"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}|\bxox[abposr]-[A-Za-z0-9-]+|\bAKIA[0-9A-Z]{16}\b"
)

SecretSource = Callable[[int, str], Awaitable[Collection[str]]]


# Every alternative of _SECRET_VALUE contains one of these (compared lower-cased): a text without any of them
# cannot match, and checking for them is ~10x cheaper than running the pattern over every excerpt.
_SECRET_MARKERS: tuple[str, ...] = (
    *("bearer", "basic", "token", "mcp_sk_", "_live_", "_test_"),
    *("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xox", "akia"),
)


def _redact_text(text: str, secrets: Collection[str]) -> str:
    for secret in secrets:  # longest first (see redact): a secret containing another is removed whole
        if secret in text:
            text = text.replace(secret, REDACTED)
    lowered = text.lower()
    if not any(marker in lowered for marker in _SECRET_MARKERS):
        return text
    return _SECRET_VALUE.sub(REDACTED, text)


def redact(value: Any, secrets: Collection[str] = ()) -> Any:
    """A copy of `value` (JSON-like) with secret-named fields and secret values replaced by [REDACTED]."""
    ordered = sorted((s for s in secrets if s), key=len, reverse=True)

    def walk(item: Any) -> Any:
        if isinstance(item, Mapping):
            return {
                str(k): REDACTED if _SECRET_NAME.search(str(k)) and item[k] not in (None, "") else walk(item[k])
                for k in item
            }
        if isinstance(item, list | tuple):
            return [walk(v) for v in item]
        if isinstance(item, str):
            return _redact_text(item, ordered)
        return item

    return walk(value)


@dataclass(slots=True)
class CallRecord:
    """One tool call, as the hub reports it."""

    user_id: int | None
    key_id: int | None
    integration: str
    tool: str
    status: Status
    latency_ms: float
    upstream_status: int | None = None
    request_bytes: int = 0
    response_bytes: int = 0
    arguments: Mapping[str, Any] | None = None
    result: str | None = None  # text of the result (an excerpt is kept)
    error: str | None = None
    ts: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class UsageStats:
    integration: str
    tool: str | None  # None when grouped by integration only
    calls: int
    errors: int
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True, slots=True)
class MeterRow:
    user_id: int
    month: str
    calls: int
    errors: int


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: int
    ts: datetime
    key_id: int | None
    integration: str
    tool: str
    status: str
    latency_ms: float
    arguments: Any
    result: str
    error: str


class UsageRecorder:
    """Buffers call records and writes them in batches (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        *,
        secrets: SecretSource | None = None,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        log_keep_per_user: int = 1000,
        log_retention: timedelta = timedelta(days=30),
        excerpt_chars: int = 2000,
        prune_interval: float = 60.0,
    ) -> None:
        self.db = db
        self.secrets = secrets
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.log_keep_per_user = log_keep_per_user
        self.log_retention = log_retention
        self.excerpt_chars = excerpt_chars
        self.prune_interval = prune_interval
        self._buffer: list[CallRecord] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        self._users_since_prune: set[int] = set()
        self.written = 0
        self.failures = 0

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def record(self, call: CallRecord) -> None:
        """Queue a record; never blocks, never raises, never drops."""
        self._buffer.append(call)
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="mcphub-usage-flusher")

    async def aclose(self) -> None:
        """Stop the background writer and flush everything still buffered."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = self.flush_interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            self._wake.clear()
            try:
                await self.flush()
                backoff = self.flush_interval
                if loop.time() - self._last_prune >= self.prune_interval:
                    self._last_prune = loop.time()
                    await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                backoff = min(30.0, max(backoff * 2, 0.1))
                logger.exception("writing %d usage records failed; retrying in %.1f s", self.pending, backoff)

    async def flush(self) -> int:
        """Write everything buffered now; returns how many records were written."""
        async with self._lock:
            written = 0
            while self._buffer:
                chunk = self._buffer[: self.batch_size]
                await self._write(chunk)  # on failure the chunk stays at the head of the buffer
                del self._buffer[: len(chunk)]
                written += len(chunk)
            self.written += written
            return written

    async def _secrets_for(self, chunk: list[CallRecord]) -> dict[tuple[int, str], Collection[str] | None]:
        """The stored credential values per (user, integration); None where they could not be read."""
        found: dict[tuple[int, str], Collection[str] | None] = {}
        if self.secrets is None:
            return found
        for call in chunk:
            pair = (call.user_id, call.integration)
            if call.user_id is not None and pair not in found:
                try:
                    found[(call.user_id, call.integration)] = await self.secrets(call.user_id, call.integration)
                except Exception:
                    # Without the values we cannot redact them: keep the counts, log nothing of the call's content.
                    logger.exception("could not read credentials of user %s for %s", call.user_id, call.integration)
                    found[(call.user_id, call.integration)] = None
        return found

    def _excerpt(self, text: str | None, secrets: Collection[str]) -> str:
        if not text:
            return ""
        clean = str(redact(text, secrets))
        if len(clean) > self.excerpt_chars:
            return clean[: self.excerpt_chars] + "…"
        return clean

    async def _write(self, chunk: list[CallRecord]) -> None:
        secrets = await self._secrets_for(chunk)
        events = []
        logs = []
        meters: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
        for call in chunk:
            base = {
                "ts": call.ts,
                "user_id": call.user_id,
                "key_id": call.key_id,
                "integration": call.integration,
                "tool": call.tool,
                "status": call.status,
                "latency_ms": float(call.latency_ms),
            }
            events.append(
                {
                    **base,
                    "upstream_status": call.upstream_status,
                    "request_bytes": call.request_bytes,
                    "response_bytes": call.response_bytes,
                }
            )
            own = secrets.get((call.user_id, call.integration), ()) if call.user_id is not None else ()
            if own is None:
                content = {"arguments": json.dumps(REDACTED), "result": REDACTED, "error": REDACTED}
            else:
                arguments = json.dumps(redact(dict(call.arguments or {}), own), default=str, ensure_ascii=False)
                if len(arguments) > self.excerpt_chars * 4:  # keep it valid JSON: a string excerpt of the object
                    arguments = json.dumps(arguments[: self.excerpt_chars * 4] + "…", ensure_ascii=False)
                content = {
                    "arguments": arguments,
                    "result": self._excerpt(call.result, own),
                    "error": self._excerpt(call.error, own),
                }
            logs.append({**base, **content})
            if call.user_id is not None:
                meter = meters[(call.user_id, call.ts.strftime("%Y-%m"))]
                meter[0] += 1
                meter[1] += call.status != "ok"
                self._users_since_prune.add(call.user_id)
        async with self.db.session() as session:
            # Core inserts of the tables (not the ORM's bulk path, which costs ~10 us a row to plan).
            await session.execute(insert(cast(Table, UsageEvent.__table__)), events)
            await session.execute(insert(cast(Table, CallLogEntry.__table__)), logs)
            for (user_id, month), (calls, errors) in meters.items():
                await session.execute(self._meter_upsert(user_id, month, calls, errors))

    def _meter_upsert(self, user_id: int, month: str, calls: int, errors: int) -> Any:
        """Add to a user's month in one statement (both dialects spell upsert the same way)."""
        dialect_insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
        statement = dialect_insert(MonthlyMeter).values(user_id=user_id, month=month, calls=calls, errors=errors)
        return statement.on_conflict_do_update(
            index_elements=["user_id", "month"],
            set_={
                "calls": MonthlyMeter.calls + statement.excluded.calls,
                "errors": MonthlyMeter.errors + statement.excluded.errors,
            },
        )

    async def prune(self) -> int:
        """Apply the call-log retention: older than `log_retention`, or beyond the last N per user."""
        users, self._users_since_prune = self._users_since_prune, set()
        removed = 0
        async with self.db.session() as session:
            result = await session.execute(delete(CallLogEntry).where(CallLogEntry.ts < utcnow() - self.log_retention))
            removed += int(result.rowcount)  # type: ignore[attr-defined]
            for user_id in users:
                threshold = await session.scalar(
                    select(CallLogEntry.id)
                    .where(CallLogEntry.user_id == user_id)
                    .order_by(CallLogEntry.id.desc())
                    .offset(self.log_keep_per_user)
                    .limit(1)
                )
                if threshold is not None:
                    result = await session.execute(
                        delete(CallLogEntry).where(CallLogEntry.user_id == user_id, CallLogEntry.id <= threshold)
                    )
                    removed += int(result.rowcount)  # type: ignore[attr-defined]
        return removed


# --- reading -----------------------------------------------------------------------------------------


def _percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (what PostgreSQL's percentile_cont computes)."""
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def summary(
    db: Database,
    *,
    user_id: int | None,
    since: datetime,
    until: datetime | None = None,
    by_tool: bool = True,
) -> list[UsageStats]:
    """Calls, errors and p50/p95 latency per integration (and tool) in [since, until); user None = everyone."""
    until = until or utcnow()
    keys = [UsageEvent.integration, UsageEvent.tool] if by_tool else [UsageEvent.integration]
    where = [UsageEvent.ts >= since, UsageEvent.ts < until]
    if user_id is not None:
        where.append(UsageEvent.user_id == user_id)
    errors = func.sum(case((UsageEvent.status != "ok", 1), else_=0))
    async with db.session() as session:
        if db.dialect == "postgresql":
            rows = (
                await session.execute(
                    select(
                        *keys,
                        func.count(),
                        errors,
                        func.percentile_cont(0.5).within_group(UsageEvent.latency_ms),
                        func.percentile_cont(0.95).within_group(UsageEvent.latency_ms),
                    )
                    .where(*where)
                    .group_by(*keys)
                    .order_by(*keys)
                )
            ).all()
            return [
                UsageStats(
                    str(r[0]), str(r[1]) if by_tool else None, int(r[-4]), int(r[-3] or 0), float(r[-2]), float(r[-1])
                )
                for r in rows
            ]
        # SQLite has no percentile aggregate: read the latencies per group, ordered, and interpolate here.
        raw = (await session.execute(select(*keys, UsageEvent.status, UsageEvent.latency_ms).where(*where))).all()
    groups: dict[tuple[str, ...], tuple[list[float], list[int]]] = {}
    for row in raw:
        group = tuple(row[: len(keys)])
        latencies, counts = groups.setdefault(group, ([], [0]))
        latencies.append(float(row[-1]))
        counts[0] += row[-2] != "ok"
    result = []
    for group in sorted(groups):
        latencies, counts = groups[group]
        latencies.sort()
        result.append(
            UsageStats(
                group[0],
                group[1] if by_tool else None,
                len(latencies),
                counts[0],
                _percentile(latencies, 0.5),
                _percentile(latencies, 0.95),
            )
        )
    return result


async def monthly(db: Database, *, user_id: int | None = None, month: str | None = None) -> list[MeterRow]:
    """Monthly meters (calls and errors per user per month), newest first."""
    query = select(MonthlyMeter)
    if user_id is not None:
        query = query.where(MonthlyMeter.user_id == user_id)
    if month is not None:
        query = query.where(MonthlyMeter.month == month)
    async with db.session() as session:
        rows = await session.scalars(query.order_by(MonthlyMeter.month.desc(), MonthlyMeter.user_id))
        return [MeterRow(r.user_id, r.month, r.calls, r.errors) for r in rows]


async def call_log(
    db: Database, *, user_id: int, limit: int = 50, integration: str | None = None, before_id: int | None = None
) -> list[LogEntry]:
    """The user's most recent calls (redacted when written), newest first; page with `before_id`."""
    query = select(CallLogEntry).where(CallLogEntry.user_id == user_id)
    if integration is not None:
        query = query.where(CallLogEntry.integration == integration)
    if before_id is not None:
        query = query.where(CallLogEntry.id < before_id)
    async with db.session() as session:
        rows = await session.scalars(query.order_by(CallLogEntry.id.desc()).limit(max(1, min(limit, 1000))))
        return [
            LogEntry(
                r.id,
                r.ts,
                r.key_id,
                r.integration,
                r.tool,
                r.status,
                r.latency_ms,
                json.loads(r.arguments) if r.arguments else {},
                r.result,
                r.error,
            )
            for r in rows
        ]
