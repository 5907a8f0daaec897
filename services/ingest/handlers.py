"""Kafka entrypoints of the ingest service: status changes reported by workflow and archive, and disposal.

One consumer group per topic keeps rebalances of one subscription from pausing the others; the group names
are the ones committed offsets are stored under, so they never change.
"""

import asyncio
from collections.abc import Callable
from typing import TypeVar

from faststream.kafka import KafkaBroker

from services.ingest.domain import DocumentStatus
from services.ingest.history import StatusChange, record_statuses
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
from shared.messaging import batch_consumer, consumer
from shared.storage import ObjectStore

EventT = TypeVar("EventT", bound=Event)


def decided_by(event: DocumentApproved | DocumentRejected) -> str:
    return event.decisions[-1].decided_by if event.decisions else "system"


def register(
    broker: KafkaBroker, uow_factory: Callable[[], IngestUnitOfWork], store: ObjectStore, inbox_bucket: str
) -> None:
    def changes(events: list[EventT], status: DocumentStatus, by: Callable[[EventT], str]) -> list[StatusChange]:
        return [StatusChange(e.event_id, str(e.document_id), status, e.occurred_at, by(e)) for e in events]

    async def record(changed: list[StatusChange]) -> None:
        await asyncio.to_thread(record_statuses, uow_factory(), changed)

    # Status changes come in batches (shared.messaging.batch_consumer): a row or two each, one transaction for all.
    @batch_consumer(broker, ReviewStarted, group="ingest.documents.review_started")
    async def on_review_started(events: list[ReviewStarted]) -> None:
        await record(changes(events, DocumentStatus.IN_REVIEW, lambda _: "workflow"))

    @batch_consumer(broker, DocumentApproved, group="ingest.documents.approved")
    async def on_approved(events: list[DocumentApproved]) -> None:
        await record(changes(events, DocumentStatus.APPROVED, decided_by))

    @batch_consumer(broker, DocumentRejected, group="ingest.documents.rejected")
    async def on_rejected(events: list[DocumentRejected]) -> None:
        await record(changes(events, DocumentStatus.REJECTED, decided_by))

    @batch_consumer(broker, DocumentArchived, group="ingest.documents.archived")
    async def on_archived(events: list[DocumentArchived]) -> None:
        await record(changes(events, DocumentStatus.ARCHIVED, lambda _: "system"))

    @batch_consumer(broker, DocumentReturned, group="ingest.documents.returned")
    async def on_returned(events: list[DocumentReturned]) -> None:
        await record(changes(events, DocumentStatus.RETURNED, lambda e: e.returned_by))

    @consumer(broker, DocumentDestroyed, group="ingest.purge")
    async def on_destroyed(event: DocumentDestroyed) -> None:
        await asyncio.to_thread(purge, uow_factory(), store, inbox_bucket, event.event_id, str(event.document_id))
