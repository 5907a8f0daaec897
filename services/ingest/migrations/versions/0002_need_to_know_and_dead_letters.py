"""What this release added: need-to-know (akten.org_unit, documents.org_unit and .confidential), outbox dead letters.

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
    _upgrade_akten()
    _upgrade_documents()


def downgrade() -> None:
    _downgrade_documents()
    _downgrade_akten()
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


def _upgrade_akten() -> None:
    op.add_column("akten", sa.Column("org_unit", sa.String(length=50), nullable=True))
    op.create_index(op.f("ix_akten_org_unit"), "akten", ["org_unit"], unique=False)


def _downgrade_akten() -> None:
    op.drop_index(op.f("ix_akten_org_unit"), table_name="akten")
    op.drop_column("akten", "org_unit")


def _upgrade_documents() -> None:
    op.add_column("documents", sa.Column("org_unit", sa.String(length=50), nullable=True))
    op.add_column("documents", sa.Column("confidential", sa.Boolean(), nullable=True))
    op.create_index(op.f("ix_documents_org_unit"), "documents", ["org_unit"], unique=False)


def _downgrade_documents() -> None:
    op.drop_index(op.f("ix_documents_org_unit"), table_name="documents")
    op.drop_column("documents", "confidential")
    op.drop_column("documents", "org_unit")
