"""Credentials are read from a cache on the call path; a change made by another process still wins at once.

Two `Tenancy` objects on one database stand for the running hub and the CLI next to it (without Redis their
changes travel through the database's change feed), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from mcphub.compiler.ir import AuthScheme, Integration, SourceInfo
from mcphub.runtime.tenancy.services import Tenancy

PETS = Integration(
    slug="pets",
    name="Pets",
    source=SourceInfo(kind="openapi", path="pets.json"),
    base_url="https://pets.example.com",
    auth=[AuthScheme(id="token", type="bearer")],
)


async def _eventually(check: object, want: object, deadline_s: float = 10.0) -> object:
    give_up = time.monotonic() + deadline_s
    while True:
        got = await check()  # type: ignore[operator]
        if got == want or time.monotonic() > give_up:
            return got
        await asyncio.sleep(0.05)


async def test_another_process_changing_a_credential_reaches_the_cached_reader(tmp_path: Path, db_url: str) -> None:
    hub = await Tenancy.open(tmp_path / "data", url=db_url, redis_url="", feed_interval=0.1)
    cli = await Tenancy.open(tmp_path / "data", url=db_url, redis_url="", feed_interval=0.1)
    try:
        user = await hub.accounts.create_user("ada@example.com", "a long enough password")
        provider = hub.provider.for_user(user.id)

        async def token() -> str | None:
            credential = await provider.get(PETS)
            return credential.token if credential is not None else None

        await cli.credentials.set(user.id, "pets", {"token": "first-token"}, scheme="token")
        assert await _eventually(token, "first-token") == "first-token"
        assert await token() == "first-token"  # now cached

        await cli.credentials.set(user.id, "pets", {"token": "second-token"}, scheme="token")
        assert await _eventually(token, "second-token") == "second-token"

        await cli.credentials.delete(user.id, "pets")
        assert await _eventually(token, None) is None

        await hub.credentials.set(user.id, "pets", {"token": "own-token"}, scheme="token")
        assert await token() == "own-token"  # this process's own change: no waiting for the feed
    finally:
        await cli.aclose()
        await hub.aclose()
