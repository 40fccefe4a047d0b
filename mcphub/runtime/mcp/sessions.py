"""Who hears that the hub's lists changed: handshake-era sessions and 2026-07-28 listen streams, per user.

`SessionRegistry` remembers the SDK session of each handshake-era transport session (and whose it is), so a
change can reach it on its standalone stream; `ListChanges` adds the 2026-07-28 listen streams (one bus per
user, so one user's change reaches only that user's streams) and sends every kind of change to the right ones.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    PromptsListChanged,
    ResourcesListChanged,
    SubscriptionBus,
    ToolsListChanged,
)

__all__ = ["LIST_CHANGED", "ListChanges", "SessionRegistry"]

logger = logging.getLogger(__name__)


class SessionRegistry:
    """Handshake-era sessions seen recently, so a change can tell them the lists changed.

    Keyed by transport session id (`Mcp-Session-Id`, or the SSE `session_id`); holds the SDK's
    `ServerSession` of a request on that session, whose non-request-scoped notifications travel on
    the session's standalone stream, and the user whose key opened it (None without accounts), so a
    change of one user's integrations reaches that user's sessions only. Entries go when sending to
    them fails, when idle longer than `idle_s`, or oldest-first past `capacity`.
    """

    def __init__(self, *, capacity: int = 10_000, idle_s: float = 1800.0) -> None:
        self._entries: OrderedDict[str, tuple[ServerSession, float, int | None]] = OrderedDict()
        self._capacity = capacity
        self._idle_s = idle_s

    def __len__(self) -> int:
        return len(self._entries)

    def touch(self, key: str, session: ServerSession, user_id: int | None = None) -> None:
        now = time.monotonic()
        if key in self._entries:
            known, _, owner = self._entries[key]
            self._entries[key] = (known, now, owner)
            self._entries.move_to_end(key)
            return
        self._entries[key] = (session, now, user_id)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def get(self, key: str) -> ServerSession | None:
        """The SDK session recorded for `key` (a transport session), or None."""
        entry = self._entries.get(key)
        return entry[0] if entry is not None else None

    def owners(self) -> set[int]:
        """The users with a live session in the registry."""
        return {owner for _, _, owner in self._entries.values() if owner is not None}

    def _prune(self) -> None:
        horizon = time.monotonic() - self._idle_s
        for key in [k for k, (_, seen, _) in self._entries.items() if seen < horizon]:
            del self._entries[key]

    async def broadcast(self, methods: list[str], *, user_id: int | None = None) -> int:
        """Send each notification method to every live session (of `user_id` only, when given).

        Returns how many sessions were reached.
        """
        self._prune()
        reached = 0
        dead: list[str] = []

        async def send(key: str, session: ServerSession) -> None:
            nonlocal reached
            try:
                with anyio.fail_after(2):
                    for method in methods:
                        await session.send_notification(_NOTIFICATIONS[method])
                reached += 1
            except Exception:  # a closed or stuck stream: forget the session, never fail the caller
                logger.debug("dropping session %s from the notification registry", key[:16], exc_info=True)
                dead.append(key)

        async with anyio.create_task_group() as tg:
            for key, (session, _, owner) in list(self._entries.items()):
                if user_id is None or owner == user_id:
                    tg.start_soon(send, key, session)
        for key in dead:
            self._entries.pop(key, None)
        return reached


_NOTIFICATIONS: dict[str, types.ServerNotification] = {
    "notifications/tools/list_changed": types.ToolListChangedNotification(),
    "notifications/resources/list_changed": types.ResourceListChangedNotification(),
    "notifications/prompts/list_changed": types.PromptListChangedNotification(),
}


LIST_CHANGED = list(_NOTIFICATIONS)


class ListChanges:
    """The sessions and listen streams of one hub, and how a change reaches them."""

    def __init__(self, bus: SubscriptionBus) -> None:
        self.sessions = SessionRegistry()
        self.bus = bus
        self.listen = ListenHandler(bus)
        # 2026-07-28 listen streams per user, so one user's change reaches that user's streams only.
        self._user_buses: dict[int, InMemorySubscriptionBus] = {}
        self._user_listens: dict[int, ListenHandler] = {}

    def users(self) -> set[int]:
        """The users with a session or a listen stream here."""
        return self.sessions.owners() | set(self._user_buses)

    def forget_users(self) -> None:
        self._user_buses.clear()
        self._user_listens.clear()

    async def listen_as(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscriptionsListenRequestParams, user_id: int | None
    ) -> types.SubscriptionsListenResult:
        """subscriptions/listen on the shared bus (user_id None) or on the user's own."""
        if user_id is None:
            return await self.listen(ctx, params)
        handler = self._user_listens.get(user_id)
        if handler is None:
            bus = self._user_buses[user_id] = InMemorySubscriptionBus()
            handler = self._user_listens[user_id] = ListenHandler(bus)
        return await handler(ctx, params)

    async def to_user(self, user_id: int) -> None:
        """A user's integrations changed: tell that user's open sessions and listen streams (both eras)."""
        await self.sessions.broadcast(LIST_CHANGED, user_id=user_id)
        bus = self._user_buses.get(user_id)
        if bus is not None:
            for event in (ToolsListChanged(), ResourcesListChanged(), PromptsListChanged()):
                await bus.publish(event)

    async def to_everyone(self) -> None:
        await self.sessions.broadcast(LIST_CHANGED)
        for bus in [self.bus, *self._user_buses.values()]:
            for event in (ToolsListChanged(), ResourcesListChanged(), PromptsListChanged()):
                await bus.publish(event)

    async def one_list(
        self, method: str, event: PromptsListChanged | ResourcesListChanged, audience: set[int] | None
    ) -> None:
        """One list changed (`method`): tell everyone (audience None), or only the users in `audience`."""
        if audience is None:
            await self.sessions.broadcast([method])
            await self.bus.publish(event)
            return
        for user_id in sorted(audience):
            await self.sessions.broadcast([method], user_id=user_id)
            bus = self._user_buses.get(user_id)
            if bus is not None:
                await bus.publish(event)
