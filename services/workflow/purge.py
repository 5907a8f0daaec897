"""After disposal: remove the workflow state of a destroyed document (tasks, resubmissions, audit trail).

The audit trail travelled into the archival package and was destroyed with it under the same rule.
"""

from services.workflow.unit_of_work import AbstractWorkflowUnitOfWork
from shared.events import DocumentDestroyed
from shared.unit_of_work import consume_once

# The processed-event consumer of `documents.destroyed` (and its consumer group).
CONSUMER = "workflow.purge"


def purge_document(uow: AbstractWorkflowUnitOfWork, event: DocumentDestroyed) -> None:
    consume_once(uow, CONSUMER, event.event_id, lambda u: _purge(u, str(event.document_id)))


def _purge(uow: AbstractWorkflowUnitOfWork, document_id: str) -> str:
    uow.resubmissions.remove(document_id)
    uow.audit.remove(document_id)
    uow.workflows.remove(document_id)
    return "purged"
