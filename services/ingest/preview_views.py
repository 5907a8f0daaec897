"""What the preview routes answer: a document's page state and its page images (after need-to-know was asked)."""

from collections.abc import Iterator
from dataclasses import dataclass

from services.ingest.domain_previews import Pages, PreviewSize, page_shown, pages_of, preview_key, preview_source
from services.ingest.unit_of_work import IngestUnitOfWork
from shared.storage import ObjectStore


@dataclass(frozen=True)
class PageImage:
    size: int
    chunks: Iterator[bytes]


def pages(uow: IngestUnitOfWork, document_id: str) -> Pages | None:
    """The document's preview; one taken in before previews existed is queued now (rendered soon after)."""
    with uow:
        row = uow.documents.get_without_history(document_id)
        if row is None:
            return None
        job = uow.previews.find(document_id)
        if job is None and preview_source(row.content_type, row.object_key, row.rendition_key):
            uow.previews.queue(document_id, row.version)
            return pages_of("pending", 0, row.pages)
        if job is None:
            return pages_of(None, 0, row.pages)
        return pages_of(job.state, job.rendered, job.pages or row.pages, job.error, job.render_ms)


def page_image(
    uow: IngestUnitOfWork, store: ObjectStore, document_id: str, page: int, size: PreviewSize
) -> PageImage | None:
    """Page `page`'s image in `size`, streamed from the object store; None while (or when) there is none."""
    with uow:
        row = uow.documents.get_without_history(document_id)
        job = uow.previews.find(document_id)
        if row is None or job is None:
            return None
        shown, bucket, version = page_shown(pages_of(job.state, job.rendered, job.pages), page), row.bucket, job.version
    if not shown:
        return None
    key = preview_key(document_id, version, page, size)
    return PageImage(store.stat(bucket, key).size, store.stream(bucket, key))


def backfill(uow: IngestUnitOfWork, limit: int) -> int:
    """Queue the page images of documents taken in before previews existed; how many were queued."""
    with uow:
        missing = uow.previews.without_job(limit)
        for document_id, version in missing:
            uow.previews.queue(document_id, version)
    return len(missing)
