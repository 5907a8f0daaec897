"""The intake queue: files from the hot-folder and multi-file uploads, taken in one by one, exactly once.

Each file gets a row before it is processed and keeps it after; the queue survives restarts and the
worker holds one file at a time, so memory stays flat however many files wait.
"""

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path

from services.ingest.filing import FilingRefused, FilingService
from services.ingest.ingesting import IngestService
from services.ingest.tables import IntakeItemRow
from services.ingest.unit_of_work import IngestUnitOfWork
from services.ingest.uploads import Accepted, Duplicate, Outcome, SpooledFile, Upload
from shared.events import utcnow
from shared.logs import log_context
from shared.settings import Settings
from shared.storage import sha256_of_file
from shared.tracing import continued, current_traceparent, span

log = logging.getLogger(__name__)


class IntakeState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    DUPLICATE = "duplicate"
    FAILED = "failed"


@dataclass(frozen=True)
class IntakeItem:
    item_id: str
    source: str
    batch_id: str | None
    filename: str
    path: Path
    state: IntakeState
    document_id: str | None
    quarantine_id: str | None
    reason: str
    submitted_by: str = ""  # who uploaded it (need-to-know: a batch is its uploader's and the admins')


@dataclass(frozen=True)
class Progress:
    total: int
    done: int
    pending: int
    failed: int
    duplicates: int


Finisher = Callable[[IntakeItem], None]


class IntakeQueue:
    def __init__(
        self,
        settings: Settings,
        uow_factory: Callable[[], IngestUnitOfWork],
        ingest: IngestService,
        filing: FilingService,
    ) -> None:
        self._settings = settings
        self._uow = uow_factory
        self._ingest = ingest
        self._filing = filing
        # Replicas share the database: each takes in only the files it queued (its spool, its hot-folder claims).
        self.owner = replica_name(settings)
        self._queue_dir = settings.data_dir / "ingest-queue"
        self._queue_dir.mkdir(parents=True, exist_ok=True)
        self._finishers: dict[str, Finisher] = {"batch": self._drop_queued_copy}
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def on_finished(self, source: str, finisher: Finisher) -> None:
        """What happens to a source's file once it is taken in (the hot-folder moves it to processed/ or failed/)."""
        self._finishers[source] = finisher

    # --- adding ------------------------------------------------------------------------------------
    def enqueue_batch(self, files: list[tuple[Path, str]], upload: Upload) -> str:
        """Take over spooled files (path, file name) of a multi-file upload; one row each, one transaction."""
        batch_id = str(uuid.uuid4())
        rows = []
        for spooled, filename in files:
            item_id = str(uuid.uuid4())
            queued = self._queue_dir / item_id
            os.replace(spooled, queued)
            item_upload = Upload(**{**asdict(upload), "filename": filename, "source": "batch"})
            rows.append(_row(item_id, "batch", batch_id, filename, queued, item_upload, self.owner))
        self._add(rows)
        return batch_id

    def add(
        self,
        item_id: str,
        source: str,
        path: Path,
        upload: Upload,
        refused: str = "",
        along: Callable[[IngestUnitOfWork], None] | None = None,
    ) -> None:
        """Register one file; `refused` names why it cannot be taken in at all (it is recorded as failed). `along`
        writes a channel's own record in the same transaction, so that neither exists without the other."""
        row = _row(item_id, source, None, upload.filename, path, upload, self.owner)
        if refused:
            row.state, row.reason, row.finished_at = IntakeState.FAILED.value, refused, utcnow()
        self._add([row], along)
        if refused:
            self._finish(_item(row))

    def _add(self, rows: list[IntakeItemRow], along: Callable[[IngestUnitOfWork], None] | None = None) -> None:
        with self._uow() as uow:
            uow.intake_items.add_all(rows)
            if along is not None:
                along(uow)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def known(self, item_ids: list[str]) -> set[str]:
        with self._uow() as uow:
            return uow.intake_items.known(item_ids)

    # --- processing ----------------------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.finish_interrupted)
        while True:
            try:
                pending = await asyncio.to_thread(self.pending_ids, 50)
                for item_id in pending:
                    await asyncio.to_thread(self.process, item_id)
            except Exception:  # the object store or database is away for a moment: retry, never drop
                log.exception("intake worker failed; retrying")
                pending = []
                await asyncio.sleep(2.0)
            if not pending:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)

    def pending_ids(self, limit: int) -> list[str]:
        with self._uow() as uow:
            return uow.intake_items.ids_in_state(IntakeState.PENDING.value, limit, self.owner)

    def process(self, item_id: str) -> None:
        uow = self._uow()
        with uow:
            row = uow.intake_items.get(item_id)
            if row.state != IntakeState.PENDING.value:
                return
            path, upload = Path(row.spool_path), replace(Upload(**row.upload), document_id=item_id)
            traceparent = row.traceparent
        # In the trace of the upload that queued it (a hot-folder file: one of its own); logs name the document.
        with continued(traceparent, "intake") if traceparent else span("intake"), log_context(item_id):
            self._process(uow, item_id, path, upload)

    def _process(self, uow: IngestUnitOfWork, item_id: str, path: Path, upload: Upload) -> None:
        state, outcome, reason = self._take_in(uow, path, upload)
        with uow:
            row = uow.intake_items.get(item_id)
            row.state, row.reason, row.finished_at = state.value, reason, utcnow()
            if isinstance(outcome, Accepted | Duplicate):
                row.document_id = outcome.document_id
            elif outcome is not None:
                row.quarantine_id = outcome.quarantine_id
            item = _item(row)
        self._finish(item)

    def _take_in(self, uow: IngestUnitOfWork, path: Path, upload: Upload) -> tuple[IntakeState, Outcome | None, str]:
        if not path.exists():
            return IntakeState.FAILED, None, "the file disappeared before it was taken in"
        if upload.workflow not in self._ingest.workflows:
            return IntakeState.FAILED, None, f"unknown_workflow: {upload.workflow!r}"
        try:
            self._filing.check_request(uow, upload.aktenzeichen, upload.new_akte_class, upload.find_or_open_akte)
        except FilingRefused as exc:
            return IntakeState.FAILED, None, f"{exc.reason}: {exc.message}"
        sha256, size = sha256_of_file(path)
        too_large = size > self._settings.max_upload_bytes
        outcome = self._ingest.ingest_file(uow, SpooledFile(path, sha256, size, too_large), upload)
        if isinstance(outcome, Accepted):
            return IntakeState.DONE, outcome, ""
        if isinstance(outcome, Duplicate) and outcome.document_id == upload.document_id:
            return IntakeState.DONE, outcome, ""  # taken in before a crash; only the queue's record was missing
        if isinstance(outcome, Duplicate):
            return IntakeState.DUPLICATE, outcome, f"duplicate of {outcome.document_id}"
        return IntakeState.FAILED, outcome, f"{outcome.rejection.reason.value}: {outcome.rejection.detail}"

    def _finish(self, item: IntakeItem) -> None:
        finisher = self._finishers.get(item.source)
        if finisher is not None and item.path.exists():
            finisher(item)

    def finish_interrupted(self) -> None:
        """After a crash: items already decided whose file was not yet moved are moved now."""
        with self._uow() as uow:
            rows = uow.intake_items.not_in_state(IntakeState.PENDING.value, self.owner)
            decided = [_item(row) for row in rows if Path(row.spool_path).exists()]
        for item in decided:
            self._finish(item)

    @staticmethod
    def _drop_queued_copy(item: IntakeItem) -> None:
        item.path.unlink(missing_ok=True)

    # --- reporting -----------------------------------------------------------------------------------
    def progress(self, batch_id: str | None = None) -> Progress:
        with self._uow() as uow:
            counts = uow.intake_items.counts(batch_id)
        return Progress(
            total=sum(counts.values()),
            done=counts.get(IntakeState.DONE.value, 0),
            pending=counts.get(IntakeState.PENDING.value, 0),
            failed=counts.get(IntakeState.FAILED.value, 0),
            duplicates=counts.get(IntakeState.DUPLICATE.value, 0),
        )

    def batch(self, batch_id: str) -> list[IntakeItem]:
        with self._uow() as uow:
            return [_item(row) for row in uow.intake_items.batch(batch_id)]


def replica_name(settings: Settings) -> str | None:
    """This ingest replica's name among several (`replica-<EAKTE_REPLICA_INDEX>`, else the host name, which a
    compose container keeps across restarts); None when it runs alone."""
    if settings.replicas <= 1:
        return None
    return f"replica-{settings.replica_index}" if settings.replica_index else f"host-{socket.gethostname()}"[:40]


def _row(
    item_id: str, source: str, batch_id: str | None, filename: str, path: Path, upload: Upload, owner: str | None
) -> IntakeItemRow:
    return IntakeItemRow(
        owner=owner,
        item_id=item_id,
        source=source,
        batch_id=batch_id,
        filename=filename,
        spool_path=str(path),
        upload=asdict(upload),
        state=IntakeState.PENDING.value,
        created_at=utcnow(),
        traceparent=current_traceparent(),  # the multi-file upload's request, continued by the intake worker
    )


def _item(row: IntakeItemRow) -> IntakeItem:
    return IntakeItem(
        item_id=row.item_id,
        source=row.source,
        batch_id=row.batch_id,
        filename=row.filename,
        path=Path(row.spool_path),
        state=IntakeState(row.state),
        document_id=row.document_id,
        quarantine_id=row.quarantine_id,
        reason=row.reason,
        submitted_by=str((row.upload or {}).get("submitted_by", "")),
    )
