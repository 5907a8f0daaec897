"""What this release added: the outbox dead letters (outbox rows the broker refused, moved aside).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from shared.migration_steps import create_outbox_dead_letters, drop_outbox_dead_letters

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox_dead_letters()


def downgrade() -> None:
    drop_outbox_dead_letters()
