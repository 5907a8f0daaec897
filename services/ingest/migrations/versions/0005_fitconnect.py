"""FIT-Connect: online applications taken in, once per submission id

Revision ID: 0005_fitconnect
Revises: 0007_mail
Create Date: 2026-11-30 05:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_fitconnect"
down_revision: str | None = "0007_mail"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fitconnect_submissions",
        sa.Column("submission_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("service", sa.String(length=100), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("form_document_id", sa.String(length=36), nullable=True),
        sa.Column("form_data", sa.JSON(), nullable=True),
        sa.Column("problems", sa.JSON(), nullable=True),
        sa.Column("quarantine_id", sa.String(length=36), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("submission_id"),
    )
    with op.batch_alter_table("fitconnect_submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fitconnect_submissions_state"), ["state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_fitconnect_submissions_form_document_id"), ["form_document_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("fitconnect_submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fitconnect_submissions_form_document_id"))
        batch_op.drop_index(batch_op.f("ix_fitconnect_submissions_state"))
    op.drop_table("fitconnect_submissions")
