"""OCR off the request path: scans without a text layer get one (OCRmyPDF + Tesseract) as a PDF/A derivative.

The original stays untouched and is what the SHA-256 of record refers to. The document's
`documents.ingested` event waits in the job row and goes out when OCR is done, carrying the keys of
the derivative and of the plain text; if OCR fails or overruns its time, it goes out without them.
"""

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.ingest.domain import OCR_DERIVATIVE, OCR_TEXT, DocumentStatus, document_key
from services.ingest.intake import replica_name
from services.ingest.job_loop import work_off
from services.ingest.unit_of_work import IngestUnitOfWork
from shared.events import DocumentIngested, OcrResult, StoredObject, utcnow
from shared.logs import log_context
from shared.settings import Settings
from shared.storage import ObjectStore
from shared.tracing import continued

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2
ALREADY_HAS_TEXT = 6  # OCRmyPDF's exit code when a page already has text


@dataclass(frozen=True)
class OcrOutput:
    derivative: Path
    text: Path


class OcrFailed(Exception):
    pass


class OcrWorker:
    def __init__(self, settings: Settings, uow_factory: Callable[[], IngestUnitOfWork], store: ObjectStore) -> None:
        self._settings = settings
        self._uow_factory = uow_factory
        self._store = store
        self._owner = replica_name(settings)  # replicas: each runs only the jobs it claimed

    async def run(self) -> None:
        await work_off("OCR worker", self._uow_factory, self.next_job, self.process)

    def next_job(self, uow: IngestUnitOfWork) -> str | None:
        with uow:
            return uow.ocr_jobs.next_pending(self._owner)

    def process(self, uow: IngestUnitOfWork, document_id: str) -> None:
        with uow:
            job = uow.ocr_jobs.get(document_id)
            event = DocumentIngested.model_validate(job.event)
            pages = job.pages
            job.attempts += 1
            attempts = job.attempts
            traceparent = job.traceparent
        # In the upload's trace, and log lines name the document, however much later the worker gets to it.
        with continued(traceparent, "ocr"), log_context(document_id, str(event.correlation_id)):
            self._process(uow, document_id, event, pages, attempts)

    def _process(
        self, uow: IngestUnitOfWork, document_id: str, event: DocumentIngested, pages: int, attempts: int
    ) -> None:
        if not self._settings.ocr_enabled:
            self._finish(uow, document_id, event, None, "OCR is switched off (EAKTE_OCR_ENABLED=false)")
            return
        source = event.rendition or event.original  # images: OCR the PDF made from them
        with tempfile.TemporaryDirectory(prefix="eakte-ocr-") as tmp:
            try:
                output = self._ocr(source, Path(tmp), pages)
                result = self._store_output(event, output)
                found = output.text.read_text(encoding="utf-8", errors="replace")
            except OcrFailed as exc:
                if attempts < MAX_ATTEMPTS and "timed out" not in str(exc):
                    log.warning("OCR of %s failed (attempt %d), will retry: %s", document_id, attempts, exc)
                    return
                self._finish(uow, document_id, event, None, str(exc))
                return
        self._finish(uow, document_id, event, result, "", found)

    def _ocr(self, source: StoredObject, workdir: Path, pages: int) -> OcrOutput:
        settings = self._settings
        source_path, output = workdir / "input.pdf", OcrOutput(workdir / OCR_DERIVATIVE, workdir / OCR_TEXT)
        self._store.download_hashed(source.bucket, source.key, source_path)
        timeout = settings.ocr_startup_allowance_s + settings.ocr_page_timeout_s * max(pages, 1)
        argv = [
            sys.executable,
            "-m",
            "ocrmypdf",
            "--output-type",
            "pdfa",
            "--language",
            settings.ocr_languages,
            "--tesseract-timeout",
            str(settings.ocr_page_timeout_s),
            "--jobs",
            "1",
            "--quiet",
            "--sidecar",
            str(output.text),
            str(source_path),
            str(output.derivative),
        ]
        # One Tesseract thread: the machine's other core serves uploads meanwhile.
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)
        except subprocess.TimeoutExpired as exc:
            raise OcrFailed(f"OCR timed out after {timeout:.0f} s ({pages} page(s))") from exc
        except FileNotFoundError as exc:
            raise OcrFailed(f"OCRmyPDF cannot run: {exc}") from exc
        if done.returncode == ALREADY_HAS_TEXT:
            raise OcrFailed("the PDF already has text on some page")
        if done.returncode != 0 or not output.derivative.exists():
            raise OcrFailed(f"OCRmyPDF exited with {done.returncode}: {done.stderr.strip()[-500:]}")
        return output

    def _store_output(self, event: DocumentIngested, output: OcrOutput) -> OcrResult:
        bucket = event.original.bucket
        stored = {}
        for name, path, content_type in (
            ("derivative", output.derivative, "application/pdf"),
            ("text", output.text, "text/plain; charset=utf-8"),
        ):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            # Beside the first version's original, whatever the version (the keys of record never move).
            key = document_key(event.document_id, path.name)
            self._store.put_file(bucket, key, path, content_type, digest)
            stored[name] = StoredObject(bucket=bucket, key=key, size=path.stat().st_size, sha256=digest)
        return OcrResult(derivative=stored["derivative"], text=stored["text"], languages=self._settings.ocr_languages)

    def _finish(
        self,
        uow: IngestUnitOfWork,
        document_id: str,
        event: DocumentIngested,
        result: OcrResult | None,
        error: str,
        found: str = "",
    ) -> None:
        """Release the held event (with the text layer if there is one) and note the outcome in the history."""
        with uow:
            job = uow.ocr_jobs.get(document_id)
            if job.state != "pending":
                return
            job.state, job.error, job.finished_at = ("done" if result else "failed"), error, utcnow()
            uow.add_event(event.model_copy(update={"ocr": result}))
            status = DocumentStatus.OCR_DONE if result else DocumentStatus.OCR_FAILED
            uow.documents.add_status(document_id, status, utcnow(), "ocr")
            if found:
                uow.search.text_found(document_id, found)  # the scan's words become searchable
        if error:
            log.warning("OCR of %s gave up: %s; the document goes on without a text layer", document_id, error)
