"""Resubmissions (`Wiedervorlage`): a document comes back into its owner's inbox on a chosen day."""

import uuid
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.workflow.context import SYSTEM_USER, WorkflowContext
from services.workflow.rows import TaskNotFound, WorkflowNotFound, lock_workflow
from services.workflow.tables import ResubmissionRow, WorkflowRow
from services.workflow.views import TaskView, resubmission_view
from shared import events
from shared.outbox import add_event


class Resubmissions:
    def __init__(self, context: WorkflowContext) -> None:
        self._context = context

    def add(self, user: str, document_id: str, on: date, note: str) -> ResubmissionRow:
        with self._context.sessions() as session:
            workflow = lock_workflow(session, document_id)
            if workflow is None:
                raise WorkflowNotFound(document_id)
            row = ResubmissionRow(
                resubmission_id=str(uuid.uuid4()),
                document_id=document_id,
                user=user,
                due_on=on,
                note=note,
                created_at=self._context.clock.now(),
            )
            session.add(row)
            self._context.audit.append(
                session,
                document_id,
                "resubmission_set",
                user,
                None,
                {"resubmission_id": row.resubmission_id, "on": on.isoformat(), "note": note},
            )
            session.commit()
        return row

    def of(self, user: str) -> list[ResubmissionRow]:
        with self._context.sessions() as session:
            return list(
                session.scalars(
                    select(ResubmissionRow).where(ResubmissionRow.user == user).order_by(ResubmissionRow.due_on)
                )
            )

    def finish(self, user: str, resubmission_id: str) -> ResubmissionRow:
        with self._context.sessions() as session:
            row = session.get(ResubmissionRow, resubmission_id)
            if row is None or row.user != user:
                raise TaskNotFound(resubmission_id)
            lock_workflow(session, row.document_id)
            session.refresh(row)
            if row.done_at is None:
                row.done_at = self._context.clock.now()
                self._context.audit.append(
                    session, row.document_id, "resubmission_done", user, None, {"resubmission_id": row.resubmission_id}
                )
            session.commit()
            return row

    def due_for(self, session: Session, user: str) -> list[TaskView]:
        """The user's resubmissions that are due and not done, as inbox entries."""
        rows = session.execute(
            select(ResubmissionRow, WorkflowRow)
            .join(WorkflowRow, WorkflowRow.document_id == ResubmissionRow.document_id)
            .where(
                ResubmissionRow.user == user,
                ResubmissionRow.due_at.is_not(None),
                ResubmissionRow.done_at.is_(None),
            )
        ).all()
        return [resubmission_view(row, workflow) for row, workflow in rows]

    def mark_due(self, now: datetime) -> int:
        """For the scheduler: resubmissions whose day has come; returns how many became due."""
        with self._context.sessions() as session:
            due = session.scalars(
                select(ResubmissionRow.resubmission_id).where(
                    ResubmissionRow.due_at.is_(None), ResubmissionRow.due_on <= self._context.today()
                )
            ).all()
        return sum(self._mark_one_due(resubmission_id, now) for resubmission_id in due)

    def _mark_one_due(self, resubmission_id: str, now: datetime) -> int:
        with self._context.sessions() as session:
            row = session.get(ResubmissionRow, resubmission_id)
            if row is None:
                return 0
            workflow = lock_workflow(session, row.document_id)
            session.refresh(row)
            if workflow is None or row.due_at is not None:
                return 0
            row.due_at = now
            add_event(
                session,
                events.ResubmissionDue(
                    document_id=uuid.UUID(row.document_id),
                    correlation_id=uuid.UUID(workflow.correlation_id),
                    resubmission_id=row.resubmission_id,
                    user=row.user,
                    due_on=row.due_on.isoformat(),
                    note=row.note,
                ),
            )
            self._context.audit.append(
                session,
                row.document_id,
                "resubmission_due",
                SYSTEM_USER,
                None,
                {"resubmission_id": row.resubmission_id, "user": row.user, "on": row.due_on.isoformat()},
            )
            session.commit()
            return 1
