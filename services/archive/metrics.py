"""The archive service's gauges for `GET /metrics`: packages held and the results of their last fixity check.

Read through the unit of work when Prometheus scrapes (at most every few seconds; `shared.metrics.CachedReading`).
"""

from collections.abc import Callable

from prometheus_client.core import Metric

from services.archive.domain import FixityResult
from services.archive.unit_of_work import ArchiveUnitOfWork
from shared.metrics import CachedReading, by_label, gauge

# The result label of packages never checked yet.
NEVER_VERIFIED = "never"


def readings(uow: Callable[[], ArchiveUnitOfWork]) -> list[CachedReading]:
    def read() -> list[Metric]:
        with uow() as work:
            total = work.documents.count()
            results = work.documents.count_by_verify_result()
        by_result = {result or NEVER_VERIFIED: count for result, count in results.items()}
        known = [*(result.value for result in FixityResult), NEVER_VERIFIED]
        return [
            gauge("eakte_archive_packages_total", "Archival packages the archive holds", [], [((), total)]),
            by_label(
                "eakte_archive_verify_last",
                "Packages by the result of their last fixity check (never: not checked yet)",
                "result",
                known,
                by_result,
            ),
        ]

    return [CachedReading(read, name="archive gauges"), *evidence_readings(uow)]


def evidence_readings(uow: Callable[[], ArchiveUnitOfWork]) -> list[CachedReading]:
    """Packages waiting for their evidence record (RFC 4998): rising means the TSA is not answering."""

    def read() -> list[Metric]:
        with uow() as work:
            waiting = work.evidence.count()
        help_text = "Archived packages waiting for their evidence record (time-stamp)"
        return [gauge("eakte_archive_evidence_pending", help_text, [], [((), waiting)])]

    return [CachedReading(read, name="archive evidence gauge")]
