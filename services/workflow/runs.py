"""Moving a run along its steps: one run is one version of a document going through its definition's steps.

Opening a step assigns its tasks, completing or stopping one cancels what is still open, and the end of a run
sends the final event (approved or rejected) with the decisions and the audit trail.
"""

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.workflow.context import SYSTEM_USER, WorkflowContext
from services.workflow.domain import Access, AssigneeKind, Decision, TaskState, WorkflowState, deadline_for
from services.workflow.rows import definition_of
from services.workflow.tables import TaskRow, WorkflowRow
from shared import events
from shared.outbox import add_event


class Runs:
    def __init__(self, context: WorkflowContext) -> None:
        self._context = context

    def begin(self, session: Session, workflow: WorkflowRow) -> None:
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
            self.finish(session, workflow, WorkflowState.APPROVED, "", SYSTEM_USER, None, decisions=[decision])
            return
        self.open_step(session, workflow, 1)

    def open_step(self, session: Session, workflow: WorkflowRow, number: int) -> None:
        step = definition_of(workflow).steps[number - 1]
        workflow.current_step = number
        now = self._context.clock.now()
        deadline = deadline_for(step, now)
        organisation = self._context.organisation
        roles: list[str] = []
        for slot, spec in enumerate(step.assignees, start=1):
            if spec.user:
                kind, assignee, unit = AssigneeKind.USER, spec.user, organisation.home_unit(spec.user)
            elif spec.role:
                kind, assignee, unit = AssigneeKind.ROLE, spec.role, organisation.home_unit(workflow.submitted_by)
                roles.append(spec.role)
            elif spec.members:
                kind, assignee, unit = AssigneeKind.ORG_UNIT, str(spec.org_unit), spec.org_unit
            else:  # an org unit without `members`: its head
                unit_id = str(spec.org_unit)
                kind, assignee, unit = AssigneeKind.USER, organisation.head_of(unit_id), unit_id
            task = TaskRow(
                task_id=str(uuid.uuid4()),
                document_id=workflow.document_id,
                run=workflow.run,
                step=number,
                slot=slot,
                step_name=step.name,
                assignee_kind=kind.value,
                assignee=assignee,
                offered_to_role=assignee if kind is AssigneeKind.ROLE else "",
                org_unit=unit,
                state=TaskState.OPEN.value,
                created_at=now,
                deadline_at=deadline.due_at,
                remind_at=deadline.remind_at,
            )
            session.add(task)
            self._context.audit.append(
                session,
                workflow.document_id,
                "assigned",
                SYSTEM_USER,
                None,
                {
                    "task_id": task.task_id,
                    "run": workflow.run,
                    "step": number,
                    "step_name": step.name,
                    "assignee_kind": kind.value,
                    "assignee": assignee,
                    "deadline_at": deadline.due_at.isoformat(),
                },
            )
        add_event(
            session,
            events.ReviewStarted(
                document_id=uuid.UUID(workflow.document_id),
                correlation_id=uuid.UUID(workflow.correlation_id),
                workflow=workflow.definition,
                step=number,
                offered_to_role=roles[0] if roles else "",
                step_name=step.name,
                version=workflow.version,
            ),
        )

    def _decisions(self, session: Session, workflow: WorkflowRow) -> list[events.Decision]:
        tasks = session.scalars(
            select(TaskRow)
            .where(
                TaskRow.document_id == workflow.document_id,
                TaskRow.run == workflow.run,
                TaskRow.decided_at.is_not(None),
            )
            .order_by(TaskRow.decided_at, TaskRow.step, TaskRow.slot)
        ).all()
        return [
            events.Decision(
                step=t.step,
                decided_by=t.decided_by or "",
                decision=t.decision or "",
                comment=t.comment,
                decided_at=t.decided_at,
                on_behalf_of=t.on_behalf_of,
            )
            for t in tasks
            if t.decided_at is not None
        ]

    def cancel_open_tasks(self, session: Session, workflow: WorkflowRow, reason: str) -> None:
        for task in session.scalars(
            select(TaskRow).where(TaskRow.document_id == workflow.document_id, TaskRow.state == TaskState.OPEN.value)
        ):
            task.state = TaskState.CANCELLED.value
            self._context.audit.append(
                session,
                workflow.document_id,
                "cancelled",
                SYSTEM_USER,
                None,
                {"task_id": task.task_id, "step": task.step, "run": task.run, "reason": reason},
            )

    def finish(
        self,
        session: Session,
        workflow: WorkflowRow,
        result: WorkflowState,
        reason: str,
        user: str,
        access: Access | None,
        decisions: list[events.Decision] | None = None,
    ) -> None:
        """End the run with the final event; its decisions are those of the run's tasks unless given."""
        if decisions is None:
            decisions = self._decisions(session, workflow)
        workflow.state = result.value
        workflow.finished_at = self._context.clock.now()
        self._context.audit.append(
            session,
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
            **self._context.audit.event_fields(session, workflow.document_id),
        }
        if result is WorkflowState.APPROVED:
            add_event(session, events.DocumentApproved(**common))
        else:
            add_event(session, events.DocumentRejected(**common, reason=reason))
