"""Usage events, the call log and monthly meters: recorded off the request path, written in batches.

`UsageRecorder.record(call)` only appends to a buffer (no I/O, no await), so the request path pays
nothing. A background task writes the buffer every `flush_interval` seconds or as soon as
`batch_size` records wait, one transaction per chunk: the usage events, the call-log entries and the
monthly-meter increments of a chunk commit together or not at all, so a failed write is retried
whole (nothing lost, nothing counted twice). `aclose()` (graceful shutdown) flushes what is left.

Answered means recorded: with a spool (`UsageSpool`, in the data dir by default), `record` also appends
the record as one line to this process's append-only spool file before the answer leaves. A killed process
loses its buffer, not its records: the next process to start on that data dir replays the spool into the
database. Each chunk's transaction also stores how far into its spool file the database now is (a
`UsageSpoolMark`), so a replay writes exactly the records that were not committed: none twice.

Redaction happens before anything reaches the call log: values of fields named like a secret
(password, token, secret, authorization, api key, cookie, …), bearer/basic/`mcp_sk_` strings, and
every value of the caller's stored credentials, wherever it appears (also inside longer strings).
Excerpts are cut after redaction so a secret cannot be half-kept by the cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import re
import secrets as secrets_module
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

import orjson
from sqlalchemy import Table, case, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from mcphub.runtime import tasks
from mcphub.runtime.store.db import Database, utcnow
from mcphub.runtime.store.models import CallLogEntry, MonthlyMeter, UsageEvent, UsageSpoolMark

__all__ = [
    "REDACTED",
    "CallRecord",
    "LogEntry",
    "MeterRow",
    "Status",
    "UsageRecorder",
    "UsageSpool",
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
    # (spool segment, its size after this record's line) once spooled; not part of the record itself.
    spooled: tuple[str, int] | None = field(default=None, repr=False, compare=False)


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


# --- the spool ------------------------------------------------------------------------------------------

_SPOOLED_FIELDS = (
    *("user_id", "key_id", "integration", "tool", "status", "latency_ms", "upstream_status"),
    *("request_bytes", "response_bytes", "arguments", "result", "error"),
)


def _jsonable(value: Any) -> Any:
    """orjson's fallback for argument values JSON-RPC did not produce (a Mapping view, a custom type)."""
    return dict(value) if isinstance(value, Mapping) else str(value)


@dataclass(slots=True, eq=False)
class _Segment:
    """One spool file, opened and flock-ed by this process."""

    path: Path
    fd: int
    size: int
    committed: int = 0  # bytes whose records are in the database

    @property
    def name(self) -> str:
        return self.path.name


class UsageSpool:
    """Append-only files of call records on their way to the database (see the module docstring).

    `append` writes one JSON line with a single os.write on an O_APPEND descriptor: when it returns, the line is
    in the kernel's page cache, which outlives the process (a SIGKILL, an OOM kill), though not the machine
    (there is no fsync per call: that would cost a disk flush per tool call). Every process writes segments of
    its own, named at random, and holds an exclusive flock on each while it lives; a segment nobody holds a lock
    on was left by a process that ended before its records reached the database, and `leftovers` hands it over
    for replay. A segment is deleted once all its records are committed; a new one is started every
    `segment_bytes`.
    """

    def __init__(self, folder: Path, *, segment_bytes: int = 16 * 1024 * 1024) -> None:
        self.folder = folder
        self.segment_bytes = segment_bytes
        self._current: _Segment | None = None
        self._ours: dict[str, _Segment] = {}
        self._failing = False

    def append(self, call: CallRecord) -> tuple[str, int] | None:
        """Spool one record; None (logged once) if the spool cannot be written: the record stays in memory."""
        line = orjson.dumps(
            {name: getattr(call, name) for name in _SPOOLED_FIELDS} | {"ts": call.ts}, default=_jsonable
        )
        try:
            segment = self._current
            if segment is None or segment.size >= self.segment_bytes:
                segment = self._start_segment()
            os.write(segment.fd, line + b"\n")  # a regular file takes the whole line in one write
        except OSError as exc:
            if not self._failing:
                self._failing = True
                logger.error(
                    "cannot write the usage spool in %s (%s): records are kept in memory only", self.folder, exc
                )
            return None
        self._failing = False
        segment.size += len(line) + 1
        return segment.name, segment.size

    def _start_segment(self) -> _Segment:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.folder / f"{secrets_module.token_hex(12)}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new random name: nobody else can hold it
        self._current = self._ours[path.name] = _Segment(path, fd, 0)
        return self._current

    def committed(self, marks: Mapping[str, int]) -> list[str]:
        """Note how far segments are in the database; deletes and returns those finished (all records in)."""
        for name, size in marks.items():
            segment = self._ours.get(name)
            if segment is not None:
                segment.committed = max(segment.committed, size)
        finished = [s for s in self._ours.values() if s is not self._current and s.committed >= s.size]
        for segment in finished:
            self.remove(segment)
        return [segment.name for segment in finished]

    def close(self) -> list[str]:
        """Graceful shutdown: delete the segments whose records are all committed (returned); keep the rest."""
        self._current = None
        finished = self.committed({})
        for segment in list(self._ours.values()):  # unfinished: the next process replays them
            os.close(segment.fd)
            del self._ours[segment.name]
        return finished

    def remove(self, segment: _Segment) -> None:
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()  # while still locked: nobody can take it for replay in between
        os.close(segment.fd)
        self._ours.pop(segment.name, None)

    def leftovers(self) -> list[_Segment]:
        """Segments of processes that are gone, oldest first, now locked by this process (replay, then remove)."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in sorted(self.folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime if p.exists() else 0):
            if path.name in self._ours:
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # its owner finished it just now
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # a live process's (or another replay's)
                os.close(fd)
                continue
            info = os.fstat(fd)
            if info.st_nlink == 0:  # removed between listing and locking: its records are all in
                os.close(fd)
                continue
            found.append(_Segment(path, fd, info.st_size))
        return found

    @staticmethod
    def read(segment: _Segment, start: int) -> list[CallRecord]:
        """The records after byte `start`, each marked with its end (a torn last line was never answered)."""
        with os.fdopen(os.dup(segment.fd), "rb") as file:
            file.seek(start)
            data = file.read(max(0, segment.size - start))
        records = []
        offset = start
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            offset += len(line)
            try:
                fields = orjson.loads(line)
                fields["ts"] = datetime.fromisoformat(fields["ts"])
                records.append(CallRecord(**fields, spooled=(segment.name, offset)))
            except (ValueError, TypeError, KeyError):
                logger.error("skipped an unreadable line of the usage spool %s at byte %d", segment.path, offset)
        return records


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
        spool: UsageSpool | None = None,
    ) -> None:
        self.db = db
        self.spool = spool
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
        """Spool and queue a record; never awaits, never raises, never drops."""
        if self.spool is not None:
            call.spooled = self.spool.append(call)
        self._buffer.append(call)
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="mcphub-usage-flusher")

    async def aclose(self) -> None:
        """Stop the background writer and flush everything still buffered."""
        # Never cancel the writer inside a write: with the lock held it is waiting, sleeping or pruning. A cancel
        # that lands in a commit's await may leave the commit done (aiosqlite commits in its own thread) and the
        # chunk still buffered, and the flush below would then write it a second time.
        async with self._lock:
            await tasks.stop(self._task)
        self._task = None
        try:
            await self.flush()
        finally:
            if self.spool is not None:  # what could not be written stays spooled for the next start
                await self._forget_marks(self.spool.close())

    async def replay(self) -> int:
        """Write the spooled records of processes that ended before writing them; returns how many."""
        if self.spool is None:
            return 0
        replayed = 0
        async with self._lock:
            for segment in self.spool.leftovers():
                try:
                    async with self.db.session() as session:
                        start = await session.scalar(
                            select(UsageSpoolMark.committed_bytes).where(UsageSpoolMark.segment == segment.name)
                        )
                    records = self.spool.read(segment, int(start or 0))
                    for first in range(0, len(records), self.batch_size):
                        await self._write(records[first : first + self.batch_size])
                except BaseException:
                    os.close(segment.fd)  # unlocked: replayed (from its mark) by the next try
                    raise
                self.spool.remove(segment)
                await self._forget_marks([segment.name])
                if records:
                    logger.warning(
                        "wrote %d call records that a process which ended abruptly had answered but not stored "
                        "(usage spool %s)",
                        len(records),
                        segment.path,
                    )
                replayed += len(records)
        self.written += replayed
        return replayed

    async def _forget_marks(self, segments: list[str]) -> None:
        if not segments:
            return
        try:
            async with self.db.session() as session:
                await session.execute(delete(UsageSpoolMark).where(UsageSpoolMark.segment.in_(segments)))
        except Exception:  # a leftover mark names a deleted file: harmless, never read again
            logger.exception("could not delete the marks of finished usage spool segments %s", segments)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = self.flush_interval
        while self.spool is not None:  # first the records a killed process left behind
            try:
                await self.replay()
                break
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                backoff = min(30.0, max(backoff * 2, 0.1))
                logger.exception("replaying the usage spool failed; retrying in %.1f s", backoff)
                await asyncio.sleep(backoff)
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
                marks = await self._write(chunk)  # on failure the chunk stays at the head of the buffer
                del self._buffer[: len(chunk)]
                written += len(chunk)
                if self.spool is not None and marks:
                    await self._forget_marks(self.spool.committed(marks))
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

    async def _write(self, chunk: list[CallRecord]) -> dict[str, int]:
        """Write a chunk in one transaction with its spool marks; returns the marks (segment -> bytes committed).

        Idempotent for spooled records: those at or before their segment's committed mark are already in the
        database (a retry after a commit that succeeded but reported an error, e.g. a dropped connection), so
        they are left out rather than written twice.
        """
        already = {c.spooled[0]: c.spooled[1] for c in chunk if c.spooled is not None}  # ends grow in a segment
        chunk = await self._not_yet_committed(chunk)
        if not chunk:  # all of it was in: say so, so that the spool can let its segments go
            return already
        secrets = await self._secrets_for(chunk)
        marks: dict[str, int] = {}
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
            if call.spooled is not None:
                segment, end = call.spooled
                marks[segment] = max(end, marks.get(segment, 0))
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
            for segment, end in marks.items():
                await session.execute(self._mark_upsert(segment, end))
        return marks

    async def _not_yet_committed(self, chunk: list[CallRecord]) -> list[CallRecord]:
        segments = {call.spooled[0] for call in chunk if call.spooled is not None}
        if not segments:
            return chunk
        async with self.db.session() as session:
            rows = await session.execute(
                select(UsageSpoolMark.segment, UsageSpoolMark.committed_bytes).where(
                    UsageSpoolMark.segment.in_(segments)
                )
            )
            committed = {segment: int(size) for segment, size in rows.all()}
        if not committed:
            return chunk
        return [c for c in chunk if c.spooled is None or c.spooled[1] > committed.get(c.spooled[0], 0)]

    def _dialect_insert(self) -> Any:
        return pg_insert if self.db.dialect == "postgresql" else sqlite_insert

    def _mark_upsert(self, segment: str, committed: int) -> Any:
        statement = self._dialect_insert()(UsageSpoolMark).values(
            segment=segment, committed_bytes=committed, updated_at=utcnow()
        )
        return statement.on_conflict_do_update(
            index_elements=["segment"],
            set_={"committed_bytes": statement.excluded.committed_bytes, "updated_at": statement.excluded.updated_at},
        )

    def _meter_upsert(self, user_id: int, month: str, calls: int, errors: int) -> Any:
        """Add to a user's month in one statement (both dialects spell upsert the same way)."""
        statement = self._dialect_insert()(MonthlyMeter).values(
            user_id=user_id, month=month, calls=calls, errors=errors
        )
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
