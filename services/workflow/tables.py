"""The workflow service's own tables."""

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UtcDateTime
from shared.events import utcnow


class WorkflowBase(DeclarativeBase):
    pass


class DefinitionVersionRow(WorkflowBase):
    """Every version of a definition ever loaded; a changed file becomes version n + 1 at start-up."""

    __tablename__ = "workflow_definition_versions"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict] = mapped_column(JSON)
    loaded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WorkflowRow(WorkflowBase):
    """One document's approval run, with what the archive will need (from `documents.ingested`).

    `definition_snapshot` is the definition as it was when the run started: later changes do not touch it.
    """

    __tablename__ = "workflows"

    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    correlation_id: Mapped[str] = mapped_column(String(36))
    definition: Mapped[str] = mapped_column(String(100))
    definition_version: Mapped[int] = mapped_column(Integer, default=1)
    definition_snapshot: Mapped[dict] = mapped_column(JSON, default=dict)
    requested_workflow: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(20))
    submitted_by: Mapped[str] = mapped_column(String(200))
    submitters: Mapped[list] = mapped_column(JSON, default=list)  # who uploaded any version: never approves
    original: Mapped[dict] = mapped_column(JSON)
    rendition: Mapped[dict | None] = mapped_column(JSON)
    ocr: Mapped[dict | None] = mapped_column(JSON)
    document_metadata: Mapped[dict] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    run: Mapped[int] = mapped_column(Integer, default=1)
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    revision: Mapped[int] = mapped_column(Integer, default=0)  # bumped first in every change: a per-document lock
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The trace the run's version was submitted in (shared.tracing): its events continue it, whoever decides when.
    traceparent: Mapped[str | None] = mapped_column(String(55), nullable=True)


class TaskRow(WorkflowBase):
    """One approval slot of one step of one run: offered to a user, a role or an org unit's members."""

    __tablename__ = "tasks"

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("workflows.document_id"), index=True)
    run: Mapped[int] = mapped_column(Integer, default=1)
    step: Mapped[int] = mapped_column(Integer)
    slot: Mapped[int] = mapped_column(Integer, default=1)
    step_name: Mapped[str] = mapped_column(String(200), default="")
    assignee_kind: Mapped[str] = mapped_column(String(20), default="role")
    assignee: Mapped[str] = mapped_column(String(200), default="")
    offered_to_role: Mapped[str] = mapped_column(String(50), default="")
    org_unit: Mapped[str | None] = mapped_column(String(50))
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_on_behalf_of: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    deadline_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    remind_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    escalated_to_user: Mapped[str | None] = mapped_column(String(200))
    escalated_to_role: Mapped[str | None] = mapped_column(String(50))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    on_behalf_of: Mapped[str | None] = mapped_column(String(200))
    decision: Mapped[str | None] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AbsenceRow(WorkflowBase):
    """An absence (`Abwesenheit`) with a deputy (`Vertretung`), whole days from `starts_on` to `ends_on`."""

    __tablename__ = "absences"

    absence_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user: Mapped[str] = mapped_column(String(200), index=True)
    deputy: Mapped[str] = mapped_column(String(200), index=True)
    roles: Mapped[list] = mapped_column(JSON, default=list)  # the absent user's roles when they recorded it
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DelegationRow(WorkflowBase):
    """That a task was shown to a deputy during an absence (recorded once, for the audit trail)."""

    __tablename__ = "delegations"

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    absence_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ResubmissionRow(WorkflowBase):
    """A `Wiedervorlage`: the document comes back into `user`'s inbox on `due_on`."""

    __tablename__ = "resubmissions"

    resubmission_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("workflows.document_id"), index=True)
    user: Mapped[str] = mapped_column(String(200), index=True)
    due_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # when it came due (and its event was written)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditRow(WorkflowBase):
    """One audit entry; `hash` = SHA-256 of the entry's canonical JSON including `prev_hash` (per document)."""

    __tablename__ = "audit_entries"
    __table_args__ = (UniqueConstraint("document_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(String(36), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(50))
    actor: Mapped[str] = mapped_column(String(200))
    on_behalf_of: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON, exactly as hashed
    at: Mapped[str] = mapped_column(String(40))  # ISO 8601, exactly as hashed
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class MailRow(WorkflowBase):
    """A notification mail waiting to be sent (the mail outbox): written in the transaction of what it tells.

    `send_after` is when the sender may try next (the digest time for digest mails, a retry's backoff after a
    failed delivery); `sent_at` is set once the SMTP server accepted it.
    """

    __tablename__ = "mail_queue"

    mail_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(200), index=True)
    address: Mapped[str] = mapped_column(String(254))
    kind: Mapped[str] = mapped_column(String(30))
    document_id: Mapped[str] = mapped_column(String(36), default="")
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(500), default="")
    digest: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    send_after: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)


class NotificationPreferenceRow(WorkflowBase):
    """A person's choice on /einstellungen: immediate mails or a daily digest, and notices of archived documents."""

    __tablename__ = "notification_preferences"

    user: Mapped[str] = mapped_column(String(200), primary_key=True)
    delivery: Mapped[str] = mapped_column(String(20), default="immediate")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PersonRow(WorkflowBase):
    """A person seen signing in (a token at the workflow service): their roles and `email` claim, for mails to a
    role's holders."""

    __tablename__ = "notification_people"

    user: Mapped[str] = mapped_column(String(200), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    roles: Mapped[list] = mapped_column(JSON, default=list)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
