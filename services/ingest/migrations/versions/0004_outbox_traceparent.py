"""outbox, OCR jobs and intake items: the traceparent a row was written under (traces across the outbox and Kafka)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 02:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.migration_steps import add_outbox_traceparent, drop_outbox_traceparent

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_traceparent()
    with op.batch_alter_table("ocr_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("traceparent", sa.String(length=55), nullable=True))
    with op.batch_alter_table("intake_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("traceparent", sa.String(length=55), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("intake_items", schema=None) as batch_op:
        batch_op.drop_column("traceparent")
    with op.batch_alter_table("ocr_jobs", schema=None) as batch_op:
        batch_op.drop_column("traceparent")
    drop_outbox_traceparent()
