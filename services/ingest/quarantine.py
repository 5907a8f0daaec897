"""Quarantine use cases for admins: list what was refused, fetch its bytes, release it after a fix or discard it."""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from services.ingest.domain import Rejection, RejectionReason
from services.ingest.ingesting import IngestService
from services.ingest.tables import QuarantineRow
from services.ingest.unit_of_work import IngestUnitOfWork
from services.ingest.uploads import Accepted, Duplicate, Outcome, Quarantined, SpooledFile, Upload
from shared.errors import NotFound
from shared.events import utcnow
from shared.settings import Settings
from shared.storage import ObjectStore


class NotHeld(NotFound):
    def __init__(self) -> None:
        super().__init__("no held quarantine item with this id")


@dataclass(frozen=True)
class QuarantinedItem:
    quarantine_id: str
    reason: str
    detail: str
    sha256: str
    size: int
    original_name: str
    uploaded_by: str
    uploaded_at: datetime
    source: str
    state: str
    released_as: str | None
    discarded_by: str | None
    discarded_at: datetime | None


class QuarantineService:
    def __init__(self, settings: Settings, store: ObjectStore, ingest: IngestService) -> None:
        self._bucket = settings.quarantine_bucket
        self._store = store
        self._ingest = ingest

    def items(
        self, uow: IngestUnitOfWork, state: str | None, limit: int, offset: int
    ) -> tuple[int, list[QuarantinedItem]]:
        with uow:
            total, rows = uow.quarantine.page(state, limit, offset)
            return total, [_item(row) for row in rows]

    def item(self, uow: IngestUnitOfWork, quarantine_id: str) -> QuarantinedItem | None:
        with uow:
            row = uow.quarantine.get(quarantine_id)
            return _item(row) if row else None

    def content(self, quarantine_id: str) -> Iterator[bytes]:
        return self._store.stream(self._bucket, f"{quarantine_id}/content")

    def release(self, uow: IngestUnitOfWork, quarantine_id: str, admin: str) -> Outcome:
        """Run intake again on the kept bytes (after a fix: a raised limit, a repaired checker).

        It enters the e-file only if it passes now; otherwise it stays held and the new reason is returned.
        """
        item = self._held(uow, quarantine_id)
        sidecar = json.loads(b"".join(self._store.stream(self._bucket, f"{quarantine_id}/sidecar.json")))
        upload = Upload(**sidecar.get("upload", {"filename": item.original_name, "submitted_by": item.uploaded_by}))
        spooled = self._ingest.spool_dir / uuid.uuid4().hex
        try:
            sha256, size = self._store.download_hashed(self._bucket, f"{quarantine_id}/content", spooled)
            if size < item.size:  # only the first part of an over-large upload was kept
                kept = f"only the first {size} of {item.size} bytes were kept"
                return Quarantined(quarantine_id, item.sha256, Rejection(RejectionReason.TOO_LARGE, kept))
            kept_file = SpooledFile(spooled, sha256, size, too_large=False)
            outcome = self._ingest.ingest_file(uow, kept_file, upload, held_as=quarantine_id)
        finally:
            Path(spooled).unlink(missing_ok=True)
        if isinstance(outcome, Accepted | Duplicate):
            with uow:
                row = uow.quarantine.get(quarantine_id)
                if row is not None:
                    row.state, row.released_as, row.released_by = "released", outcome.document_id, admin
        return outcome

    def discard(self, uow: IngestUnitOfWork, quarantine_id: str, admin: str) -> QuarantinedItem:
        """Delete a held item's bytes for good; its record (reason, hash, name, uploader) stays, marked discarded."""
        self._held(uow, quarantine_id)
        # Bytes first: if the record cannot be updated after this, the item is still held and a retry completes it.
        self._store.remove(self._bucket, f"{quarantine_id}/content")
        with uow:
            if not uow.quarantine.mark_discarded(quarantine_id, admin, utcnow()):
                raise NotHeld()  # a concurrent discard or release changed it first
            row = uow.quarantine.get(quarantine_id)
            assert row is not None  # marked just now
            return _item(row)

    def _held(self, uow: IngestUnitOfWork, quarantine_id: str) -> QuarantinedItem:
        item = self.item(uow, quarantine_id)
        if item is None or item.state != "held":
            raise NotHeld()
        return item


def _item(row: QuarantineRow) -> QuarantinedItem:
    return QuarantinedItem(
        quarantine_id=row.quarantine_id,
        reason=row.reason,
        detail=row.detail,
        sha256=row.sha256,
        size=row.size,
        original_name=row.original_name,
        uploaded_by=row.uploaded_by,
        uploaded_at=row.uploaded_at,
        source=row.source,
        state=row.state,
        released_as=row.released_as,
        discarded_by=row.discarded_by,
        discarded_at=row.discarded_at,
    )
