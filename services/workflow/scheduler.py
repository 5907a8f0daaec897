"""What the clock makes due: deadline reminders, escalations, due resubmissions and deputies' delegations.

`tick` is safe to run any time and any number of times: each change is made once, under the document's lock.
That holds across replicas too: two schedulers on one PostgreSQL database both find a task due, but the second
waits for the first's row lock, then reads the task fresh and sees it reminded/escalated already
(tests/integration/test_replica_claims.py).
"""

import uuid
from datetime import datetime
from typing import Any

from services.workflow.absences import Absences
from services.workflow.context import SYSTEM_USER, WorkflowContext
from services.workflow.domain import AssigneeKind, TaskState, escalation_target
from services.workflow.resubmissions import Resubmissions
from services.workflow.rows import definition_of
from services.workflow.tables import TaskRow, WorkflowRow
from services.workflow.unit_of_work import AbstractWorkflowUnitOfWork
from shared import events


class Scheduler:
    def __init__(self, context: WorkflowContext, absences: Absences, resubmissions: Resubmissions) -> None:
        self._context = context
        self._absences = absences
        self._resubmissions = resubmissions

    def tick(self, uow: AbstractWorkflowUnitOfWork) -> int:
        """Do what the clock says is due; returns how many things changed."""
        now = self._context.clock.now()
        with uow:
            to_remind = uow.workflows.to_remind(now)
            to_escalate = uow.workflows.to_escalate(now)
        changed = sum(self._remind(uow, task_id, now) for task_id in to_remind)
        changed += sum(self._escalate(uow, task_id, now) for task_id in to_escalate)
        changed += self._resubmissions.mark_due(uow, now)
        changed += self._absences.delegate_due(uow, now)
        return changed

    def _remind(self, uow: AbstractWorkflowUnitOfWork, task_id: str, now: datetime) -> int:
        with uow:
            task, workflow = uow.workflows.lock_task(task_id)
            if task.state != TaskState.OPEN.value or task.reminded_at is not None or task.deadline_at is None:
                return 0
            task.reminded_at = now
            uow.add_event(events.DeadlineReminder(**_deadline_fields(task, workflow)))
            reminded = {"task_id": task.task_id, "deadline_at": task.deadline_at.isoformat()}
            self._context.audit.append(uow, workflow.document_id, "reminded", SYSTEM_USER, None, reminded)
            return 1

    def _escalate(self, uow: AbstractWorkflowUnitOfWork, task_id: str, now: datetime) -> int:
        with uow:
            task, workflow = uow.workflows.lock_task(task_id)
            if task.state != TaskState.OPEN.value or task.escalated_at is not None or task.deadline_at is None:
                return 0
            step = definition_of(workflow).steps[task.step - 1]
            current = task.claimed_by or (task.assignee if task.assignee_kind == AssigneeKind.USER.value else None)
            target = escalation_target(step, self._context.organisation, task.org_unit, current)
            task.escalated_at = now
            task.escalated_to_user = target.user
            task.escalated_to_role = target.role
            uow.add_event(
                events.TaskEscalated(
                    **_deadline_fields(task, workflow),
                    escalated_to_user=target.user,
                    escalated_to_role=target.role,
                )
            )
            escalated = {
                "task_id": task.task_id,
                "deadline_at": task.deadline_at.isoformat(),
                "to_user": target.user,
                "to_role": target.role,
            }
            self._context.audit.append(uow, workflow.document_id, "escalated", SYSTEM_USER, None, escalated)
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
