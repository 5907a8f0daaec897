"""A document's status history, kept from the status changes the workflow and archive services report."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from services.ingest.domain import DocumentStatus
from services.ingest.unit_of_work import IngestUnitOfWork
from shared.unit_of_work import consume_many

# The processed-event consumer of every status change (one name for all of their topics).
CONSUMER = "ingest"


@dataclass(frozen=True)
class StatusChange:
    """A status change reported by another service: by which event, for which document, to what, when, by whom."""

    event_id: uuid.UUID
    document_id: str
    status: DocumentStatus
    at: datetime
    by: str


def record_statuses(uow: IngestUnitOfWork, changes: Sequence[StatusChange]) -> int:
    """Apply status changes reported by other services, each once, together in one transaction; returns how many
    were applied now (the others had been before)."""

    return consume_many(uow, CONSUMER, [(change.event_id, partial(_add_entry, change)) for change in changes])


def _add_entry(change: StatusChange, uow: IngestUnitOfWork) -> str:
    # A document purged meanwhile has no history to extend; the event still counts as processed.
    if uow.documents.get_without_history(change.document_id) is not None:
        uow.documents.add_status(change.document_id, change.status, change.at, change.by)
        uow.search.status_changed(change.document_id, change.status)
    return change.status.value
