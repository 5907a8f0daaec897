"""notifications by e-mail: the mail queue (outbox for mails), preferences per person, people seen signing in

Revision ID: 0005_notifications
Revises: 0004
Create Date: 2026-11-30 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_notifications"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_queue",
        sa.Column("mail_id", sa.String(length=36), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("digest", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("send_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("mail_id"),
    )
    op.create_index("ix_mail_queue_recipient", "mail_queue", ["recipient"])
    op.create_index("ix_mail_queue_send_after", "mail_queue", ["send_after"])
    op.create_index("ix_mail_queue_sent_at", "mail_queue", ["sent_at"])
    op.create_table(
        "notification_preferences",
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("delivery", sa.String(length=20), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user"),
    )
    op.create_table(
        "notification_people",
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user"),
    )


def downgrade() -> None:
    op.drop_table("notification_people")
    op.drop_table("notification_preferences")
    op.drop_index("ix_mail_queue_sent_at", table_name="mail_queue")
    op.drop_index("ix_mail_queue_send_after", table_name="mail_queue")
    op.drop_index("ix_mail_queue_recipient", table_name="mail_queue")
    op.drop_table("mail_queue")
