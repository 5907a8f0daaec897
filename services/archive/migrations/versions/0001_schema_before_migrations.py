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
    _upgrade_access_log()
    _upgrade_archived_documents()
    _upgrade_deletion_records()
    _upgrade_xdomea_processes()
    _upgrade_package_files()


def downgrade() -> None:
    _downgrade_package_files()
    _downgrade_xdomea_processes()
    _downgrade_deletion_records()
    _downgrade_archived_documents()
    _downgrade_access_log()
    drop_processed_events()
    drop_outbox()


def _upgrade_access_log() -> None:
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_access_log_at"), "access_log", ["at"], unique=False)
    op.create_index(op.f("ix_access_log_document_id"), "access_log", ["document_id"], unique=False)
    op.create_index(op.f("ix_access_log_user"), "access_log", ["user"], unique=False)


def _downgrade_access_log() -> None:
    op.drop_index(op.f("ix_access_log_user"), table_name="access_log")
    op.drop_index(op.f("ix_access_log_document_id"), table_name="access_log")
    op.drop_index(op.f("ix_access_log_at"), table_name="access_log")
    op.drop_table("access_log")


def _upgrade_archived_documents() -> None:
    op.create_table(
        "archived_documents",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("correlation_id", sa.String(length=36), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=100), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("original_path", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("document_type", sa.String(length=100), nullable=False),
        sa.Column("sender", sa.String(length=500), nullable=False),
        sa.Column("aktenzeichen", sa.String(length=100), nullable=False),
        sa.Column("akte_title", sa.String(length=500), nullable=False),
        sa.Column("vorgang_id", sa.String(length=36), nullable=False),
        sa.Column("file_plan_class", sa.String(length=50), nullable=False),
        sa.Column("file_plan_title", sa.String(length=500), nullable=False),
        sa.Column("retention_years", sa.Integer(), nullable=True),
        sa.Column("disposal", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decisions", sa.JSON(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("last_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_verify_result", sa.String(length=20), nullable=True),
        sa.Column("last_verify_problems", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("document_id"),
    )
    op.create_index(op.f("ix_archived_documents_aktenzeichen"), "archived_documents", ["aktenzeichen"], unique=False)
    op.create_index(op.f("ix_archived_documents_archived_at"), "archived_documents", ["archived_at"], unique=False)
    op.create_index(op.f("ix_archived_documents_received_at"), "archived_documents", ["received_at"], unique=False)
    op.create_index(op.f("ix_archived_documents_retain_until"), "archived_documents", ["retain_until"], unique=False)
    op.create_index(op.f("ix_archived_documents_state"), "archived_documents", ["state"], unique=False)


def _downgrade_archived_documents() -> None:
    op.drop_index(op.f("ix_archived_documents_state"), table_name="archived_documents")
    op.drop_index(op.f("ix_archived_documents_retain_until"), table_name="archived_documents")
    op.drop_index(op.f("ix_archived_documents_received_at"), table_name="archived_documents")
    op.drop_index(op.f("ix_archived_documents_archived_at"), table_name="archived_documents")
    op.drop_index(op.f("ix_archived_documents_aktenzeichen"), table_name="archived_documents")
    op.drop_table("archived_documents")


def _upgrade_deletion_records() -> None:
    op.create_table(
        "deletion_records",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("aktenzeichen", sa.String(length=100), nullable=False),
        sa.Column("file_plan_class", sa.String(length=50), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("objects", sa.JSON(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("document_id"),
    )


def _downgrade_deletion_records() -> None:
    op.drop_table("deletion_records")


def _upgrade_xdomea_processes() -> None:
    op.create_table(
        "xdomea_processes",
        sa.Column("process_id", sa.String(length=36), nullable=False),
        sa.Column("aktenzeichen", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("decisions", sa.JSON(), nullable=True),
        sa.Column("transferred", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("process_id"),
    )


def _downgrade_xdomea_processes() -> None:
    op.drop_table("xdomea_processes")


def _upgrade_package_files() -> None:
    op.create_table(
        "package_files",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("path", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("version_id", sa.String(length=200), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["archived_documents.document_id"],
        ),
        sa.PrimaryKeyConstraint("document_id", "path"),
    )


def _downgrade_package_files() -> None:
    op.drop_table("package_files")
