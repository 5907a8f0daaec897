"""What this release added: need-to-know (archived_documents.org_unit, .confidential), searches in the access log
(access_log.query, .hits), outbox dead letters.

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
    _upgrade_access_log()
    _upgrade_archived_documents()


def downgrade() -> None:
    _downgrade_archived_documents()
    _downgrade_access_log()
    drop_outbox_dead_letters()


def _upgrade_access_log() -> None:
    op.add_column("access_log", sa.Column("query", sa.Text(), nullable=True))
    op.add_column("access_log", sa.Column("hits", sa.Integer(), nullable=True))


def _downgrade_access_log() -> None:
    op.drop_column("access_log", "hits")
    op.drop_column("access_log", "query")


def _upgrade_archived_documents() -> None:
    op.add_column("archived_documents", sa.Column("org_unit", sa.String(length=50), nullable=True))
    op.add_column("archived_documents", sa.Column("confidential", sa.Boolean(), nullable=True))


def _downgrade_archived_documents() -> None:
    op.drop_column("archived_documents", "confidential")
    op.drop_column("archived_documents", "org_unit")
