"""The domain values the workflow's rows hold, and the refusals for rows that are not there."""

from services.workflow.definitions import definition_from_json
from services.workflow.domain import AssigneeKind, Offer, Slot, TaskTrace, WorkflowDefinition
from services.workflow.tables import TaskRow, WorkflowRow
from shared.errors import NotFound


class TaskNotFound(NotFound):
    def __init__(self, what: str = "task") -> None:
        super().__init__(f"no such {what}")


class WorkflowNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("no such workflow")


def definition_of(workflow: WorkflowRow) -> WorkflowDefinition:
    """The definition the run follows: the snapshot taken when it started, not today's file."""
    return definition_from_json(workflow.definition_snapshot)


def submitters_of(workflow: WorkflowRow) -> list[str]:
    return list(workflow.submitters or [workflow.submitted_by])


def offer_of(task: TaskRow) -> Offer:
    return Offer(
        assignee_kind=AssigneeKind(task.assignee_kind),
        assignee=task.assignee,
        claimed_by=task.claimed_by,
        escalated_to_user=task.escalated_to_user,
        escalated_to_role=task.escalated_to_role,
    )


def slot_of(task: TaskRow) -> Slot:
    return Slot(task.task_id, (task.claimed_by, task.claimed_on_behalf_of, task.decided_by, task.on_behalf_of))


def trace_of(task: TaskRow) -> TaskTrace:
    """Whom the task names, for need-to-know (`domain.holds_task`)."""
    return TaskTrace(offer_of(task), (task.claimed_by, task.claimed_on_behalf_of, task.decided_by, task.on_behalf_of))
