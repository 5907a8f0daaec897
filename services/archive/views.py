"""What the archive answers with: view models built from its rows inside a unit of work, never the rows."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.archive.ports import ObjectState, StoredFile
from services.archive.tables import AccessLogRow, ArchivedDocumentRow, DeletionRecordRow


@dataclass(frozen=True)
class ArchivedView:
    document_id: str
    outcome: str
    sha256: str
    size: int
    content_type: str
    title: str
    document_type: str
    sender: str
    aktenzeichen: str
    akte_title: str
    file_plan_class: str
    retention_years: int | None
    disposal: str
    filename: str
    submitted_by: str
    decisions: list[dict[str, Any]]
    received_at: datetime
    archived_at: datetime
    retain_until: datetime
    legal_hold: bool
    version_id: str | None
    last_verified_at: datetime | None
    last_verify_result: str | None
    last_verify_problems: list[str] | None
    source: str = ""  # the channel it came through (empty: archived before it was recorded)


@dataclass(frozen=True)
class SearchPage:
    total: int
    limit: int
    offset: int
    items: list[ArchivedView]


@dataclass(frozen=True)
class PackageView:
    document_id: str
    bucket: str
    objects: list[ObjectState]


@dataclass(frozen=True)
class LinkView:
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class EvidenceView:
    """A package's evidence record, checked (`"evidence": true`): hash tree, time-stamp, TSA certificate chain."""

    ok: bool
    time: datetime | None
    tsa: str
    problems: list[str]
    record: str
    chains: int
    algorithms: list[str]


@dataclass(frozen=True)
class VerifyResult:
    document_id: str
    result: str
    problems: list[str]
    evidence: EvidenceView | None = None


@dataclass(frozen=True)
class VerifyView:
    checked: int
    ok: int
    mismatch: int
    missing: int
    results: list[VerifyResult]
    evidence_ok: int | None = None  # with `"evidence": true`: packages whose evidence record holds
    evidence_failed: int | None = None


@dataclass(frozen=True)
class AccessEntry:
    document_id: str
    user: str
    action: str
    at: datetime
    query: str | None = None  # a search: what was asked
    hits: int | None = None  # a search: how many documents it found


@dataclass(frozen=True)
class AccessPage:
    total: int
    items: list[AccessEntry]


@dataclass(frozen=True)
class DueView:
    document_id: str
    aktenzeichen: str
    file_plan_class: str
    disposal: str
    retain_until: datetime
    legal_hold: bool


@dataclass(frozen=True)
class DeletionView:
    document_id: str
    aktenzeichen: str
    file_plan_class: str
    rule: str
    objects: list[dict[str, Any]]
    deleted_at: datetime
    deleted_by: str


@dataclass(frozen=True)
class Download:
    """The original's verified bytes (streamed) with what the response says about them."""

    chunks: Iterator[bytes]
    content_type: str
    size: int
    filename: str
    sha256: str


def stored_files(row: ArchivedDocumentRow) -> list[StoredFile]:
    return [StoredFile(row.bucket, f.path, f.key, f.version_id, f.sha256, f.size, f.offset) for f in row.files]


def stored_objects(files: list[StoredFile]) -> list[StoredFile]:
    """One file per object version: the files inside the bundle share one (held and deleted once)."""
    seen: set[tuple[str, str | None]] = set()
    objects = []
    for f in files:
        if (f.key, f.version_id) not in seen:
            seen.add((f.key, f.version_id))
            objects.append(f)
    return objects


def original_file(row: ArchivedDocumentRow) -> StoredFile:
    return next(f for f in stored_files(row) if f.path == row.original_path)


def archived_view(row: ArchivedDocumentRow) -> ArchivedView:
    return ArchivedView(
        document_id=row.document_id,
        outcome=row.outcome,
        sha256=row.sha256,
        size=row.size,
        content_type=row.content_type,
        title=row.title,
        document_type=row.document_type,
        sender=row.sender,
        aktenzeichen=row.aktenzeichen,
        akte_title=row.akte_title,
        file_plan_class=row.file_plan_class,
        retention_years=row.retention_years,
        disposal=row.disposal,
        filename=row.filename,
        submitted_by=row.submitted_by,
        decisions=row.decisions,
        received_at=row.received_at,
        archived_at=row.archived_at,
        retain_until=row.retain_until,
        legal_hold=row.legal_hold,
        version_id=original_file(row).version_id,
        last_verified_at=row.last_verified_at,
        last_verify_result=row.last_verify_result,
        last_verify_problems=row.last_verify_problems,
        source=row.source or "",
    )


def access_entry(row: AccessLogRow) -> AccessEntry:
    return AccessEntry(
        document_id=row.document_id, user=row.user, action=row.action, at=row.at, query=row.query, hits=row.hits
    )


def due_view(row: ArchivedDocumentRow) -> DueView:
    return DueView(
        document_id=row.document_id,
        aktenzeichen=row.aktenzeichen,
        file_plan_class=row.file_plan_class,
        disposal=row.disposal,
        retain_until=row.retain_until,
        legal_hold=row.legal_hold,
    )


def deletion_view(row: DeletionRecordRow) -> DeletionView:
    return DeletionView(
        document_id=row.document_id,
        aktenzeichen=row.aktenzeichen,
        file_plan_class=row.file_plan_class,
        rule=row.rule,
        objects=row.objects,
        deleted_at=row.deleted_at,
        deleted_by=row.deleted_by,
    )
