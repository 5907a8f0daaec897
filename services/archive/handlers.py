"""Kafka entrypoints of the archive service."""

import asyncio

from faststream.kafka import KafkaBroker

from services.archive.service import CONSUMER, ArchiveService
from shared.events import DocumentApproved, DocumentRejected
from shared.messaging import subscribe


def register(broker: KafkaBroker, service: ArchiveService) -> None:
    async def on_decided(event: DocumentApproved | DocumentRejected) -> None:
        await asyncio.to_thread(service.archive, event)

    subscribe(broker, DocumentApproved, CONSUMER, on_decided)
    # Rejected documents are kept too where the file plan says so (a rejection is part of the record).
    subscribe(broker, DocumentRejected, f"{CONSUMER}.{DocumentRejected.TOPIC}", on_decided)
