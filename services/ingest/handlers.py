"""Kafka entrypoints of the ingest service: status changes reported by workflow and archive, and disposal.

One consumer group per topic keeps rebalances of one subscription from pausing the others; the group names
are the ones committed offsets are stored under, so they never change.
"""

import asyncio
from collections.abc import Callable

from faststream.kafka import KafkaBroker

from services.ingest.domain import DocumentStatus
from services.ingest.history import record_status
from services.ingest.purge import purge
from services.ingest.unit_of_work import IngestUnitOfWork
from shared.events import (
    DocumentApproved,
    DocumentArchived,
    DocumentDestroyed,
    DocumentRejected,
    DocumentReturned,
    Event,
    ReviewStarted,
)
from shared.messaging import consumer
from shared.storage import ObjectStore


def decided_by(event: DocumentApproved | DocumentRejected) -> str:
    return event.decisions[-1].decided_by if event.decisions else "system"


def register(
    broker: KafkaBroker, uow_factory: Callable[[], IngestUnitOfWork], store: ObjectStore, inbox_bucket: str
) -> None:
    def record(event: Event, status: DocumentStatus, by: str) -> None:
        record_status(uow_factory(), event.event_id, str(event.document_id), status, event.occurred_at, by)

    @consumer(broker, ReviewStarted, group="ingest.documents.review_started")
    async def on_review_started(event: ReviewStarted) -> None:
        await asyncio.to_thread(record, event, DocumentStatus.IN_REVIEW, "workflow")

    @consumer(broker, DocumentApproved, group="ingest.documents.approved")
    async def on_approved(event: DocumentApproved) -> None:
        await asyncio.to_thread(record, event, DocumentStatus.APPROVED, decided_by(event))

    @consumer(broker, DocumentRejected, group="ingest.documents.rejected")
    async def on_rejected(event: DocumentRejected) -> None:
        await asyncio.to_thread(record, event, DocumentStatus.REJECTED, decided_by(event))

    @consumer(broker, DocumentArchived, group="ingest.documents.archived")
    async def on_archived(event: DocumentArchived) -> None:
        await asyncio.to_thread(record, event, DocumentStatus.ARCHIVED, "system")

    @consumer(broker, DocumentReturned, group="ingest.documents.returned")
    async def on_returned(event: DocumentReturned) -> None:
        await asyncio.to_thread(record, event, DocumentStatus.RETURNED, event.returned_by)

    @consumer(broker, DocumentDestroyed, group="ingest.purge")
    async def on_destroyed(event: DocumentDestroyed) -> None:
        await asyncio.to_thread(purge, uow_factory(), store, inbox_bucket, event.event_id, str(event.document_id))
