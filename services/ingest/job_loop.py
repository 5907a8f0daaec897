"""The loop of ingest's background job workers (OCR, previews): take the next job, do it, repeat."""

import asyncio
import logging
from collections.abc import Callable

from services.ingest.unit_of_work import IngestUnitOfWork

log = logging.getLogger(__name__)

IDLE_S = 1.0  # no job waiting: look again after this
RETRY_S = 2.0  # the object store or database is away for a moment


async def work_off(
    name: str,
    uow_factory: Callable[[], IngestUnitOfWork],
    next_job: Callable[[IngestUnitOfWork], str | None],
    process: Callable[[IngestUnitOfWork, str], None],
) -> None:
    """Run jobs one at a time off the event loop, each with a fresh unit of work; a failure is retried, never
    dropped."""
    while True:
        try:
            job = await asyncio.to_thread(next_job, uow_factory())
            if job is None:
                await asyncio.sleep(IDLE_S)
                continue
            await asyncio.to_thread(process, uow_factory(), job)
        except Exception:
            log.exception("%s failed; retrying", name)
            await asyncio.sleep(RETRY_S)
