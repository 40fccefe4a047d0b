"""Usage spool marks: how far each hub process's spool file of call records is in the database.

Revision ID: 0006
Revises: 0005

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "usage_spool_marks",
        sa.Column("segment", sa.String(length=64), nullable=False),
        sa.Column("committed_bytes", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("segment", name=op.f("pk_usage_spool_marks")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("usage_spool_marks")
