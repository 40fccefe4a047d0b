"""Answered means recorded: a hub process killed (SIGKILL) under load loses no answered call's usage record.

Concurrent SDK clients call a tool of a real `mcphub serve` process, each call with an argument of its own,
until the process is killed mid-stream. A second process on the same data dir and database replays what the
first spooled but had not written yet. Then every answered call has exactly one call-log entry and one usage
event (records of calls killed before their answer left may be there too, once), the monthly meter agrees,
and after a graceful stop the spool is empty.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

from runtime.support import Account, Upstream, make_account, mcp_client, open_tenancy, petstore, serve, write_package
from sqlalchemy import func, select
from support.hub_process import hub_env, hub_popen

from mcphub.runtime.store.models import CallLogEntry, UsageEvent
from mcphub.runtime.tenancy.services import Tenancy
from mcphub.runtime.tenancy.usage import monthly

CLIENTS = 8
KILL_AFTER = 300  # answered calls before the SIGKILL (the hub writes every 0.5 s: several batches are in by then)
REPLAY_WAIT_S = 60.0


async def _load(base: str, account: Account, answered: list[str], enough: asyncio.Event) -> None:
    async def client(number: int) -> None:
        async with mcp_client(f"{base}/mcp", account.key) as session:
            for i in range(100_000):
                pet = f"c{number}-{i}"
                result = await session.call_tool("pets__get_pet", {"pet_id": pet})
                assert not result.is_error, result
                answered.append(pet)
                if len(answered) >= KILL_AFTER:
                    enough.set()

    await asyncio.gather(*(client(n) for n in range(CLIENTS)), return_exceptions=True)


async def _logged_pets(tenancy: Tenancy, user_id: int) -> Counter[str]:
    async with tenancy.db.session() as session:
        rows = await session.scalars(select(CallLogEntry.arguments).where(CallLogEntry.user_id == user_id))
        return Counter(json.loads(arguments)["pet_id"] for arguments in rows)


async def _usage_events(tenancy: Tenancy, user_id: int) -> int:
    async with tenancy.db.session() as session:
        count = await session.scalar(select(func.count()).select_from(UsageEvent).where(UsageEvent.user_id == user_id))
        return int(count or 0)


async def test_sigkill_under_load_loses_no_answered_call(db_url: str, tmp_path: Path) -> None:
    recorder = Upstream()
    with serve(recorder) as upstream_base:
        recorder.base_url = upstream_base
        catalog = tmp_path / "catalog"
        write_package(petstore(upstream_base), catalog)
        data_dir = tmp_path / "data"
        tenancy = await open_tenancy(data_dir, db_url)
        try:
            ada = await make_account(tenancy, "ada@example.com", enable=["pets"], credentials={"pets": {"token": "t"}})
            env = hub_env(db_url, data_dir, MCPHUB_LOG_KEEP="1000000")
            answered: list[str] = []
            enough = asyncio.Event()
            with hub_popen(env, catalog) as (process, base):
                load = asyncio.create_task(_load(base, ada, answered, enough))
                await asyncio.wait_for(enough.wait(), timeout=120)
                process.kill()  # SIGKILL: no shutdown, no flush
                process.wait()
                await load
            killed_with = await _logged_pets(tenancy, ada.user_id)
            spool = data_dir / "usage-spool"
            assert list(spool.glob("*.jsonl")), "the killed hub left no spool"

            with hub_popen(env, catalog):  # a new process on the same data dir replays the spool at start
                give_up = time.monotonic() + REPLAY_WAIT_S
                while not set(answered) <= set(await _logged_pets(tenancy, ada.user_id)):
                    assert time.monotonic() < give_up, "answered calls still without a record after the restart"
                    await asyncio.sleep(0.2)
            # stopped gracefully (SIGTERM): everything is written and the spool cleaned up
            logged = await _logged_pets(tenancy, ada.user_id)
            events = await _usage_events(tenancy, ada.user_id)
            meters = await monthly(tenancy.db, user_id=ada.user_id)
        finally:
            await tenancy.aclose()
    missing_before_replay = len(set(answered) - set(killed_with))
    print(f"answered {len(answered)}, recorded before the replay {len(killed_with)}, missing {missing_before_replay}")
    assert set(answered) <= set(logged)
    assert max(logged.values()) == 1, [pet for pet, n in logged.items() if n > 1][:10]  # none twice
    assert len(logged) - len(answered) <= CLIENTS  # only calls in flight at the kill may add a record
    assert events == len(logged)
    assert sum(m.calls for m in meters) == events
    assert list(spool.glob("*.jsonl")) == []
