"""evidence: packages awaiting their RFC 4998 evidence record (every package archived so far is queued)

Revision ID: 0005_evidence
Revises: 0007_mail
Create Date: 2026-11-30 05:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_evidence"
down_revision: str | None = "0007_mail"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_pending",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("document_id"),
    )
    op.create_index(op.f("ix_evidence_pending_queued_at"), "evidence_pending", ["queued_at"], unique=False)
    # Packages archived before this release get their evidence record from the first batches.
    op.execute(
        "INSERT INTO evidence_pending (document_id, queued_at) "
        "SELECT document_id, archived_at FROM archived_documents WHERE state = 'archived'"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_evidence_pending_queued_at"), table_name="evidence_pending")
    op.drop_table("evidence_pending")
