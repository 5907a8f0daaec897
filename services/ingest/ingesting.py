"""Intake use cases: accept an upload, refuse it as a duplicate, or quarantine it.

The domain decides (duplicate, OCR, version, object keys), this module orchestrates, the repositories persist.
"""

import contextlib
import contextvars
import functools
import threading
import time
import uuid
from concurrent import futures
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from services.ingest.domain import (
    RENDITION,
    DocumentStatus,
    FileKind,
    OcrPolicy,
    Rejection,
    RejectionReason,
    document_key,
    duplicate_of,
    is_mail_message,
    needs_ocr,
    next_version,
    original_name,
    sniff,
)
from services.ingest.filing import AkteView, FilingService, Placement
from services.ingest.inspection import check_pdf, image_to_pdf, message_to_pdf
from services.ingest.tables import DocumentRow, OcrJobRow, QuarantineRow
from services.ingest.unit_of_work import IngestUnitOfWork
from services.ingest.uploads import Accepted, Duplicate, Inspected, Outcome, Quarantined, SpooledFile, Upload
from shared.events import DocumentIngested, DocumentMetadata, StoredObject, utcnow
from shared.settings import Settings
from shared.storage import ObjectStore, sha256_of_file
from shared.tracing import current_traceparent


@dataclass(frozen=True)
class _Previous:
    """The version a new version replaces."""

    version: int
    correlation_id: str
    created_at: datetime


@dataclass(frozen=True)
class _Target:
    """Where a file goes if it is accepted: its document, the version it replaces, its original's object."""

    document_id: str
    previous: _Previous | None
    original: StoredObject

    @property
    def version(self) -> int:
        return next_version(self.previous.version if self.previous else None)


@dataclass(frozen=True)
class StoringOriginal:
    """An upload's original on its way to the inbox: where it goes, what the file is, the PUT (its version id)."""

    target: _Target
    kind: FileKind
    done: futures.Future[str | None]


class IngestService:
    def __init__(
        self, settings: Settings, store: ObjectStore, filing: FilingService, workflows: frozenset[str]
    ) -> None:
        self.workflows = workflows  # the names the workflow service knows (shared configuration)
        self._settings = settings
        self._store = store
        self._filing = filing
        self._ocr = OcrPolicy(settings.ocr_enabled, settings.ocr_max_pages)
        self.spool_dir = settings.data_dir / "ingest-spool"
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        # Two uploads of the same bytes at once must not both pass the duplicate check.
        self._same_bytes = [threading.Lock() for _ in range(64)]
        # Backlog imports find or open their Akte and Vorgang by name: one placement at a time, so two rows of the
        # same Akte running at once never open it twice (within this replica).
        self._placing = threading.Lock()
        # When this replica last began taking a file in (time.monotonic): background work waits for a quiet moment.
        self._last_intake_at = float("-inf")
        # Each upload's original goes to the inbox while its checks run (`_inspect_while_storing`).
        self._storing = futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="eakte-inbox-put")

    def since_intake_s(self) -> float:
        return time.monotonic() - self._last_intake_at

    @property
    def max_upload_bytes(self) -> int:
        return self._settings.max_upload_bytes

    def begin_storing(self, spooled: SpooledFile, upload: Upload) -> StoringOriginal | None:
        """Start putting a new document's original into the inbox before the file is judged.

        The PUT was the longest step of an upload (36 of 68 ms under bench-pipeline, MinIO answering every caller
        late while both cores are busy) and began only after the duplicate check; begun as soon as the file is
        spooled, it runs while the request waits for a worker thread and the file is judged (bench-latency at 20/s,
        alternating runs: upload → inbox p99 0.72 s before, 0.48 and 0.54 s after). Only for a document id
        made here: a chosen one (an intake item tried again) may already name a recorded document, whose original a
        duplicate must never take back, and a new version's key waits for its number. None as well for a file refused
        before any check.
        """
        if spooled.too_large or upload.new_version_of or upload.document_id:
            return None
        kind = self._kind(spooled, upload)
        if isinstance(kind, Rejection):
            return None
        target = self._target_of(_document_id(upload), None, kind, spooled)
        return self._put_original(target, kind, spooled)

    def ingest_file(
        self,
        uow: IngestUnitOfWork,
        spooled: SpooledFile,
        upload: Upload,
        held_as: str | None = None,
        storing: StoringOriginal | None = None,
    ) -> Outcome:
        """Judge a spooled file and store it, refuse it as a duplicate, or quarantine it.

        `held_as` names the quarantine item being released: if it fails again, it stays that one item. `storing`:
        the original's PUT `begin_storing` started for this upload (else it is started here).
        """
        self._last_intake_at = time.monotonic()
        rendition = spooled.path.with_name(spooled.path.name + ".rendition.pdf")
        storing = storing or self.begin_storing(spooled, upload)
        accepted = False  # until then, an original put into the inbox is taken out again
        try:
            with self._same_bytes[int(spooled.sha256[:2], 16) % len(self._same_bytes)]:
                existing = None if spooled.too_large else self._duplicate_of(uow, spooled.sha256, upload)
                if existing:
                    return Duplicate(existing, spooled.sha256)
                kind = storing.kind if storing else self._kind(spooled, upload)
                if isinstance(kind, Rejection):
                    return self._refuse(uow, spooled, upload, kind, held_as)
                if storing is None:  # the key is known only now, behind the duplicate check
                    target = self._target(uow, upload, kind, spooled)
                    storing = self._put_original(target, kind, spooled)
                verdict = self._inspect_while_storing(kind, spooled, rendition, storing)
                if isinstance(verdict, Rejection):
                    return self._refuse(uow, spooled, upload, verdict, held_as)
                accepted = True
                return self._accept(uow, spooled, verdict, upload, storing.target)
        finally:
            rendition.unlink(missing_ok=True)
            if storing and not accepted:
                self._take_back(storing)

    def _refuse(
        self, uow: IngestUnitOfWork, spooled: SpooledFile, upload: Upload, rejection: Rejection, held_as: str | None
    ) -> Quarantined:
        if held_as:
            return Quarantined(held_as, spooled.sha256, rejection)
        return self._quarantine(uow, spooled, upload, rejection)

    def _duplicate_of(self, uow: IngestUnitOfWork, sha256: str, upload: Upload) -> str | None:
        with uow:
            copies = uow.documents.copies_of(sha256)
        return duplicate_of(copies, upload.aktenzeichen, self._settings.allow_duplicates_in_other_akte)

    def _kind(self, spooled: SpooledFile, upload: Upload) -> FileKind | Rejection:
        """What the file is by its first bytes. An e-mail from the mailbox is expected as such (its own original,
        rendered as PDF: headers and text)."""
        message = is_mail_message(upload.source, upload.filename)
        if spooled.too_large:
            return Rejection(RejectionReason.TOO_LARGE, f"more than {self._settings.max_upload_bytes} bytes")
        with spooled.path.open("rb") as handle:
            return sniff(handle.read(1024) if spooled.size else b"", message_expected=message)

    def _target(self, uow: IngestUnitOfWork, upload: Upload, kind: FileKind, spooled: SpooledFile) -> _Target:
        previous = self._previous_version(uow, upload.new_version_of)
        return self._target_of(_document_id(upload), previous, kind, spooled)

    def _target_of(self, document_id: str, previous: _Previous | None, kind: FileKind, spooled: SpooledFile) -> _Target:
        version = next_version(previous.version if previous else None)
        key = document_key(document_id, original_name(kind), version)
        original = StoredObject(bucket=self._settings.inbox_bucket, key=key, size=spooled.size, sha256=spooled.sha256)
        return _Target(document_id, previous, original)

    def _put_original(self, target: _Target, kind: FileKind, spooled: SpooledFile) -> StoringOriginal:
        """Start the original's PUT on the inbox pool (with the caller's trace context)."""
        original = target.original
        put = functools.partial(self._store.put_file, original.bucket, original.key, spooled.path, kind.value)
        return StoringOriginal(target, kind, self._storing.submit(contextvars.copy_context().run, put, original.sha256))

    def _take_back(self, storing: StoringOriginal) -> None:
        """An original that is not kept (a duplicate, a refused file, a failed check) leaves the inbox again; one
        whose PUT failed was never there. The record is written after the PUT, so nothing refers to it."""
        futures.wait([storing.done])
        if storing.done.exception() is None:
            self._store.remove(storing.target.original.bucket, storing.target.original.key)

    def _inspect_while_storing(
        self, kind: FileKind, spooled: SpooledFile, rendition: Path, storing: StoringOriginal
    ) -> Inspected | Rejection:
        """Inspect the file while its original goes to the inbox: the checker's answer and the PUT take about as
        long each, and an upload's answer waited for both one after the other. The original is stored before any
        record, as before; a failed PUT of an accepted file fails the upload."""
        verdict = self._inspect(kind, spooled, rendition)
        futures.wait([storing.done])
        if isinstance(verdict, Inspected):
            storing.done.result()
        return verdict

    def _inspect(self, kind: FileKind, spooled: SpooledFile, rendition: Path) -> Inspected | Rejection:
        limits = (self._settings.max_pages, self._settings.pdf_check_timeout_s)
        if kind is FileKind.MESSAGE:
            facts = message_to_pdf(spooled.path, rendition, *limits)
            return facts if isinstance(facts, Rejection) else Inspected(kind, facts.pages, True, rendition, facts.text)
        if kind.is_image:
            facts = image_to_pdf(spooled.path, rendition, *limits)
            if isinstance(facts, Rejection):
                return facts
            return Inspected(kind, facts.pages, facts.has_text, rendition, facts.text)
        facts = check_pdf(spooled.path, *limits)
        return facts if isinstance(facts, Rejection) else Inspected(kind, facts.pages, facts.has_text, None, facts.text)

    def _quarantine(
        self, uow: IngestUnitOfWork, spooled: SpooledFile, upload: Upload, rejection: Rejection
    ) -> Quarantined:
        row = QuarantineRow(
            quarantine_id=str(uuid.uuid4()),
            reason=rejection.reason.value,
            detail=rejection.detail,
            sha256=spooled.sha256,
            size=spooled.size,
            original_name=upload.filename,
            uploaded_by=upload.submitted_by,
            source=upload.source,
            uploaded_at=utcnow(),
        )
        bucket = self._settings.quarantine_bucket
        self._store.put_file(
            bucket, f"{row.quarantine_id}/content", spooled.path, "application/octet-stream", row.sha256
        )
        self._store.put_json(bucket, f"{row.quarantine_id}/sidecar.json", _sidecar(row, upload))
        with uow:
            uow.quarantine.add(row)
        return Quarantined(quarantine_id=row.quarantine_id, sha256=row.sha256, rejection=rejection)

    def _accept(
        self,
        uow: IngestUnitOfWork,
        spooled: SpooledFile,
        inspected: Inspected,
        upload: Upload,
        target: _Target,
    ) -> Accepted:
        # Objects are stored before the record: a crash in between leaves an orphan object, never a lost one.
        rendition = self._store_rendition(target.document_id, target.version, inspected)
        previous = target.previous
        with self._placing if upload.find_or_open_akte else contextlib.nullcontext():
            new_akte = self._open_new_akte(uow, upload)
            with uow:
                placement = self._filing.place(
                    uow, upload.aktenzeichen, upload.vorgang_id, new_akte, upload.title, upload.vorgang_title
                )
                event = DocumentIngested(
                    document_id=uuid.UUID(target.document_id),
                    correlation_id=uuid.UUID(previous.correlation_id) if previous else uuid.uuid4(),
                    original=target.original,
                    rendition=rendition,
                    metadata=_metadata(upload, inspected, placement),
                    workflow=upload.workflow,
                    submitted_by=upload.submitted_by,
                    version=target.version,
                )
                self._record(uow, event, upload, placement, previous, inspected)
        aktenzeichen = placement.akte.aktenzeichen if placement.akte else None
        return Accepted(str(event.document_id), spooled.sha256, DocumentStatus.RECEIVED, aktenzeichen, target.version)

    def _previous_version(self, uow: IngestUnitOfWork, document_id: str) -> _Previous | None:
        if not document_id:
            return None
        with uow:
            row = uow.documents.get_without_history(document_id)
            if row is None:
                raise LookupError(f"no document {document_id} to take a new version of")
            return _Previous(row.version, row.correlation_id, row.created_at)

    def _open_new_akte(self, uow: IngestUnitOfWork, upload: Upload) -> AkteView | None:
        """An upload naming a file plan class opens its Akte first, in its own transaction."""
        org_units = [upload.org_unit] if upload.org_unit else []
        title = upload.new_akte_title or upload.title
        if upload.find_or_open_akte and (upload.aktenzeichen or upload.new_akte_class):
            # By Aktenzeichen, the Akte's title is what a row names as such, never a document's title.
            title = upload.new_akte_title if upload.aktenzeichen else title
            find_or_open = self._filing.find_or_open
            return find_or_open(uow, upload.aktenzeichen, upload.new_akte_class, title, upload.submitted_by, org_units)
        if upload.aktenzeichen or not upload.new_akte_class:
            return None
        return self._filing.open_akte(uow, upload.new_akte_class, title, upload.submitted_by, org_units)

    def _store_rendition(self, document_id: str, version: int, inspected: Inspected) -> StoredObject | None:
        if inspected.rendition is None:
            return None
        digest, size = sha256_of_file(inspected.rendition)  # streamed: a rendition of many pages may be large
        key = document_key(document_id, RENDITION, version)
        self._store.put_file(self._settings.inbox_bucket, key, inspected.rendition, FileKind.PDF.value, digest)
        return StoredObject(bucket=self._settings.inbox_bucket, key=key, size=size, sha256=digest)

    def _record(
        self,
        uow: IngestUnitOfWork,
        event: DocumentIngested,
        upload: Upload,
        placement: Placement,
        previous: _Previous | None,
        inspected: Inspected,
    ) -> None:
        """Persist the document, its first status and either its event or (a scan without text) its OCR job."""
        row = _document_row(event, upload, placement)
        if previous:
            row.created_at = previous.created_at
            uow.documents.replace(row)
        else:
            uow.documents.add(row)
        uow.documents.add_status(row.document_id, DocumentStatus.RECEIVED, event.occurred_at, upload.submitted_by)
        uow.previews.queue(row.document_id, row.version)  # page images, rendered off the request path
        uow.search.index(
            row, inspected.text, new=previous is None
        )  # the search finds it from now on (a scan's text follows OCR)
        if needs_ocr(self._ocr, inspected.has_text, inspected.pages):
            # documents.ingested waits for the text layer; the OCR worker publishes it (with or without).
            uow.ocr_jobs.add(_ocr_job(event, inspected.pages))
        else:
            uow.add_event(event)


def _document_id(upload: Upload) -> str:
    """A new version keeps its document's id; the intake queue chose one for its item; else a new one."""
    chosen = upload.new_version_of or upload.document_id
    return str(uuid.UUID(chosen)) if chosen else str(uuid.uuid4())


def _sidecar(row: QuarantineRow, upload: Upload) -> dict[str, object]:
    """What the quarantine bucket keeps beside the bytes: enough to release the upload again later."""
    return {
        "quarantine_id": row.quarantine_id,
        "reason": row.reason,
        "detail": row.detail,
        "uploaded_by": row.uploaded_by,
        "uploaded_at": row.uploaded_at.isoformat(),
        "sha256": row.sha256,
        "size": row.size,
        "original_name": row.original_name,
        "upload": asdict(upload),
    }


def _ocr_job(event: DocumentIngested, pages: int) -> OcrJobRow:
    return OcrJobRow(
        document_id=str(event.document_id),
        pages=pages,
        event=event.model_dump(mode="json"),
        state="pending",
        attempts=0,
        error="",
        created_at=utcnow(),
        finished_at=None,
        traceparent=current_traceparent(),  # the upload's trace, continued when OCR releases the event
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
        received_on=upload.received_on,
        org_unit=akte.org_unit if akte else upload.org_unit,
        confidential=plan_class.confidential if plan_class else False,
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
        org_unit=event.metadata.org_unit or None,
        confidential=event.metadata.confidential,
    )
