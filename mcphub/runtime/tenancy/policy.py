"""May this key call this tool now? Enablement, key scope and rate limits, checked before any upstream I/O.

Rate limits are token buckets: "60/min" holds up to 60 tokens and refills one per second, so bursts up
to the limit pass and the long-run rate is the limit. Two buckets apply to a call:
- per key (`key_rate`, hub-wide, e.g. "600/min"): one agent cannot starve the hub;
- per user and integration (the integration's `Policy.rate_limit`): the upstream sees at most that
  rate from one user's credential, whichever keys or replicas the calls come through.

In memory by default (one process). With Redis every replica shares the buckets: one Lua script
reads, refills and takes a token atomically, using the Redis server's clock so replicas with skewed
clocks agree. While Redis cannot be reached, the operator's `MCPHUB_LIMITS_WITHOUT_REDIS` decides:
`local` (default) keeps limiting with this process's own buckets (N replicas then allow up to N times a
limit), `open` lets every call through, `closed` refuses what cannot be limited. The outage is logged
once when it starts and once when Redis answers again; meanwhile Redis is asked again at most once a
second, so calls do not each wait for a refused connection.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from mcphub.compiler.ir import Integration
from mcphub.runtime.errors import HubError
from mcphub.runtime.tenancy.accounts import KeyPrincipal
from mcphub.runtime.tenancy.enablement import UserIntegrations

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "LIMITS_MODES",
    "LimiterUnavailable",
    "LimitsMode",
    "MemoryRateLimiter",
    "NotConnected",
    "NotEnabled",
    "OutOfScope",
    "PolicyEngine",
    "PolicyError",
    "Rate",
    "RateLimited",
    "RateLimiter",
    "RedisRateLimiter",
    "limits_without_redis",
    "parse_rate",
]

logger = logging.getLogger(__name__)

_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")


@dataclass(frozen=True, slots=True)
class Rate:
    """`limit` calls per `period` seconds."""

    limit: int
    period: float
    text: str

    @property
    def per_second(self) -> float:
        return self.limit / self.period


def parse_rate(text: str) -> Rate:
    """Parse "60/min", "10/s", "1000/hour", "5/15min", "100/day"."""
    match = _RATE_RE.match(text.lower())
    unit = match and _UNITS.get(match.group(3))
    if not match or unit is None or int(match.group(1)) <= 0:
        raise ValueError(f"rate limit {text!r} is not like '60/min' (units: s, min, hour, day)")
    count = int(match.group(2) or 1)
    return Rate(int(match.group(1)), unit * count, text.strip())


class PolicyError(HubError):
    """A call refused before it reached the upstream; the message is safe to show to the caller."""

    status = "denied"


class NotEnabled(PolicyError):
    pass


class NotConnected(PolicyError):
    pass


class OutOfScope(PolicyError):
    pass


class RateLimited(PolicyError):
    status = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimiter(Protocol):
    async def acquire(self, bucket: str, rate: Rate) -> float:
        """Take one token; 0.0 if allowed, otherwise the seconds until a token is available."""
        ...


class MemoryRateLimiter:
    """Token buckets in this process (the embedded, single-process deployment)."""

    def __init__(self, max_buckets: int = 100_000) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # bucket -> (tokens, monotonic time)
        self._max = max_buckets

    async def acquire(self, bucket: str, rate: Rate) -> float:
        now = time.monotonic()
        tokens, last = self._buckets.get(bucket, (float(rate.limit), now))
        tokens = min(float(rate.limit), tokens + (now - last) * rate.per_second)
        if tokens >= 1.0:
            if len(self._buckets) >= self._max and bucket not in self._buckets:
                self._evict(now, rate)
            self._buckets[bucket] = (tokens - 1.0, now)
            return 0.0
        self._buckets[bucket] = (tokens, now)
        return (1.0 - tokens) / rate.per_second

    def _evict(self, now: float, rate: Rate) -> None:
        # Buckets idle long enough to be full again carry no state worth keeping.
        idle = rate.period
        for key, (_, last) in list(self._buckets.items()):
            if now - last > idle:
                del self._buckets[key]
        if len(self._buckets) >= self._max:
            self._buckets.clear()


# KEYS[1] bucket; ARGV: limit, refill per second, ttl. Returns "0" or the wait in seconds (as a string:
# Lua numbers returned to Redis are truncated to integers).
_TOKEN_BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then
  tokens = limit
  ts = now
end
tokens = math.min(limit, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return tostring(wait)
"""


LimitsMode = Literal["local", "open", "closed"]
LIMITS_MODES: tuple[LimitsMode, ...] = ("local", "open", "closed")
LIMITS_ENV = "MCPHUB_LIMITS_WITHOUT_REDIS"


def limits_without_redis(value: str | None) -> LimitsMode:
    """The operator's choice for rate limits while Redis is down (`MCPHUB_LIMITS_WITHOUT_REDIS`; default local)."""
    mode = (value or "local").strip().lower()
    if mode not in LIMITS_MODES:
        raise ValueError(f"{LIMITS_ENV}={value!r} is not one of {', '.join(LIMITS_MODES)} (default: local)")
    return mode


class LimiterUnavailable(HubError):
    """Redis cannot be asked and the operator chose `closed`: refuse (the message is safe to show the caller)."""


class RedisRateLimiter:
    """Token buckets in Redis, shared by every replica (atomic: one Lua script per call); see the module docstring
    for what happens while Redis is down."""

    def __init__(
        self,
        redis: Redis,
        namespace: str = "mcphub",
        *,
        without_redis: LimitsMode = "local",
        probe_every: float = 1.0,
    ) -> None:
        from redis.exceptions import RedisError

        self.redis = redis
        self.namespace = namespace
        self.without_redis = without_redis
        self.probe_every = probe_every
        self._script = redis.register_script(_TOKEN_BUCKET)
        self._errors = RedisError
        self._local = MemoryRateLimiter()
        self._down = False
        self._probe_at = 0.0  # while down: when Redis is asked again

    @property
    def available(self) -> bool:
        """False while an outage is under way (from the first failed call to the first answer after it)."""
        return not self._down

    async def acquire(self, bucket: str, rate: Rate) -> float:
        if not self._down or time.monotonic() >= self._probe_at:
            ttl = max(1, math.ceil(rate.period) + 1)  # a bucket idle this long is full again: let it expire
            try:
                result = await self._script(
                    keys=[f"{self.namespace}:rl:{bucket}"], args=[rate.limit, rate.per_second, ttl]
                )
            except self._errors as exc:
                self._failed(exc)
            else:
                if self._down:
                    self._down = False
                    logger.warning("Redis answers again: rate limits are shared by every replica again")
                return float(result.decode() if isinstance(result, bytes) else result)
        if self.without_redis == "local":
            return await self._local.acquire(bucket, rate)
        if self.without_redis == "open":
            return 0.0
        raise LimiterUnavailable(
            f"rate limits cannot be checked while Redis is unreachable, and this hub is set to refuse calls then "
            f"({LIMITS_ENV}=closed); retry in a few seconds"
        )

    def _failed(self, exc: Exception) -> None:
        self._probe_at = time.monotonic() + self.probe_every
        if self._down:
            return
        self._down = True
        # Once per outage and without a traceback: the cause is the connection, not this code.
        consequence = {
            "local": "each process applies the limits on its own until it is back",
            "open": "calls are not rate limited until it is back",
            "closed": "calls and sign-ins are refused until it is back",
        }[self.without_redis]
        logger.warning(
            "Redis is unreachable for rate limits (%s: %s): %s (%s=%s)",
            type(exc).__name__,
            exc,
            consequence,
            LIMITS_ENV,
            self.without_redis,
        )


def _retry_text(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


class PolicyEngine:
    """The checks between an authenticated key and a tool call (see the module docstring)."""

    def __init__(
        self,
        integrations: UserIntegrations,
        limiter: RateLimiter | None = None,
        *,
        key_rate: str | Rate | None = None,
    ) -> None:
        self.integrations = integrations
        self.limiter: RateLimiter = limiter or MemoryRateLimiter()
        self.key_rate = parse_rate(key_rate) if isinstance(key_rate, str) else key_rate
        self._rates: dict[str, Rate | None] = {}

    def _integration_rate(self, integration: Integration) -> Rate | None:
        text = integration.policy.rate_limit or ""
        if text not in self._rates:
            self._rates[text] = parse_rate(text) if text else None
        return self._rates[text]

    async def visible(self, principal: KeyPrincipal, integrations: Iterable[Integration]) -> list[Integration]:
        """The integrations `tools/list` shows this key: enabled and connected for its user, in its scope."""
        candidates = [integration for integration in integrations if principal.allows(integration.slug)]
        if not candidates:
            return []
        state = await self.integrations.states(principal.user_id)
        return [
            integration
            for integration in candidates
            if (s := state.get(integration.slug)) is not None and s.enabled and (s.connected or not integration.auth)
        ]

    async def check(self, principal: KeyPrincipal, integration: Integration, tool: str) -> None:
        """Raise a PolicyError if this key may not call `tool` of `integration` now; take rate-limit tokens."""
        slug = integration.slug
        if not principal.allows(slug, tool):
            raise OutOfScope(f"this API key ({principal.key_name}) is not scoped to {slug}__{tool}")
        state = (await self.integrations.states(principal.user_id)).get(slug)
        if state is None or not state.enabled:
            raise NotEnabled(
                f"{integration.name} is not enabled for your account; enable it with `mcphub integrations enable {slug}`"
            )
        if integration.auth and not state.connected:
            raise NotConnected(
                f"{integration.name} is not connected: set its credential with `mcphub credentials set {slug}`"
            )
        await self.take(principal, integration)

    async def take(self, principal: KeyPrincipal, integration: Integration) -> None:
        """Take a token from the key's and the integration's buckets, or raise RateLimited."""
        checks: list[tuple[str, Rate, str]] = []
        if self.key_rate is not None:
            checks.append((f"key:{principal.key_id}", self.key_rate, f"this API key's limit of {self.key_rate.text}"))
        rate = self._integration_rate(integration)
        if rate is not None:
            checks.append(
                (f"int:{integration.slug}:{principal.user_id}", rate, f"{integration.name}'s limit of {rate.text}")
            )
        for bucket, bucket_rate, what in checks:
            try:
                wait = await self.limiter.acquire(bucket, bucket_rate)
            except LimiterUnavailable as exc:  # Redis down and the operator chose `closed`
                raise RateLimited(str(exc), retry_after=1.0) from None
            if wait > 0:
                raise RateLimited(f"rate limited by {what}; retry in {_retry_text(wait)}", retry_after=wait)
