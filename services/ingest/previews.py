"""Page previews off the request path: each document's pages as PNG images, beside its original.

A document taken in gets a preview job (services.ingest.ingesting); this worker renders the PDF a browser shows
(the rendition of a scan or e-mail, else the original PDF) in a PDF checker process (services.ingest.inspection:
the same memory, CPU and time limits as the checks), and stores a thumbnail and a large image per page under
`documents/{id}/[v{n}/]preview/`. A file PDFium cannot render, or that overruns its time, ends as `failed`:
the portal shows "keine Vorschau" and the PDF one click away. While files are being taken in, the worker waits
for a quiet moment (services.ingest.domain_previews.render_now).
"""

import hashlib
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.ingest.domain import Rejection
from services.ingest.domain_previews import (
    PreviewPolicy,
    PreviewSize,
    PreviewState,
    preview_key,
    preview_source,
    render_now,
    render_timeout,
)
from services.ingest.inspection import render_preview
from services.ingest.intake import replica_name
from services.ingest.job_loop import work_off
from services.ingest.unit_of_work import IngestUnitOfWork
from shared.events import utcnow
from shared.settings import Settings
from shared.storage import ObjectStore

log = logging.getLogger(__name__)


def preview_policy(settings: Settings) -> PreviewPolicy:
    return PreviewPolicy(
        dpi=settings.preview_dpi,
        thumb_px=settings.preview_thumb_px,
        max_pages=settings.preview_max_pages,
        page_timeout_s=settings.preview_page_timeout_s,
        startup_allowance_s=settings.preview_startup_allowance_s,
    )


@dataclass(frozen=True)
class _Job:
    document_id: str
    version: int
    bucket: str
    source_key: str | None
    pages: int


@dataclass(frozen=True)
class _Outcome:
    state: PreviewState
    pages: int = 0
    rendered: int = 0
    render_ms: float | None = None
    error: str = ""


class PreviewWorker:
    def __init__(
        self,
        settings: Settings,
        uow_factory: Callable[[], IngestUnitOfWork],
        store: ObjectStore,
        since_intake_s: Callable[[], float] = lambda: float("inf"),
    ) -> None:
        """`since_intake_s`: seconds since this replica last began taking a file in (IngestService)."""
        self._policy = preview_policy(settings)
        self._uow_factory = uow_factory
        self._store = store
        self._owner = replica_name(settings)  # replicas: each runs only the jobs it claimed
        self._since_intake_s = since_intake_s
        self._last_render_at = float("-inf")

    async def run(self) -> None:
        await work_off("preview worker", self._uow_factory, self.next_job, self.process)

    def next_job(self, uow: IngestUnitOfWork) -> str | None:
        """The next document to preview; none while intake is busy (the loop looks again a moment later)."""
        if not render_now(self._since_intake_s(), time.monotonic() - self._last_render_at):
            return None
        with uow:
            return uow.previews.next_pending(self._owner)

    def process(self, uow: IngestUnitOfWork, document_id: str) -> None:
        self._last_render_at = time.monotonic()
        job = self._claim(uow, document_id)
        if job is None:
            return
        if job.source_key is None:
            outcome = _Outcome(PreviewState.NONE, job.pages, error="no PDF to preview (neither a PDF nor a rendition)")
        else:
            outcome = self._render(job)
        self._finish(uow, job, outcome)

    def _claim(self, uow: IngestUnitOfWork, document_id: str) -> _Job | None:
        with uow:
            row = uow.documents.get_without_history(document_id)
            if row is None:  # purged meanwhile
                uow.previews.remove(document_id)
                return None
            preview = uow.previews.get(document_id)
            preview.attempts += 1
            source = preview_source(row.content_type, row.object_key, row.rendition_key)
            return _Job(document_id, preview.version, row.bucket, source, row.pages)

    def _render(self, job: _Job) -> _Outcome:
        assert job.source_key is not None
        with tempfile.TemporaryDirectory(prefix="eakte-preview-") as tmp:
            workdir = Path(tmp)
            source = workdir / "source.pdf"
            self._store.download_hashed(job.bucket, job.source_key, source)
            output = workdir / "pages"
            output.mkdir()
            verdict = render_preview(source, output, self._policy, render_timeout(self._policy, job.pages))
            if isinstance(verdict, Rejection):
                return _Outcome(PreviewState.FAILED, job.pages, error=verdict.detail)
            if not verdict["ok"]:
                return _Outcome(PreviewState.FAILED, job.pages, error=str(verdict["detail"]))
            rendered = int(verdict["rendered"])
            self._store_pages(job, output, rendered)
        timings = [float(ms) for ms in verdict["ms"]]
        mean = statistics.fmean(timings) if timings else None
        return _Outcome(PreviewState.DONE, int(verdict["pages"]), rendered, mean)

    def _store_pages(self, job: _Job, output: Path, rendered: int) -> None:
        for page in range(1, rendered + 1):
            for size in PreviewSize:
                path = output / f"{page}-{size.value}.png"
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                key = preview_key(job.document_id, job.version, page, size)
                self._store.put_file(job.bucket, key, path, "image/png", digest)

    def _finish(self, uow: IngestUnitOfWork, job: _Job, outcome: _Outcome) -> None:
        with uow:
            row = uow.previews.find(job.document_id)
            if row is None or row.version != job.version:  # purged, or a new version asked meanwhile
                return
            row.state, row.pages, row.rendered = outcome.state.value, outcome.pages, outcome.rendered
            row.render_ms, row.error, row.finished_at = outcome.render_ms, outcome.error, utcnow()
        if outcome.state == PreviewState.DONE:
            log.info(
                "preview of %s: %d page(s), %.0f ms per page", job.document_id, outcome.rendered, outcome.render_ms or 0
            )
        else:
            log.warning("no preview of %s: %s", job.document_id, outcome.error)
