"""HTTP entrypoints of the ingest service."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from services.ingest.domain import clean_filename
from services.ingest.service import WORKFLOWS, Accepted, IngestService, Upload
from shared.auth import Principal, require_roles

router = APIRouter(prefix="/api/v1")


class AcceptedOut(BaseModel):
    document_id: str
    sha256: str
    status: str


class StatusOut(BaseModel):
    status: str
    at: datetime
    by: str


class DocumentOut(BaseModel):
    document_id: str
    sha256: str
    status: str
    title: str
    aktenzeichen: str
    filename: str
    submitted_by: str
    history: list[StatusOut]


def _service(request: Request) -> IngestService:
    return request.app.state.ingest


@router.post("/documents", status_code=status.HTTP_201_CREATED, response_model=AcceptedOut)
async def upload_document(
    request: Request,
    file: Annotated[UploadFile, File()],
    principal: Annotated[Principal, Depends(require_roles("clerk", "admin"))],
    title: Annotated[str, Form(max_length=500)] = "",
    aktenzeichen: Annotated[str, Form(max_length=100)] = "",
    workflow: Annotated[str, Form()] = "default",
) -> AcceptedOut:
    if workflow not in WORKFLOWS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail={"error": "invalid_request", "reason": f"unknown workflow {workflow!r}; known: {sorted(WORKFLOWS)}"},
        )
    upload = Upload(
        filename=clean_filename(file.filename),
        title=title.strip(),
        aktenzeichen=aktenzeichen.strip(),
        workflow=workflow,
        submitted_by=principal.user,
    )
    result = await run_in_threadpool(_service(request).ingest, file.file, upload)
    if isinstance(result, Accepted):
        return AcceptedOut(document_id=result.document_id, sha256=result.sha256, status=result.status.value)
    raise HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail={
            "error": "document_rejected",
            "reason": result.rejection.reason.value,
            "message": result.rejection.message,
            "detail": result.rejection.detail,
            "sha256": result.sha256,
            "quarantine_id": result.quarantine_id,
        },
    )


@router.get("/documents/{document_id}", response_model=DocumentOut)
async def get_document(
    request: Request,
    document_id: str,
    _principal: Annotated[Principal, Depends(require_roles("clerk", "approver", "records_officer", "admin"))],
) -> DocumentOut:
    view = await run_in_threadpool(_service(request).document, document_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail={"error": "not_found", "reason": "no such document"})
    return DocumentOut(
        document_id=view.document_id,
        sha256=view.sha256,
        status=view.status.value,
        title=view.title,
        aktenzeichen=view.aktenzeichen,
        filename=view.filename,
        submitted_by=view.submitted_by,
        history=[StatusOut(status=h.status.value, at=h.at, by=h.by) for h in view.history],
    )
