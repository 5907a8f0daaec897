"""Workflow use cases: open an approval when a document arrives, list an approver's tasks, decide."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from services.workflow.domain import (
    APPROVER_ROLE,
    NO_REVIEW,
    Approver,
    Decision,
    DecisionRefused,
    TaskState,
    WorkflowState,
    check_decision,
    check_may_decide,
    outcome,
)
from services.workflow.tables import TaskRow, WorkflowRow
from shared import events
from shared.db import commit_once, mark_processed, was_processed
from shared.outbox import OutboxRelay, add_event

CONSUMER = "workflow"
SYSTEM_USER = "system"


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


class TaskNotFound(Exception):
    pass


class WorkflowService:
    def __init__(self, sessions: sessionmaker[Session], relay: OutboxRelay) -> None:
        self._sessions = sessions
        self._relay = relay

    def start(self, event: events.DocumentIngested) -> None:
        """Open the approval for a newly ingested document, exactly once however often the event arrives."""
        with self._sessions() as session:
            if was_processed(session, CONSUMER, event.event_id):
                return
            mark_processed(session, CONSUMER, event.event_id)
            if session.get(WorkflowRow, str(event.document_id)) is None:
                self._open(session, event)
            if commit_once(session, CONSUMER, event.event_id):
                self._relay.notify()

    def _open(self, session: Session, event: events.DocumentIngested) -> None:
        workflow = WorkflowRow(
            document_id=str(event.document_id),
            correlation_id=str(event.correlation_id),
            definition=event.workflow,
            state=WorkflowState.IN_REVIEW.value,
            submitted_by=event.submitted_by,
            original=event.original.model_dump(mode="json"),
            rendition=event.rendition.model_dump(mode="json") if event.rendition else None,
            document_metadata=event.metadata.model_dump(mode="json"),
        )
        session.add(workflow)
        session.flush()  # the task row refers to the workflow row
        if event.workflow == NO_REVIEW:
            # Filing only: approved at once, by the system, not by a person.
            decision = events.Decision(
                step=0,
                decided_by=SYSTEM_USER,
                decision=Decision.APPROVE.value,
                comment="Ablage ohne Prüfung",
                decided_at=events.utcnow(),
            )
            workflow.state = WorkflowState.APPROVED.value
            add_event(session, self._outcome_event(workflow, [decision], WorkflowState.APPROVED, ""))
            return
        session.add(
            TaskRow(
                task_id=str(uuid.uuid4()),
                document_id=workflow.document_id,
                step=1,
                offered_to_role=APPROVER_ROLE,
                state=TaskState.OPEN.value,
            )
        )
        add_event(
            session,
            events.ReviewStarted(
                document_id=event.document_id,
                correlation_id=event.correlation_id,
                workflow=event.workflow,
                step=1,
                offered_to_role=APPROVER_ROLE,
            ),
        )

    def open_tasks(self, approver: Approver) -> list[TaskView]:
        with self._sessions() as session:
            rows = session.execute(
                select(TaskRow, WorkflowRow)
                .join(WorkflowRow, WorkflowRow.document_id == TaskRow.document_id)
                .where(
                    TaskRow.state == TaskState.OPEN.value,
                    TaskRow.offered_to_role.in_(approver.roles),
                    WorkflowRow.submitted_by != approver.user,
                )
                .order_by(TaskRow.created_at)
            ).all()
            return [_task_view(task, workflow) for task, workflow in rows]

    def decide(self, task_id: str, approver: Approver, decision: Decision, comment: str) -> WorkflowState:
        with self._sessions() as session:
            task = session.get(TaskRow, task_id)
            if task is None:
                raise TaskNotFound(task_id)
            workflow = session.get_one(WorkflowRow, task.document_id)
            check_may_decide(approver, task.offered_to_role, workflow.submitted_by)
            check_decision(decision, comment)
            decided_at = events.utcnow()
            # Compare-and-set: of two concurrent decisions on one task exactly one changes the row.
            claimed = session.execute(
                update(TaskRow)
                .where(TaskRow.task_id == task_id, TaskRow.state == TaskState.OPEN.value)
                .values(
                    state=TaskState.DONE.value,
                    decided_by=approver.user,
                    decision=decision.value,
                    comment=comment,
                    decided_at=decided_at,
                )
            ).rowcount
            if claimed != 1:
                session.rollback()
                raise DecisionRefused("already_decided", "this task has already been decided")
            result = outcome(decision)
            workflow.state = result.value
            recorded = events.Decision(
                step=task.step,
                decided_by=approver.user,
                decision=decision.value,
                comment=comment,
                decided_at=decided_at,
            )
            add_event(session, self._outcome_event(workflow, [recorded], result, comment))
            session.commit()
        self._relay.notify()
        return result

    @staticmethod
    def _outcome_event(
        workflow: WorkflowRow, decisions: list[events.Decision], result: WorkflowState, reason: str
    ) -> events.DocumentApproved | events.DocumentRejected:
        common = {
            "document_id": uuid.UUID(workflow.document_id),
            "correlation_id": uuid.UUID(workflow.correlation_id),
            "original": events.StoredObject.model_validate(workflow.original),
            "rendition": events.StoredObject.model_validate(workflow.rendition) if workflow.rendition else None,
            "metadata": events.DocumentMetadata.model_validate(workflow.document_metadata),
            "submitted_by": workflow.submitted_by,
            "decisions": decisions,
        }
        if result is WorkflowState.APPROVED:
            return events.DocumentApproved(**common)
        return events.DocumentRejected(**common, reason=reason)


def _task_view(task: TaskRow, workflow: WorkflowRow) -> TaskView:
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
    )
