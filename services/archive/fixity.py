"""Scheduled fixity: the archive re-reads every package once per cycle (EAKTE_FIXITY_CYCLE_DAYS), spread evenly.

One replica at a time does it (a lease on the progress row); the progress is durable, so a restart goes on where
the cycle stood. Each result is recorded; a mismatch or a missing object is an audit entry (the access log, user
`fixity`) and a log line at ERROR that names the package and the paths, nothing of the person's record.
"""

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.archive import domain_integrity as rules
from services.archive.access import visible
from services.archive.domain import FixityReport, FixityResult
from services.archive.ports import Packages
from services.archive.repositories import ZERO_COUNTS
from services.archive.retrieval import note_verified, reread_package
from services.archive.tables import FixityCycleRow, FixityResultRow
from services.archive.unit_of_work import ArchiveUnitOfWork
from services.archive.views import stored_files
from shared import events
from shared.need_to_know import Reader

log = logging.getLogger(__name__)

FIXITY_USER = "fixity"  # who the access log names for the scheduled check


@dataclass(frozen=True)
class Schedule:
    cycle_s: float
    replica: str

    @classmethod
    def of(cls, cycle_days: float, replica_index: int = 0) -> "Schedule":
        """This process's schedule; it holds the check as host and replica number, so that a restarted replica
        takes its own turn back at once (and a stopped one gives it up: `check_fixity_regularly`)."""
        return cls(rules.cycle_seconds(cycle_days), f"{socket.gethostname()[:60]}:{replica_index}")


@dataclass(frozen=True)
class FixityFailure:
    document_id: str
    cycle: int
    result: str
    checked_at: datetime


@dataclass(frozen=True)
class FixityView:
    """GET /api/v1/archive/fixity: the last finished cycle's figures, the running cycle's, and what failed."""

    cycle_days: float
    packages: int
    last_cycle: dict | None
    current_cycle: dict
    failures: list[FixityFailure]


def fixity_step(uow: ArchiveUnitOfWork, packages: Packages, schedule: Schedule, now: datetime) -> float:
    """Check the packages due now (when this replica holds the check); the seconds to sleep until the next step."""
    with uow:
        lease = timedelta(seconds=rules.lease_seconds(schedule.cycle_s))
        if not uow.fixity.take_turn(schedule.replica, now, now + lease):
            return rules.MAX_WAIT_S
        progress = uow.fixity.progress(now)
        if rules.next_cycle_starts(progress.started_at, progress.finished_at, now, schedule.cycle_s):
            _start_cycle(progress, now)
        total = uow.documents.count()
        cycle, cursor = progress.cycle, progress.cursor
        elapsed = (now - progress.started_at).total_seconds()
        due = rules.fixity_due(total, progress.checked, elapsed, schedule.cycle_s)
        chosen = uow.fixity.next_packages(cursor, max(due, 1))
        time_up = rules.cycle_time_up(progress.started_at, now, schedule.cycle_s)
        if not chosen and progress.finished_at is None and time_up:
            _finish_cycle(progress, now)  # until its time is up, the cycle still takes packages archived meanwhile
    for document_id in chosen[:due]:
        _check(uow, packages, cycle, document_id)
    return rules.fixity_wait_s(total, schedule.cycle_s, backlog=due >= rules.MAX_PER_STEP)


def _start_cycle(progress: FixityCycleRow, now: datetime) -> None:
    progress.cycle += 1
    progress.started_at, progress.finished_at, progress.cursor = now, None, ""
    for name, value in ZERO_COUNTS.items():
        setattr(progress, name, value)


def _finish_cycle(progress: FixityCycleRow, now: datetime) -> None:
    progress.finished_at = now
    progress.last_cycle = _figures(progress).as_json()
    log.info("fixity cycle %d finished: %d packages checked", progress.cycle, progress.checked)


def _figures(progress: FixityCycleRow) -> rules.CycleFigures:
    counts = (progress.checked, progress.ok, progress.mismatch, progress.missing)
    return rules.CycleFigures(progress.cycle, progress.started_at, progress.finished_at, *counts)


def _check(uow: ArchiveUnitOfWork, packages: Packages, cycle: int, document_id: str) -> None:
    """Re-read one package (outside any transaction), then record the result and move the cursor on in one."""
    with uow:
        row = uow.documents.get(document_id)
        files = stored_files(row) if row is not None else None
    report = reread_package(files, packages) if files is not None else None
    now = events.utcnow()
    with uow:
        progress = uow.fixity.progress(now)
        if progress.cycle != cycle or progress.cursor >= document_id:
            return  # another replica took over meanwhile and got further
        progress.cursor = document_id
        row = uow.documents.get(document_id)
        if row is None or report is None:
            return  # destroyed meanwhile: nothing left to check
        note_verified(row, report)
        _count(progress, report)
        result = FixityResultRow(
            document_id=document_id, cycle=cycle, checked_at=now, result=report.result.value, problems=report.problems
        )
        uow.fixity.add_result(result)
        if report.result is not FixityResult.OK:
            uow.access_log.add(document_id, FIXITY_USER, f"fixity_{report.result.value}")
            log.error("fixity: package %s %s: %s", document_id, report.result.value, "; ".join(report.problems))


def _count(progress: FixityCycleRow, report: FixityReport) -> None:
    progress.checked += 1
    name = report.result.value
    setattr(progress, name, getattr(progress, name) + 1)


def fixity_view(uow: ArchiveUnitOfWork, cycle_days: float, reader: Reader) -> FixityView:
    """The figures of the last finished cycle and of the running one; the failing packages the reader may see."""
    now = events.utcnow()
    with uow:
        progress = uow.fixity.progress(now)
        last = progress.last_cycle
        cycles = [progress.cycle, *([last["cycle"]] if last else [])]
        failed = uow.fixity.failures(cycles)
        rows = visible(reader, list(filter(None, (uow.documents.get(r.document_id) for r in failed))))
        shown = {row.document_id for row in rows}
        return FixityView(
            cycle_days=cycle_days,
            packages=uow.documents.count(),
            last_cycle=last,
            current_cycle=_figures(progress).as_json(),
            failures=[
                FixityFailure(r.document_id, r.cycle, r.result, r.checked_at) for r in failed if r.document_id in shown
            ],
        )


async def check_fixity_regularly(
    uow_factory: Callable[[], ArchiveUnitOfWork], packages: Packages, schedule: Schedule
) -> None:
    """Background job of the archive service: the scheduled fixity check, step by step; gives its turn up when
    the service stops."""
    try:
        while True:
            try:
                wait_s = await asyncio.to_thread(fixity_step, uow_factory(), packages, schedule, events.utcnow())
            except Exception:
                log.exception("scheduled fixity check failed; retrying")
                wait_s = rules.MAX_WAIT_S / 4
            await asyncio.sleep(wait_s)
    finally:
        await asyncio.to_thread(release_turn, uow_factory(), schedule)


def release_turn(uow: ArchiveUnitOfWork, schedule: Schedule) -> None:
    try:
        with uow:
            uow.fixity.release_turn(schedule.replica)
    except Exception:  # the database may be gone already; the lease then runs out by itself
        log.warning("could not give up the fixity check's turn; another replica takes it when the lease ends")
