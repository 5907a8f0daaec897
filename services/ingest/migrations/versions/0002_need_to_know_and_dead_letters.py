"""What this release added: need-to-know (akten.org_unit, documents.org_unit and .confidential), outbox dead letters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.migration_steps import create_outbox_dead_letters, drop_outbox_dead_letters

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox_dead_letters()
    _upgrade_akten()
    _upgrade_documents()


def downgrade() -> None:
    _downgrade_documents()
    _downgrade_akten()
    drop_outbox_dead_letters()


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
