"""The archive service's own tables."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import UtcDateTime
from shared.events import utcnow


class ArchiveBase(DeclarativeBase):
    pass


class ArchivedDocumentRow(ArchiveBase):
    """One archival package: a document with its metadata, audit trail and retention."""

    __tablename__ = "archived_documents"

    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    correlation_id: Mapped[str] = mapped_column(String(36))
    outcome: Mapped[str] = mapped_column(String(20), default="approved")  # approved | rejected
    state: Mapped[str] = mapped_column(String(20), default="archived", index=True)  # archived | handed_over
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    bucket: Mapped[str] = mapped_column(String(100))
    content_type: Mapped[str] = mapped_column(String(100), default="application/pdf")
    original_path: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500), default="")
    document_type: Mapped[str] = mapped_column(String(100), default="")
    sender: Mapped[str] = mapped_column(String(500), default="")
    aktenzeichen: Mapped[str] = mapped_column(String(100), index=True, default="")
    akte_title: Mapped[str] = mapped_column(String(500), default="")
    vorgang_id: Mapped[str] = mapped_column(String(36), default="")
    file_plan_class: Mapped[str] = mapped_column(String(50), default="")
    file_plan_title: Mapped[str] = mapped_column(String(500), default="")
    retention_years: Mapped[int | None] = mapped_column(Integer)
    disposal: Mapped[str] = mapped_column(String(20), default="")
    filename: Mapped[str] = mapped_column(String(255), default="")
    submitted_by: Mapped[str] = mapped_column(String(200), default="")
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    decisions: Mapped[list] = mapped_column(JSON)
    archived_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    retain_until: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    last_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_verify_result: Mapped[str | None] = mapped_column(String(20))
    last_verify_problems: Mapped[list | None] = mapped_column(JSON)
    # Need-to-know (from the event's metadata): the owning org unit and whether its class is confidential.
    org_unit: Mapped[str | None] = mapped_column(String(50))
    confidential: Mapped[bool | None] = mapped_column(Boolean)
    # The channel it came through (the event's `metadata.source`: upload, hotfolder, email, ...); NULL in older rows.
    source: Mapped[str | None] = mapped_column(String(20))
    files: Mapped[list["PackageFileRow"]] = relationship(lazy="selectin", order_by="PackageFileRow.path")


class PackageFileRow(ArchiveBase):
    """One object of a package, by the exact version written (the archive bucket keeps versions)."""

    __tablename__ = "package_files"

    document_id: Mapped[str] = mapped_column(ForeignKey("archived_documents.document_id"), primary_key=True)
    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(500))
    version_id: Mapped[str | None] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    # Where the file's bytes start in its object (a file inside the package's bundle); NULL: the whole object.
    offset: Mapped[int | None] = mapped_column(Integer, nullable=True)


class AccessLogRow(ArchiveBase):
    """Who retrieved what, when (DSGVO: records officers can read it)."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(String(36), index=True)
    user: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    # A search (document_id empty): what was asked and how many documents it found.
    query: Mapped[str | None] = mapped_column(Text)
    hits: Mapped[int | None] = mapped_column(Integer)


class DeletionRecordRow(ArchiveBase):
    """What was deleted, when, by whom, under which rule; no title, sender or content of the person's record."""

    __tablename__ = "deletion_records"

    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    aktenzeichen: Mapped[str] = mapped_column(String(100))
    file_plan_class: Mapped[str] = mapped_column(String(50))
    rule: Mapped[str] = mapped_column(Text)
    objects: Mapped[list] = mapped_column(JSON)
    deleted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deleted_by: Mapped[str] = mapped_column(String(200))


class XdomeaProcessRow(ArchiveBase):
    """One disposal procedure (Aussonderung) with the state archive, by its xdomea ProzessID."""

    __tablename__ = "xdomea_processes"

    process_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    aktenzeichen: Mapped[list] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), default="offered")  # offered, evaluated, transferred, confirmed
    decisions: Mapped[dict | None] = mapped_column(JSON)  # object id -> archive | destroy (from 0502)
    transferred: Mapped[list | None] = mapped_column(JSON)  # document ids handed over in 0503
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class EvidencePendingRow(ArchiveBase):
    """A package awaiting its evidence record (written with the package, so nothing is lost on a crash); the
    batcher claims rows for a while (`claimed_until`) so that replicas stamp different packages."""

    __tablename__ = "evidence_pending"

    document_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    queued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class FixityCycleRow(ArchiveBase):
    """The scheduled fixity check (one row): the cycle running, how far it got, the last finished cycle's figures,
    and which replica does the work until when (a lease, so that one replica re-reads at a time)."""

    __tablename__ = "fixity_cycle"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)  # "packages"
    cycle: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Packages are visited in document-id order: the last one checked in this cycle (a restart goes on after it).
    cursor: Mapped[str] = mapped_column(String(36), default="")
    checked: Mapped[int] = mapped_column(Integer, default=0)
    ok: Mapped[int] = mapped_column(Integer, default=0)
    mismatch: Mapped[int] = mapped_column(Integer, default=0)
    missing: Mapped[int] = mapped_column(Integer, default=0)
    # The last finished cycle: {cycle, started_at, finished_at, checked, ok, mismatch, missing}.
    last_cycle: Mapped[dict | None] = mapped_column(JSON)
    holder: Mapped[str | None] = mapped_column(String(100))
    held_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class FixityResultRow(ArchiveBase):
    """One package re-read by the scheduled fixity check, with its result."""

    __tablename__ = "fixity_results"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(String(36), index=True)
    cycle: Mapped[int] = mapped_column(Integer, index=True)
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    result: Mapped[str] = mapped_column(String(20))  # ok | mismatch | missing
    problems: Mapped[list] = mapped_column(JSON)
