"""Absences (`Vertretung`): who is away on which days and who stands in; their open tasks go to the deputy."""

import uuid
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.workflow.context import WorkflowContext
from services.workflow.domain import Actor, AssigneeKind, TaskState, absent_on, reaches
from services.workflow.rows import lock_task, offer_of
from services.workflow.tables import AbsenceRow, DelegationRow, TaskRow


class InvalidRequest(ValueError):
    """Input the rules refuse before anything is stored (e.g. an absence ending before it starts)."""


class Absences:
    def __init__(self, context: WorkflowContext) -> None:
        self._context = context

    def record(self, user: str, roles: frozenset[str], deputy: str, starts_on: date, ends_on: date) -> AbsenceRow:
        if deputy == user:
            raise InvalidRequest("the deputy must be someone else")
        if ends_on < starts_on:
            raise InvalidRequest("ends_on lies before starts_on")
        with self._context.sessions() as session:
            row = AbsenceRow(
                absence_id=str(uuid.uuid4()),
                user=user,
                deputy=deputy,
                roles=sorted(roles),
                starts_on=starts_on,
                ends_on=ends_on,
                created_at=self._context.clock.now(),
            )
            session.add(row)
            session.commit()
        return row

    def of(self, user: str) -> list[AbsenceRow]:
        """The user's own absences and those where they are the deputy."""
        with self._context.sessions() as session:
            return list(
                session.scalars(
                    select(AbsenceRow)
                    .where(or_(AbsenceRow.user == user, AbsenceRow.deputy == user))
                    .order_by(AbsenceRow.starts_on)
                )
            )

    def absentees(self, session: Session, deputy: str) -> list[Actor]:
        """Whom `deputy` stands in for today."""
        today = self._context.today()
        rows = session.scalars(
            select(AbsenceRow).where(
                AbsenceRow.deputy == deputy, AbsenceRow.starts_on <= today, AbsenceRow.ends_on >= today
            )
        ).all()
        return [self._context.actor(row.user, row.roles) for row in rows]

    def delegate_due(self, now: datetime) -> int:
        """For the scheduler: record today's delegations; returns how many tasks were delegated."""
        today = self._context.today()
        with self._context.sessions() as session:
            absences = session.scalars(
                select(AbsenceRow).where(AbsenceRow.starts_on <= today, AbsenceRow.ends_on >= today)
            ).all()
        return sum(self._delegate(absence, now) for absence in absences)

    def _delegate(self, absence: AbsenceRow, now: datetime) -> int:
        """Record, once per task and absence, that an absent person's open tasks now show in the deputy's inbox."""
        if not absent_on(self._context.today(), absence.starts_on, absence.ends_on):
            return 0
        absent = self._context.actor(absence.user, absence.roles)
        with self._context.sessions() as session:
            candidates = session.scalars(
                select(TaskRow).where(
                    TaskRow.state == TaskState.OPEN.value,
                    or_(
                        (TaskRow.assignee_kind == AssigneeKind.USER.value) & (TaskRow.assignee == absence.user),
                        TaskRow.escalated_to_user == absence.user,
                        TaskRow.claimed_by == absence.user,
                    ),
                )
            ).all()
            done = set(
                session.scalars(select(DelegationRow.task_id).where(DelegationRow.absence_id == absence.absence_id))
            )
            pending = [t.task_id for t in candidates if t.task_id not in done and reaches(absent, offer_of(t))]
        count = 0
        for task_id in pending:
            with self._context.sessions() as session:
                _task, workflow = lock_task(session, task_id)
                if session.get(DelegationRow, (task_id, absence.absence_id)) is not None:
                    continue
                session.add(DelegationRow(task_id=task_id, absence_id=absence.absence_id, at=now))
                self._context.audit.append(
                    session,
                    workflow.document_id,
                    "delegated",
                    absence.user,
                    None,
                    {
                        "task_id": task_id,
                        "from": absence.user,
                        "to": absence.deputy,
                        "until": absence.ends_on.isoformat(),
                    },
                )
                session.commit()
                count += 1
        return count
