"""A document's status history, kept from the status changes the workflow and archive services report."""

import uuid
from datetime import datetime

from services.ingest.domain import DocumentStatus
from services.ingest.unit_of_work import IngestUnitOfWork
from shared.unit_of_work import consume_once

# The processed-event consumer of every status change (one name for all of their topics).
CONSUMER = "ingest"


def record_status(
    uow: IngestUnitOfWork, event_id: uuid.UUID, document_id: str, status: DocumentStatus, at: datetime, by: str
) -> bool:
    """Apply a status change reported by another service, once per event; True when it was applied now."""

    def add_entry(work: IngestUnitOfWork) -> str:
        # A document purged meanwhile has no history to extend; the event still counts as processed.
        if work.documents.get_without_history(document_id) is not None:
            work.documents.add_status(document_id, status, at, by)
            work.search.status_changed(document_id, status)
        return status.value

    return consume_once(uow, CONSUMER, event_id, add_entry)
