"""open311_requests: citizens' defect reports (Open311 GeoReport v2) and the documents they became

Revision ID: 0006_open311
Revises: 0004
Create Date: 2026-11-30 05:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_open311"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "open311_requests",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("service_code", sa.String(length=50), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("long", sa.Float(), nullable=True),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(length=40), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=True),
        sa.Column("duplicate_of", sa.String(length=36), nullable=True),
        sa.Column("has_photo", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    with op.batch_alter_table("open311_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_open311_requests_duplicate_of"), ["duplicate_of"], unique=False)
        batch_op.create_index(batch_op.f("ix_open311_requests_requested_at"), ["requested_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_open311_requests_service_code"), ["service_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("open311_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_open311_requests_service_code"))
        batch_op.drop_index(batch_op.f("ix_open311_requests_requested_at"))
        batch_op.drop_index(batch_op.f("ix_open311_requests_duplicate_of"))
    op.drop_table("open311_requests")
