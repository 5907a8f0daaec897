"""replicas: outbox row claims

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 00:42:56.336381
"""

from collections.abc import Sequence

from shared.migration_steps import add_outbox_claims, drop_outbox_claims

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_claims()


def downgrade() -> None:
    drop_outbox_claims()
