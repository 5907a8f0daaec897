"""The workflow's repositories as the service layer sees them; `unit_of_work` has the SQL ones, the unit tests
in-memory fakes.

Locking: every change to a document's workflow first locks it (`lock`, `lock_task`), so changes to one
document are serialised: the audit chain stays linear and of two concurrent decisions on one task one wins.
"""

from collections.abc import Iterable
from datetime import date, datetime
from typing import Protocol

from services.workflow.domain import AuditEntry, ReachKeys
from services.workflow.tables import (
    AbsenceRow,
    DefinitionVersionRow,
    DelegationRow,
    MailRow,
    NotificationPreferenceRow,
    PersonRow,
    ResubmissionRow,
    TaskRow,
    WorkflowRow,
)


class WorkflowRepository(Protocol):
    """Workflows and their tasks (one aggregate: a task changes only under its workflow's lock)."""

    def add(self, workflow: WorkflowRow) -> None: ...

    def get(self, document_id: str) -> WorkflowRow | None: ...

    def submitters(self, document_ids: Iterable[str]) -> dict[str, str]:
        """Who submitted each of these documents (those with a workflow), without loading the workflows."""

    def existing(self, document_ids: Iterable[str]) -> set[str]:
        """Which of these documents have a workflow (one query for a batch of new documents)."""

    def lock(self, document_id: str) -> WorkflowRow | None:
        """The workflow, locked for a change; None if there is none."""

    def lock_task(self, task_id: str) -> tuple[TaskRow, WorkflowRow]:
        """The task and its workflow, locked for a change; `TaskNotFound` if either is gone."""

    def add_task(self, task: TaskRow) -> None: ...

    def tasks_of(self, document_id: str) -> list[TaskRow]:
        """All tasks of a document, by run, step and slot."""

    def open_tasks_of(self, document_id: str) -> list[TaskRow]: ...

    def count_open_tasks_by_kind(self) -> dict[str, int]:
        """How many tasks are open, by assignee kind (user, role, org_unit) (metrics)."""
        ...

    def step_tasks(self, document_ids: Iterable[str]) -> list[TaskRow]:
        """Every task of these documents (to see who holds which slot of a step)."""

    def decided_tasks(self, document_id: str, run: int) -> list[TaskRow]:
        """The run's decided tasks, by decision time, step and slot."""

    def open_tasks_reaching(self, keys: ReachKeys) -> list[tuple[TaskRow, WorkflowRow]]:
        """Open tasks offered under any of `keys` (candidates only), by creation time and slot."""

    def to_remind(self, now: datetime) -> list[str]: ...

    def to_escalate(self, now: datetime) -> list[str]: ...

    def remove(self, document_id: str) -> None:
        """Delete a document's workflow, its tasks and their delegations."""


class AuditRepository(Protocol):
    def last(self, document_id: str) -> AuditEntry | None:
        """The tail of the document's chain (the caller holds the document's lock)."""

    def read_tails(self, document_ids: Iterable[str]) -> None:
        """Read the tails of these documents' chains at once, for `last` (a batch about to append to them)."""

    def add(self, entry: AuditEntry) -> None: ...

    def entries(self, document_id: str) -> list[AuditEntry]: ...

    def remove(self, document_id: str) -> None: ...


class AbsenceRepository(Protocol):
    def add(self, absence: AbsenceRow) -> None: ...

    def of(self, user: str) -> list[AbsenceRow]:
        """The user's own absences and those where they are the deputy, by first day."""

    def everyone(self) -> list[AbsenceRow]:
        """Every absence, by first day (what an admin sees)."""

    def on(self, day: date, deputy: str | None = None) -> list[AbsenceRow]:
        """Absences covering `day` (of those `deputy` stands in for, if given)."""

    def delegated(self, absence_id: str) -> set[str]:
        """The task ids already delegated for this absence."""

    def delegation(self, task_id: str, absence_id: str) -> DelegationRow | None: ...

    def add_delegation(self, delegation: DelegationRow) -> None: ...


class ResubmissionRepository(Protocol):
    def add(self, resubmission: ResubmissionRow) -> None: ...

    def lock(self, resubmission_id: str) -> tuple[ResubmissionRow, WorkflowRow | None] | None:
        """The resubmission, its document locked for a change; None if there is none."""

    def of(self, user: str) -> list[ResubmissionRow]: ...

    def due_for(self, user: str) -> list[tuple[ResubmissionRow, WorkflowRow]]:
        """The user's resubmissions that came due and are not done, with their workflow."""

    def coming_due(self, today: date) -> list[str]:
        """Resubmissions whose day has come but that are not yet marked due."""

    def remove(self, document_id: str) -> None: ...


class DefinitionVersionRepository(Protocol):
    def latest(self, name: str) -> DefinitionVersionRow | None: ...

    def add(self, version: DefinitionVersionRow) -> None: ...


class NotificationRepository(Protocol):
    """The mail queue, each person's notification choice and the people seen signing in (with their roles)."""

    def add_mail(self, mail: MailRow) -> None: ...

    def due_mails(self, now: datetime, limit: int) -> list[MailRow]:
        """Unsent mails whose `send_after` has come, oldest first."""

    def claim_mail(self, mail_id: str, seen_send_after: datetime, until: datetime) -> bool:
        """Take one due mail for sending (moves its `send_after` to `until`); False when another sender took it."""

    def get_mail(self, mail_id: str) -> MailRow | None: ...

    def preference(self, user: str) -> NotificationPreferenceRow | None: ...

    def put_preference(self, row: NotificationPreferenceRow) -> None: ...

    def person(self, user: str) -> PersonRow | None: ...

    def put_person(self, row: PersonRow) -> None: ...

    def holders_of(self, role: str) -> list[str]:
        """The people seen signing in with `role`."""
