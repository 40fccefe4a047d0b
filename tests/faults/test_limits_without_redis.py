"""Rate limits while Redis is unreachable: per-process, open or closed, as the operator chose; logged once.

The limiter talks to a Redis URL on a closed port (connections refused), or to a redis-server of the test's
own that is stopped and started again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from redis.asyncio import Redis
from runtime.support import closed_port

from faults.redis_server import own_redis
from mcphub.runtime.tenancy.policy import (
    LimiterUnavailable,
    LimitsMode,
    RedisRateLimiter,
    limits_without_redis,
    parse_rate,
)

TWO_PER_HOUR = parse_rate("2/hour")
LOGGER = "mcphub.runtime.tenancy.policy"


def _outage_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and "unreachable" in r.getMessage()]


def _recovery_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and "answers again" in r.getMessage()]


@pytest.mark.parametrize(
    ("mode", "allowed"),
    [("local", [True, True, False, False]), ("open", [True] * 4), ("closed", [False] * 4)],
)
async def test_a_closed_port_falls_back_as_configured_and_logs_once(
    mode: LimitsMode, allowed: list[bool], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    down = Redis.from_url(f"redis://127.0.0.1:{closed_port()}/0", socket_connect_timeout=1)
    limiter = RedisRateLimiter(down, "faults", without_redis=mode, probe_every=0.0)  # ask Redis on every call
    seen = []
    for _ in allowed:
        try:
            seen.append(await limiter.acquire("key:1", TWO_PER_HOUR) == 0.0)
        except LimiterUnavailable as exc:
            assert "MCPHUB_LIMITS_WITHOUT_REDIS=closed" in str(exc)
            seen.append(False)
    await down.aclose()
    assert seen == allowed
    [line] = _outage_lines(caplog)
    assert line.exc_info is None  # one line, no traceback
    assert f"MCPHUB_LIMITS_WITHOUT_REDIS={mode}" in line.getMessage()
    assert not limiter.available


async def test_a_stopped_redis_is_logged_once_per_outage_and_once_on_recovery(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with own_redis(tmp_path) as server:
        client = Redis.from_url(server.url, socket_connect_timeout=1)
        limiter = RedisRateLimiter(client, "faults", probe_every=0.0)
        try:
            assert await limiter.acquire("a", TWO_PER_HOUR) == 0.0  # shared bucket in Redis: 1 of 2 used
            for outage in range(2):
                server.stop()
                for _ in range(5):  # per-process buckets while it is down: 2 allowed, then limited
                    await limiter.acquire(f"down-{outage}", TWO_PER_HOUR)
                assert await limiter.acquire(f"down-{outage}", TWO_PER_HOUR) > 0
                assert len(_outage_lines(caplog)) == outage + 1
                server.start()
                # Redis again (it kept nothing: --save ''): the first call after the outage is shared again.
                assert await limiter.acquire("b", TWO_PER_HOUR) == 0.0
                assert len(_recovery_lines(caplog)) == outage + 1
                assert limiter.available
        finally:
            await client.aclose()


def test_the_mode_is_checked_when_read() -> None:
    assert limits_without_redis(None) == "local"
    assert limits_without_redis(" Closed ") == "closed"
    with pytest.raises(ValueError, match=r"MCPHUB_LIMITS_WITHOUT_REDIS='shut' is not one of local, open, closed"):
        limits_without_redis("shut")
