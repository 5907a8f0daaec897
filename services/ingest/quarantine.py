"""Quarantine use cases for admins: list what was refused, fetch its bytes, release it after a fix or discard it."""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.domain import Rejection, RejectionReason
from services.ingest.service import Accepted, Duplicate, IngestService, Outcome, Quarantined, Upload
from services.ingest.tables import QuarantineRow
from shared.events import utcnow
from shared.settings import Settings
from shared.storage import ObjectStore


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
    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], store: ObjectStore, ingest: IngestService
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._store = store
        self._ingest = ingest

    def items(self, state: str | None, limit: int, offset: int) -> tuple[int, list[QuarantinedItem]]:
        with self._sessions() as session:
            query = select(QuarantineRow)
            if state:
                query = query.where(QuarantineRow.state == state)
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(query.order_by(QuarantineRow.uploaded_at.desc()).limit(limit).offset(offset)).all()
            return total, [_item(row) for row in rows]

    def item(self, quarantine_id: str) -> QuarantinedItem | None:
        with self._sessions() as session:
            row = session.get(QuarantineRow, quarantine_id)
            return _item(row) if row else None

    def content(self, quarantine_id: str) -> Iterator[bytes]:
        return self._store.stream(self._settings.quarantine_bucket, f"{quarantine_id}/content")

    def release(self, quarantine_id: str, admin: str) -> Outcome:
        """Run intake again on the kept bytes (after a fix: a raised limit, a repaired checker).

        It enters the e-file only if it passes now; otherwise it stays held and the new reason is returned.
        """
        item = self.item(quarantine_id)
        if item is None or item.state != "held":
            raise LookupError(quarantine_id)
        bucket = self._settings.quarantine_bucket
        sidecar = json.loads(b"".join(self._store.stream(bucket, f"{quarantine_id}/sidecar.json")))
        upload = Upload(**sidecar.get("upload", {"filename": item.original_name, "submitted_by": item.uploaded_by}))
        spooled = self._ingest.spool_dir / uuid.uuid4().hex
        try:
            sha256, size = self._store.download_hashed(bucket, f"{quarantine_id}/content", spooled)
            if size < item.size:  # only the first part of an over-large upload was kept
                kept = f"only the first {size} of {item.size} bytes were kept"
                return Quarantined(quarantine_id, item.sha256, Rejection(RejectionReason.TOO_LARGE, kept))
            outcome = self._ingest.ingest_file(spooled, sha256, size, False, upload, held_as=quarantine_id)
        finally:
            Path(spooled).unlink(missing_ok=True)
        if isinstance(outcome, Accepted | Duplicate):
            with self._sessions() as session:
                row = session.get_one(QuarantineRow, quarantine_id)
                row.state, row.released_as, row.released_by = "released", outcome.document_id, admin
                session.commit()
        return outcome

    def discard(self, quarantine_id: str, admin: str) -> QuarantinedItem:
        """Delete a held item's bytes for good; its record (reason, hash, name, uploader) stays, marked discarded."""
        item = self.item(quarantine_id)
        if item is None or item.state != "held":
            raise LookupError(quarantine_id)
        # Bytes first: if the record cannot be updated after this, the item is still held and a retry completes it.
        self._store.remove(self._settings.quarantine_bucket, f"{quarantine_id}/content")
        with self._sessions() as session:
            marked = session.execute(
                update(QuarantineRow)
                .where(QuarantineRow.quarantine_id == quarantine_id, QuarantineRow.state == "held")
                .values(state="discarded", discarded_by=admin, discarded_at=utcnow())
            )
            if marked.rowcount != 1:  # a concurrent discard or release changed it first
                session.rollback()
                raise LookupError(quarantine_id)
            row = session.get_one(QuarantineRow, quarantine_id)
            session.commit()
            return _item(row)


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
