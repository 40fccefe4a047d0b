"""Hub settings (the sign-up policy), sign-up invites, the audit trail, hourly usage rollups for the dashboard.

Revision ID: 0005
Revises: 0004

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "hub_settings",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.String(length=2000), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_hub_settings")),
    )
    op.create_table(
        "signup_invites",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signup_invites")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_signup_invites_token_hash")),
    )
    for table in ("usage_rollups", "usage_rollups_daily"):
        op.create_table(
            table,
            sa.Column("user_id", sa.BigInteger(), nullable=False),
            sa.Column("start", sa.DateTime(timezone=True), nullable=False),
            sa.Column("integration", sa.String(length=100), nullable=False),
            sa.Column("tool", sa.String(length=200), nullable=False),
            sa.Column("calls", sa.BigInteger(), nullable=False),
            sa.Column("errors", sa.BigInteger(), nullable=False),
            sa.Column("latency_ms_sum", sa.Double(), nullable=False),
            *(sa.Column(f"h{i}", sa.BigInteger(), nullable=False) for i in range(16)),
            sa.PrimaryKeyConstraint("user_id", "start", "integration", "tool", name=op.f(f"pk_{table}")),
        )
    op.create_table(
        "audit_events",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_ts"), ["ts"], unique=False)
        batch_op.create_index("ix_audit_events_user_id_id", ["user_id", "id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("audit_events")
    op.drop_table("usage_rollups_daily")
    op.drop_table("usage_rollups")
    op.drop_table("signup_invites")
    op.drop_table("hub_settings")
