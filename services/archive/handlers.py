"""Kafka entrypoints of the archive service."""

import asyncio

from faststream.kafka import KafkaBroker

from services.archive.service import CONSUMER, ArchiveService
from shared.events import DocumentApproved
from shared.messaging import subscribe


def register(broker: KafkaBroker, service: ArchiveService) -> None:
    async def on_approved(event: DocumentApproved) -> None:
        await asyncio.to_thread(service.archive, event)

    subscribe(broker, DocumentApproved, CONSUMER, on_approved)
