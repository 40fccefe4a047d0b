"""Handshake-era sessions that any replica can serve: sealed session ids and the cross-replica session channel.

A handshake-era (streamable HTTP) session is what `initialize` negotiated: the protocol version, the client's
capabilities and client info, and who opened it. The hub puts exactly that into the session id it hands out
(`Mcp-Session-Id`), sealed with AES-256-GCM under a hub secret every replica shares (`vault.hub_secret`, kept
in the database): the id is encrypted (the client cannot read what it declared back out of it, nor anyone who
sees the header) and authenticated (it cannot be forged or edited), carries its owner (the SDK's identity of
the key's user: a session opened with one user's key answers 404 to another user's key, on every replica, as
the SDK's own owner check does) and an absolute expiry (`MCPHUB_SESSION_TTL_S`, 24 h by default). A replica
that gets a request for a session it has never seen opens the id and rebuilds the SDK session from it — born
initialized, as if the handshake had just happened there (`sdk.HubSessionManager`). Nothing is looked up per
request: the fast path serves a known session from memory as before, and a replica rebuilds a session once.

What a sealed id cannot carry travels on one Redis channel (`SessionChannel`), to every replica:
- **ended**: a session closed with DELETE on one replica is closed on all (its GET stream too), and refused
  afterwards (a Redis key until the id would have expired anyway, so a replica that starts later knows too);
- **reply**: a client's answer to a server-to-client request (sampling, elicitation, roots relayed from an
  upstream MCP server during a call) that the balancer sent to another replica reaches the one waiting for it;
- **notify**: a standalone-stream notification for one session (`notifications/resources/updated` of an
  upstream subscription) reaches the replica that holds the session's `GET /mcp` stream;
- **lists**: an upstream MCP server's prompt or resource list change, announced to one replica's session with it
  (often only the session whose call caused it), reaches the streams every replica holds;
- **sse**: a legacy HTTP+SSE message (`POST /messages/?session_id=…`) that the balancer gave to another replica
  than the one holding the session's `GET /sse` stream reaches the holder, which handles it and answers on the
  stream (`legacysse.LegacySse`; Redis remembers which sessions exist and whose they are, for the 404s).
And one piece of per-session state that changes after the handshake lives in Redis, keyed by the session, until
the session would have expired: the level a session set with `logging/setLevel`; and which replica passes on a
session's resource updates (the one that got its last `resources/subscribe`; an unsubscribe through any replica
stops it).
List-changed notifications need no message of their own: integration changes already reach every replica
(`tenancy.fanout`), and each tells the sessions it holds; a replica registers a session it rebuilds, so the
replica holding a session's GET stream is among them.

Without Redis (one process) the channel delivers to this process only — and the database's change feed carries
`ended` to other processes on the same database, as it carries key revocations. Log levels are then this
process's memory (also the fallback while Redis is down: what this replica saw set, else everything).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION

from mcphub.runtime.tenancy.fanout import ChangeFeed, Fanout

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from mcphub.runtime.tenancy.services import Tenancy

__all__ = [
    "DEFAULT_TTL_S",
    "Owner",
    "SessionChannel",
    "SessionFacts",
    "SessionSeal",
    "negotiated_version",
]

logger = logging.getLogger(__name__)

DEFAULT_TTL_S = 24 * 3600
_PREFIX = "s1."  # the format of the sealed id (a later format gets another prefix; old ids then answer 404)
_AAD = b"mcphub:session:v1"
_NONCE = 12
# What of `clientInfo` is kept: enough to name the client in logs and to rebuild the SDK's `Implementation`.
_INFO_FIELDS = ("name", "version", "title")
_MAX_CAPABILITIES_JSON = 2048  # larger declarations keep their top-level keys only (see `_compact_capabilities`)

Owner = tuple[str | None, str | None, str | None]  # the SDK's AuthorizationContext: client_id, issuer, subject


def negotiated_version(requested: object) -> str:
    """The version the SDK's handshake settles on for a requested one (`ServerRunner._negotiate_initialize`)."""
    return (
        requested
        if isinstance(requested, str) and requested in HANDSHAKE_PROTOCOL_VERSIONS
        else LATEST_HANDSHAKE_VERSION
    )


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What `initialize` established for a session, as sealed into its id."""

    version: str
    capabilities: dict[str, Any]
    client_info: dict[str, Any]
    owner: Owner | None
    expires: int  # unix seconds

    @classmethod
    def from_initialize(cls, params: Mapping[str, Any], owner: Owner | None, ttl_s: float) -> SessionFacts:
        capabilities = params.get("capabilities")
        info = params.get("clientInfo")
        return cls(
            version=negotiated_version(params.get("protocolVersion")),
            capabilities=_compact_capabilities(capabilities if isinstance(capabilities, dict) else {}),
            client_info={k: v for k, v in (info if isinstance(info, dict) else {}).items() if k in _INFO_FIELDS},
            owner=owner,
            expires=int(time.time() + ttl_s),
        )

    def initialize_params(self) -> dict[str, Any]:
        """The `initialize` params this session is rebuilt from (wire names)."""
        info = {"name": "unknown", "version": "0", **self.client_info}
        return {"protocolVersion": self.version, "capabilities": self.capabilities, "clientInfo": info}


def _compact_capabilities(capabilities: dict[str, Any]) -> dict[str, Any]:
    """The declaration as sent, unless it is large (experimental blobs): then which capabilities, not their detail."""
    if len(orjson.dumps(capabilities)) <= _MAX_CAPABILITIES_JSON:
        return capabilities
    return {key: {} for key in capabilities if isinstance(key, str) and len(key) <= 64}


class SessionSeal:
    """Seals `SessionFacts` into a session id and opens them again (AES-256-GCM, random 96-bit nonce per id)."""

    def __init__(self, key: bytes, *, ttl_s: float = DEFAULT_TTL_S) -> None:
        if len(key) != 32:
            raise ValueError("the session seal needs a 32-byte key")
        self._aead = AESGCM(key)
        self.ttl_s = ttl_s

    @classmethod
    async def for_tenancy(cls, tenancy: Tenancy) -> SessionSeal:
        """The seal every replica on this database shares (its key is a hub secret sealed by the vault)."""
        from mcphub.runtime.tenancy.vault import hub_secret

        key = await hub_secret(tenancy.db, tenancy.vault, "mcp-session-seal")
        return cls(key, ttl_s=session_ttl_s())

    def seal(self, facts: SessionFacts) -> str:
        payload = {"v": facts.version, "c": facts.capabilities, "i": facts.client_info, "x": facts.expires}
        if facts.owner is not None:
            payload["o"] = list(facts.owner)
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, orjson.dumps(payload), _AAD)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")

    def open(self, session_id: str, *, now: float | None = None) -> SessionFacts | None:
        """The facts of a session id this hub sealed and that has not expired; None for anything else."""
        if not session_id.startswith(_PREFIX) or len(session_id) > 8192:
            return None
        raw = session_id[len(_PREFIX) :]
        try:
            blob = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
            if base64.urlsafe_b64encode(blob).rstrip(b"=").decode("ascii") != raw:
                return None  # one spelling per id (unused low bits of the last character are not a second one)
            payload = orjson.loads(self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], _AAD))
            facts = SessionFacts(
                version=str(payload["v"]),
                capabilities=dict(payload["c"]),
                client_info=dict(payload["i"]),
                owner=_owner_of(payload.get("o")),
                expires=int(payload["x"]),
            )
        except (ValueError, InvalidTag, KeyError, TypeError, orjson.JSONDecodeError):
            return None
        if facts.expires <= (now if now is not None else time.time()):
            return None
        return facts


def _owner_of(value: object) -> Owner | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 3 or not all(v is None or isinstance(v, str) for v in value):
        raise TypeError("a sealed owner is three strings or nulls")
    return (value[0], value[1], value[2])


def session_ttl_s() -> float:
    raw = os.environ.get("MCPHUB_SESSION_TTL_S", "").strip()
    if not raw:
        return DEFAULT_TTL_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValueError(f"MCPHUB_SESSION_TTL_S={raw!r}: give the lifetime of a session id in seconds, e.g. 86400")
    return value


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]


Deliver = Callable[[str, bytes], Awaitable[None]]  # (session id, or slug for `lists`; payload) of one kind
_MAX_LOCAL_LEVELS = 10_000  # log levels remembered in memory (all of them without Redis, the fallback with it)


class SessionChannel:
    """The messages about one session that every replica must see (see the module docstring).

    `handlers[kind](session_id, payload)` runs on every replica (this one included) for each `reply`, `notify`,
    `sse` and `lists` message; `on_ended(session_id)` for each `ended`. Ended ids are remembered here (bounded) and,
    with Redis, under `<namespace>:session-ended:<digest>` until they would have expired. `seal` (when given)
    tells how long a handshake-era session can live, which is how long its log level is kept.
    """

    def __init__(
        self,
        redis: Redis | None,
        namespace: str,
        *,
        feed: ChangeFeed | None = None,
        capacity: int = 100_000,
        seal: SessionSeal | None = None,
    ) -> None:
        self.redis = redis
        self.namespace = namespace
        self.seal = seal
        self._ended: OrderedDict[str, None] = OrderedDict()  # digests only: Redis keeps the expiry
        self._capacity = capacity
        self._levels: OrderedDict[str, int] = OrderedDict()
        self._redis_failing = False  # a Redis outage is logged when it starts and when it ends, not per request
        self.handlers: dict[str, Deliver] = {}
        self.replica = secrets.token_hex(8)  # this process among the replicas (who passes a subscription's updates)
        self.on_ended: Callable[[str], Awaitable[None]] | None = None
        self._fanout = Fanout(redis, f"{namespace}:sessions", self._received, feed=feed)

    @property
    def shared(self) -> bool:
        """Whether other replicas hear this channel (Redis): only then are replies and notifications routed."""
        return self.redis is not None

    async def start(self) -> None:
        await self._fanout.start()

    async def aclose(self) -> None:
        await self._fanout.aclose()

    def _remember(self, digest: str) -> None:
        self._ended[digest] = None
        self._ended.move_to_end(digest)
        while len(self._ended) > self._capacity:
            self._ended.popitem(last=False)

    async def ended(self, session_id: str, expires: float) -> None:
        """This replica closed `session_id` (DELETE): close it everywhere and refuse it from now on."""
        digest = _digest(session_id)
        self._remember(digest)
        if self.redis is not None:
            try:
                ttl = max(1, int(expires - time.time()))
                await self.redis.set(f"{self.namespace}:session-ended:{digest}", b"1", ex=ttl)
            except Exception as exc:  # the other replicas still hear the message below (if Redis is back)
                logger.warning("could not record the end of a session in Redis: %s", exc)
        await self._publish("ended", session_id, b"")

    async def is_ended(self, session_id: str) -> bool:
        """Whether the session was closed (here, or on any replica). Asked once per replica per session."""
        digest = _digest(session_id)
        if digest in self._ended:
            return True
        if self.redis is None:
            return False
        try:
            return bool(await self.redis.exists(f"{self.namespace}:session-ended:{digest}"))
        except Exception as exc:  # Redis down: serve the session (what an affinity-less hub did before)
            logger.warning("could not check whether a session ended (Redis): %s", exc)
            return False

    def known_ended(self, session_id: str) -> bool:
        """Whether this replica knows the session was closed (no round trip: what the channel told it)."""
        return _digest(session_id) in self._ended

    async def reply(self, session_id: str, body: bytes) -> None:
        """A client's JSON-RPC response (to a server-to-client request) for whichever replica waits for it."""
        await self._publish("reply", session_id, body)

    async def notify(self, session_id: str, message: bytes) -> None:
        """A standalone-stream notification for the replica holding the session's GET stream."""
        await self._publish("notify", session_id, message)

    async def lists_changed(self, slug: str, method: str) -> None:
        """An upstream MCP server of `slug` announced a list change (`method`) to this replica's session with it:
        every replica tells the sessions and listen streams it holds (its own upstream session may not hear it)."""
        await self._publish("lists", slug, method.encode())

    async def sse_message(self, session_id: str, envelope: bytes) -> None:
        """A legacy SSE POST for the replica holding that session's `GET /sse` stream (`legacysse.py`)."""
        await self._publish("sse", session_id, envelope)

    # - resource subscriptions: which replica passes a session's updates on (the one that got its last subscribe) -

    def _subscriptions_key(self, session_id: str) -> str:
        return f"{self.namespace}:subscriptions:{_digest(session_id)}"

    async def subscribed_here(self, session_id: str, uri: str) -> None:
        """`session_id` subscribed to `uri` through this replica: from now on this replica passes its updates on
        (a subscription made earlier through another one stops at its next update)."""
        if self.redis is None:
            return
        key = self._subscriptions_key(session_id)
        try:
            await self.redis.hset(key, uri, self.replica)
            await self.redis.expireat(key, int(self._expires(f"http:{session_id}")))
            self._redis_back()
        except Exception as exc:  # updates are still passed on; an unsubscribe elsewhere may then not stop them
            self._redis_down("record a resource subscription", exc)

    async def unsubscribed(self, session_id: str, uri: str) -> None:
        """`session_id` unsubscribed from `uri` (through any replica): whichever replica subscribed it stops."""
        if self.redis is None:
            return
        try:
            await self.redis.hdel(self._subscriptions_key(session_id), uri)
            self._redis_back()
        except Exception as exc:
            self._redis_down("drop a resource subscription", exc)

    async def passes_updates(self, session_id: str, uri: str) -> bool:
        """Whether this replica still passes on `session_id`'s updates of `uri` (asked once per update; while
        Redis is down: yes, rather than lose updates)."""
        if self.redis is None:
            return True
        try:
            holder = await self.redis.hget(self._subscriptions_key(session_id), uri)
            self._redis_back()
        except Exception as exc:
            self._redis_down("check a resource subscription", exc)
            return True
        return holder is not None and (holder.decode() if isinstance(holder, bytes) else str(holder)) == self.replica

    # - legacy SSE sessions: which exist (on some replica) and whose they are -

    def _sse_key(self, session_id: str) -> str:
        return f"{self.namespace}:sse-session:{session_id}"

    async def hold_sse(self, session_id: str, owner: Owner | None) -> None:
        """This replica holds the SSE stream of `session_id` (opened by `owner`): others may relay to it."""
        if self.redis is None:
            return
        ttl = int(self.seal.ttl_s if self.seal is not None else DEFAULT_TTL_S)
        try:
            await self.redis.set(self._sse_key(session_id), orjson.dumps(owner), ex=max(1, ttl))
            self._redis_back()
        except Exception as exc:  # POSTs landing on other replicas answer 404 until the stream is opened again
            self._redis_down("record a legacy SSE session", exc)

    async def release_sse(self, session_id: str) -> None:
        """The SSE stream of `session_id` ended here."""
        if self.redis is None:
            return
        try:
            await self.redis.delete(self._sse_key(session_id))
        except Exception as exc:  # the key expires by itself; relayed POSTs meanwhile go nowhere
            self._redis_down("forget a legacy SSE session", exc)

    async def sse_owner(self, session_id: str) -> tuple[bool, Owner | None]:
        """(whether some replica holds the SSE stream of `session_id`, who opened it). Read once per relayed POST;
        the read renews the record's lifetime, so a stream in use is never forgotten."""
        if self.redis is None:
            return False, None
        ttl = int(self.seal.ttl_s if self.seal is not None else DEFAULT_TTL_S)
        try:
            raw = await self.redis.getex(self._sse_key(session_id), ex=max(1, ttl))
            self._redis_back()
        except Exception as exc:  # Redis down: nobody can reach the holder anyway; the client sees 404
            self._redis_down("look up a legacy SSE session", exc)
            return False, None
        if raw is None:
            return False, None
        return True, _owner_of(orjson.loads(raw))

    # - logging/setLevel: the one thing a session changes after its handshake -

    def _level_key(self, session_key: str) -> str:
        return f"{self.namespace}:log-level:{_digest(session_key)}"

    def _expires(self, session_key: str) -> float:
        """When a session's state may be forgotten: its sealed expiry (streamable HTTP), else the session TTL."""
        ttl = self.seal.ttl_s if self.seal is not None else DEFAULT_TTL_S
        kind, _, session_id = session_key.partition(":")
        if kind == "http" and self.seal is not None:
            facts = self.seal.open(session_id)
            if facts is not None:
                return float(facts.expires)
        return time.time() + ttl

    async def set_level(self, session_key: str, level: int) -> None:
        """Remember the least severe log level `session_key` wants, for every replica (Redis, until it expires)."""
        self._levels[session_key] = level
        self._levels.move_to_end(session_key)
        while len(self._levels) > _MAX_LOCAL_LEVELS:
            self._levels.popitem(last=False)
        if self.redis is None:
            return
        try:
            ttl = max(1, int(self._expires(session_key) - time.time()))
            await self.redis.set(self._level_key(session_key), str(level), ex=ttl)
            self._redis_back()
        except Exception as exc:  # other replicas keep the level they knew (or everything) until Redis is back
            self._redis_down("share a session's log level", exc)

    async def level(self, session_key: str) -> int | None:
        """The log level a session set (on any replica), or None if it set none. Asked once per proxied call.

        Without Redis, or while it is down, this replica's memory answers: the level the session set here, if it
        did, else None (the hub then relays every level, as before a session sets one)."""
        local = self._levels.get(session_key)
        if self.redis is None:
            return local
        try:
            raw = await self.redis.get(self._level_key(session_key))
            self._redis_back()
        except Exception as exc:
            self._redis_down("read a session's log level", exc)
            return local
        return int(raw) if raw is not None else local

    def _redis_down(self, what: str, exc: Exception) -> None:
        if not self._redis_failing:
            self._redis_failing = True
            logger.warning("could not %s (Redis): %s; falling back to this replica's memory", what, exc)

    def _redis_back(self) -> None:
        if self._redis_failing:
            self._redis_failing = False
            logger.warning("Redis answers again: session state is shared between replicas again")

    async def _publish(self, kind: str, session_id: str, payload: bytes) -> None:
        if kind != "ended" and not self.shared:
            await self._received_parts(kind, session_id, payload)
            return
        message = orjson.dumps({"k": kind, "s": session_id, "p": payload.decode()}).decode()
        await self._fanout.publish(message)

    async def _received(self, message: str) -> None:
        try:
            parsed = orjson.loads(message)
            kind, session_id, payload = str(parsed["k"]), str(parsed["s"]), str(parsed["p"]).encode()
        except (orjson.JSONDecodeError, KeyError, TypeError):
            logger.warning("ignoring a malformed session message")
            return
        await self._received_parts(kind, session_id, payload)

    async def _received_parts(self, kind: str, session_id: str, payload: bytes) -> None:
        if kind == "ended":
            self._remember(_digest(session_id))
            if self.on_ended is not None:
                await self.on_ended(session_id)
        elif (handler := self.handlers.get(kind)) is not None:
            await handler(session_id, payload)
