"""The ingest service's own tables."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import UtcDateTime
from shared.events import utcnow


class IngestBase(DeclarativeBase):
    pass


class AkteRow(IngestBase):
    """A case file (`Akte`), identified by its file reference (`Aktenzeichen`)."""

    __tablename__ = "akten"
    __table_args__ = (UniqueConstraint("file_plan_class", "year", "seq"),)

    aktenzeichen: Mapped[str] = mapped_column(String(100), primary_key=True)
    file_plan_class: Mapped[str] = mapped_column(String(50), index=True)
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Need-to-know: the owning org unit (its class's `org_unit`, else the creator's first); NULL in older rows.
    org_unit: Mapped[str | None] = mapped_column(String(50), index=True)


class VorgangRow(IngestBase):
    """A process (`Vorgang`): one matter inside an Akte."""

    __tablename__ = "vorgaenge"

    vorgang_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    aktenzeichen: Mapped[str] = mapped_column(ForeignKey("akten.aktenzeichen"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DocumentRow(IngestBase):
    __tablename__ = "documents"

    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    correlation_id: Mapped[str] = mapped_column(String(36))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    bucket: Mapped[str] = mapped_column(String(100))
    object_key: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(100), default="application/pdf")
    rendition_key: Mapped[str | None] = mapped_column(String(500))
    filename: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(500), default="")
    document_type: Mapped[str] = mapped_column(String(100), default="")
    aktenzeichen: Mapped[str | None] = mapped_column(ForeignKey("akten.aktenzeichen"), index=True)
    vorgang_id: Mapped[str | None] = mapped_column(ForeignKey("vorgaenge.vorgang_id"), index=True)
    workflow: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)
    pages: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(20), default="upload")
    submitted_by: Mapped[str] = mapped_column(String(200), index=True)  # a clerk lists their own documents
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Need-to-know: its Akte's org unit (without Akte: the submitter's first) and whether its class is confidential.
    org_unit: Mapped[str | None] = mapped_column(String(50), index=True)
    confidential: Mapped[bool | None] = mapped_column(Boolean)
    history: Mapped[list["StatusRow"]] = relationship(order_by="StatusRow.at", lazy="selectin")


class StatusRow(IngestBase):
    __tablename__ = "document_status"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.document_id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    by: Mapped[str] = mapped_column(String(200))


class QuarantineRow(IngestBase):
    """A file that did not enter the e-file; its bytes and a JSON sidecar lie in the quarantine bucket.

    `state`: `held`, `released` (taken in after a fix) or `discarded` (bytes deleted).
    """

    __tablename__ = "quarantine"

    quarantine_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reason: Mapped[str] = mapped_column(String(50), index=True)
    detail: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    original_name: Mapped[str] = mapped_column(String(255))
    uploaded_by: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20), default="upload")
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(20), default="held", index=True)
    released_as: Mapped[str | None] = mapped_column(String(36))
    released_by: Mapped[str | None] = mapped_column(String(200))
    # Discarded: an admin judged it rubbish; its bytes are deleted, this record of what came in stays.
    discarded_by: Mapped[str | None] = mapped_column(String(200))
    discarded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class IntakeItemRow(IngestBase):
    """One file waiting for intake, from the hot-folder or a multi-file upload; survives restarts."""

    __tablename__ = "intake_items"

    item_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(String(20), index=True)
    batch_id: Mapped[str | None] = mapped_column(String(36), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    spool_path: Mapped[str] = mapped_column(Text)
    upload: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), index=True, default="pending")
    document_id: Mapped[str | None] = mapped_column(String(36))
    quarantine_id: Mapped[str | None] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Which ingest replica takes it in (the one whose spool or processing folder holds the file); NULL: any.
    owner: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    # The trace of the upload that queued the file (shared.tracing): the intake worker continues it.
    traceparent: Mapped[str | None] = mapped_column(String(55), nullable=True)


class OcrJobRow(IngestBase):
    """A scan waiting for its text layer; holds the `documents.ingested` event until OCR is done or gave up."""

    __tablename__ = "ocr_jobs"

    document_id: Mapped[str] = mapped_column(ForeignKey("documents.document_id"), primary_key=True)
    pages: Mapped[int] = mapped_column(Integer)
    event: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Replicas: the ingest replica whose OCR worker took the job (only it runs it); NULL: not taken yet.
    claimed_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # The trace of the upload that queued the scan (shared.tracing): OCR and the released event continue it.
    traceparent: Mapped[str | None] = mapped_column(String(55), nullable=True)


class Open311RequestRow(IngestBase):
    """A citizen's Open311 report: its place and type, and the document it became (or the first it duplicates).

    Neither the description nor contact details are kept here: they are in the report's PDF in the Akte only."""

    __tablename__ = "open311_requests"

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    service_code: Mapped[str] = mapped_column(String(50), index=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    long: Mapped[float | None] = mapped_column(Float, nullable=True)
    address: Mapped[str] = mapped_column(String(500), default="")
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    client: Mapped[str] = mapped_column(String(40))  # the client app's key fingerprint (never the key)
    # The intake item id, which is the id of the document it becomes; NULL for a duplicate.
    document_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    duplicate_of: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    has_photo: Mapped[bool] = mapped_column(Boolean, default=False)


class MailMessageRow(IngestBase):
    """A message taken from the Poststelle mailbox: never filed twice, by its place in the mailbox (UIDVALIDITY and
    UID of its folder) nor by its Message-ID (else its bytes' hash: `message_key`).

    `state`: `received` (its parts spooled, Vorgang opened), `queued` (every part in the intake queue), `moved`
    (the message lies in the done folder).
    """

    __tablename__ = "mail_messages"
    __table_args__ = (UniqueConstraint("folder", "uidvalidity", "uid"),)

    mail_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(Integer)
    uid: Mapped[int] = mapped_column(Integer)
    message_key: Mapped[str] = mapped_column(String(400), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    parts: Mapped[int] = mapped_column(Integer)  # the message and its attachments: one intake item each
    aktenzeichen: Mapped[str | None] = mapped_column(String(100))
    vorgang_id: Mapped[str | None] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(20), default="received", index=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    moved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class FitConnectSubmissionRow(IngestBase):
    """An online application taken from FIT-Connect, once per submission id (services.ingest.fitconnect).

    `state`: `taking` (claimed, being fetched and checked), `filing` (its files are in the intake queue),
    `accepted` or `rejected` (the event sent to FIT-Connect; `event_sent_at` once it arrived there).
    `items`: the intake item (= document) id of the form PDF (`form`) and of each attachment (`attachments`).
    """

    __tablename__ = "fitconnect_submissions"

    submission_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(20), index=True)
    service: Mapped[str] = mapped_column(String(100), default="")
    items: Mapped[dict] = mapped_column(JSON)
    # The leading document (the form rendered as PDF) and the form data behind it, shown as a table in the portal.
    form_document_id: Mapped[str | None] = mapped_column(String(36), index=True)
    form_data: Mapped[dict | None] = mapped_column(JSON)
    problems: Mapped[list | None] = mapped_column(JSON)
    quarantine_id: Mapped[str | None] = mapped_column(String(36))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    event_sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PreviewJobRow(IngestBase):
    """A document's page images: waiting to be rendered (`pending`), there (`done`), or none to be had (`failed`).

    One row per document (a new version replaces it); the images lie under the version's `preview/` folder.
    """

    __tablename__ = "preview_jobs"

    document_id: Mapped[str] = mapped_column(ForeignKey("documents.document_id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    pages: Mapped[int] = mapped_column(Integer, default=0)  # pages in the PDF
    rendered: Mapped[int] = mapped_column(Integer, default=0)  # pages with images (the first max_pages)
    render_ms: Mapped[float | None] = mapped_column(Float, nullable=True)  # mean render time per page
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Replicas: the ingest replica whose worker took the job; NULL: not taken yet.
    claimed_by: Mapped[str | None] = mapped_column(String(40), nullable=True)


class SearchEntryRow(IngestBase):
    """A document as the search for clerks and approvers finds it (services.ingest.search): its metadata, the facts
    need-to-know asks, its facets and its text; kept in the same unit of work as the document.

    The matching runs over stems (services.ingest.domain_search): SQLite's FTS5 table `search_fts` or, on
    PostgreSQL, the `german` text search vectors of `search_tsv`; both created by the migration 0009_search.
    """

    __tablename__ = "search_entries"

    # The stems' row (FTS5 rowid): an integer key joins the match to the entries far faster than the document id.
    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(String(36), unique=True, index=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    filename: Mapped[str] = mapped_column(String(255), default="")
    aktenzeichen: Mapped[str] = mapped_column(String(100), default="")
    akte_title: Mapped[str] = mapped_column(String(500), default="")
    document_type: Mapped[str] = mapped_column(String(100), default="", index=True)
    file_plan_class: Mapped[str] = mapped_column(String(50), default="", index=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(20), default="received", index=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    org_unit: Mapped[str] = mapped_column(String(50), default="", index=True)
    submitted_by: Mapped[str] = mapped_column(String(200), default="", index=True)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text, default="")  # the document's text (text layer or OCR), for snippets
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
