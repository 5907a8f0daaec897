"""Read use cases: one document with its history, a submitter's list of documents, a document's bytes."""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.ingest.domain import (
    DocumentStatus,
    FileKind,
    StatusChange,
    awaiting_revision,
    furthest_status,
    rendition_filename,
)
from services.ingest.tables import DocumentRow
from services.ingest.unit_of_work import IngestUnitOfWork
from shared.storage import ObjectStore


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
    org_unit: str = ""  # need-to-know: its Akte's org unit (empty: none)
    source: str = "upload"  # the channel it came through (`domain.CHANNEL_NAMES`)


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
    source: str = "upload"  # the channel it came through (`domain.CHANNEL_NAMES`)


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


def document(uow: IngestUnitOfWork, document_id: str) -> DocumentView | None:
    with uow:
        row = uow.documents.get(document_id)
        if row is None:
            return None
        history = [StatusChange(DocumentStatus(h.status), h.at, h.by) for h in row.history]
        statuses = [h.status for h in history]
        return DocumentView(
            document_id=row.document_id,
            sha256=row.sha256,
            status=furthest_status(statuses),
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
            awaiting_revision=awaiting_revision(statuses),
            history=history,
            org_unit=row.org_unit or "",
            source=row.source,
        )


def documents_of(
    uow: IngestUnitOfWork,
    submitted_by: str,
    status: DocumentStatus | None,
    limit: int,
    offset: int,
    keep: Callable[[DocumentRow], bool] = lambda _row: True,
) -> tuple[int, list[DocumentSummary]]:
    """A submitter's documents, newest first, optionally only those whose current status is `status`.

    `keep` (need-to-know) drops lines the caller may not see; the list is of the caller's own documents (an
    admin: anyone's), so it drops none today, but a line is never shown unchecked.
    """
    with uow:
        progress = _progress_of(uow.documents.histories_of(submitted_by))
        chosen = [p for p in progress if status is None or p.status is status]
        chosen.sort(key=lambda p: (p.created_at, p.document_id), reverse=True)
        page = chosen[offset : offset + limit]
        rows = uow.documents.by_ids([p.document_id for p in page])
    by_id = {row.document_id: row for row in rows}
    # A document purged between the two queries is left out rather than failing the whole list.
    shown = [p for p in page if p.document_id in by_id and keep(by_id[p.document_id])]
    return len(chosen), [_summary(by_id[p.document_id], p) for p in shown]


def content(uow: IngestUnitOfWork, store: ObjectStore, document_id: str, original: bool) -> DocumentContent | None:
    """What a browser shows: the PDF rendition of an image, else (or when `original`) the original bytes."""
    with uow:
        row = uow.documents.get_without_history(document_id)
    if row is None:
        return None
    if row.rendition_key and not original:
        # The rendition's hash is not in the table; the object carries it from when it was stored.
        info = store.stat(row.bucket, row.rendition_key)
        chunks = store.stream(row.bucket, row.rendition_key)
        return DocumentContent(rendition_filename(row.filename), FileKind.PDF.value, info.sha256, info.size, chunks)
    chunks = store.stream(row.bucket, row.object_key)
    return DocumentContent(row.filename, row.content_type, row.sha256, row.size, chunks)


def _progress_of(entries: Sequence[tuple[str, datetime, str | None, datetime | None]]) -> list[_Progress]:
    """Every document of one submitter with its current status, from its status history (oldest first).

    The status is derived from the whole history (`furthest_status`), so it cannot be filtered in SQL alone;
    a submitter has a few hundred documents, which is cheap to judge here.
    """
    created: dict[str, datetime] = {}
    histories: dict[str, list[tuple[DocumentStatus, datetime]]] = {}
    for document_id, created_at, status, at in entries:
        created[document_id] = created_at
        history = histories.setdefault(document_id, [])
        if status is not None and at is not None:
            history.append((DocumentStatus(status), at))
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
        source=row.source,
    )
