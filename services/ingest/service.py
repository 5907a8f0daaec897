"""Ingest use cases: accept, refuse as duplicate, or quarantine an upload; keep each document's status history."""

import hashlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session, noload, sessionmaker

from services.ingest.domain import (
    DocumentStatus,
    FileKind,
    Rejection,
    RejectionReason,
    StatusChange,
    awaiting_revision,
    furthest_status,
    rendition_filename,
    sniff,
)
from services.ingest.filing import FilingService, Placement
from services.ingest.inspection import check_pdf, image_to_pdf
from services.ingest.tables import DocumentRow, OcrJobRow, QuarantineRow, StatusRow
from shared.db import commit_once, mark_processed, was_processed
from shared.events import DocumentIngested, DocumentMetadata, StoredObject, utcnow
from shared.outbox import OutboxRelay, add_event
from shared.settings import Settings
from shared.storage import CHUNK, ObjectStore

CONSUMER = "ingest"


@dataclass(frozen=True)
class Upload:
    """One file to take in, with what the clerk (or the scanner's sidecar) said about it."""

    filename: str
    submitted_by: str
    title: str = ""
    document_type: str = ""
    sender: str = ""
    aktenzeichen: str = ""
    vorgang_id: str = ""
    new_akte_class: str = ""
    new_akte_title: str = ""
    workflow: str = "default"
    source: str = "upload"
    new_version_of: str = ""  # a document returned for revision: this upload is its next version
    # The id the new document gets; the intake queue passes its item id, so that a re-run after a crash
    # (document committed, queue item not yet marked done) recognises the document it already made.
    document_id: str = ""


@dataclass(frozen=True)
class Accepted:
    document_id: str
    sha256: str
    status: DocumentStatus
    aktenzeichen: str | None = None
    version: int = 1


@dataclass(frozen=True)
class Quarantined:
    quarantine_id: str
    sha256: str
    rejection: Rejection


@dataclass(frozen=True)
class Duplicate:
    document_id: str
    sha256: str


Outcome = Accepted | Quarantined | Duplicate


@dataclass(frozen=True)
class Inspected:
    kind: FileKind
    pages: int
    has_text: bool
    rendition: Path | None


@dataclass(frozen=True)
class DocumentView:
    document_id: str
    sha256: str
    status: DocumentStatus
    title: str
    document_type: str
    aktenzeichen: str
    vorgang_id: str
    content_type: str
    pages: int
    filename: str
    submitted_by: str
    workflow: str
    version: int
    awaiting_revision: bool
    history: list[StatusChange]


@dataclass(frozen=True)
class DocumentSummary:
    """One line of a submitter's list of documents."""

    document_id: str
    title: str
    document_type: str
    aktenzeichen: str
    filename: str
    status: DocumentStatus
    version: int
    workflow: str
    submitted_by: str
    created_at: datetime
    updated_at: datetime  # the latest history entry


@dataclass(frozen=True)
class DocumentContent:
    """Bytes to show: the original or its PDF rendition, streamed from the object store when iterated."""

    filename: str
    content_type: str
    sha256: str
    size: int
    chunks: Iterator[bytes]


@dataclass(frozen=True)
class _Progress:
    document_id: str
    created_at: datetime
    status: DocumentStatus
    updated_at: datetime


class IngestService:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        relay: OutboxRelay,
        filing: FilingService,
        workflows: frozenset[str],
    ) -> None:
        self.workflows = workflows  # the names the workflow service knows (shared configuration)
        self._settings = settings
        self._sessions = sessions
        self._store = store
        self._relay = relay
        self._filing = filing
        self._spool = settings.data_dir / "ingest-spool"
        self._spool.mkdir(parents=True, exist_ok=True)
        # Two uploads of the same bytes at once must not both pass the duplicate check.
        self._same_bytes = [threading.Lock() for _ in range(64)]

    def ingest_stream(self, source: BinaryIO, upload: Upload) -> Outcome:
        """Spool a stream to disk (never whole in memory) and take it in."""
        spooled = self._spool / uuid.uuid4().hex
        try:
            sha256, size, too_large = self._spool_file(source, spooled)
            return self.ingest_file(spooled, sha256, size, too_large, upload)
        finally:
            spooled.unlink(missing_ok=True)

    def ingest_file(
        self, path: Path, sha256: str, size: int, too_large: bool, upload: Upload, held_as: str | None = None
    ) -> Outcome:
        """Judge a spooled file and store it, refuse it as a duplicate, or quarantine it.

        `held_as` names the quarantine item being released: if it fails again, it stays that one item.
        """
        rendition = path.with_name(path.name + ".rendition.pdf")
        try:
            with self._same_bytes[int(sha256[:2], 16) % len(self._same_bytes)]:
                existing = None if too_large else self._duplicate_of(sha256, upload)
                if existing:
                    return Duplicate(existing, sha256)
                verdict = self._inspect(path, size, too_large, rendition)
                if isinstance(verdict, Rejection):
                    if held_as:
                        return Quarantined(held_as, sha256, verdict)
                    return self._quarantine(path, sha256, size, upload, verdict)
                return self._accept(path, sha256, size, verdict, upload)
        finally:
            rendition.unlink(missing_ok=True)

    @property
    def spool_dir(self) -> Path:
        return self._spool

    @property
    def max_upload_bytes(self) -> int:
        return self._settings.max_upload_bytes

    def _spool_file(self, source: BinaryIO, path: Path) -> tuple[str, int, bool]:
        digest = hashlib.sha256()
        size = 0
        limit = self._settings.max_upload_bytes
        with path.open("wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    # Keep what came within the limit for the quarantine record; drain the rest unread.
                    while chunk := source.read(CHUNK):
                        size += len(chunk)
                    return digest.hexdigest(), size, True
                digest.update(chunk)
                out.write(chunk)
        return digest.hexdigest(), size, False

    def _duplicate_of(self, sha256: str, upload: Upload) -> str | None:
        with self._sessions() as session:
            copies = session.execute(
                select(DocumentRow.document_id, DocumentRow.aktenzeichen).where(DocumentRow.sha256 == sha256)
            ).all()
        if not copies:
            return None
        deliberate_copy = self._settings.allow_duplicates_in_other_akte and upload.aktenzeichen
        if deliberate_copy and all(copy.aktenzeichen != upload.aktenzeichen for copy in copies):
            return None
        return copies[0].document_id

    def _inspect(self, path: Path, size: int, too_large: bool, rendition: Path) -> Inspected | Rejection:
        if too_large:
            return Rejection(RejectionReason.TOO_LARGE, f"more than {self._settings.max_upload_bytes} bytes")
        with path.open("rb") as handle:
            kind = sniff(handle.read(1024) if size else b"")
        if isinstance(kind, Rejection):
            return kind
        limits = (self._settings.max_pages, self._settings.pdf_check_timeout_s)
        if kind.is_image:
            facts = image_to_pdf(path, rendition, *limits)
            return facts if isinstance(facts, Rejection) else Inspected(kind, facts.pages, facts.has_text, rendition)
        facts = check_pdf(path, *limits)
        return facts if isinstance(facts, Rejection) else Inspected(kind, facts.pages, facts.has_text, None)

    def _quarantine(self, path: Path, sha256: str, size: int, upload: Upload, rejection: Rejection) -> Quarantined:
        quarantine_id = str(uuid.uuid4())
        bucket = self._settings.quarantine_bucket
        uploaded_at = utcnow()
        self._store.put_file(bucket, f"{quarantine_id}/content", path, "application/octet-stream", sha256)
        sidecar = {
            "quarantine_id": quarantine_id,
            "reason": rejection.reason.value,
            "detail": rejection.detail,
            "uploaded_by": upload.submitted_by,
            "uploaded_at": uploaded_at.isoformat(),
            "sha256": sha256,
            "size": size,
            "original_name": upload.filename,
            "upload": asdict(upload),
        }
        self._store.put_json(bucket, f"{quarantine_id}/sidecar.json", sidecar)
        with self._sessions() as session:
            session.add(
                QuarantineRow(
                    quarantine_id=quarantine_id,
                    reason=rejection.reason.value,
                    detail=rejection.detail,
                    sha256=sha256,
                    size=size,
                    original_name=upload.filename,
                    uploaded_by=upload.submitted_by,
                    source=upload.source,
                    uploaded_at=uploaded_at,
                )
            )
            session.commit()
        return Quarantined(quarantine_id=quarantine_id, sha256=sha256, rejection=rejection)

    def _accept(self, path: Path, sha256: str, size: int, inspected: Inspected, upload: Upload) -> Accepted:
        previous = self._current_version(upload.new_version_of)
        if previous:
            document_id = uuid.UUID(upload.new_version_of)
        else:
            document_id = uuid.UUID(upload.document_id) if upload.document_id else uuid.uuid4()
        version = previous.version + 1 if previous else 1
        prefix = f"documents/{document_id}" + (f"/v{version}" if version > 1 else "")
        bucket = self._settings.inbox_bucket
        original = StoredObject(
            bucket=bucket, key=f"{prefix}/original.{inspected.kind.extension}", size=size, sha256=sha256
        )
        # Objects are stored before the record: a crash in between leaves an orphan object, never a lost one.
        self._store.put_file(bucket, original.key, path, inspected.kind.value, sha256)
        rendition = self._store_rendition(bucket, prefix, inspected.rendition)
        with self._sessions() as session:
            placement = self._filing.place(
                session,
                upload.aktenzeichen,
                upload.vorgang_id,
                (upload.new_akte_class, upload.new_akte_title or upload.title) if upload.new_akte_class else None,
                upload.title,
                upload.submitted_by,
            )
            event = DocumentIngested(
                document_id=document_id,
                correlation_id=uuid.UUID(previous.correlation_id) if previous else uuid.uuid4(),
                original=original,
                rendition=rendition,
                metadata=_metadata(upload, inspected, placement),
                workflow=upload.workflow,
                submitted_by=upload.submitted_by,
                version=version,
            )
            row = _document_row(event, upload, placement)
            if previous:
                row.created_at = previous.created_at
                session.merge(row)
            else:
                session.add(row)
            session.add(
                StatusRow(
                    document_id=str(document_id),
                    status=DocumentStatus.RECEIVED.value,
                    at=event.occurred_at,
                    by=upload.submitted_by,
                )
            )
            if self._needs_ocr(inspected):
                session.flush()  # the OCR job refers to the document row
                # documents.ingested waits for the text layer; the OCR worker publishes it (with or without).
                session.merge(
                    OcrJobRow(
                        document_id=str(document_id),
                        pages=inspected.pages,
                        event=event.model_dump(mode="json"),
                        state="pending",
                        attempts=0,
                        error="",
                        created_at=utcnow(),
                        finished_at=None,
                    )
                )
            else:
                add_event(session, event)
            session.commit()
        self._relay.notify()
        aktenzeichen = placement.akte.aktenzeichen if placement.akte else None
        return Accepted(str(document_id), sha256, DocumentStatus.RECEIVED, aktenzeichen, version)

    def _current_version(self, document_id: str) -> DocumentRow | None:
        if not document_id:
            return None
        with self._sessions() as session:
            return session.get_one(DocumentRow, document_id)

    def _needs_ocr(self, inspected: Inspected) -> bool:
        settings = self._settings
        return settings.ocr_enabled and not inspected.has_text and inspected.pages <= settings.ocr_max_pages

    def _store_rendition(self, bucket: str, prefix: str, rendition: Path | None) -> StoredObject | None:
        if rendition is None:
            return None
        digest = hashlib.sha256(rendition.read_bytes()).hexdigest()
        key = f"{prefix}/rendition.pdf"
        self._store.put_file(bucket, key, rendition, FileKind.PDF.value, digest)
        return StoredObject(bucket=bucket, key=key, size=rendition.stat().st_size, sha256=digest)

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
                document_type=row.document_type,
                aktenzeichen=row.aktenzeichen or "",
                vorgang_id=row.vorgang_id or "",
                content_type=row.content_type,
                pages=row.pages,
                filename=row.filename,
                submitted_by=row.submitted_by,
                workflow=row.workflow,
                version=row.version,
                awaiting_revision=awaiting_revision([h.status for h in history]),
                history=history,
            )

    def documents_of(
        self, submitted_by: str, status: DocumentStatus | None, limit: int, offset: int
    ) -> tuple[int, list[DocumentSummary]]:
        """A submitter's documents, newest first, optionally only those whose current status is `status`."""
        with self._sessions() as session:
            chosen = [p for p in _progress_of(session, submitted_by) if status is None or p.status is status]
            chosen.sort(key=lambda p: (p.created_at, p.document_id), reverse=True)
            page = chosen[offset : offset + limit]
            rows = session.scalars(
                select(DocumentRow)
                .options(noload(DocumentRow.history))  # the page's history was read already
                .where(DocumentRow.document_id.in_([p.document_id for p in page]))
            ).all()
        by_id = {row.document_id: row for row in rows}
        # A document purged between the two queries is left out rather than failing the whole list.
        return len(chosen), [_summary(by_id[p.document_id], p) for p in page if p.document_id in by_id]

    def content(self, document_id: str, original: bool) -> DocumentContent | None:
        """What a browser shows: the PDF rendition of an image, else (or when `original`) the original bytes."""
        with self._sessions() as session:
            row = session.get(DocumentRow, document_id, options=[noload(DocumentRow.history)])
        if row is None:
            return None
        if row.rendition_key and not original:
            # The rendition's hash is not in the table; the object carries it from when it was stored.
            info = self._store.stat(row.bucket, row.rendition_key)
            chunks = self._store.stream(row.bucket, row.rendition_key)
            return DocumentContent(rendition_filename(row.filename), FileKind.PDF.value, info.sha256, info.size, chunks)
        chunks = self._store.stream(row.bucket, row.object_key)
        return DocumentContent(row.filename, row.content_type, row.sha256, row.size, chunks)


def _progress_of(session: Session, submitted_by: str) -> list[_Progress]:
    """Every document of one submitter with its current status, from one query over their status histories.

    The status is derived from the whole history (`furthest_status`), so it cannot be filtered in SQL alone;
    a submitter has a few hundred documents, which is cheap to judge here.
    """
    rows = session.execute(
        select(DocumentRow.document_id, DocumentRow.created_at, StatusRow.status, StatusRow.at)
        .outerjoin(StatusRow, StatusRow.document_id == DocumentRow.document_id)
        .where(DocumentRow.submitted_by == submitted_by)
        .order_by(StatusRow.at, StatusRow.id)
    ).all()
    created: dict[str, datetime] = {}
    histories: dict[str, list[tuple[DocumentStatus, datetime]]] = {}
    for document_id, created_at, status, at in rows:
        created[document_id] = created_at
        entries = histories.setdefault(document_id, [])
        if status is not None:
            entries.append((DocumentStatus(status), at))
    return [
        _Progress(
            document_id=document_id,
            created_at=created_at,
            status=furthest_status([s for s, _ in histories[document_id]]),
            updated_at=max((at for _, at in histories[document_id]), default=created_at),
        )
        for document_id, created_at in created.items()
    ]


def _summary(row: DocumentRow, progress: _Progress) -> DocumentSummary:
    return DocumentSummary(
        document_id=row.document_id,
        title=row.title,
        document_type=row.document_type,
        aktenzeichen=row.aktenzeichen or "",
        filename=row.filename,
        status=progress.status,
        version=row.version,
        workflow=row.workflow,
        submitted_by=row.submitted_by,
        created_at=row.created_at,
        updated_at=progress.updated_at,
    )


def _metadata(upload: Upload, inspected: Inspected, placement: Placement) -> DocumentMetadata:
    akte = placement.akte
    plan_class = akte.file_plan_class if akte else None
    return DocumentMetadata(
        title=upload.title,
        document_type=upload.document_type,
        aktenzeichen=akte.aktenzeichen if akte else "",
        akte_title=akte.title if akte else "",
        vorgang_id=placement.vorgang_id or "",
        file_plan_class=plan_class.number if plan_class else "",
        file_plan_title=plan_class.title if plan_class else "",
        retention_years=plan_class.retention_years if plan_class else None,
        disposal=plan_class.disposal.value if plan_class else "",
        archive_rejected=plan_class.archive_rejected if plan_class else False,
        sender=upload.sender,
        filename=upload.filename,
        content_type=inspected.kind.value,
        pages=inspected.pages,
        source=upload.source,
    )


def _document_row(event: DocumentIngested, upload: Upload, placement: Placement) -> DocumentRow:
    return DocumentRow(
        document_id=str(event.document_id),
        correlation_id=str(event.correlation_id),
        sha256=event.original.sha256,
        size=event.original.size,
        bucket=event.original.bucket,
        object_key=event.original.key,
        content_type=event.metadata.content_type,
        rendition_key=event.rendition.key if event.rendition else None,
        filename=upload.filename,
        title=upload.title,
        document_type=upload.document_type,
        aktenzeichen=placement.akte.aktenzeichen if placement.akte else None,
        vorgang_id=placement.vorgang_id,
        workflow=upload.workflow,
        version=event.version,
        pages=event.metadata.pages,
        source=upload.source,
        submitted_by=upload.submitted_by,
    )
