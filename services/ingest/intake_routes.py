"""HTTP entrypoints for bulk intake: multi-file uploads and the intake progress figure."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from services.ingest.domain import clean_filename, may_see_batch
from services.ingest.intake import IntakeQueue
from services.ingest.routes import receive, spooled_files, upload_from
from shared.auth import Principal, require_roles
from shared.errors import InvalidRequest, NotFound

router = APIRouter(prefix="/api/v1")
clerk_or_admin = require_roles("clerk", "admin")


class ProgressOut(BaseModel):
    total: int
    done: int
    pending: int
    failed: int
    duplicates: int


class BatchAccepted(BaseModel):
    batch_id: str
    files: int
    progress: ProgressOut


class BatchItemOut(BaseModel):
    filename: str
    state: str
    document_id: str | None
    quarantine_id: str | None
    reason: str


class BatchOut(BaseModel):
    batch_id: str
    progress: ProgressOut
    items: list[BatchItemOut]


def _queue(request: Request) -> IntakeQueue:
    queue: IntakeQueue = request.app.state.intake
    return queue


@router.post("/documents/batch", status_code=status.HTTP_202_ACCEPTED, response_model=BatchAccepted)
async def upload_batch(request: Request, principal: Annotated[Principal, Depends(clerk_or_admin)]) -> BatchAccepted:
    """Many `files` parts plus the optional metadata of a single upload, applied to each file.

    The files are spooled and queued at once (202); `GET /api/v1/intake/batches/{batch_id}` follows them.
    """
    queue = _queue(request)
    form = await receive(request, max_files=request.app.state.settings.max_batch_files)
    with spooled_files(form):
        files = [f for f in form.files if f.field_name in ("files", "file")]
        if not files:
            raise InvalidRequest("missing_file", "no multipart field `files` in the request")
        upload = await upload_from(request, form, principal, "")
        batch_id = await run_in_threadpool(
            queue.enqueue_batch, [(f.path, clean_filename(f.filename)) for f in files], upload
        )
    progress = await run_in_threadpool(queue.progress, batch_id)
    return BatchAccepted(batch_id=batch_id, files=len(files), progress=ProgressOut(**vars(progress)))


@router.get("/intake/progress", response_model=ProgressOut)
async def intake_progress(request: Request, _principal: Annotated[Principal, Depends(clerk_or_admin)]) -> ProgressOut:
    """All intake through the queue (hot-folder and multi-file uploads): done / pending / failed."""
    return ProgressOut(**vars(await run_in_threadpool(_queue(request).progress)))


@router.get("/intake/batches/{batch_id}", response_model=BatchOut)
async def batch_status(
    request: Request, batch_id: str, principal: Annotated[Principal, Depends(clerk_or_admin)]
) -> BatchOut:
    """A multi-file upload's progress: for its uploader and admins (need-to-know: its file names are theirs)."""
    queue = _queue(request)
    items = await run_in_threadpool(queue.batch, batch_id)
    if not items or not may_see_batch(principal.user, principal.roles, {i.submitted_by for i in items}):
        raise NotFound("no such batch")
    progress = await run_in_threadpool(queue.progress, batch_id)
    return BatchOut(
        batch_id=batch_id,
        progress=ProgressOut(**vars(progress)),
        items=[
            BatchItemOut(
                filename=i.filename,
                state=i.state.value,
                document_id=i.document_id,
                quarantine_id=i.quarantine_id,
                reason=i.reason,
            )
            for i in items
        ],
    )
