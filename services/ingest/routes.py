"""HTTP entrypoints of the ingest service: uploads and document status."""

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from services.ingest import views
from services.ingest.access import Caller, DocumentAccess
from services.ingest.domain import (
    IMPORT_SOURCE,
    LIFECYCLE_STATUSES,
    DocumentStatus,
    check_may_revise,
    clean_filename,
    first_org_unit,
    overlong_identifier,
    received_date,
    whose_documents,
)
from services.ingest.filing import FilingService
from services.ingest.ingesting import IngestService
from services.ingest.multipart import MalformedUpload, ReceivedFile, ReceivedForm, receive_form
from services.ingest.unit_of_work import IngestUnitOfWork
from services.ingest.uploads import Accepted, Duplicate, Outcome, SpooledFile, Upload
from services.ingest.views import DocumentSummary, DocumentView
from shared.auth import Principal, require_roles
from shared.errors import InvalidRequest, NotFound
from shared.need_to_know import Reader

router = APIRouter(prefix="/api/v1")
any_role = require_roles("clerk", "approver", "records_officer", "admin")
clerk_or_admin = require_roles("clerk", "admin")

# The HTTP status of each ingest refusal code that is not one every service shares (see shared.errors).
REFUSAL_STATUS: dict[str, int] = {"not_submitter": 403, "not_returned": 409}


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
    org_unit: str
    source: str = "upload"  # the channel: upload, batch, hotfolder, import, fitconnect, open311, email


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
    source: str = "upload"  # the channel: upload, batch, hotfolder, import, fitconnect, open311, email


class DocumentPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[DocumentSummaryOut]


def _service(request: Request) -> IngestService:
    service: IngestService = request.app.state.ingest
    return service


def _filing(request: Request) -> FilingService:
    filing: FilingService = request.app.state.filing
    return filing


def access(request: Request) -> DocumentAccess:
    """Need-to-know: the one place the ingest routes ask who may see a document (services.ingest.access)."""
    checker: DocumentAccess = request.app.state.access
    return checker


def caller_of(request: Request, principal: Principal) -> Caller:
    """The caller as need-to-know sees them, with their bearer token (to ask the workflow on their behalf)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else ""
    return Caller(Reader(principal.user, principal.roles, principal.org_units), token)


def new_uow(request: Request) -> IngestUnitOfWork:
    """A unit of work for one request (the composition root put its factory on the app)."""
    factory: Callable[[], IngestUnitOfWork] = request.app.state.uow_factory
    return factory()


async def receive(request: Request, max_files: int) -> ReceivedForm:
    service = _service(request)
    try:
        return await receive_form(request, service.spool_dir, service.max_upload_bytes, max_files)
    except MalformedUpload as exc:
        raise InvalidRequest("malformed_upload", str(exc)) from exc


@contextlib.contextmanager
def spooled_files(form: ReceivedForm) -> Iterator[None]:
    """The form's spooled files are removed when the request is done (the intake queue moved those it took)."""
    try:
        yield
    finally:
        for spooled in form.files:
            spooled.path.unlink(missing_ok=True)


def _the_file(form: ReceivedForm) -> ReceivedFile:
    received = next((f for f in form.files if f.field_name == "file"), None)
    if received is None:
        raise InvalidRequest("missing_file", "the multipart field `file` is missing")
    return received


def _spooled(received: ReceivedFile) -> SpooledFile:
    return SpooledFile(received.path, received.sha256, received.size, received.too_large)


# Upload fields that name something (refused when too long) and the form fields they come from.
REFERENCE_FIELDS = {"aktenzeichen": "aktenzeichen", "vorgang_id": "vorgang_id", "new_akte_class": "file_plan_class"}


async def upload_from(request: Request, form: ReceivedForm, principal: Principal, filename: str) -> Upload:
    """The upload's metadata, checked before any file is judged: unknown references are a 422 at once."""
    workflow = form.text("workflow", "default") or "default"
    known = _service(request).workflows
    if workflow not in known:
        raise InvalidRequest("unknown_workflow", f"unknown workflow {workflow!r}; known: {sorted(known)}")
    references: dict[str, Any] = {name: form.text(field) for name, field in REFERENCE_FIELDS.items()}
    problem = overlong_identifier(references)
    if problem:
        raise InvalidRequest("field_too_long", problem)
    # Descriptive texts are cut to the domain's limits by `Upload` (the same rule as batches and the hot-folder).
    upload = Upload(
        filename=clean_filename(filename),
        submitted_by=principal.user,
        title=form.text("title"),
        document_type=form.text("document_type"),
        sender=form.text("sender"),
        new_akte_title=form.text("akte_title"),
        workflow=workflow,
        **references,
        org_unit=first_org_unit(principal.org_units),
        **_backlog_fields(form),
    )
    if upload.aktenzeichen and upload.new_akte_class:
        raise InvalidRequest(
            "ambiguous_akte", "give either `aktenzeichen` (existing Akte) or `file_plan_class` (new Akte)"
        )
    if upload.aktenzeichen or upload.new_akte_class:  # else nothing to look up (no thread hop for nothing)
        check = _filing(request).check_request
        uow = new_uow(request)
        await run_in_threadpool(check, uow, upload.aktenzeichen, upload.new_akte_class, upload.find_or_open_akte)
    return upload


def _backlog_fields(form: ReceivedForm) -> dict[str, Any]:
    """The optional fields a backlog import (`eakte import`) sends: `vorgang_title`, `received_on` (ISO date),
    `find_or_open_akte=true` and `source=import`."""
    received_on = form.text("received_on")
    if received_on:
        try:
            received_on = received_date(received_on, ("%Y-%m-%d",)).isoformat()
        except ValueError as exc:
            raise InvalidRequest("invalid_date", str(exc)) from exc
    source = form.text("source", "upload") or "upload"
    if source not in ("upload", IMPORT_SOURCE):
        raise InvalidRequest("unknown_source", f"source must be 'upload' or {IMPORT_SOURCE!r}")
    fields: dict[str, Any] = {
        "vorgang_title": form.text("vorgang_title"),
        "received_on": received_on,
        "find_or_open_akte": form.text("find_or_open_akte").lower() in ("true", "1", "yes"),
    }
    if source == IMPORT_SOURCE:
        fields["source"] = IMPORT_SOURCE
    return fields


def _outcome_body(outcome: Outcome) -> tuple[dict[str, object], int]:
    if isinstance(outcome, Accepted):
        accepted: dict[str, object] = {
            "document_id": outcome.document_id,
            "sha256": outcome.sha256,
            "status": outcome.status.value,
            "aktenzeichen": outcome.aktenzeichen,
            "version": outcome.version,
        }
        return accepted, status.HTTP_201_CREATED
    if isinstance(outcome, Duplicate):
        duplicate: dict[str, object] = {
            "error": "duplicate",
            "reason": "the same bytes were uploaded before",
            "message": "Dieses Dokument wurde bereits erfasst.",
            "document_id": outcome.document_id,
            "sha256": outcome.sha256,
        }
        return duplicate, status.HTTP_409_CONFLICT
    rejection = outcome.rejection
    rejected: dict[str, object] = {
        "error": "document_rejected",
        "reason": rejection.reason.value,
        "message": rejection.message,
        "detail": rejection.detail,
        "sha256": outcome.sha256,
        "quarantine_id": outcome.quarantine_id,
    }
    return rejected, status.HTTP_422_UNPROCESSABLE_CONTENT


def outcome_response(outcome: Outcome) -> JSONResponse:
    body, status_code = _outcome_body(outcome)
    return JSONResponse(body, status_code=status_code)


async def answer(request: Request, principal: Principal, outcome: Outcome) -> JSONResponse:
    """The outcome for the caller: a duplicate names the earlier document only to someone who may see it."""
    body, status_code = _outcome_body(outcome)
    if isinstance(outcome, Duplicate):
        check = access(request).duplicate_visible
        if not await run_in_threadpool(check, new_uow(request), caller_of(request, principal), outcome.document_id):
            del body["document_id"]
    return JSONResponse(body, status_code=status_code)


def _lifecycle_status(text: str | None) -> DocumentStatus | None:
    if not text:
        return None
    if text not in LIFECYCLE_STATUSES:
        raise InvalidRequest("unknown_status", f"unknown status {text!r}; known: {sorted(LIFECYCLE_STATUSES)}")
    return DocumentStatus(text)


def _summary_out(summary: DocumentSummary) -> DocumentSummaryOut:
    fields = {name: getattr(summary, name) for name in DocumentSummaryOut.model_fields if name != "status"}
    return DocumentSummaryOut(**fields, status=summary.status.value)


def _document_out(view: DocumentView) -> DocumentOut:
    return DocumentOut(
        **{name: getattr(view, name) for name in DocumentOut.model_fields if name not in ("status", "history")},
        status=view.status.value,
        history=[StatusOut(status=h.status.value, at=h.at, by=h.by) for h in view.history],
    )


async def _document(request: Request, document_id: str, principal: Principal, content: bool = False) -> DocumentView:
    """The document, if the caller may see it (`content`: open it); else 404 as if there were none."""
    caller = caller_of(request, principal)
    await run_in_threadpool(access(request).require, new_uow(request), caller, document_id, content)
    view = await run_in_threadpool(views.document, new_uow(request), document_id)
    if view is None:
        raise NotFound("no such document")
    return view


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
    owner = whose_documents(principal.user, principal.roles, submitted_by)
    wanted = _lifecycle_status(status_filter)
    keep = access(request).row_filter(caller_of(request, principal))
    list_of = views.documents_of
    total, summaries = await run_in_threadpool(list_of, new_uow(request), owner, wanted, limit, offset, keep)
    return DocumentPage(total=total, limit=limit, offset=offset, items=[_summary_out(s) for s in summaries])


@router.post("/documents", status_code=status.HTTP_201_CREATED)
async def upload_document(
    request: Request, principal: Annotated[Principal, Depends(require_roles("clerk", "admin"))]
) -> JSONResponse:
    """Multipart `file` plus optional `title`, `document_type`, `aktenzeichen` or `file_plan_class` (+ `akte_title`),
    `vorgang_id`, `workflow`; for a backlog import also `vorgang_title`, `received_on`, `find_or_open_akte`,
    `source=import` (see `_backlog_fields`)."""
    form = await receive(request, max_files=1)
    with spooled_files(form):
        received = _the_file(form)
        upload = await upload_from(request, form, principal, received.filename)
        service, spooled = _service(request), _spooled(received)
        storing = service.begin_storing(spooled, upload)  # the inbox PUT runs while the file is judged
        outcome = await run_in_threadpool(service.ingest_file, new_uow(request), spooled, upload, None, storing)
    return await answer(request, principal, outcome)


@router.post("/documents/{document_id}/versions", status_code=status.HTTP_201_CREATED)
async def upload_version(
    request: Request, document_id: str, principal: Annotated[Principal, Depends(require_roles("clerk", "admin"))]
) -> JSONResponse:
    """A new version of a document returned for revision (multipart `file`): same document id, version + 1,
    and its workflow starts again at step one. Only its submitter (or an admin) may upload it."""
    view = await _document(request, document_id, principal)
    check_may_revise(principal.user, principal.roles, view.submitted_by, view.awaiting_revision)
    form = await receive(request, max_files=1)
    with spooled_files(form):
        received = _the_file(form)
        upload = Upload(
            filename=clean_filename(received.filename),
            submitted_by=view.submitted_by,
            title=view.title,
            document_type=view.document_type,
            aktenzeichen=view.aktenzeichen,
            vorgang_id=view.vorgang_id,
            workflow=view.workflow,
            new_version_of=document_id,
            org_unit=view.org_unit,
        )
        ingest = _service(request).ingest_file
        outcome = await run_in_threadpool(ingest, new_uow(request), _spooled(received), upload)
    return await answer(request, principal, outcome)


@router.get("/documents/{document_id}", response_model=DocumentOut)
async def get_document(
    request: Request, document_id: str, principal: Annotated[Principal, Depends(any_role)]
) -> DocumentOut:
    return _document_out(await _document(request, document_id, principal))


@router.get("/documents/{document_id}/content")
async def document_content(
    request: Request,
    document_id: str,
    principal: Annotated[Principal, Depends(any_role)],
    original: bool = False,
) -> StreamingResponse:
    """The document for viewing in a browser: its PDF rendition if it has one, else (or with `original=true`)
    the original bytes; streamed from the object store. Only for those who may open it (need-to-know)."""
    caller = caller_of(request, principal)
    await run_in_threadpool(access(request).require, new_uow(request), caller, document_id, True)
    store = request.app.state.store
    content = await run_in_threadpool(views.content, new_uow(request), store, document_id, original)
    if content is None:
        raise NotFound("no such document")
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
