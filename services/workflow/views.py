"""Read views of the workflow: an inbox entry (`TaskView`) and the whole state of a document's workflow."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.workflow.domain import AssigneeKind, Decision, StepDefinition, TaskState, step_complete
from services.workflow.rows import WorkflowNotFound, definition_of
from services.workflow.tables import ResubmissionRow, TaskRow, WorkflowRow
from services.workflow.unit_of_work import AbstractWorkflowUnitOfWork


@dataclass(frozen=True)
class TaskView:
    task_id: str
    document_id: str
    step: int
    offered_to_role: str
    state: str
    title: str
    aktenzeichen: str
    sha256: str
    submitted_by: str
    created_at: datetime
    kind: str = "approval"
    step_name: str = ""
    assignee_kind: str = ""
    assignee: str = ""
    claimed_by: str | None = None
    on_behalf_of: str | None = None
    deadline_at: datetime | None = None
    escalated: bool = False
    version: int = 1
    definition: str = ""
    note: str = ""
    org_unit: str = ""  # the task's org unit, else its document's (the inbox's org unit filter)


def task_view(task: TaskRow, workflow: WorkflowRow, on_behalf_of: str | None) -> TaskView:
    return TaskView(
        task_id=task.task_id,
        document_id=task.document_id,
        step=task.step,
        offered_to_role=task.offered_to_role,
        state=task.state,
        title=workflow.document_metadata.get("title", ""),
        aktenzeichen=workflow.document_metadata.get("aktenzeichen", ""),
        sha256=workflow.original["sha256"],
        submitted_by=workflow.submitted_by,
        created_at=task.created_at,
        step_name=task.step_name,
        assignee_kind=task.assignee_kind,
        assignee=task.assignee,
        claimed_by=task.claimed_by,
        on_behalf_of=on_behalf_of,
        deadline_at=task.deadline_at,
        escalated=task.escalated_at is not None,
        version=workflow.version,
        definition=workflow.definition,
        org_unit=task.org_unit or str(workflow.document_metadata.get("org_unit") or ""),
    )


def resubmission_view(row: ResubmissionRow, workflow: WorkflowRow) -> TaskView:
    """A due resubmission as it shows in its owner's inbox, beside the tasks."""
    return TaskView(
        task_id=row.resubmission_id,
        document_id=row.document_id,
        step=0,
        offered_to_role="",
        state="due",
        title=workflow.document_metadata.get("title", ""),
        aktenzeichen=workflow.document_metadata.get("aktenzeichen", ""),
        sha256=workflow.original["sha256"],
        submitted_by=workflow.submitted_by,
        created_at=row.due_at or row.created_at,
        kind="resubmission",
        assignee_kind=AssigneeKind.USER.value,
        assignee=row.user,
        version=workflow.version,
        definition=workflow.definition,
        note=row.note,
        org_unit=str(workflow.document_metadata.get("org_unit") or ""),
    )


def workflow_state(uow: AbstractWorkflowUnitOfWork, document_id: str) -> dict[str, Any]:
    """Definition and version, run, state, the steps with their tasks, what is open, and earlier runs."""
    with uow:
        workflow = uow.workflows.get(document_id)
        if workflow is None:
            raise WorkflowNotFound()
        return state_of(uow, workflow)


def state_of(uow: AbstractWorkflowUnitOfWork, workflow: WorkflowRow) -> dict[str, Any]:
    """`workflow_state` of a workflow already read (inside an open unit of work)."""
    definition = definition_of(workflow)
    tasks = uow.workflows.tasks_of(workflow.document_id)
    current = [t for t in tasks if t.run == workflow.run]
    steps = [
        _step_dict(number, step, [t for t in current if t.step == number])
        for number, step in enumerate(definition.steps, start=1)
    ]
    return {
        "document_id": workflow.document_id,
        "definition": workflow.definition,
        "definition_version": workflow.definition_version,
        "definition_title": definition.title,
        "requested_workflow": workflow.requested_workflow,
        "state": workflow.state,
        "submitted_by": workflow.submitted_by,
        "version": workflow.version,
        "run": workflow.run,
        "current_step": workflow.current_step,
        "title": workflow.document_metadata.get("title", ""),
        "aktenzeichen": workflow.document_metadata.get("aktenzeichen", ""),
        "created_at": workflow.created_at,
        "finished_at": workflow.finished_at,
        "steps": steps,
        "open": [_task_dict(t) for t in current if t.state == TaskState.OPEN.value],
        "earlier_runs": [_task_dict(t) for t in tasks if t.run != workflow.run],
    }


def _step_dict(number: int, step: StepDefinition, step_tasks: list[TaskRow]) -> dict[str, Any]:
    approvals = sum(1 for t in step_tasks if t.decision == Decision.APPROVE.value)
    if any(t.state == TaskState.OPEN.value for t in step_tasks):
        state = "open"
    elif step_tasks and step_complete(step, approvals):
        state = "completed"
    elif step_tasks:
        state = "stopped"
    else:
        state = "pending"
    return {
        "step": number,
        "name": step.name,
        "type": step.type.value,
        "mode": step.mode.value,
        "required_approvals": step.required_approvals(),
        "approvals": approvals,
        "state": state,
        "tasks": [_task_dict(t) for t in step_tasks],
    }


def _task_dict(task: TaskRow) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "run": task.run,
        "step": task.step,
        "slot": task.slot,
        "assignee_kind": task.assignee_kind,
        "assignee": task.assignee,
        "claimed_by": task.claimed_by,
        "state": task.state,
        "deadline_at": task.deadline_at,
        "escalated_to_user": task.escalated_to_user,
        "escalated_to_role": task.escalated_to_role,
        "decided_by": task.decided_by,
        "on_behalf_of": task.on_behalf_of,
        "decision": task.decision,
        "comment": task.comment,
        "decided_at": task.decided_at,
    }
