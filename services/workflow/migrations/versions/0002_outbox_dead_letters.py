"""What this release added: the outbox dead letters (outbox rows the broker refused, moved aside).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _upgrade_outbox_dead_letters()


def downgrade() -> None:
    _downgrade_outbox_dead_letters()


def _upgrade_outbox_dead_letters() -> None:
    op.create_table(
        "outbox_dead_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("payload_prefix", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_outbox_dead_letters_moved_at"), "outbox_dead_letters", ["moved_at"], unique=False)


def _downgrade_outbox_dead_letters() -> None:
    op.drop_index(op.f("ix_outbox_dead_letters_moved_at"), table_name="outbox_dead_letters")
    op.drop_table("outbox_dead_letters")
