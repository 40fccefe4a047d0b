"""Built integrations as data: owner, visibility, sources, versions (spec + package), build runs, the deployed one.

Revision ID: 0008
Revises: 0007

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "built_integrations",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("owner_id", _BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("shared_by", sa.BigInteger(), nullable=True),
        sa.Column("deployed_version", sa.Integer(), nullable=True),
        sa.Column("deployed_at", _WHEN, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_built_integrations_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_built_integrations")),
        sa.UniqueConstraint("slug", name=op.f("uq_built_integrations_slug")),
    )
    op.create_index(op.f("ix_built_integrations_owner_id"), "built_integrations", ["owner_id"], unique=False)
    op.create_table(
        "build_sources",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("integration_id", _BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("provenance", sa.String(length=2000), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("pinned", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["built_integrations.id"],
            name=op.f("fk_build_sources_integration_id_built_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_build_sources")),
    )
    op.create_index(op.f("ix_build_sources_integration_id"), "build_sources", ["integration_id"], unique=False)
    op.create_table(
        "build_versions",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("integration_id", _BIG_ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("source_id", _BIG_ID, nullable=False),
        sa.Column("spec_yaml", sa.Text(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tools", sa.JSON(), nullable=True),
        sa.Column("package", sa.LargeBinary(), nullable=True),
        sa.Column("package_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["built_integrations.id"],
            name=op.f("fk_build_versions_integration_id_built_integrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["build_sources.id"],
            name=op.f("fk_build_versions_source_id_build_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_build_versions")),
        sa.UniqueConstraint("integration_id", "number", name=op.f("uq_build_versions_integration_id")),
    )
    op.create_index(op.f("ix_build_versions_integration_id"), "build_versions", ["integration_id"], unique=False)
    op.create_index(op.f("ix_build_versions_source_id"), "build_versions", ["source_id"], unique=False)
    op.create_table(
        "build_runs",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("version_id", _BIG_ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("test_report", sa.JSON(), nullable=True),
        sa.Column("lint", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("started_at", _WHEN, nullable=False),
        sa.Column("finished_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["build_versions.id"],
            name=op.f("fk_build_runs_version_id_build_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_build_runs")),
    )
    op.create_index(op.f("ix_build_runs_version_id"), "build_runs", ["version_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("build_runs")
    op.drop_table("build_versions")
    op.drop_table("build_sources")
    op.drop_table("built_integrations")
