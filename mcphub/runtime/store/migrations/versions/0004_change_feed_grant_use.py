"""Change feed for hubs without Redis; last use of the hub's OAuth grants.

Revision ID: 0004
Revises: 0003

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "change_events",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("message", sa.String(length=200), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_events")),
    )
    with op.batch_alter_table("change_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_change_events_created_at"), ["created_at"], unique=False)
    with op.batch_alter_table("mcp_grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("mcp_grants", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
    op.drop_table("change_events")
