"""package_files.offset: a package's small files are kept in one bundle object (services.archive.bundle)

Revision ID: 0008_package_bundle
Revises: 0006_fixity
Create Date: 2026-11-30 12:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_package_bundle"
down_revision: str | None = "0006_fixity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("package_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("offset", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("package_files", schema=None) as batch_op:
        batch_op.drop_column("offset")
