"""Ingest use cases: accept or quarantine an upload, and keep each document's status history."""

import hashlib
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session, sessionmaker

from services.ingest.domain import (
    DocumentStatus,
    PdfFacts,
    Rejection,
    RejectionReason,
    StatusChange,
    furthest_status,
    sniff,
)
from services.ingest.pdf_check import check_pdf
from services.ingest.tables import DocumentRow, StatusRow
from shared.db import commit_once, mark_processed, was_processed
from shared.events import DocumentIngested, DocumentMetadata, StoredObject, utcnow
from shared.outbox import OutboxRelay, add_event
from shared.settings import Settings
from shared.storage import CHUNK, ObjectStore

CONSUMER = "ingest"
WORKFLOWS = frozenset({"default", "none"})


@dataclass(frozen=True)
class Upload:
    filename: str
    title: str
    aktenzeichen: str
    workflow: str
    submitted_by: str


@dataclass(frozen=True)
class Accepted:
    document_id: str
    sha256: str
    status: DocumentStatus


@dataclass(frozen=True)
class Quarantined:
    quarantine_id: str
    sha256: str
    rejection: Rejection


@dataclass(frozen=True)
class DocumentView:
    document_id: str
    sha256: str
    status: DocumentStatus
    title: str
    aktenzeichen: str
    filename: str
    submitted_by: str
    history: list[StatusChange]


class IngestService:
    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], store: ObjectStore, relay: OutboxRelay
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._store = store
        self._relay = relay
        self._spool = settings.data_dir / "ingest-spool"
        self._spool.mkdir(parents=True, exist_ok=True)

    def ingest(self, source: BinaryIO, upload: Upload) -> Accepted | Quarantined:
        """Spool the upload to disk (never whole in memory), judge it, and store it or quarantine it."""
        path = self._spool / uuid.uuid4().hex
        try:
            sha256, size, too_large = self._spool_file(source, path)
            verdict = self._judge(path, size, too_large)
            if isinstance(verdict, Rejection):
                return self._quarantine(path, sha256, upload, verdict)
            return self._accept(path, sha256, size, verdict, upload)
        finally:
            path.unlink(missing_ok=True)

    def _spool_file(self, source: BinaryIO, path: Path) -> tuple[str, int, bool]:
        digest = hashlib.sha256()
        size = 0
        limit = self._settings.max_upload_bytes
        with path.open("wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    # Keep the first bytes for the quarantine record, drop the rest of the stream.
                    shutil.copyfileobj(source, _Discard())
                    return digest.hexdigest(), size, True
                digest.update(chunk)
                out.write(chunk)
        return digest.hexdigest(), size, False

    def _judge(self, path: Path, size: int, too_large: bool) -> PdfFacts | Rejection:
        if too_large:
            return Rejection(RejectionReason.TOO_LARGE, f"more than {self._settings.max_upload_bytes} bytes")
        with path.open("rb") as handle:
            rejection = sniff(handle.read(1024) if size else b"")
        if rejection:
            return rejection
        return check_pdf(path, self._settings.max_pages, self._settings.pdf_check_timeout_s)

    def _quarantine(self, path: Path, sha256: str, upload: Upload, rejection: Rejection) -> Quarantined:
        quarantine_id = str(uuid.uuid4())
        bucket = self._settings.quarantine_bucket
        self._store.put_file(bucket, f"{quarantine_id}/content", path, "application/octet-stream", sha256)
        self._store.put_json(
            bucket,
            f"{quarantine_id}/sidecar.json",
            {
                "quarantine_id": quarantine_id,
                "reason": rejection.reason.value,
                "detail": rejection.detail,
                "uploaded_by": upload.submitted_by,
                "uploaded_at": utcnow().isoformat(),
                "sha256": sha256,
                "original_name": upload.filename,
            },
        )
        return Quarantined(quarantine_id=quarantine_id, sha256=sha256, rejection=rejection)

    def _accept(self, path: Path, sha256: str, size: int, facts: PdfFacts, upload: Upload) -> Accepted:
        document_id = uuid.uuid4()
        original = StoredObject(
            bucket=self._settings.inbox_bucket, key=f"documents/{document_id}/original.pdf", size=size, sha256=sha256
        )
        # The object is stored before the record: a crash in between leaves an orphan object, never a lost one.
        self._store.put_file(original.bucket, original.key, path, "application/pdf", sha256)
        metadata = DocumentMetadata(
            title=upload.title, aktenzeichen=upload.aktenzeichen, filename=upload.filename, pages=facts.pages
        )
        event = DocumentIngested(
            document_id=document_id,
            correlation_id=uuid.uuid4(),
            original=original,
            metadata=metadata,
            workflow=upload.workflow,
            submitted_by=upload.submitted_by,
        )
        with self._sessions() as session:
            session.add(
                DocumentRow(
                    document_id=str(document_id),
                    correlation_id=str(event.correlation_id),
                    sha256=sha256,
                    size=size,
                    bucket=original.bucket,
                    object_key=original.key,
                    filename=upload.filename,
                    title=upload.title,
                    aktenzeichen=upload.aktenzeichen,
                    workflow=upload.workflow,
                    pages=facts.pages,
                    submitted_by=upload.submitted_by,
                )
            )
            session.add(
                StatusRow(
                    document_id=str(document_id),
                    status=DocumentStatus.RECEIVED.value,
                    at=event.occurred_at,
                    by=upload.submitted_by,
                )
            )
            add_event(session, event)
            session.commit()
        self._relay.notify()
        return Accepted(document_id=str(document_id), sha256=sha256, status=DocumentStatus.RECEIVED)

    def record_status(
        self, event_id: uuid.UUID, document_id: uuid.UUID, status: DocumentStatus, at: datetime, by: str
    ) -> None:
        """Apply a status change reported by another service, once per event."""
        with self._sessions() as session:
            if was_processed(session, CONSUMER, event_id):
                return
            if session.get(DocumentRow, str(document_id)) is not None:
                session.add(StatusRow(document_id=str(document_id), status=status.value, at=at, by=by))
            mark_processed(session, CONSUMER, event_id, note=status.value)
            commit_once(session, CONSUMER, event_id)

    def document(self, document_id: str) -> DocumentView | None:
        with self._sessions() as session:
            row = session.get(DocumentRow, document_id)
            if row is None:
                return None
            history = [StatusChange(DocumentStatus(h.status), h.at, h.by) for h in row.history]
            return DocumentView(
                document_id=row.document_id,
                sha256=row.sha256,
                status=furthest_status([h.status for h in history]),
                title=row.title,
                aktenzeichen=row.aktenzeichen,
                filename=row.filename,
                submitted_by=row.submitted_by,
                history=history,
            )


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)
