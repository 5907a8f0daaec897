"""Kafka entrypoints of the workflow service."""

import asyncio

from faststream.kafka import KafkaBroker

from services.workflow.service import CONSUMER, WorkflowService
from shared.events import DocumentIngested
from shared.messaging import subscribe


def register(broker: KafkaBroker, service: WorkflowService) -> None:
    async def on_ingested(event: DocumentIngested) -> None:
        await asyncio.to_thread(service.start, event)

    subscribe(broker, DocumentIngested, CONSUMER, on_ingested)
