"""Kafka entrypoints of the workflow service: one subscriber per topic and consumer group."""

import asyncio

from faststream.kafka import KafkaBroker

from services.workflow.bootstrap import Workflow
from services.workflow.notifications import Notifier
from services.workflow.purge import purge_document
from shared.events import DocumentArchived, DocumentDestroyed, DocumentIngested
from shared.messaging import batch_consumer, consumer


def register(broker: KafkaBroker, workflow: Workflow, notifier: Notifier) -> None:
    @consumer(broker, DocumentIngested, group="workflow")
    async def on_ingested(event: DocumentIngested) -> None:
        await asyncio.to_thread(workflow.starting.start, workflow.uow(), event)

    @consumer(broker, DocumentDestroyed, group="workflow.purge")
    async def on_destroyed(event: DocumentDestroyed) -> None:
        await asyncio.to_thread(purge_document, workflow.uow(), event)

    # Archived documents: their submitters hear of it if they asked for it (/einstellungen).
    @batch_consumer(broker, DocumentArchived, group="workflow.notify")
    async def on_archived(events: list[DocumentArchived]) -> None:
        await asyncio.to_thread(notifier.archived, workflow.uow(), events)
