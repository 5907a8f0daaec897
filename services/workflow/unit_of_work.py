"""The workflow's unit of work: its tables behind repositories, the outbox and processed events in one transaction.

Only this module (and the relay) touches SQLAlchemy sessions; the service layer works through the repositories.
"""

import abc
import json
import logging
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from services.workflow.domain import AssigneeKind, AuditEntry, ReachKeys, TaskState
from services.workflow.repositories import (
    AbsenceRepository,
    AuditRepository,
    DefinitionVersionRepository,
    NotificationRepository,
    ResubmissionRepository,
    WorkflowRepository,
)
from services.workflow.rows import TaskNotFound
from services.workflow.tables import (
    AbsenceRow,
    AuditRow,
    DefinitionVersionRow,
    DelegationRow,
    MailRow,
    NotificationPreferenceRow,
    PersonRow,
    ResubmissionRow,
    TaskRow,
    WorkflowRow,
)
from shared.events import Event
from shared.tracing import continued
from shared.tracing import enabled as tracing_enabled
from shared.unit_of_work import SqlUnitOfWork, UnitOfWork

log = logging.getLogger(__name__)


class AbstractWorkflowUnitOfWork(UnitOfWork, abc.ABC):
    """What the workflow's service layer works through; open it with `with uow:`."""

    workflows: WorkflowRepository
    audit: AuditRepository
    absences: AbsenceRepository
    resubmissions: ResubmissionRepository
    definition_versions: DefinitionVersionRepository
    notifications: NotificationRepository


# Statements of every document's first steps, built once (building and keying them cost more than running them).
_BUMP_REVISION = (
    update(WorkflowRow)
    .where(WorkflowRow.document_id == bindparam("locked_id"))  # not a column's name: those are the SET's
    .values(revision=WorkflowRow.revision + 1)
    .execution_options(synchronize_session=False)
)
_LAST_AUDIT_ENTRY = (
    select(AuditRow).where(AuditRow.document_id == bindparam("document_id")).order_by(AuditRow.seq.desc()).limit(1)
)


_NEWEST_SEQ = (
    select(AuditRow.document_id, func.max(AuditRow.seq).label("seq"))
    .where(AuditRow.document_id.in_(bindparam("ids", expanding=True)))
    .group_by(AuditRow.document_id)
    .subquery()
)
_AUDIT_TAILS = select(AuditRow).join(
    _NEWEST_SEQ, (AuditRow.document_id == _NEWEST_SEQ.c.document_id) & (AuditRow.seq == _NEWEST_SEQ.c.seq)
)
_INSERT_AUDIT = insert(cast(Table, AuditRow.__table__))


def lock_workflow(session: Session, document_id: str) -> WorkflowRow | None:
    """Serialise changes to one document: bump its revision first (a row lock on PostgreSQL, the write lock on
    SQLite), then read it fresh."""
    result = cast(CursorResult[Any], session.execute(_BUMP_REVISION, {"locked_id": document_id}))
    if result.rowcount != 1:
        return None
    return session.get(WorkflowRow, document_id, populate_existing=True)


class SqlWorkflowRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, workflow: WorkflowRow) -> None:
        # Written at the next flush, so a workflow decided at once (`none`) is one INSERT in its final state
        # instead of an INSERT and an UPDATE; `add_task` writes it before its first task.
        self._session.add(workflow)

    def get(self, document_id: str) -> WorkflowRow | None:
        return self._session.get(WorkflowRow, document_id)

    def submitters(self, document_ids: Iterable[str]) -> dict[str, str]:
        query = select(WorkflowRow.document_id, WorkflowRow.submitted_by)
        rows = self._session.execute(query.where(WorkflowRow.document_id.in_(list(document_ids))))
        return {document_id: submitted_by for document_id, submitted_by in rows}

    def existing(self, document_ids: Iterable[str]) -> set[str]:
        query = select(WorkflowRow.document_id).where(WorkflowRow.document_id.in_(list(document_ids)))
        return set(self._session.scalars(query))

    def lock(self, document_id: str) -> WorkflowRow | None:
        return lock_workflow(self._session, document_id)

    def lock_task(self, task_id: str) -> tuple[TaskRow, WorkflowRow]:
        task = self._session.get(TaskRow, task_id)
        if task is None:
            raise TaskNotFound()
        workflow = lock_workflow(self._session, task.document_id)
        if workflow is None:
            raise TaskNotFound()
        self._session.refresh(task)
        return task, workflow

    def add_task(self, task: TaskRow) -> None:
        # A task refers to its workflow, and a flush does not order rows by a foreign key alone: a workflow added
        # in this transaction is written first.
        if any(isinstance(row, WorkflowRow) for row in self._session.new):
            self._session.flush()
        self._session.add(task)

    def tasks_of(self, document_id: str) -> list[TaskRow]:
        query = select(TaskRow).where(TaskRow.document_id == document_id)
        return list(self._session.scalars(query.order_by(TaskRow.run, TaskRow.step, TaskRow.slot)))

    def open_tasks_of(self, document_id: str) -> list[TaskRow]:
        query = select(TaskRow).where(TaskRow.document_id == document_id, TaskRow.state == TaskState.OPEN.value)
        return list(self._session.scalars(query))

    def count_open_tasks_by_kind(self) -> dict[str, int]:
        query = (
            select(TaskRow.assignee_kind, func.count())
            .where(TaskRow.state == TaskState.OPEN.value)
            .group_by(TaskRow.assignee_kind)
        )
        return {kind: count for kind, count in self._session.execute(query).all()}

    def step_tasks(self, document_ids: Iterable[str]) -> list[TaskRow]:
        documents = set(document_ids)
        if not documents:
            return []
        return list(self._session.scalars(select(TaskRow).where(TaskRow.document_id.in_(documents))))

    def decided_tasks(self, document_id: str, run: int) -> list[TaskRow]:
        query = select(TaskRow).where(
            TaskRow.document_id == document_id, TaskRow.run == run, TaskRow.decided_at.is_not(None)
        )
        return list(self._session.scalars(query.order_by(TaskRow.decided_at, TaskRow.step, TaskRow.slot)))

    def open_tasks_reaching(self, keys: ReachKeys) -> list[tuple[TaskRow, WorkflowRow]]:
        rows = self._session.execute(
            select(TaskRow, WorkflowRow)
            .join(WorkflowRow, WorkflowRow.document_id == TaskRow.document_id)
            .where(
                TaskRow.state == TaskState.OPEN.value,
                or_(
                    (TaskRow.assignee_kind == AssigneeKind.USER.value) & TaskRow.assignee.in_(keys.people),
                    (TaskRow.assignee_kind == AssigneeKind.ROLE.value) & TaskRow.assignee.in_(keys.roles),
                    (TaskRow.assignee_kind == AssigneeKind.ORG_UNIT.value) & TaskRow.assignee.in_(keys.units),
                    TaskRow.escalated_to_user.in_(keys.people),
                    TaskRow.escalated_to_role.in_(keys.roles),
                    TaskRow.claimed_by.in_(keys.people),
                ),
            )
            .order_by(TaskRow.created_at, TaskRow.slot)
        ).all()
        return [(task, workflow) for task, workflow in rows]

    def to_remind(self, now: datetime) -> list[str]:
        query = select(TaskRow.task_id).where(
            TaskRow.state == TaskState.OPEN.value, TaskRow.reminded_at.is_(None), TaskRow.remind_at <= now
        )
        return list(self._session.scalars(query))

    def to_escalate(self, now: datetime) -> list[str]:
        query = select(TaskRow.task_id).where(
            TaskRow.state == TaskState.OPEN.value, TaskRow.escalated_at.is_(None), TaskRow.deadline_at <= now
        )
        return list(self._session.scalars(query))

    def remove(self, document_id: str) -> None:
        task_ids = list(self._session.scalars(select(TaskRow.task_id).where(TaskRow.document_id == document_id)))
        if task_ids:
            self._session.execute(delete(DelegationRow).where(DelegationRow.task_id.in_(task_ids)))
        self._session.execute(delete(TaskRow).where(TaskRow.document_id == document_id))
        self._session.execute(delete(WorkflowRow).where(WorkflowRow.document_id == document_id))


class SqlAuditRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        # The chain's tail per document (None: no entries yet), kept for this transaction (the document is locked,
        # nobody else appends).
        self._tails: dict[str, AuditEntry | None] = {}
        # Entries added in this transaction; a chain begun here (its first entry among them) needs no read back.
        self._added: dict[str, list[AuditEntry]] = {}
        # Their rows, inserted together when the unit of work commits (as ORM objects each was a flushed INSERT
        # of its own: two per document started).
        self._unwritten: list[dict[str, Any]] = []

    def last(self, document_id: str) -> AuditEntry | None:
        if document_id in self._tails:
            return self._tails[document_id]
        # Entries added in this transaction are in `_tails`: nothing pending needs writing before this read.
        with self._session.no_autoflush:
            last = self._session.scalars(_LAST_AUDIT_ENTRY, {"document_id": document_id}).first()
        return _entry(last) if last else None

    def read_tails(self, document_ids: Iterable[str]) -> None:
        wanted = [d for d in document_ids if d not in self._tails]
        if not wanted:
            return
        with self._session.no_autoflush:
            tails = {row.document_id: _entry(row) for row in self._session.scalars(_AUDIT_TAILS, {"ids": wanted})}
        self._tails.update({d: tails.get(d) for d in wanted})

    def add(self, entry: AuditEntry) -> None:
        self._tails[entry.document_id] = entry
        self._added.setdefault(entry.document_id, []).append(entry)
        self._unwritten.append(
            {
                "document_id": entry.document_id,
                "seq": entry.seq,
                "action": entry.action,
                "actor": entry.actor,
                "on_behalf_of": entry.on_behalf_of,
                "payload": json.dumps(entry.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
                "at": entry.at,
                "prev_hash": entry.prev_hash,
                "hash": entry.hash,
            }
        )

    def write_added(self) -> None:
        """Insert the entries added since the last call: one statement for all (the unit of work's commit)."""
        rows, self._unwritten = self._unwritten, []
        if rows:
            self._session.execute(_INSERT_AUDIT, rows)

    def forget_added(self) -> None:
        """A rolled back transaction's entries are gone."""
        self._tails, self._added, self._unwritten = {}, {}, []

    def entries(self, document_id: str) -> list[AuditEntry]:
        added = self._added.get(document_id, [])
        if added and added[0].seq == 1:  # e.g. a workflow `none`: started and decided in one transaction
            return list(added)
        query = select(AuditRow).where(AuditRow.document_id == document_id).order_by(AuditRow.seq)
        stored = [_entry(row) for row in self._session.scalars(query)]
        return stored + [entry for entry in added if not stored or entry.seq > stored[-1].seq]

    def remove(self, document_id: str) -> None:
        self._tails.pop(document_id, None)
        self._added.pop(document_id, None)
        self._unwritten = [row for row in self._unwritten if row["document_id"] != document_id]
        self._session.execute(delete(AuditRow).where(AuditRow.document_id == document_id))


def _entry(row: AuditRow) -> AuditEntry:
    try:
        payload = json.loads(row.payload)
    except ValueError:
        payload = {"unreadable": row.payload}
    return AuditEntry(
        document_id=row.document_id,
        seq=row.seq,
        action=row.action,
        actor=row.actor,
        on_behalf_of=row.on_behalf_of,
        payload=payload,
        at=row.at,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class SqlAbsenceRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, absence: AbsenceRow) -> None:
        self._session.add(absence)

    def of(self, user: str) -> list[AbsenceRow]:
        query = select(AbsenceRow).where(or_(AbsenceRow.user == user, AbsenceRow.deputy == user))
        return list(self._session.scalars(query.order_by(AbsenceRow.starts_on)))

    def everyone(self) -> list[AbsenceRow]:
        return list(self._session.scalars(select(AbsenceRow).order_by(AbsenceRow.starts_on)))

    def on(self, day: date, deputy: str | None = None) -> list[AbsenceRow]:
        query = select(AbsenceRow).where(AbsenceRow.starts_on <= day, AbsenceRow.ends_on >= day)
        if deputy is not None:
            query = query.where(AbsenceRow.deputy == deputy)
        return list(self._session.scalars(query))

    def delegated(self, absence_id: str) -> set[str]:
        query = select(DelegationRow.task_id).where(DelegationRow.absence_id == absence_id)
        return set(self._session.scalars(query))

    def delegation(self, task_id: str, absence_id: str) -> DelegationRow | None:
        return self._session.get(DelegationRow, (task_id, absence_id))

    def add_delegation(self, delegation: DelegationRow) -> None:
        self._session.add(delegation)


class SqlResubmissionRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, resubmission: ResubmissionRow) -> None:
        self._session.add(resubmission)

    def lock(self, resubmission_id: str) -> tuple[ResubmissionRow, WorkflowRow | None] | None:
        row = self._session.get(ResubmissionRow, resubmission_id)
        if row is None:
            return None
        workflow = lock_workflow(self._session, row.document_id)
        self._session.refresh(row)
        return row, workflow

    def of(self, user: str) -> list[ResubmissionRow]:
        query = select(ResubmissionRow).where(ResubmissionRow.user == user).order_by(ResubmissionRow.due_on)
        return list(self._session.scalars(query))

    def due_for(self, user: str) -> list[tuple[ResubmissionRow, WorkflowRow]]:
        rows = self._session.execute(
            select(ResubmissionRow, WorkflowRow)
            .join(WorkflowRow, WorkflowRow.document_id == ResubmissionRow.document_id)
            .where(
                ResubmissionRow.user == user,
                ResubmissionRow.due_at.is_not(None),
                ResubmissionRow.done_at.is_(None),
            )
        ).all()
        return [(row, workflow) for row, workflow in rows]

    def coming_due(self, today: date) -> list[str]:
        query = select(ResubmissionRow.resubmission_id).where(
            ResubmissionRow.due_at.is_(None), ResubmissionRow.due_on <= today
        )
        return list(self._session.scalars(query))

    def remove(self, document_id: str) -> None:
        self._session.execute(delete(ResubmissionRow).where(ResubmissionRow.document_id == document_id))


class SqlDefinitionVersionRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def latest(self, name: str) -> DefinitionVersionRow | None:
        query = select(DefinitionVersionRow).where(DefinitionVersionRow.name == name)
        return self._session.scalars(query.order_by(DefinitionVersionRow.version.desc()).limit(1)).first()

    def add(self, version: DefinitionVersionRow) -> None:
        self._session.add(version)


class SqlNotificationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session
        # People found without a preference in this transaction: a batch of events asks for the same few again, and
        # the session keeps only rows it found (most people never set one).
        self._without_preference: set[str] = set()

    def add_mail(self, mail: MailRow) -> None:
        self._session.add(mail)

    def due_mails(self, now: datetime, limit: int) -> list[MailRow]:
        query = select(MailRow).where(MailRow.sent_at.is_(None), MailRow.send_after <= now)
        return list(self._session.scalars(query.order_by(MailRow.send_after).limit(limit)))

    def claim_mail(self, mail_id: str, seen_send_after: datetime, until: datetime) -> bool:
        result = cast(
            CursorResult[Any],
            self._session.execute(
                update(MailRow)
                .where(MailRow.mail_id == mail_id, MailRow.send_after == seen_send_after, MailRow.sent_at.is_(None))
                .values(send_after=until)
                .execution_options(synchronize_session=False)
            ),
        )
        return result.rowcount == 1

    def get_mail(self, mail_id: str) -> MailRow | None:
        return self._session.get(MailRow, mail_id, populate_existing=True)

    def preference(self, user: str) -> NotificationPreferenceRow | None:
        if user in self._without_preference:
            return None
        found = self._session.get(NotificationPreferenceRow, user)
        if found is None:
            self._without_preference.add(user)
        return found

    def put_preference(self, row: NotificationPreferenceRow) -> None:
        self._without_preference.discard(row.user)
        self._session.merge(row)

    def person(self, user: str) -> PersonRow | None:
        return self._session.get(PersonRow, user)

    def put_person(self, row: PersonRow) -> None:
        self._session.merge(row)

    def holders_of(self, role: str) -> list[str]:
        return sorted(row.user for row in self._session.scalars(select(PersonRow)) if role in (row.roles or []))


# Called with the unit of work and each event it announces, in the same transaction (the notifier's mails).
EventListener = Callable[["WorkflowUnitOfWork", Event], None]


class WorkflowUnitOfWork(SqlUnitOfWork, AbstractWorkflowUnitOfWork):
    """The workflow's tables over one session per `with` block."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        notify: Callable[[], None] = lambda: None,
        on_event: EventListener | None = None,
    ) -> None:
        super().__init__(sessions, notify)
        self._on_event = on_event

    def _open_repositories(self, session: Session) -> None:
        self.workflows = SqlWorkflowRepository(session)
        self.audit = self._audit = SqlAuditRepository(session)
        self.absences = SqlAbsenceRepository(session)
        self.resubmissions = SqlResubmissionRepository(session)
        self.definition_versions = SqlDefinitionVersionRepository(session)
        self.notifications = SqlNotificationRepository(session)

    def commit(self) -> None:
        self._audit.write_added()
        super().commit()

    def rollback(self) -> None:
        super().rollback()
        self._audit.forget_added()

    def add_event(self, event: Event) -> None:
        """An event of a document's run goes out in the trace the document was submitted in (traces on)."""
        workflow = self.session.get(WorkflowRow, str(event.document_id)) if tracing_enabled() else None
        with continued(workflow.traceparent if workflow is not None else None, f"{event.TOPIC} announce"):
            super().add_event(event)
        if self._on_event is not None:
            try:
                self._on_event(self, event)
            except Exception as error:  # a mail that cannot be queued never fails the decision that caused it
                log.warning("notification mails for %s not queued (%s)", event.TOPIC, type(error).__name__)
