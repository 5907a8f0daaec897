"""Kafka entrypoints of the workflow service: one subscriber per topic and consumer group."""

import asyncio

from faststream.kafka import KafkaBroker

from services.workflow.bootstrap import Workflow
from services.workflow.notifications import Notifier
from services.workflow.purge import purge_document
from shared.events import DocumentArchived, DocumentDestroyed, DocumentIngested
from shared.messaging import batch_consumer, consumer

# At most this many starts per transaction: the write lock is held meanwhile (a decision waits for it).
START_BATCH = 50


def register(broker: KafkaBroker, workflow: Workflow, notifier: Notifier) -> None:
    # New documents in batches, one transaction each: the work is the workflow's own database, where concurrent
    # consumers only queued for the write lock while their fetches and transactions cost as much as the starts.
    # Under load a pause of 0.1 s after a batch gathers the next (a quiet stack takes an upload at once, and under
    # load it still reaches the inbox within half a second): with no pause a batch held one or two documents, and
    # the workflow's CPU per document was a fifth higher than with a 0.05 s pause, which was a quarter higher than
    # with 0.1 s (2 alternating pairs each).
    @batch_consumer(broker, DocumentIngested, group="workflow", gather_s=0.1, max_records=START_BATCH)
    async def on_ingested(events: list[DocumentIngested]) -> None:
        await asyncio.to_thread(workflow.starting.start_many, workflow.uow(), events)

    @consumer(broker, DocumentDestroyed, group="workflow.purge")
    async def on_destroyed(event: DocumentDestroyed) -> None:
        await asyncio.to_thread(purge_document, workflow.uow(), event)

    # Archived documents: their submitters hear of it if they asked for it (/einstellungen).
    @batch_consumer(broker, DocumentArchived, group="workflow.notify")
    async def on_archived(events: list[DocumentArchived]) -> None:
        await asyncio.to_thread(notifier.archived, workflow.uow(), events)
