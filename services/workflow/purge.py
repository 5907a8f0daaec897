"""After disposal: remove the workflow state of a destroyed document (tasks, resubmissions, audit trail).

The audit trail travelled into the archival package and was destroyed with it under the same rule.
"""

import uuid

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from services.workflow.tables import AuditRow, DelegationRow, ResubmissionRow, TaskRow, WorkflowRow
from shared.db import commit_once, mark_processed, was_processed

CONSUMER = "workflow.purge"


def purge_document(sessions: sessionmaker[Session], event_id: uuid.UUID, document_id: str) -> None:
    with sessions() as session:
        if was_processed(session, CONSUMER, event_id):
            return
        task_ids = list(session.scalars(select(TaskRow.task_id).where(TaskRow.document_id == document_id)))
        if task_ids:
            session.execute(delete(DelegationRow).where(DelegationRow.task_id.in_(task_ids)))
        session.execute(delete(TaskRow).where(TaskRow.document_id == document_id))
        session.execute(delete(ResubmissionRow).where(ResubmissionRow.document_id == document_id))
        session.execute(delete(AuditRow).where(AuditRow.document_id == document_id))
        session.execute(delete(WorkflowRow).where(WorkflowRow.document_id == document_id))
        mark_processed(session, CONSUMER, event_id, note="purged")
        commit_once(session, CONSUMER, event_id)
