"""scheduled fixity: the cycle's progress and lease, and each package's result

Revision ID: 0006_fixity
Revises: 0005_evidence
Create Date: 2026-11-30 05:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_fixity"
down_revision: str | None = "0005_evidence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fixity_cycle",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cursor", sa.String(length=36), nullable=False),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Integer(), nullable=False),
        sa.Column("mismatch", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.Column("last_cycle", sa.JSON(), nullable=True),
        sa.Column("holder", sa.String(length=100), nullable=True),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "fixity_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("fixity_results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fixity_results_checked_at"), ["checked_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_fixity_results_cycle"), ["cycle"], unique=False)
        batch_op.create_index(batch_op.f("ix_fixity_results_document_id"), ["document_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fixity_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fixity_results_document_id"))
        batch_op.drop_index(batch_op.f("ix_fixity_results_cycle"))
        batch_op.drop_index(batch_op.f("ix_fixity_results_checked_at"))
    op.drop_table("fixity_results")
    op.drop_table("fixity_cycle")
