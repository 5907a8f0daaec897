"""Absences (`Vertretung`): who is away on which days and who stands in; their open tasks go to the deputy."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from services.workflow.context import WorkflowContext
from services.workflow.domain import Actor, absent_on, personal_keys, reaches
from services.workflow.rows import offer_of
from services.workflow.tables import AbsenceRow, DelegationRow
from services.workflow.unit_of_work import AbstractWorkflowUnitOfWork
from shared.errors import Refused


class InvalidRequest(Refused):
    """Input the rules refuse before anything is stored (e.g. an absence ending before it starts)."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_request", message)


@dataclass(frozen=True)
class AbsenceView:
    absence_id: str
    user: str
    deputy: str
    starts_on: date
    ends_on: date


def absence_view(row: AbsenceRow) -> AbsenceView:
    return AbsenceView(
        absence_id=row.absence_id, user=row.user, deputy=row.deputy, starts_on=row.starts_on, ends_on=row.ends_on
    )


class Absences:
    def __init__(self, context: WorkflowContext) -> None:
        self._context = context

    def record(
        self,
        uow: AbstractWorkflowUnitOfWork,
        user: str,
        roles: frozenset[str],
        deputy: str,
        starts_on: date,
        ends_on: date,
    ) -> AbsenceView:
        if deputy == user:
            raise InvalidRequest("the deputy must be someone else")
        if ends_on < starts_on:
            raise InvalidRequest("ends_on lies before starts_on")
        with uow:
            row = AbsenceRow(
                absence_id=str(uuid.uuid4()),
                user=user,
                deputy=deputy,
                roles=sorted(roles),
                starts_on=starts_on,
                ends_on=ends_on,
                created_at=self._context.clock.now(),
            )
            uow.absences.add(row)
            return absence_view(row)

    def of(self, uow: AbstractWorkflowUnitOfWork, user: str, roles: frozenset[str] = frozenset()) -> list[AbsenceView]:
        """The user's own absences and those where they are the deputy; admins see everyone's.

        An absence names only people, no document: need-to-know keeps it to the two people it concerns.
        """
        with uow:
            rows = uow.absences.everyone() if "admin" in roles else uow.absences.of(user)
            return [absence_view(row) for row in rows]

    def absentees(self, uow: AbstractWorkflowUnitOfWork, deputy: str) -> list[Actor]:
        """Whom `deputy` stands in for today (inside an open unit of work)."""
        rows = uow.absences.on(self._context.today(), deputy=deputy)
        return [self._context.actor(row.user, row.roles) for row in rows]

    def delegate_due(self, uow: AbstractWorkflowUnitOfWork, now: datetime) -> int:
        """For the scheduler: record today's delegations; returns how many tasks were delegated."""
        with uow:
            absences = uow.absences.on(self._context.today())
        return sum(self._delegate(uow, absence, now) for absence in absences)

    def _delegate(self, uow: AbstractWorkflowUnitOfWork, absence: AbsenceRow, now: datetime) -> int:
        """Record, once per task and absence, that an absent person's open tasks now show in the deputy's inbox.

        A deputy takes over what is offered to the absent person in person; group tasks stay with the group.
        """
        if not absent_on(self._context.today(), absence.starts_on, absence.ends_on):
            return 0
        absent = self._context.actor(absence.user, absence.roles)
        with uow:
            candidates = uow.workflows.open_tasks_reaching(personal_keys(absence.user))
            done = uow.absences.delegated(absence.absence_id)
            pending = [t.task_id for t, _ in candidates if t.task_id not in done and reaches(absent, offer_of(t))]
        return sum(self._delegate_one(uow, absence, task_id, now) for task_id in pending)

    def _delegate_one(self, uow: AbstractWorkflowUnitOfWork, absence: AbsenceRow, task_id: str, now: datetime) -> int:
        with uow:
            _task, workflow = uow.workflows.lock_task(task_id)
            if uow.absences.delegation(task_id, absence.absence_id) is not None:
                return 0
            uow.absences.add_delegation(DelegationRow(task_id=task_id, absence_id=absence.absence_id, at=now))
            delegated = {
                "task_id": task_id,
                "from": absence.user,
                "to": absence.deputy,
                "until": absence.ends_on.isoformat(),
            }
            self._context.audit.append(uow, workflow.document_id, "delegated", absence.user, None, delegated)
            return 1
