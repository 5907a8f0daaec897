"""Retention, legal hold and disposal: what is due, holding it, destroying it with a deletion record."""

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from services.archive import domain
from services.archive.access import DESTROYED, visible
from services.archive.ports import Packages, StoredFile
from services.archive.retrieval import get_row
from services.archive.tables import ArchivedDocumentRow, DeletionRecordRow
from services.archive.unit_of_work import ArchiveUnitOfWork
from services.archive.views import (
    ArchivedView,
    DeletionView,
    DueView,
    archived_view,
    deletion_view,
    due_view,
    stored_files,
    stored_objects,
)
from shared import events
from shared.errors import NotFound
from shared.need_to_know import Reader, may_see

log = logging.getLogger(__name__)
HANDED_OVER_BY = "system (Aussonderung)"


def due(uow: ArchiveUnitOfWork, now: datetime, reader: Reader) -> list[DueView]:
    """Documents whose retention ended, those the reader may see."""
    with uow:
        return [due_view(row) for row in visible(reader, uow.documents.due(now))]


def set_hold(uow: ArchiveUnitOfWork, packages: Packages, document_id: str, on: bool, user: str) -> ArchivedView:
    """Set or lift the legal hold on every object of the package; the change is logged."""
    with uow:
        row = get_row(uow, document_id)
        for file in stored_objects(stored_files(row)):
            packages.set_legal_hold(file, on)
        row.legal_hold = on
        uow.access_log.add(document_id, user, "hold_on" if on else "hold_off")
        return archived_view(row)


def deletion_record(uow: ArchiveUnitOfWork, document_id: str, reader: Reader) -> DeletionView:
    """What remains of a destroyed document: for the records office and admins (need-to-know)."""
    with uow:
        record = uow.deletions.get(document_id)
        if record is None or not may_see(reader, DESTROYED):
            raise NotFound("no deletion record")
        return deletion_view(record)


def destroy(
    uow: ArchiveUnitOfWork, packages: Packages, document_id: str, user: str, now: datetime, handed_over: bool = False
) -> DeletionView:
    """Delete every object version of the package and keep only a deletion record; DisposalRefused when the
    rules forbid it now."""
    with uow:
        row = get_row(uow, document_id)
        handed_over = handed_over or row.state == "handed_over"  # the state archive has it: ours may go
        domain.check_may_destroy(row.disposal, row.retain_until, row.legal_hold, now, handed_over)
        files = stored_files(row)
        for file in stored_objects(files):
            packages.delete(file)  # the store itself refuses while the lock holds
        record = _deletion_record(row, files, user, now, handed_over)
        uow.deletions.add(record)
        # Tell the other services to remove what they still hold of it (inbox copy, workflow state).
        uow.add_event(_destroyed_event(row, record.rule, now, handed_over))
        uow.documents.remove(document_id)
        return deletion_view(record)


def _deletion_record(
    row: ArchivedDocumentRow, files: list[StoredFile], user: str, now: datetime, handed_over: bool
) -> DeletionRecordRow:
    rule = domain.disposal_rule(row.file_plan_class, row.retention_years, row.disposal, row.retain_until, handed_over)
    return DeletionRecordRow(
        document_id=row.document_id,
        aktenzeichen=row.aktenzeichen,
        file_plan_class=row.file_plan_class,
        rule=rule,
        objects=[{"path": f.path, "version_id": f.version_id, "sha256": f.sha256} for f in files],
        deleted_at=now,
        deleted_by=user,
    )


def _destroyed_event(row: ArchivedDocumentRow, rule: str, now: datetime, handed_over: bool) -> events.DocumentDestroyed:
    return events.DocumentDestroyed(
        document_id=uuid.UUID(row.document_id),
        correlation_id=uuid.UUID(row.correlation_id),
        aktenzeichen=row.aktenzeichen,
        rule=rule,
        deleted_at=now,
        handed_over=handed_over,
    )


def delete_handed_over(uow: ArchiveUnitOfWork, packages: Packages, now: datetime) -> list[str]:
    """Packages the state archive confirmed (xdomea 0506) go as soon as their lock allows."""
    with uow:
        ready = uow.documents.handed_over_deletable(now)
    for document_id in ready:
        destroy(uow, packages, document_id, HANDED_OVER_BY, now, handed_over=True)
    return ready


async def delete_handed_over_regularly(
    uow_factory: Callable[[], ArchiveUnitOfWork], packages: Packages, interval_s: float
) -> None:
    """Background job of the archive service: delete handed-over packages once their locks expire."""
    while True:
        try:
            deleted = await asyncio.to_thread(delete_handed_over, uow_factory(), packages, events.utcnow())
            if deleted:
                log.info("deleted %d package(s) handed over to the state archive", len(deleted))
        except Exception:
            log.exception("deleting handed-over packages failed; retrying")
        await asyncio.sleep(interval_s)
