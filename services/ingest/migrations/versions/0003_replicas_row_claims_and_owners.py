"""replicas: outbox row claims, intake and OCR job owners

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 00:42:52.871575
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.migration_steps import add_outbox_claims, drop_outbox_claims

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("intake_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_intake_items_owner"), ["owner"], unique=False)

    with op.batch_alter_table("ocr_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=40), nullable=True))

    add_outbox_claims()


def downgrade() -> None:
    drop_outbox_claims()

    with op.batch_alter_table("ocr_jobs", schema=None) as batch_op:
        batch_op.drop_column("claimed_by")

    with op.batch_alter_table("intake_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intake_items_owner"))
        batch_op.drop_column("owner")
