"""Reading the workflow tables for a change: locking a document's workflow, and the domain values its rows hold.

Every change to a document's workflow first bumps `workflows.revision` (a row lock on PostgreSQL, the write lock
on SQLite), so changes to one document are serialised: the audit chain stays linear and of two concurrent
decisions on one task exactly one wins.
"""

from sqlalchemy import update
from sqlalchemy.orm import Session

from services.workflow.definitions import definition_from_json
from services.workflow.domain import AssigneeKind, Offer, WorkflowDefinition
from services.workflow.tables import TaskRow, WorkflowRow


class TaskNotFound(Exception):
    pass


class WorkflowNotFound(Exception):
    pass


def lock_workflow(session: Session, document_id: str) -> WorkflowRow | None:
    """Serialise changes to one document: bump its revision first, then read it fresh."""
    bumped = session.execute(
        update(WorkflowRow)
        .where(WorkflowRow.document_id == document_id)
        .values(revision=WorkflowRow.revision + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if bumped != 1:
        return None
    return session.get(WorkflowRow, document_id, populate_existing=True)


def lock_task(session: Session, task_id: str) -> tuple[TaskRow, WorkflowRow]:
    """The task and its workflow, the document locked for a change; `TaskNotFound` if either is gone."""
    task = session.get(TaskRow, task_id)
    if task is None:
        raise TaskNotFound(task_id)
    workflow = lock_workflow(session, task.document_id)
    if workflow is None:
        raise TaskNotFound(task_id)
    session.refresh(task)
    return task, workflow


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
