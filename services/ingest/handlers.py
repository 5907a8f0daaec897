"""Kafka entrypoints of the ingest service: status changes reported by workflow and archive."""

import asyncio
from collections.abc import Awaitable, Callable

from faststream.kafka import KafkaBroker

from services.ingest.domain import DocumentStatus
from services.ingest.purge import CONSUMER as PURGE_CONSUMER
from services.ingest.purge import Purge
from services.ingest.service import CONSUMER, IngestService
from shared.events import (
    DocumentApproved,
    DocumentArchived,
    DocumentDestroyed,
    DocumentRejected,
    DocumentReturned,
    Event,
    ReviewStarted,
)
from shared.messaging import subscribe


def _actor(event: Event) -> str:
    if isinstance(event, DocumentApproved | DocumentRejected) and event.decisions:
        return event.decisions[-1].decided_by
    if isinstance(event, DocumentReturned):
        return event.returned_by
    return "workflow" if isinstance(event, ReviewStarted) else "system"


STATUS_OF: dict[type[Event], DocumentStatus] = {
    ReviewStarted: DocumentStatus.IN_REVIEW,
    DocumentApproved: DocumentStatus.APPROVED,
    DocumentRejected: DocumentStatus.REJECTED,
    DocumentArchived: DocumentStatus.ARCHIVED,
    DocumentReturned: DocumentStatus.RETURNED,
}


def _status_handler(service: IngestService, status: DocumentStatus) -> Callable[[Event], Awaitable[None]]:
    async def handle(event: Event) -> None:
        await asyncio.to_thread(
            service.record_status, event.event_id, event.document_id, status, event.occurred_at, _actor(event)
        )

    return handle


def register(broker: KafkaBroker, service: IngestService, purge: Purge) -> None:
    async def on_destroyed(event: DocumentDestroyed) -> None:
        await asyncio.to_thread(purge.document, event.event_id, str(event.document_id))

    subscribe(broker, DocumentDestroyed, PURGE_CONSUMER, on_destroyed)
    for event_type, status in STATUS_OF.items():
        # One consumer group per topic keeps rebalances of one subscription from pausing the others.
        subscribe(broker, event_type, f"{CONSUMER}.{event_type.TOPIC}", _status_handler(service, status))
