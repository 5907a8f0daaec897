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
    _upgrade_absences()
    _upgrade_audit_entries()
    _upgrade_delegations()
    _upgrade_workflow_definition_versions()
    _upgrade_workflows()
    _upgrade_resubmissions()
    _upgrade_tasks()


def downgrade() -> None:
    _downgrade_tasks()
    _downgrade_resubmissions()
    _downgrade_workflows()
    _downgrade_workflow_definition_versions()
    _downgrade_delegations()
    _downgrade_audit_entries()
    _downgrade_absences()
    drop_processed_events()
    drop_outbox()


def _upgrade_absences() -> None:
    op.create_table(
        "absences",
        sa.Column("absence_id", sa.String(length=36), nullable=False),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("deputy", sa.String(length=200), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("absence_id"),
    )
    op.create_index(op.f("ix_absences_deputy"), "absences", ["deputy"], unique=False)
    op.create_index(op.f("ix_absences_user"), "absences", ["user"], unique=False)


def _downgrade_absences() -> None:
    op.drop_index(op.f("ix_absences_user"), table_name="absences")
    op.drop_index(op.f("ix_absences_deputy"), table_name="absences")
    op.drop_table("absences")


def _upgrade_audit_entries() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("on_behalf_of", sa.String(length=200), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "seq"),
    )
    op.create_index(op.f("ix_audit_entries_document_id"), "audit_entries", ["document_id"], unique=False)


def _downgrade_audit_entries() -> None:
    op.drop_index(op.f("ix_audit_entries_document_id"), table_name="audit_entries")
    op.drop_table("audit_entries")


def _upgrade_delegations() -> None:
    op.create_table(
        "delegations",
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("absence_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("task_id", "absence_id"),
    )


def _downgrade_delegations() -> None:
    op.drop_table("delegations")


def _upgrade_workflow_definition_versions() -> None:
    op.create_table(
        "workflow_definition_versions",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", "version"),
    )


def _downgrade_workflow_definition_versions() -> None:
    op.drop_table("workflow_definition_versions")


def _upgrade_workflows() -> None:
    op.create_table(
        "workflows",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("correlation_id", sa.String(length=36), nullable=False),
        sa.Column("definition", sa.String(length=100), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.Column("definition_snapshot", sa.JSON(), nullable=False),
        sa.Column("requested_workflow", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("submitters", sa.JSON(), nullable=False),
        sa.Column("original", sa.JSON(), nullable=False),
        sa.Column("rendition", sa.JSON(), nullable=True),
        sa.Column("ocr", sa.JSON(), nullable=True),
        sa.Column("document_metadata", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("current_step", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("document_id"),
    )


def _downgrade_workflows() -> None:
    op.drop_table("workflows")


def _upgrade_resubmissions() -> None:
    op.create_table(
        "resubmissions",
        sa.Column("resubmission_id", sa.String(length=36), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["workflows.document_id"],
        ),
        sa.PrimaryKeyConstraint("resubmission_id"),
    )
    op.create_index(op.f("ix_resubmissions_document_id"), "resubmissions", ["document_id"], unique=False)
    op.create_index(op.f("ix_resubmissions_user"), "resubmissions", ["user"], unique=False)


def _downgrade_resubmissions() -> None:
    op.drop_index(op.f("ix_resubmissions_user"), table_name="resubmissions")
    op.drop_index(op.f("ix_resubmissions_document_id"), table_name="resubmissions")
    op.drop_table("resubmissions")


def _upgrade_tasks() -> None:
    op.create_table(
        "tasks",
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("step_name", sa.String(length=200), nullable=False),
        sa.Column("assignee_kind", sa.String(length=20), nullable=False),
        sa.Column("assignee", sa.String(length=200), nullable=False),
        sa.Column("offered_to_role", sa.String(length=50), nullable=False),
        sa.Column("org_unit", sa.String(length=50), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_on_behalf_of", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_to_user", sa.String(length=200), nullable=True),
        sa.Column("escalated_to_role", sa.String(length=50), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("on_behalf_of", sa.String(length=200), nullable=True),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["workflows.document_id"],
        ),
        sa.PrimaryKeyConstraint("task_id"),
    )
    op.create_index(op.f("ix_tasks_deadline_at"), "tasks", ["deadline_at"], unique=False)
    op.create_index(op.f("ix_tasks_document_id"), "tasks", ["document_id"], unique=False)
    op.create_index(op.f("ix_tasks_remind_at"), "tasks", ["remind_at"], unique=False)
    op.create_index(op.f("ix_tasks_state"), "tasks", ["state"], unique=False)


def _downgrade_tasks() -> None:
    op.drop_index(op.f("ix_tasks_state"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_remind_at"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_document_id"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_deadline_at"), table_name="tasks")
    op.drop_table("tasks")
