"""The workflow's fake unit of work: in-memory repositories with the SQL ones' answers, and a builder for tests.

Rows are the service's ORM classes used as plain objects (never added to a session).
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime

from services.workflow.bootstrap import Workflow, bootstrap
from services.workflow.clock import ControllableClock
from services.workflow.domain import AssigneeKind, AuditEntry, Organisation, ReachKeys, Registry, TaskState
from services.workflow.rows import TaskNotFound
from services.workflow.tables import (
    AbsenceRow,
    DefinitionVersionRow,
    DelegationRow,
    ResubmissionRow,
    TaskRow,
    WorkflowRow,
)
from services.workflow.unit_of_work import AbstractWorkflowUnitOfWork
from tests.unit.fakes import FakeUnitOfWork


def _offered_under(task: TaskRow, keys: ReachKeys) -> bool:
    """The SQL repository's candidate filter, in Python."""
    by_kind = {
        AssigneeKind.USER.value: keys.people,
        AssigneeKind.ROLE.value: keys.roles,
        AssigneeKind.ORG_UNIT.value: keys.units,
    }
    return (
        task.assignee in by_kind[task.assignee_kind]
        or task.escalated_to_user in keys.people
        or task.escalated_to_role in keys.roles
        or task.claimed_by in keys.people
    )


class FakeWorkflows:
    def __init__(self) -> None:
        self.rows: dict[str, WorkflowRow] = {}
        self.tasks: dict[str, TaskRow] = {}

    def add(self, workflow: WorkflowRow) -> None:
        self.rows[workflow.document_id] = workflow

    def get(self, document_id: str) -> WorkflowRow | None:
        return self.rows.get(document_id)

    def submitters(self, document_ids: Iterable[str]) -> dict[str, str]:
        return {d: self.rows[d].submitted_by for d in document_ids if d in self.rows}

    def existing(self, document_ids: Iterable[str]) -> set[str]:
        return {d for d in document_ids if d in self.rows}

    def lock(self, document_id: str) -> WorkflowRow | None:
        return self.rows.get(document_id)

    def lock_task(self, task_id: str) -> tuple[TaskRow, WorkflowRow]:
        task = self.tasks.get(task_id)
        if task is None or task.document_id not in self.rows:
            raise TaskNotFound()
        return task, self.rows[task.document_id]

    def add_task(self, task: TaskRow) -> None:
        self.tasks[task.task_id] = task

    def tasks_of(self, document_id: str) -> list[TaskRow]:
        found = [t for t in self.tasks.values() if t.document_id == document_id]
        return sorted(found, key=lambda t: (t.run, t.step, t.slot))

    def open_tasks_of(self, document_id: str) -> list[TaskRow]:
        return [t for t in self.tasks_of(document_id) if t.state == TaskState.OPEN.value]

    def count_open_tasks_by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for task in self.tasks.values():
            if task.state == TaskState.OPEN.value:
                counts[task.assignee_kind] = counts.get(task.assignee_kind, 0) + 1
        return counts

    def step_tasks(self, document_ids: Iterable[str]) -> list[TaskRow]:
        documents = set(document_ids)
        return [t for t in self.tasks.values() if t.document_id in documents]

    def decided_tasks(self, document_id: str, run: int) -> list[TaskRow]:
        found = [t for t in self.tasks_of(document_id) if t.run == run and t.decided_at is not None]
        return sorted(found, key=lambda t: (t.decided_at, t.step, t.slot))

    def open_tasks_reaching(self, keys: ReachKeys) -> list[tuple[TaskRow, WorkflowRow]]:
        found = [t for t in self.tasks.values() if t.state == TaskState.OPEN.value and _offered_under(t, keys)]
        return [(t, self.rows[t.document_id]) for t in sorted(found, key=lambda t: (t.created_at, t.slot))]

    def to_remind(self, now: datetime) -> list[str]:
        return [t.task_id for t in self.tasks.values() if _open(t) and not t.reminded_at and t.remind_at <= now]

    def to_escalate(self, now: datetime) -> list[str]:
        return [t.task_id for t in self.tasks.values() if _open(t) and not t.escalated_at and t.deadline_at <= now]

    def remove(self, document_id: str) -> None:
        self.rows.pop(document_id, None)
        self.tasks = {k: t for k, t in self.tasks.items() if t.document_id != document_id}


def _open(task: TaskRow) -> bool:
    return task.state == TaskState.OPEN.value


class FakeAudit:
    def __init__(self) -> None:
        self.entries_by_document: dict[str, list[AuditEntry]] = {}

    def last(self, document_id: str) -> AuditEntry | None:
        entries = self.entries_by_document.get(document_id)
        return entries[-1] if entries else None

    def read_tails(self, document_ids: Iterable[str]) -> None:
        pass  # `last` reads the entries kept here

    def add(self, entry: AuditEntry) -> None:
        self.entries_by_document.setdefault(entry.document_id, []).append(entry)

    def entries(self, document_id: str) -> list[AuditEntry]:
        return list(self.entries_by_document.get(document_id, []))

    def remove(self, document_id: str) -> None:
        self.entries_by_document.pop(document_id, None)

    def actions(self, document_id: str) -> list[str]:
        return [e.action for e in self.entries(document_id)]


class FakeAbsences:
    def __init__(self) -> None:
        self.rows: list[AbsenceRow] = []
        self.delegations: dict[tuple[str, str], DelegationRow] = {}

    def add(self, absence: AbsenceRow) -> None:
        self.rows.append(absence)

    def of(self, user: str) -> list[AbsenceRow]:
        return sorted((a for a in self.rows if user in (a.user, a.deputy)), key=lambda a: a.starts_on)

    def everyone(self) -> list[AbsenceRow]:
        return sorted(self.rows, key=lambda a: a.starts_on)

    def on(self, day: date, deputy: str | None = None) -> list[AbsenceRow]:
        covering = [a for a in self.rows if a.starts_on <= day <= a.ends_on]
        return [a for a in covering if deputy is None or a.deputy == deputy]

    def delegated(self, absence_id: str) -> set[str]:
        return {task_id for task_id, absence in self.delegations if absence == absence_id}

    def delegation(self, task_id: str, absence_id: str) -> DelegationRow | None:
        return self.delegations.get((task_id, absence_id))

    def add_delegation(self, delegation: DelegationRow) -> None:
        self.delegations[(delegation.task_id, delegation.absence_id)] = delegation


class FakeResubmissions:
    def __init__(self, workflows: FakeWorkflows) -> None:
        self._workflows = workflows
        self.rows: dict[str, ResubmissionRow] = {}

    def add(self, resubmission: ResubmissionRow) -> None:
        self.rows[resubmission.resubmission_id] = resubmission

    def lock(self, resubmission_id: str) -> tuple[ResubmissionRow, WorkflowRow | None] | None:
        row = self.rows.get(resubmission_id)
        return None if row is None else (row, self._workflows.get(row.document_id))

    def of(self, user: str) -> list[ResubmissionRow]:
        return sorted((r for r in self.rows.values() if r.user == user), key=lambda r: r.due_on)

    def due_for(self, user: str) -> list[tuple[ResubmissionRow, WorkflowRow]]:
        due = [r for r in self.of(user) if r.due_at is not None and r.done_at is None]
        return [(r, self._workflows.rows[r.document_id]) for r in due]

    def coming_due(self, today: date) -> list[str]:
        return [r.resubmission_id for r in self.rows.values() if r.due_at is None and r.due_on <= today]

    def remove(self, document_id: str) -> None:
        self.rows = {k: r for k, r in self.rows.items() if r.document_id != document_id}


class FakeDefinitionVersions:
    def __init__(self) -> None:
        self.rows: list[DefinitionVersionRow] = []

    def latest(self, name: str) -> DefinitionVersionRow | None:
        found = [r for r in self.rows if r.name == name]
        return max(found, key=lambda r: r.version) if found else None

    def add(self, version: DefinitionVersionRow) -> None:
        self.rows.append(version)


class FakeWorkflowUnitOfWork(FakeUnitOfWork, AbstractWorkflowUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.workflows = FakeWorkflows()
        self.audit = FakeAudit()
        self.absences = FakeAbsences()
        self.resubmissions = FakeResubmissions(self.workflows)
        self.definition_versions = FakeDefinitionVersions()


def build_workflow(
    uow: FakeWorkflowUnitOfWork, registry: Registry, organisation: Organisation
) -> tuple[Workflow, ControllableClock]:
    """The service parts as the composition root wires them, over `uow`, with a clock the test moves."""
    clock = ControllableClock()
    digests = {name: f"sha-{name}" for name in registry.definitions}
    return bootstrap(lambda: uow, clock, registry, organisation, digests, zone=UTC), clock
