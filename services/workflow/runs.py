"""Moving a run along its steps: one run is one version of a document going through its definition's steps.

Opening a step assigns its tasks, completing or stopping one cancels what is still open, and the end of a run
sends the final event (approved or rejected) with the decisions and the audit trail.
"""

import uuid
from datetime import datetime
from typing import Any

from services.workflow.context import SYSTEM_USER, WorkflowContext
from services.workflow.domain import (
    Access,
    AssigneeKind,
    Assignment,
    Deadline,
    Decision,
    StepDefinition,
    TaskState,
    WorkflowState,
    assignments_for,
    deadline_for,
)
from services.workflow.rows import definition_of
from services.workflow.tables import TaskRow, WorkflowRow
from services.workflow.unit_of_work import AbstractWorkflowUnitOfWork
from shared import events


class Runs:
    def __init__(self, context: WorkflowContext) -> None:
        self._context = context

    def begin(self, uow: AbstractWorkflowUnitOfWork, workflow: WorkflowRow) -> None:
        definition = definition_of(workflow)
        if not definition.steps:
            # Filing only: approved at once, by the system, not by a person.
            decision = events.Decision(
                step=0,
                decided_by=SYSTEM_USER,
                decision=Decision.APPROVE.value,
                comment="Ablage ohne Prüfung",
                decided_at=self._context.clock.now(),
            )
            self.finish(uow, workflow, WorkflowState.APPROVED, "", SYSTEM_USER, None, decisions=[decision])
            return
        self.open_step(uow, workflow, 1)

    def open_step(self, uow: AbstractWorkflowUnitOfWork, workflow: WorkflowRow, number: int) -> None:
        step = definition_of(workflow).steps[number - 1]
        workflow.current_step = number
        now = self._context.clock.now()
        deadline = deadline_for(step, now)
        assignments = assignments_for(step, self._context.organisation, workflow.submitted_by)
        for slot, assignment in enumerate(assignments, start=1):
            self._open_task(uow, workflow, number, step, slot, assignment, now, deadline)
        roles = [a.assignee for a in assignments if a.kind is AssigneeKind.ROLE]
        uow.add_event(
            events.ReviewStarted(
                document_id=uuid.UUID(workflow.document_id),
                correlation_id=uuid.UUID(workflow.correlation_id),
                workflow=workflow.definition,
                step=number,
                offered_to_role=roles[0] if roles else "",
                step_name=step.name,
                version=workflow.version,
            )
        )

    def _open_task(
        self,
        uow: AbstractWorkflowUnitOfWork,
        workflow: WorkflowRow,
        number: int,
        definition: StepDefinition,
        slot: int,
        assignment: Assignment,
        now: datetime,
        deadline: Deadline,
    ) -> None:
        kind, assignee = assignment.kind, assignment.assignee
        task = TaskRow(
            task_id=str(uuid.uuid4()),
            document_id=workflow.document_id,
            run=workflow.run,
            step=number,
            slot=slot,
            step_name=definition.name,
            assignee_kind=kind.value,
            assignee=assignee,
            offered_to_role=assignee if kind is AssigneeKind.ROLE else "",
            org_unit=assignment.org_unit,
            state=TaskState.OPEN.value,
            created_at=now,
            deadline_at=deadline.due_at,
            remind_at=deadline.remind_at,
        )
        uow.workflows.add_task(task)
        payload = {
            "task_id": task.task_id,
            "run": workflow.run,
            "step": number,
            "step_name": definition.name,
            "assignee_kind": kind.value,
            "assignee": assignee,
            "deadline_at": deadline.due_at.isoformat(),
        }
        self._context.audit.append(uow, workflow.document_id, "assigned", SYSTEM_USER, None, payload)

    def _decisions(self, uow: AbstractWorkflowUnitOfWork, workflow: WorkflowRow) -> list[events.Decision]:
        return [
            events.Decision(
                step=t.step,
                decided_by=t.decided_by or "",
                decision=t.decision or "",
                comment=t.comment,
                decided_at=t.decided_at,
                on_behalf_of=t.on_behalf_of,
            )
            for t in uow.workflows.decided_tasks(workflow.document_id, workflow.run)
            if t.decided_at is not None
        ]

    def cancel_open_tasks(self, uow: AbstractWorkflowUnitOfWork, workflow: WorkflowRow, reason: str) -> None:
        for task in uow.workflows.open_tasks_of(workflow.document_id):
            task.state = TaskState.CANCELLED.value
            self._context.audit.append(
                uow,
                workflow.document_id,
                "cancelled",
                SYSTEM_USER,
                None,
                {"task_id": task.task_id, "step": task.step, "run": task.run, "reason": reason},
            )

    def finish(
        self,
        uow: AbstractWorkflowUnitOfWork,
        workflow: WorkflowRow,
        result: WorkflowState,
        reason: str,
        user: str,
        access: Access | None,
        decisions: list[events.Decision] | None = None,
    ) -> None:
        """End the run with the final event; its decisions are those of the run's tasks unless given."""
        if decisions is None:
            decisions = self._decisions(uow, workflow)
        workflow.state = result.value
        workflow.finished_at = self._context.clock.now()
        self._context.audit.append(
            uow,
            workflow.document_id,
            result.value,
            user,
            access.on_behalf_of if access else None,
            {"version": workflow.version, "run": workflow.run, "reason": reason},
        )
        common: dict[str, Any] = {
            "document_id": uuid.UUID(workflow.document_id),
            "correlation_id": uuid.UUID(workflow.correlation_id),
            "original": events.StoredObject.model_validate(workflow.original),
            "rendition": events.StoredObject.model_validate(workflow.rendition) if workflow.rendition else None,
            "ocr": events.OcrResult.model_validate(workflow.ocr) if workflow.ocr else None,
            "metadata": events.DocumentMetadata.model_validate(workflow.document_metadata),
            "submitted_by": workflow.submitted_by,
            "decisions": decisions,
            "version": workflow.version,
            **self._context.audit.event_fields(uow, workflow.document_id),
        }
        if result is WorkflowState.APPROVED:
            uow.add_event(events.DocumentApproved(**common))
        else:
            uow.add_event(events.DocumentRejected(**common, reason=reason))
