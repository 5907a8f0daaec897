"""A document's status history, kept from the status changes the workflow and archive services report."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

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
    return consume_many(uow, CONSUMER, [(change.event_id, change) for change in changes], _add_entries)


def _add_entries(uow: IngestUnitOfWork, changes: list[StatusChange]) -> str:
    # A document purged meanwhile has no history to extend; its event still counts as processed.
    known = uow.documents.existing([change.document_id for change in changes])
    applied = [change for change in changes if change.document_id in known]
    uow.documents.add_statuses([(change.document_id, change.status, change.at, change.by) for change in applied])
    reached: dict[DocumentStatus, list[str]] = {}
    for change in applied:
        reached.setdefault(change.status, []).append(change.document_id)
    for status, document_ids in reached.items():
        uow.search.status_changed(document_ids, status)
    return ", ".join(sorted({change.status.value for change in changes}))
