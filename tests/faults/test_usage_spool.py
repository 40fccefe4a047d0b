"""The usage spool in one process: what a dead recorder left is replayed from its mark, once; a torn line is not."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mcphub.runtime.store.db import Database
from mcphub.runtime.store.migrations import upgrade
from mcphub.runtime.store.models import UsageEvent, UsageSpoolMark
from mcphub.runtime.tenancy.usage import CallRecord, UsageRecorder, UsageSpool


async def _count(db: Database, model: type) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    await upgrade(url)
    database = Database(url)
    yield database
    await database.aclose()


async def test_a_dead_recorders_spool_is_replayed_from_its_mark(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    dead = UsageRecorder(db, spool=UsageSpool(folder))
    for i in range(5):
        dead.record(CallRecord(1, 1, "pets", "get_pet", "ok", 1.0, arguments={"pet_id": f"in-{i}"}))
    assert await dead.flush() == 5  # in the database, and the mark says so
    for i in range(3):
        dead.record(CallRecord(1, 1, "pets", "get_pet", "ok", 1.0, arguments={"pet_id": f"spooled-{i}"}))
    [segment] = folder.glob("*.jsonl")
    with segment.open("ab") as file:
        file.write(b'{"user_id": 1, "tool": "torn')  # the write a kill cut short: that call was never answered
    assert dead.spool is not None
    for own in list(dead.spool._ours.values()):
        os.close(own.fd)  # the process "dies": its locks go, its files stay

    heir = UsageRecorder(db, spool=UsageSpool(folder))
    assert await heir.replay() == 3
    assert await heir.replay() == 0
    assert await _count(db, UsageEvent) == 8
    assert list(folder.glob("*.jsonl")) == []
    assert await _count(db, UsageSpoolMark) == 0
    await heir.aclose()


async def test_a_live_recorders_spool_is_left_alone(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    live = UsageRecorder(db, spool=UsageSpool(folder))
    live.record(CallRecord(1, 1, "pets", "get_pet", "ok", 1.0))
    other = UsageRecorder(db, spool=UsageSpool(folder))
    assert await other.replay() == 0  # locked by its writer: not a leftover
    await live.aclose()  # graceful: written, and its spool removed
    assert await _count(db, UsageEvent) == 1
    assert list(folder.glob("*.jsonl")) == []
    await other.aclose()
