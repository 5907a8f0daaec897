"""Page previews over HTTP: a document's page state and page images, with the need-to-know of its content."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from services.ingest import preview_views
from services.ingest.domain_previews import PreviewSize
from services.ingest.routes import access, any_role, caller_of, new_uow
from shared.auth import Principal, require_roles
from shared.errors import NotFound

router = APIRouter(prefix="/api/v1")
admin = require_roles("admin")


class PagesOut(BaseModel):
    document_id: str
    state: str  # pending, done, failed ("keine Vorschau"), none (nothing to preview from)
    count: int  # pages with an image (the first EAKTE_PREVIEW_MAX_PAGES)
    total_pages: int
    error: str = ""
    render_ms: float | None = None  # mean render time per page, milliseconds


class BackfillOut(BaseModel):
    queued: int


async def _may_open(request: Request, principal: Principal, document_id: str) -> None:
    """Page images show the content: only for those who may open the document (else 404, as if there were none)."""
    caller = caller_of(request, principal)
    await run_in_threadpool(access(request).require, new_uow(request), caller, document_id, True)


@router.get("/documents/{document_id}/pages", response_model=PagesOut)
async def document_pages(
    request: Request, document_id: str, principal: Annotated[Principal, Depends(any_role)]
) -> PagesOut:
    await _may_open(request, principal, document_id)
    found = await run_in_threadpool(preview_views.pages, new_uow(request), document_id)
    if found is None:
        raise NotFound("no such document")
    return PagesOut(
        document_id=document_id,
        state=found.state.value,
        count=found.rendered,
        total_pages=found.total,
        error=found.error,
        render_ms=round(found.render_ms, 1) if found.render_ms is not None else None,
    )


@router.get("/documents/{document_id}/pages/{page}.png")
async def page_image(
    request: Request,
    document_id: str,
    page: int,
    principal: Annotated[Principal, Depends(any_role)],
    size: Annotated[PreviewSize, Query()] = PreviewSize.LARGE,
) -> StreamingResponse:
    await _may_open(request, principal, document_id)
    store = request.app.state.store
    image = await run_in_threadpool(preview_views.page_image, new_uow(request), store, document_id, page, size)
    if image is None:
        raise NotFound("no image of this page (yet)")
    return StreamingResponse(
        image.chunks,
        media_type="image/png",
        headers={
            "Content-Length": str(image.size),
            "Cache-Control": "private, max-age=300",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/previews/backfill", response_model=BackfillOut)
async def backfill(
    request: Request, principal: Annotated[Principal, Depends(admin)], limit: int = Query(1000, ge=1, le=100_000)
) -> BackfillOut:
    """Queue page images for documents taken in before previews existed (`eakte previews backfill`)."""
    return BackfillOut(queued=await run_in_threadpool(preview_views.backfill, new_uow(request), limit))
