"""Resubmissions (`Wiedervorlage`): a document comes back into its owner's inbox on a chosen day."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from services.workflow.context import SYSTEM_USER, WorkflowContext
from services.workflow.rows import TaskNotFound, WorkflowNotFound
from services.workflow.tables import ResubmissionRow
from services.workflow.unit_of_work import AbstractWorkflowUnitOfWork
from services.workflow.views import TaskView, resubmission_view
from services.workflow.visibility import Visibility
from shared import events
from shared.need_to_know import Reader


@dataclass(frozen=True)
class ResubmissionView:
    resubmission_id: str
    document_id: str
    user: str
    on: date
    note: str
    due: bool
    done: bool


def view_of(row: ResubmissionRow) -> ResubmissionView:
    return ResubmissionView(
        resubmission_id=row.resubmission_id,
        document_id=row.document_id,
        user=row.user,
        on=row.due_on,
        note=row.note,
        due=row.due_at is not None,
        done=row.done_at is not None,
    )


class Resubmissions:
    def __init__(self, context: WorkflowContext, visibility: Visibility) -> None:
        self._context = context
        self._visibility = visibility

    def add(
        self, uow: AbstractWorkflowUnitOfWork, reader: Reader, document_id: str, on: date, note: str
    ) -> ResubmissionView:
        """Only on a document the reader may see (it writes into that document's audit trail)."""
        user = reader.user
        with uow:
            workflow = uow.workflows.lock(document_id)
            if workflow is None or not self._visibility.sees(uow, reader, workflow):
                raise WorkflowNotFound()
            row = ResubmissionRow(
                resubmission_id=str(uuid.uuid4()),
                document_id=document_id,
                user=user,
                due_on=on,
                note=note,
                created_at=self._context.clock.now(),
            )
            uow.resubmissions.add(row)
            payload = {"resubmission_id": row.resubmission_id, "on": on.isoformat(), "note": note}
            self._context.audit.append(uow, document_id, "resubmission_set", user, None, payload)
            return view_of(row)

    def of(self, uow: AbstractWorkflowUnitOfWork, reader: Reader) -> list[ResubmissionView]:
        """The reader's own resubmissions, on documents they (still) may see."""
        with uow:
            return [view_of(row) for row in uow.resubmissions.of(reader.user) if self._sees(uow, reader, row)]

    def finish(self, uow: AbstractWorkflowUnitOfWork, reader: Reader, resubmission_id: str) -> ResubmissionView:
        user = reader.user
        with uow:
            found = uow.resubmissions.lock(resubmission_id)
            row, workflow = found if found is not None else (None, None)
            if row is None or workflow is None or row.user != user or not self._visibility.sees(uow, reader, workflow):
                raise TaskNotFound("resubmission")
            if row.done_at is None:
                row.done_at = self._context.clock.now()
                payload = {"resubmission_id": row.resubmission_id}
                self._context.audit.append(uow, row.document_id, "resubmission_done", user, None, payload)
            return view_of(row)

    def _sees(self, uow: AbstractWorkflowUnitOfWork, reader: Reader, row: ResubmissionRow) -> bool:
        workflow = uow.workflows.get(row.document_id)
        return workflow is not None and self._visibility.sees(uow, reader, workflow)

    def due_for(self, uow: AbstractWorkflowUnitOfWork, user: str) -> list[TaskView]:
        """The user's resubmissions that are due and not done, as inbox entries (inside an open unit of work)."""
        return [resubmission_view(row, workflow) for row, workflow in uow.resubmissions.due_for(user)]

    def mark_due(self, uow: AbstractWorkflowUnitOfWork, now: datetime) -> int:
        """For the scheduler: resubmissions whose day has come; returns how many became due."""
        with uow:
            due = uow.resubmissions.coming_due(self._context.today())
        return sum(self._mark_one_due(uow, resubmission_id, now) for resubmission_id in due)

    def _mark_one_due(self, uow: AbstractWorkflowUnitOfWork, resubmission_id: str, now: datetime) -> int:
        with uow:
            found = uow.resubmissions.lock(resubmission_id)
            if found is None:
                return 0
            row, workflow = found
            if workflow is None or row.due_at is not None:
                return 0
            row.due_at = now
            uow.add_event(
                events.ResubmissionDue(
                    document_id=uuid.UUID(row.document_id),
                    correlation_id=uuid.UUID(workflow.correlation_id),
                    resubmission_id=row.resubmission_id,
                    user=row.user,
                    due_on=row.due_on.isoformat(),
                    note=row.note,
                )
            )
            payload = {"resubmission_id": row.resubmission_id, "user": row.user, "on": row.due_on.isoformat()}
            self._context.audit.append(uow, row.document_id, "resubmission_due", SYSTEM_USER, None, payload)
            return 1
