"""search_entries: the search for clerks and approvers (documents in review and archived, with their facets)

The stems' table beside it (SQLite FTS5 `search_fts`, PostgreSQL `search_tsv`) is made at start by
services.ingest.search.create_text_index, which also backfills documents filed before this revision.

Revision ID: 0009_search
Revises: 0008_previews
Create Date: 2026-11-30 06:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_search"
down_revision: str | None = "0008_previews"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXED = ("document_type", "file_plan_class", "year", "status", "org_unit", "submitted_by")


def upgrade() -> None:
    op.create_table(
        "search_entries",
        sa.Column("entry_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("aktenzeichen", sa.String(length=100), nullable=False),
        sa.Column("akte_title", sa.String(length=500), nullable=False),
        sa.Column("document_type", sa.String(length=100), nullable=False),
        sa.Column("file_plan_class", sa.String(length=50), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("org_unit", sa.String(length=50), nullable=False),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entry_id"),
    )
    op.create_index(op.f("ix_search_entries_document_id"), "search_entries", ["document_id"], unique=True)
    for name in INDEXED:
        op.create_index(op.f(f"ix_search_entries_{name}"), "search_entries", [name], unique=False)


def downgrade() -> None:
    for name in INDEXED:
        op.drop_index(op.f(f"ix_search_entries_{name}"), table_name="search_entries")
    op.drop_index(op.f("ix_search_entries_document_id"), table_name="search_entries")
    op.drop_table("search_entries")
