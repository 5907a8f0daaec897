"""Kafka entrypoints of the archive service: one subscriber per topic and consumer group."""

import asyncio
from collections.abc import Callable

from faststream.kafka import KafkaBroker

from services.archive import archiving
from services.archive.archiving import Intake
from services.archive.unit_of_work import ArchiveUnitOfWork
from shared.events import DocumentApproved, DocumentRejected
from shared.messaging import consumer


def register(broker: KafkaBroker, uow_factory: Callable[[], ArchiveUnitOfWork], intake: Intake) -> None:
    @consumer(broker, DocumentApproved, group="archive")
    async def on_approved(event: DocumentApproved) -> None:
        await asyncio.to_thread(archiving.archive, uow_factory(), event, intake)

    # Rejected documents are kept too where the file plan says so (a rejection is part of the record).
    @consumer(broker, DocumentRejected, group="archive.documents.rejected")
    async def on_rejected(event: DocumentRejected) -> None:
        await asyncio.to_thread(archiving.archive, uow_factory(), event, intake)
