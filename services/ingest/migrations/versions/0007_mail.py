"""mail_messages: the messages taken from the Poststelle mailbox (never filed twice)

Revision ID: 0007_mail
Revises: 0006_open311
Create Date: 2026-11-30 05:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_mail"
down_revision: str | None = "0006_open311"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_messages",
        sa.Column("mail_id", sa.String(length=36), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("uidvalidity", sa.Integer(), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("message_key", sa.String(length=400), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("aktenzeichen", sa.String(length=100), nullable=True),
        sa.Column("vorgang_id", sa.String(length=36), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("mail_id"),
        sa.UniqueConstraint("folder", "uidvalidity", "uid"),
        sa.UniqueConstraint("message_key"),
    )
    op.create_index(op.f("ix_mail_messages_state"), "mail_messages", ["state"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_mail_messages_state"), table_name="mail_messages")
    op.drop_table("mail_messages")
