"""The hub as an MCP authorization server: clients, grants, authorization codes, issued tokens.

Revision ID: 0003
Revises: 0002

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "mcp_clients",
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("metadata_json", sa.JSON(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_mcp_clients")),
    )
    op.create_table(
        "mcp_grants",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", _BIG_ID, nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("resource", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_mcp_grants_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["mcp_clients.client_id"],
            name=op.f("fk_mcp_grants_client_id_mcp_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_grants")),
    )
    with op.batch_alter_table("mcp_grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mcp_grants_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mcp_grants_client_id"), ["client_id"], unique=False)

    op.create_table(
        "mcp_auth_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("user_id", _BIG_ID, nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("resource", sa.String(length=2000), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2000), nullable=False),
        sa.Column("redirect_uri_explicit", sa.Boolean(), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("grant_id", _BIG_ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["mcp_clients.client_id"],
            name=op.f("fk_mcp_auth_codes_client_id_mcp_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_mcp_auth_codes_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["mcp_grants.id"], name=op.f("fk_mcp_auth_codes_grant_id_mcp_grants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_mcp_auth_codes")),
    )
    with op.batch_alter_table("mcp_auth_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mcp_auth_codes_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mcp_auth_codes_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mcp_auth_codes_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "mcp_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("grant_id", _BIG_ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["mcp_grants.id"], name=op.f("fk_mcp_tokens_grant_id_mcp_grants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_mcp_tokens")),
    )
    with op.batch_alter_table("mcp_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mcp_tokens_grant_id"), ["grant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mcp_tokens_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("mcp_tokens")
    op.drop_table("mcp_auth_codes")
    op.drop_table("mcp_grants")
    op.drop_table("mcp_clients")
