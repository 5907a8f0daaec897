"""Kafka entrypoints of the workflow service."""

import asyncio

from faststream.kafka import KafkaBroker
from sqlalchemy.orm import Session, sessionmaker

from services.workflow.purge import CONSUMER as PURGE_CONSUMER
from services.workflow.purge import purge_document
from services.workflow.service import CONSUMER, WorkflowService
from shared.events import DocumentDestroyed, DocumentIngested
from shared.messaging import subscribe


def register(broker: KafkaBroker, service: WorkflowService, sessions: sessionmaker[Session]) -> None:
    async def on_ingested(event: DocumentIngested) -> None:
        await asyncio.to_thread(service.start, event)

    async def on_destroyed(event: DocumentDestroyed) -> None:
        await asyncio.to_thread(purge_document, sessions, event.event_id, str(event.document_id))

    subscribe(broker, DocumentIngested, CONSUMER, on_ingested)
    subscribe(broker, DocumentDestroyed, PURGE_CONSUMER, on_destroyed)
