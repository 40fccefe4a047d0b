"""What the session channel shares between replicas in Redis, and what each replica falls back to without it.

Two `SessionChannel`s on one real redis-server of the test's own are two replicas: the log level a session set
through one is read by the other, until the session's sealed expiry; a legacy SSE session recorded by the replica
holding its stream is known (with its owner) to the other; the replica that got a session's last subscribe is the
one that passes its updates on. With Redis stopped, each keeps serving from what it saw itself, and says so once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from faults.redis_server import OwnRedis, own_redis
from redis.asyncio import Redis

from mcphub.runtime.mcp.replicas import SessionChannel, SessionFacts, SessionSeal

OWNER = ("user:1", "mcphub", "1")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[OwnRedis]:
    with own_redis(tmp_path) as server:
        yield server


@pytest.fixture
async def replicas(redis_server: OwnRedis) -> AsyncIterator[tuple[SessionChannel, SessionChannel, Redis]]:
    seal = SessionSeal(os.urandom(32), ttl_s=600)
    clients = [Redis.from_url(redis_server.url) for _ in range(3)]
    try:
        yield SessionChannel(clients[0], "t", seal=seal), SessionChannel(clients[1], "t", seal=seal), clients[2]
    finally:
        for client in clients:
            await client.aclose()


def sealed_id(channel: SessionChannel, ttl_s: float = 600) -> str:
    assert channel.seal is not None
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    return channel.seal.seal(SessionFacts.from_initialize(params, OWNER, ttl_s))


async def test_a_log_level_set_through_one_replica_is_read_by_another_until_the_session_expires(
    replicas: tuple[SessionChannel, SessionChannel, Redis],
) -> None:
    one, two, redis = replicas
    session = sealed_id(one, ttl_s=120)
    assert await two.level(f"http:{session}") is None  # none set: the hub relays every level
    await one.set_level(f"http:{session}", 3)
    assert await two.level(f"http:{session}") == 3
    await two.set_level(f"http:{session}", 1)  # changed again through the other replica
    assert await one.level(f"http:{session}") == 1
    [key] = await redis.keys("t:log-level:*")
    assert 100 < await redis.ttl(key) <= 120  # kept as long as the sealed id lives, not longer
    assert await two.level(f"http:{sealed_id(one)}") is None  # another session's level is its own


async def test_without_redis_each_replica_keeps_the_level_it_saw_and_says_so_once(
    replicas: tuple[SessionChannel, SessionChannel, Redis],
    redis_server: OwnRedis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    one, two, _ = replicas
    session = f"http:{sealed_id(one)}"
    await one.set_level(session, 4)
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="mcphub.runtime.mcp.replicas"):
        await one.set_level(session, 5)  # remembered here while Redis is down
        assert await one.level(session) == 5
        assert await one.level(session) == 5
        assert await two.level(session) is None  # the other replica relays every level meanwhile
    down = [r.getMessage() for r in caplog.records if r.name == "mcphub.runtime.mcp.replicas"]
    assert len([m for m in down if "falling back" in m]) == 2, down  # once per replica and outage
    redis_server.start()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mcphub.runtime.mcp.replicas"):
        await one.set_level(session, 2)
        assert await two.level(session) == 2
    assert any("again" in r.getMessage() for r in caplog.records), caplog.records  # and once when it is back


async def test_a_legacy_sse_session_held_by_one_replica_is_known_with_its_owner_to_the_others(
    replicas: tuple[SessionChannel, SessionChannel, Redis],
) -> None:
    one, two, _ = replicas
    session = os.urandom(16).hex()
    assert await two.sse_owner(session) == (False, None)
    await one.hold_sse(session, OWNER)
    assert await two.sse_owner(session) == (True, OWNER)
    await one.hold_sse(other := os.urandom(16).hex(), None)  # a hub without accounts: no owner, but held
    assert await two.sse_owner(other) == (True, None)
    await one.release_sse(session)
    assert await two.sse_owner(session) == (False, None)


async def test_the_replica_of_the_last_subscribe_passes_the_updates_on_until_any_replica_unsubscribes(
    replicas: tuple[SessionChannel, SessionChannel, Redis], redis_server: OwnRedis
) -> None:
    one, two, redis = replicas
    session, uri = sealed_id(one), "test://watched-resource"
    await one.subscribed_here(session, uri)
    assert (await one.passes_updates(session, uri), await two.passes_updates(session, uri)) == (True, False)
    await two.subscribed_here(session, uri)
    assert (await one.passes_updates(session, uri), await two.passes_updates(session, uri)) == (False, True)
    assert await two.passes_updates(session, "test://other") is False
    [key] = await redis.keys("t:subscriptions:*")
    assert 0 < await redis.ttl(key) <= 600
    await one.unsubscribed(session, uri)
    assert (await one.passes_updates(session, uri), await two.passes_updates(session, uri)) == (False, False)
    await one.subscribed_here(session, uri)
    redis_server.stop()
    assert await two.passes_updates(session, uri) is True  # Redis down: pass updates on rather than lose them


async def test_one_process_without_redis_keeps_everything_in_memory() -> None:
    alone = SessionChannel(None, "t")
    assert not alone.shared
    await alone.set_level("sse:abc", 6)
    assert await alone.level("sse:abc") == 6
    await alone.hold_sse("abc", OWNER)
    assert await alone.sse_owner("abc") == (False, None)  # nothing to relay to: the SDK's own handler answers
    await alone.subscribed_here("abc", "u")
    assert await alone.passes_updates("abc", "u") is True
