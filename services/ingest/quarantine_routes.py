"""HTTP entrypoints for the quarantine (admins only)."""

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from services.ingest.quarantine import QuarantinedItem, QuarantineService
from services.ingest.routes import new_uow, outcome_response
from shared.auth import Principal, require_roles
from shared.errors import NotFound

router = APIRouter(prefix="/api/v1/quarantine")
admin = require_roles("admin")


class QuarantinePage(BaseModel):
    total: int
    items: list[QuarantinedItem]


def _service(request: Request) -> QuarantineService:
    service: QuarantineService = request.app.state.quarantine
    return service


def _not_found() -> NotFound:
    return NotFound("no such quarantine item")


@router.get("", response_model=QuarantinePage)
async def list_quarantine(
    request: Request,
    _principal: Annotated[Principal, Depends(admin)],
    state: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> QuarantinePage:
    total, items = await run_in_threadpool(_service(request).items, new_uow(request), state, limit, offset)
    return QuarantinePage(total=total, items=items)


@router.get("/{quarantine_id}", response_model=QuarantinedItem)
async def get_quarantined(
    request: Request, quarantine_id: str, _principal: Annotated[Principal, Depends(admin)]
) -> QuarantinedItem:
    item = await run_in_threadpool(_service(request).item, new_uow(request), quarantine_id)
    if item is None:
        raise _not_found()
    return item


@router.get("/{quarantine_id}/content")
async def quarantined_content(
    request: Request, quarantine_id: str, _principal: Annotated[Principal, Depends(admin)]
) -> StreamingResponse:
    service = _service(request)
    item = await run_in_threadpool(service.item, new_uow(request), quarantine_id)
    if item is None:
        raise _not_found()
    if item.state == "discarded":
        raise NotFound("the item's bytes were discarded")
    # Served as an opaque download, never rendered: the bytes are untrusted by definition.
    return StreamingResponse(
        service.content(quarantine_id),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(item.original_name)}",
            "X-Content-SHA256": item.sha256,
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/{quarantine_id}/release")
async def release(
    request: Request, quarantine_id: str, principal: Annotated[Principal, Depends(admin)]
) -> JSONResponse:
    outcome = await run_in_threadpool(_service(request).release, new_uow(request), quarantine_id, principal.user)
    return outcome_response(outcome)


@router.post("/{quarantine_id}/discard", response_model=QuarantinedItem)
async def discard(
    request: Request, quarantine_id: str, principal: Annotated[Principal, Depends(admin)]
) -> QuarantinedItem:
    """An admin judged a held item rubbish: its bytes are deleted, its record stays as `discarded`."""
    return await run_in_threadpool(_service(request).discard, new_uow(request), quarantine_id, principal.user)
