"""Policy: enablement, connection, key scope, token-bucket rate limits in memory and in Redis."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from mcphub.compiler.ir import Integration
from mcphub.runtime.tenancy.accounts import KeyPrincipal
from mcphub.runtime.tenancy.policy import (
    MemoryRateLimiter,
    NotConnected,
    NotEnabled,
    OutOfScope,
    PolicyEngine,
    RateLimited,
    RedisRateLimiter,
    parse_rate,
)
from mcphub.runtime.tenancy.services import Tenancy

MakeIntegration = Callable[..., Integration]


def test_parse_rate() -> None:
    assert (parse_rate("60/min").limit, parse_rate("60/min").period) == (60, 60.0)
    assert parse_rate("10/s").per_second == 10
    assert parse_rate("1000/hour").period == 3600
    assert parse_rate("5 / 15min").period == 900
    assert parse_rate("100/days").period == 86400
    for bad in ("60", "0/min", "ten/min", "60/fortnight"):
        with pytest.raises(ValueError, match="not like"):
            parse_rate(bad)


async def test_memory_bucket_allows_a_burst_then_says_when_to_retry() -> None:
    limiter = MemoryRateLimiter()
    rate = parse_rate("3/min")
    assert [await limiter.acquire("k", rate) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await limiter.acquire("k", rate)
    assert 19 < wait <= 20  # one token every 20 s
    assert await limiter.acquire("other", rate) == 0.0


async def test_redis_bucket_is_atomic_and_shared_by_replicas(redis: Redis, namespace: str) -> None:
    replicas = [
        RedisRateLimiter(redis, namespace),
        RedisRateLimiter(Redis.from_url("redis://127.0.0.1:6379/0"), namespace),
    ]
    rate = parse_rate("10/hour")
    results = await asyncio.gather(*(replicas[i % 2].acquire("bucket", rate) for i in range(50)))
    assert sum(wait == 0.0 for wait in results) == 10
    assert all(300 < wait <= 360 * 10 for wait in results if wait)
    assert await replicas[0].acquire("another", rate) == 0.0
    assert 0 < await redis.ttl(f"{namespace}:rl:bucket") <= 3601
    await replicas[1].redis.aclose()


def _principal(user_id: int, scope: frozenset[str] | None = None, key_id: int = 1) -> KeyPrincipal:
    return KeyPrincipal(user_id=user_id, key_id=key_id, key_name="laptop", is_admin=False, scope=scope, expires_at=None)


async def test_policy_checks_enabled_connected_scope(tenancy: Tenancy, make_integration: MakeIntegration) -> None:
    user = await tenancy.accounts.create_user("ada@example.com", "correct horse battery")
    github, slack, public = (
        make_integration("github"),
        make_integration("slack"),
        make_integration("weather", auth=False),
    )
    principal = _principal(user.id)
    policy = tenancy.policy

    with pytest.raises(NotEnabled, match="mcphub integrations enable github"):
        await policy.check(principal, github, "ping")
    await tenancy.integrations.enable(user.id, "github")
    with pytest.raises(NotConnected, match="mcphub credentials set github"):
        await policy.check(principal, github, "ping")
    await tenancy.credentials.set(user.id, "github", {"token": "ghp_xxxxxxxxxxxxxxxx"})
    await policy.check(principal, github, "ping")
    await tenancy.integrations.enable(user.id, "weather")  # needs no credential
    await policy.check(principal, public, "ping")

    scoped = _principal(user.id, frozenset({"weather"}))
    with pytest.raises(OutOfScope, match="not scoped to github__ping"):
        await policy.check(scoped, github, "ping")
    assert [i.slug for i in await policy.visible(principal, [github, slack, public])] == ["github", "weather"]
    assert [i.slug for i in await policy.visible(scoped, [github, slack, public])] == ["weather"]

    await tenancy.integrations.disable(user.id, "github")
    with pytest.raises(NotEnabled):
        await policy.check(principal, github, "ping")
    assert [i.slug for i in await policy.visible(principal, [github, slack, public])] == ["weather"]


async def test_integration_and_key_rate_limits(tenancy: Tenancy, make_integration: MakeIntegration) -> None:
    ada = await tenancy.accounts.create_user("ada@example.com", "correct horse battery")
    bob = await tenancy.accounts.create_user("bob@example.com", "another long password")
    limited = make_integration("weather", auth=False, rate_limit="2/min")
    for user in (ada, bob):
        await tenancy.integrations.enable(user.id, "weather")
    policy = tenancy.policy
    await policy.check(_principal(ada.id, key_id=1), limited, "ping")
    await policy.check(_principal(ada.id, key_id=2), limited, "ping")  # per user: keys share the bucket
    with pytest.raises(RateLimited, match=r"Weather's limit of 2/min; retry in \d+\.\d s") as caught:
        await policy.check(_principal(ada.id, key_id=1), limited, "ping")
    assert caught.value.status == "rate_limited" and 0 < caught.value.retry_after <= 30
    await policy.check(_principal(bob.id, key_id=3), limited, "ping")  # another user's bucket

    per_key = PolicyEngine(tenancy.integrations, MemoryRateLimiter(), key_rate="1/hour")
    unlimited = make_integration("weather", auth=False)
    await per_key.check(_principal(ada.id, key_id=9), unlimited, "ping")
    with pytest.raises(RateLimited, match=r"this API key.s limit of 1/hour; retry in 60\.0 min"):
        await per_key.check(_principal(ada.id, key_id=9), unlimited, "ping")


async def test_change_listeners_hear_enable_disable_and_credentials(tenancy: Tenancy) -> None:
    user = await tenancy.accounts.create_user("ada@example.com", "correct horse battery")
    heard: list[int] = []

    async def listener(user_id: int) -> None:
        heard.append(user_id)

    tenancy.integrations.subscribe(listener)
    await tenancy.integrations.enable(user.id, "github")
    await tenancy.integrations.enable(user.id, "github")  # no change, no event
    await tenancy.credentials.set(user.id, "github", {"token": "ghp_xxxxxxxxxxxxxxxx"})
    await tenancy.credentials.delete(user.id, "github")
    await tenancy.integrations.disable(user.id, "github")
    assert heard == [user.id] * 4


async def test_enablement_changes_reach_every_replica(
    db_url: str, tmp_path: Path, redis: Redis, namespace: str, make_integration: MakeIntegration
) -> None:
    replicas = [
        await Tenancy.open(tmp_path / "data", url=db_url, redis_url="redis://127.0.0.1:6379/0", namespace=namespace)
        for _ in range(2)
    ]
    try:
        a, b = replicas
        user = await a.accounts.create_user("ada@example.com", "correct horse battery")
        heard: list[int] = []

        async def listener(user_id: int) -> None:
            heard.append(user_id)

        b.integrations.subscribe(listener)
        weather = make_integration("weather", auth=False)
        principal = _principal(user.id)
        assert await b.policy.visible(principal, [weather]) == []  # cached on b now
        await a.integrations.enable(user.id, "weather")
        deadline = asyncio.get_running_loop().time() + 5
        while not heard or not await b.policy.visible(principal, [weather]):
            assert asyncio.get_running_loop().time() < deadline, "the change did not reach replica b"
            await asyncio.sleep(0.01)
        assert heard == [user.id]
    finally:
        for replica in replicas:
            await replica.aclose()


async def test_rate_limits_fail_open_when_redis_is_down(tenancy: Tenancy, make_integration: MakeIntegration) -> None:
    user = await tenancy.accounts.create_user("ada@example.com", "correct horse battery")
    await tenancy.integrations.enable(user.id, "weather")
    down = Redis.from_url(f"redis://127.0.0.1:{_closed_port()}/0", socket_connect_timeout=0.5)
    limiter = RedisRateLimiter(down, "x", without_redis="open")  # MCPHUB_LIMITS_WITHOUT_REDIS=open
    policy = PolicyEngine(tenancy.integrations, limiter, key_rate="1/hour")
    limited = make_integration("weather", auth=False, rate_limit="1/hour")
    for _ in range(3):  # over both limits, yet allowed: the outage is logged, not turned into an outage of ours
        await policy.check(_principal(user.id), limited, "ping")
    await down.aclose()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
