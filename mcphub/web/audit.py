"""The audit trail: every state-changing action of the dashboard and the JSON API, readable by admins.

An entry says who acted (`actor_id`), whose data it touched (`user_id`), the action ("key.revoke"),
its target ("key 12", "github") and a short detail. Never a secret: callers pass names and ids only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from mcphub.runtime.store.db import Database, utcnow
from mcphub.runtime.store.models import AuditEvent, User

__all__ = ["AuditEntry", "recent", "record"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    ts: datetime
    actor: str  # the acting user's email ("" for the operator or a deleted user)
    user_id: int | None
    action: str
    target: str
    detail: str


async def record(
    db: Database, action: str, *, actor_id: int | None, user_id: int | None, target: str = "", detail: str = ""
) -> None:
    """Append one entry; a failure to write is logged, never raised (the action itself already happened)."""
    try:
        async with db.session() as session:
            session.add(
                AuditEvent(
                    ts=utcnow(),
                    actor_id=actor_id,
                    user_id=user_id,
                    action=action[:100],
                    target=target[:300],
                    detail=detail[:2000],
                )
            )
    except Exception:
        logger.exception("could not write the audit entry %s %s", action, target)


async def recent(db: Database, *, limit: int = 100, user_id: int | None = None) -> list[AuditEntry]:
    """Newest first; `user_id` limits to actions on (or by) one user."""
    query = select(AuditEvent, User.email).outerjoin(User, User.id == AuditEvent.actor_id)
    if user_id is not None:
        query = query.where((AuditEvent.user_id == user_id) | (AuditEvent.actor_id == user_id))
    async with db.session() as session:
        rows = (await session.execute(query.order_by(AuditEvent.id.desc()).limit(limit))).all()
    return [
        AuditEntry(event.id, event.ts, email or "", event.user_id, event.action, event.target, event.detail)
        for event, email in rows
    ]
