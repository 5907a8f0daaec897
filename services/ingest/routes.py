"""HTTP entrypoints of the ingest service: uploads and document status."""

from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from services.ingest.domain import LIFECYCLE_STATUSES, DocumentStatus, clean_filename
from services.ingest.filing import FilingRefused, FilingService
from services.ingest.multipart import MalformedUpload, ReceivedForm, receive_form
from services.ingest.service import Accepted, DocumentSummary, Duplicate, IngestService, Outcome, Upload
from shared.auth import Principal, require_roles

router = APIRouter(prefix="/api/v1")
any_role = require_roles("clerk", "approver", "records_officer", "admin")
clerk_or_admin = require_roles("clerk", "admin")


class StatusOut(BaseModel):
    status: str
    at: datetime
    by: str


class DocumentOut(BaseModel):
    document_id: str
    sha256: str
    status: str
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
    history: list[StatusOut]


class DocumentSummaryOut(BaseModel):
    document_id: str
    title: str
    document_type: str
    aktenzeichen: str
    filename: str
    status: str
    version: int
    workflow: str
    submitted_by: str
    created_at: datetime
    updated_at: datetime


class DocumentPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[DocumentSummaryOut]


def _service(request: Request) -> IngestService:
    return request.app.state.ingest


def _filing(request: Request) -> FilingService:
    return request.app.state.filing


def invalid(reason: str, message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT, detail={"error": "invalid_request", "reason": reason, "message": message}
    )


async def receive(request: Request, max_files: int) -> ReceivedForm:
    service = _service(request)
    try:
        return await receive_form(request, service.spool_dir, service.max_upload_bytes, max_files)
    except MalformedUpload as exc:
        raise invalid("malformed_upload", str(exc)) from exc


async def upload_from(request: Request, form: ReceivedForm, principal: Principal, filename: str) -> Upload:
    """The upload's metadata, checked before any file is judged: unknown references are a 422 at once."""
    workflow = form.text("workflow", "default") or "default"
    known = _service(request).workflows
    if workflow not in known:
        raise invalid("unknown_workflow", f"unknown workflow {workflow!r}; known: {sorted(known)}")
    upload = Upload(
        filename=clean_filename(filename),
        submitted_by=principal.user,
        title=form.text("title")[:500],
        document_type=form.text("document_type")[:100],
        sender=form.text("sender")[:500],
        aktenzeichen=form.text("aktenzeichen"),
        vorgang_id=form.text("vorgang_id"),
        new_akte_class=form.text("file_plan_class"),
        new_akte_title=form.text("akte_title")[:500],
        workflow=workflow,
    )
    if upload.aktenzeichen and upload.new_akte_class:
        raise invalid("ambiguous_akte", "give either `aktenzeichen` (existing Akte) or `file_plan_class` (new Akte)")
    try:
        await run_in_threadpool(_filing(request).check_request, upload.aktenzeichen, upload.new_akte_class)
    except FilingRefused as exc:
        raise invalid(exc.code, str(exc)) from exc
    return upload


def outcome_response(outcome: Outcome) -> JSONResponse:
    if isinstance(outcome, Accepted):
        body = {
            "document_id": outcome.document_id,
            "sha256": outcome.sha256,
            "status": outcome.status.value,
            "aktenzeichen": outcome.aktenzeichen,
            "version": outcome.version,
        }
        return JSONResponse(body, status_code=status.HTTP_201_CREATED)
    if isinstance(outcome, Duplicate):
        body = {
            "error": "duplicate",
            "reason": "the same bytes were uploaded before",
            "message": "Dieses Dokument wurde bereits erfasst.",
            "document_id": outcome.document_id,
            "sha256": outcome.sha256,
        }
        return JSONResponse(body, status_code=status.HTTP_409_CONFLICT)
    rejection = outcome.rejection
    body = {
        "error": "document_rejected",
        "reason": rejection.reason.value,
        "message": rejection.message,
        "detail": rejection.detail,
        "sha256": outcome.sha256,
        "quarantine_id": outcome.quarantine_id,
    }
    return JSONResponse(body, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def _not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail={"error": "not_found", "reason": "no such document"})


def _whose_documents(principal: Principal, submitted_by: str | None) -> str:
    """A clerk lists their own documents; an admin may name someone else."""
    if not submitted_by or submitted_by == principal.user:
        return principal.user
    if "admin" not in principal.roles:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail={"error": "forbidden", "reason": "only an admin may list another user's documents"},
        )
    return submitted_by


def _lifecycle_status(text: str | None) -> DocumentStatus | None:
    if not text:
        return None
    if text not in LIFECYCLE_STATUSES:
        raise invalid("unknown_status", f"unknown status {text!r}; known: {sorted(LIFECYCLE_STATUSES)}")
    return DocumentStatus(text)


def _summary_out(summary: DocumentSummary) -> DocumentSummaryOut:
    fields = {name: getattr(summary, name) for name in DocumentSummaryOut.model_fields if name != "status"}
    return DocumentSummaryOut(**fields, status=summary.status.value)


@router.get("/documents", response_model=DocumentPage)
async def list_documents(
    request: Request,
    principal: Annotated[Principal, Depends(clerk_or_admin)],
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    status_filter: Annotated[str | None, Query(alias="status")] = None,
    submitted_by: str | None = None,
) -> DocumentPage:
    """The caller's own submitted documents (an admin: `submitted_by`'s), newest first, by current status."""
    owner = _whose_documents(principal, submitted_by)
    wanted = _lifecycle_status(status_filter)
    total, summaries = await run_in_threadpool(_service(request).documents_of, owner, wanted, limit, offset)
    return DocumentPage(total=total, limit=limit, offset=offset, items=[_summary_out(s) for s in summaries])


@router.post("/documents", status_code=status.HTTP_201_CREATED)
async def upload_document(
    request: Request, principal: Annotated[Principal, Depends(require_roles("clerk", "admin"))]
) -> JSONResponse:
    """Multipart `file` plus optional `title`, `document_type`, `aktenzeichen` or `file_plan_class` (+ `akte_title`),
    `vorgang_id`, `workflow`."""
    form = await receive(request, max_files=1)
    try:
        received = next((f for f in form.files if f.field_name == "file"), None)
        if received is None:
            raise invalid("missing_file", "the multipart field `file` is missing")
        upload = await upload_from(request, form, principal, received.filename)
        outcome = await run_in_threadpool(
            _service(request).ingest_file, received.path, received.sha256, received.size, received.too_large, upload
        )
    finally:
        for spooled in form.files:
            spooled.path.unlink(missing_ok=True)
    return outcome_response(outcome)


@router.post("/documents/{document_id}/versions", status_code=status.HTTP_201_CREATED)
async def upload_version(
    request: Request, document_id: str, principal: Annotated[Principal, Depends(require_roles("clerk", "admin"))]
) -> JSONResponse:
    """A new version of a document returned for revision (multipart `file`): same document id, version + 1,
    and its workflow starts again at step one. Only its submitter (or an admin) may upload it."""
    service = _service(request)
    view = await run_in_threadpool(service.document, document_id)
    if view is None:
        raise _not_found()
    if principal.user != view.submitted_by and "admin" not in principal.roles:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail={"error": "not_submitter", "reason": "only the submitter uploads a new version"},
        )
    if not view.awaiting_revision:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail={"error": "not_returned", "reason": "the document was not returned for revision"},
        )
    form = await receive(request, max_files=1)
    try:
        received = next((f for f in form.files if f.field_name == "file"), None)
        if received is None:
            raise invalid("missing_file", "the multipart field `file` is missing")
        upload = Upload(
            filename=clean_filename(received.filename),
            submitted_by=view.submitted_by,
            title=view.title,
            document_type=view.document_type,
            aktenzeichen=view.aktenzeichen,
            vorgang_id=view.vorgang_id,
            workflow=view.workflow,
            new_version_of=document_id,
        )
        outcome = await run_in_threadpool(
            service.ingest_file, received.path, received.sha256, received.size, received.too_large, upload
        )
    finally:
        for spooled in form.files:
            spooled.path.unlink(missing_ok=True)
    return outcome_response(outcome)


@router.get("/documents/{document_id}", response_model=DocumentOut)
async def get_document(
    request: Request, document_id: str, _principal: Annotated[Principal, Depends(any_role)]
) -> DocumentOut:
    view = await run_in_threadpool(_service(request).document, document_id)
    if view is None:
        raise _not_found()
    return DocumentOut(
        **{name: getattr(view, name) for name in DocumentOut.model_fields if name not in ("status", "history")},
        status=view.status.value,
        history=[StatusOut(status=h.status.value, at=h.at, by=h.by) for h in view.history],
    )


@router.get("/documents/{document_id}/content")
async def document_content(
    request: Request,
    document_id: str,
    _principal: Annotated[Principal, Depends(any_role)],
    original: bool = False,
) -> StreamingResponse:
    """The document for viewing in a browser: its PDF rendition if it has one, else (or with `original=true`)
    the original bytes; streamed from the object store."""
    content = await run_in_threadpool(_service(request).content, document_id, original)
    if content is None:
        raise _not_found()
    return StreamingResponse(
        content.chunks,
        media_type=content.content_type,
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(clean_filename(content.filename), safe='')}",
            "Content-Length": str(content.size),
            "X-Content-SHA256": content.sha256,
            # Shown inline, so the browser must take the type we recognised from the bytes, never guess its own.
            "X-Content-Type-Options": "nosniff",
        },
    )
