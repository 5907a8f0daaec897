"""The schema of the release before migrations (ca83606), as create_all made it

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.migration_steps import create_outbox, create_processed_events, drop_outbox, drop_processed_events

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox()
    create_processed_events()
    _upgrade_akten()
    _upgrade_intake_items()
    _upgrade_quarantine()
    _upgrade_vorgaenge()
    _upgrade_documents()
    _upgrade_document_status()
    _upgrade_ocr_jobs()


def downgrade() -> None:
    _downgrade_ocr_jobs()
    _downgrade_document_status()
    _downgrade_documents()
    _downgrade_vorgaenge()
    _downgrade_quarantine()
    _downgrade_intake_items()
    _downgrade_akten()
    drop_processed_events()
    drop_outbox()


def _upgrade_akten() -> None:
    op.create_table(
        "akten",
        sa.Column("aktenzeichen", sa.String(length=100), nullable=False),
        sa.Column("file_plan_class", sa.String(length=50), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("aktenzeichen"),
        sa.UniqueConstraint("file_plan_class", "year", "seq"),
    )
    op.create_index(op.f("ix_akten_file_plan_class"), "akten", ["file_plan_class"], unique=False)


def _downgrade_akten() -> None:
    op.drop_index(op.f("ix_akten_file_plan_class"), table_name="akten")
    op.drop_table("akten")


def _upgrade_intake_items() -> None:
    op.create_table(
        "intake_items",
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("spool_path", sa.Text(), nullable=False),
        sa.Column("upload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=True),
        sa.Column("quarantine_id", sa.String(length=36), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("item_id"),
    )
    op.create_index(op.f("ix_intake_items_batch_id"), "intake_items", ["batch_id"], unique=False)
    op.create_index(op.f("ix_intake_items_source"), "intake_items", ["source"], unique=False)
    op.create_index(op.f("ix_intake_items_state"), "intake_items", ["state"], unique=False)


def _downgrade_intake_items() -> None:
    op.drop_index(op.f("ix_intake_items_state"), table_name="intake_items")
    op.drop_index(op.f("ix_intake_items_source"), table_name="intake_items")
    op.drop_index(op.f("ix_intake_items_batch_id"), table_name="intake_items")
    op.drop_table("intake_items")


def _upgrade_quarantine() -> None:
    op.create_table(
        "quarantine",
        sa.Column("quarantine_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=50), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("original_name", sa.String(length=255), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("released_as", sa.String(length=36), nullable=True),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.Column("discarded_by", sa.String(length=200), nullable=True),
        sa.Column("discarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("quarantine_id"),
    )
    op.create_index(op.f("ix_quarantine_reason"), "quarantine", ["reason"], unique=False)
    op.create_index(op.f("ix_quarantine_state"), "quarantine", ["state"], unique=False)


def _downgrade_quarantine() -> None:
    op.drop_index(op.f("ix_quarantine_state"), table_name="quarantine")
    op.drop_index(op.f("ix_quarantine_reason"), table_name="quarantine")
    op.drop_table("quarantine")


def _upgrade_vorgaenge() -> None:
    op.create_table(
        "vorgaenge",
        sa.Column("vorgang_id", sa.String(length=36), nullable=False),
        sa.Column("aktenzeichen", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["aktenzeichen"],
            ["akten.aktenzeichen"],
        ),
        sa.PrimaryKeyConstraint("vorgang_id"),
    )
    op.create_index(op.f("ix_vorgaenge_aktenzeichen"), "vorgaenge", ["aktenzeichen"], unique=False)


def _downgrade_vorgaenge() -> None:
    op.drop_index(op.f("ix_vorgaenge_aktenzeichen"), table_name="vorgaenge")
    op.drop_table("vorgaenge")


def _upgrade_documents() -> None:
    op.create_table(
        "documents",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("correlation_id", sa.String(length=36), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=100), nullable=False),
        sa.Column("object_key", sa.String(length=500), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("rendition_key", sa.String(length=500), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("document_type", sa.String(length=100), nullable=False),
        sa.Column("aktenzeichen", sa.String(length=100), nullable=True),
        sa.Column("vorgang_id", sa.String(length=36), nullable=True),
        sa.Column("workflow", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["aktenzeichen"],
            ["akten.aktenzeichen"],
        ),
        sa.ForeignKeyConstraint(
            ["vorgang_id"],
            ["vorgaenge.vorgang_id"],
        ),
        sa.PrimaryKeyConstraint("document_id"),
    )
    op.create_index(op.f("ix_documents_aktenzeichen"), "documents", ["aktenzeichen"], unique=False)
    op.create_index(op.f("ix_documents_sha256"), "documents", ["sha256"], unique=False)
    op.create_index(op.f("ix_documents_submitted_by"), "documents", ["submitted_by"], unique=False)
    op.create_index(op.f("ix_documents_vorgang_id"), "documents", ["vorgang_id"], unique=False)


def _downgrade_documents() -> None:
    op.drop_index(op.f("ix_documents_vorgang_id"), table_name="documents")
    op.drop_index(op.f("ix_documents_submitted_by"), table_name="documents")
    op.drop_index(op.f("ix_documents_sha256"), table_name="documents")
    op.drop_index(op.f("ix_documents_aktenzeichen"), table_name="documents")
    op.drop_table("documents")


def _upgrade_document_status() -> None:
    op.create_table(
        "document_status",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.document_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_document_status_document_id"), "document_status", ["document_id"], unique=False)


def _downgrade_document_status() -> None:
    op.drop_index(op.f("ix_document_status_document_id"), table_name="document_status")
    op.drop_table("document_status")


def _upgrade_ocr_jobs() -> None:
    op.create_table(
        "ocr_jobs",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.document_id"],
        ),
        sa.PrimaryKeyConstraint("document_id"),
    )
    op.create_index(op.f("ix_ocr_jobs_state"), "ocr_jobs", ["state"], unique=False)


def _downgrade_ocr_jobs() -> None:
    op.drop_index(op.f("ix_ocr_jobs_state"), table_name="ocr_jobs")
    op.drop_table("ocr_jobs")
