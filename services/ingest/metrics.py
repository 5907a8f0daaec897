"""The ingest service's gauges for `GET /metrics`: documents by status, the OCR queue and the intake queue.

Read through the unit of work when Prometheus scrapes (at most every few seconds; `shared.metrics.CachedReading`).
Labels are the domain's values only: a document status, a queue state.
"""

from collections.abc import Callable

from prometheus_client.core import Metric

from services.ingest.domain import LIFECYCLE_ORDER
from services.ingest.fitconnect_rules import SUBMISSION_STATES
from services.ingest.intake import IntakeState
from services.ingest.unit_of_work import IngestUnitOfWork
from shared.metrics import CachedReading, by_label

# The states of an OCR job (services.ingest.ocr): waiting, or finished with or without a text layer.
OCR_STATES = ("pending", "done", "failed")
# The states of a page preview job (services.ingest.previews).
PREVIEW_STATES = ("pending", "done", "failed", "none")


def readings(uow: Callable[[], IngestUnitOfWork]) -> list[CachedReading]:
    def read() -> list[Metric]:
        with uow() as work:
            by_status = work.documents.count_by_status(LIFECYCLE_ORDER)
            ocr = work.ocr_jobs.counts()
            intake = work.intake_items.counts(None)
            fitconnect = work.fitconnect.counts()
            previews = work.previews.counts()
        statuses = [status.value for status in LIFECYCLE_ORDER]
        intake_states = [state.value for state in IntakeState]
        return [
            by_label("eakte_documents", "Documents by status (furthest step)", "status", statuses, by_status),
            by_label("eakte_ocr_queue", "OCR jobs by state", "state", OCR_STATES, ocr),
            by_label("eakte_intake_queue", "Intake items by state", "state", intake_states, intake),
            by_label(
                "eakte_fitconnect_submissions",
                "FIT-Connect submissions by state",
                "state",
                SUBMISSION_STATES,
                fitconnect,
            ),
            by_label("eakte_preview_queue", "Page preview jobs by state", "state", PREVIEW_STATES, previews),
        ]

    return [CachedReading(read, name="ingest gauges")]
