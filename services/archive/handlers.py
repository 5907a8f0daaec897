"""Kafka entrypoints of the archive service: one subscriber per topic and consumer group."""

import asyncio
from collections.abc import Callable

from faststream.kafka import KafkaBroker

from services.archive import archiving
from services.archive.archiving import Intake
from services.archive.unit_of_work import ArchiveUnitOfWork
from shared.events import DocumentApproved, DocumentRejected
from shared.messaging import batch_consumer, consumer

# At most this many documents per batch: a batch is all or nothing (one refused document has them all taken again,
# one at a time).
ARCHIVE_BATCH = 16


def register(broker: KafkaBroker, uow_factory: Callable[[], ArchiveUnitOfWork], intake: Intake) -> None:
    # Approved documents in batches: what arrived while the last batch was written (no pause to gather). The
    # packages are written side by side and recorded in one transaction; the consumer's fetches, the commits and
    # the outbox's sends were paid per document before.
    @batch_consumer(broker, DocumentApproved, group="archive", gather_s=0.0, max_records=ARCHIVE_BATCH)
    async def on_approved(events: list[DocumentApproved]) -> None:
        await asyncio.to_thread(archiving.archive_many, uow_factory(), events, intake)

    # Rejected documents are kept too where the file plan says so (a rejection is part of the record).
    @consumer(broker, DocumentRejected, group="archive.documents.rejected")
    async def on_rejected(event: DocumentRejected) -> None:
        await asyncio.to_thread(archiving.archive, uow_factory(), event, intake)
