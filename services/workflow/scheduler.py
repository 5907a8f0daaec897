"""What the clock makes due: deadline reminders, escalations, due resubmissions and deputies' delegations.

`tick` is safe to run any time and any number of times: each change is made once, under the document's lock.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from services.workflow.absences import Absences
from services.workflow.context import SYSTEM_USER, WorkflowContext
from services.workflow.domain import AssigneeKind, TaskState, escalation_target
from services.workflow.resubmissions import Resubmissions
from services.workflow.rows import definition_of, lock_task
from services.workflow.tables import TaskRow, WorkflowRow
from shared import events
from shared.outbox import add_event


class Scheduler:
    def __init__(self, context: WorkflowContext, absences: Absences, resubmissions: Resubmissions) -> None:
        self._context = context
        self._absences = absences
        self._resubmissions = resubmissions

    def tick(self) -> int:
        """Do what the clock says is due; returns how many things changed."""
        now = self._context.clock.now()
        with self._context.sessions() as session:
            to_remind = session.scalars(
                select(TaskRow.task_id).where(
                    TaskRow.state == TaskState.OPEN.value, TaskRow.reminded_at.is_(None), TaskRow.remind_at <= now
                )
            ).all()
            to_escalate = session.scalars(
                select(TaskRow.task_id).where(
                    TaskRow.state == TaskState.OPEN.value, TaskRow.escalated_at.is_(None), TaskRow.deadline_at <= now
                )
            ).all()
        changed = sum(self._remind(task_id, now) for task_id in to_remind)
        changed += sum(self._escalate(task_id, now) for task_id in to_escalate)
        changed += self._resubmissions.mark_due(now)
        changed += self._absences.delegate_due(now)
        if changed:
            self._context.relay.notify()
        return changed

    def _remind(self, task_id: str, now: datetime) -> int:
        with self._context.sessions() as session:
            task, workflow = lock_task(session, task_id)
            if task.state != TaskState.OPEN.value or task.reminded_at is not None or task.deadline_at is None:
                return 0
            task.reminded_at = now
            add_event(session, events.DeadlineReminder(**_deadline_fields(task, workflow)))
            self._context.audit.append(
                session,
                workflow.document_id,
                "reminded",
                SYSTEM_USER,
                None,
                {"task_id": task.task_id, "deadline_at": task.deadline_at.isoformat()},
            )
            session.commit()
            return 1

    def _escalate(self, task_id: str, now: datetime) -> int:
        with self._context.sessions() as session:
            task, workflow = lock_task(session, task_id)
            if task.state != TaskState.OPEN.value or task.escalated_at is not None or task.deadline_at is None:
                return 0
            step = definition_of(workflow).steps[task.step - 1]
            current = task.claimed_by or (task.assignee if task.assignee_kind == AssigneeKind.USER.value else None)
            target = escalation_target(step, self._context.organisation, task.org_unit, current)
            task.escalated_at = now
            task.escalated_to_user = target.user
            task.escalated_to_role = target.role
            add_event(
                session,
                events.TaskEscalated(
                    **_deadline_fields(task, workflow),
                    escalated_to_user=target.user,
                    escalated_to_role=target.role,
                ),
            )
            self._context.audit.append(
                session,
                workflow.document_id,
                "escalated",
                SYSTEM_USER,
                None,
                {
                    "task_id": task.task_id,
                    "deadline_at": task.deadline_at.isoformat(),
                    "to_user": target.user,
                    "to_role": target.role,
                },
            )
            session.commit()
            return 1


def _deadline_fields(task: TaskRow, workflow: WorkflowRow) -> dict[str, Any]:
    """What reminder and escalation events both say about the task whose deadline is near or past."""
    return {
        "document_id": uuid.UUID(workflow.document_id),
        "correlation_id": uuid.UUID(workflow.correlation_id),
        "task_id": task.task_id,
        "step": task.step,
        "step_name": task.step_name,
        "assignee_kind": task.assignee_kind,
        "assignee": task.claimed_by or task.assignee,
        "deadline_at": task.deadline_at,
    }
