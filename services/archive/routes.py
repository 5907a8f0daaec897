"""HTTP entrypoints of the archive service (records office)."""

from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from services.archive.service import ArchivedView, ArchiveService
from shared.auth import Principal, require_roles

router = APIRouter(prefix="/api/v1/archive")
records_office = require_roles("records_officer", "admin")


class ArchivedOut(BaseModel):
    document_id: str
    sha256: str
    size: int
    title: str
    aktenzeichen: str
    filename: str
    submitted_by: str
    decisions: list[dict]
    archived_at: datetime
    content_type: str
    version_id: str | None


def _service(request: Request) -> ArchiveService:
    return request.app.state.archive


async def _find(request: Request, document_id: str) -> ArchivedView:
    view = await run_in_threadpool(_service(request).archived, document_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail={"error": "not_found", "reason": "not archived"})
    return view


@router.get("/{document_id}", response_model=ArchivedOut)
async def get_archived(
    request: Request, document_id: str, _principal: Annotated[Principal, Depends(records_office)]
) -> ArchivedOut:
    view = await _find(request, document_id)
    return ArchivedOut(**{field: getattr(view, field) for field in ArchivedOut.model_fields})


@router.get("/{document_id}/content")
async def get_content(
    request: Request, document_id: str, _principal: Annotated[Principal, Depends(records_office)]
) -> StreamingResponse:
    view = await _find(request, document_id)
    return StreamingResponse(
        _service(request).content(view),
        media_type=view.content_type,
        headers={
            "Content-Length": str(view.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(view.filename)}",
            "X-Content-SHA256": view.sha256,
        },
    )
