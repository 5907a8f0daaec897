"""HTTP entrypoints for the file plan and case files (Akten)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from services.ingest.filing import AkteView, FiledDocument, FilingService, VorgangView
from services.ingest.routes import access, any_role, caller_of, new_uow
from shared.auth import Principal, require_roles
from shared.errors import NotFound

router = APIRouter(prefix="/api/v1")


class FilePlanClassOut(BaseModel):
    number: str
    title: str
    retention_years: int
    disposal: str


class AkteIn(BaseModel):
    file_plan_class: str = Field(min_length=2, max_length=50)
    title: str = Field(min_length=1, max_length=500)


class AkteOut(BaseModel):
    aktenzeichen: str
    title: str
    file_plan_class: FilePlanClassOut
    created_by: str
    created_at: datetime
    org_unit: str  # the owning org unit (need-to-know); empty: none


class AktenPage(BaseModel):
    total: int
    items: list[AkteOut]


class StatusEntry(BaseModel):
    status: str
    at: datetime
    by: str


class DocumentRef(BaseModel):
    document_id: str
    title: str
    filename: str
    sha256: str
    content_type: str
    created_at: datetime
    status: str = "received"  # the furthest stage of its lifecycle
    version: int = 1
    source: str = "upload"  # the channel: upload, batch, hotfolder, import, fitconnect, open311, email
    document_type: str = ""
    history: list[StatusEntry] = []


class VorgangOut(BaseModel):
    vorgang_id: str
    title: str
    created_at: datetime
    documents: list[DocumentRef]


class AkteDetail(AkteOut):
    vorgaenge: list[VorgangOut]


def _filing(request: Request) -> FilingService:
    filing: FilingService = request.app.state.filing
    return filing


def _akte_out(view: AkteView) -> AkteOut:
    plan_class = view.file_plan_class
    return AkteOut(
        aktenzeichen=view.aktenzeichen,
        title=view.title,
        file_plan_class=FilePlanClassOut(
            number=plan_class.number,
            title=plan_class.title,
            retention_years=plan_class.retention_years,
            disposal=plan_class.disposal.value,
        ),
        created_by=view.created_by,
        created_at=view.created_at,
        org_unit=view.org_unit,
    )


@router.get("/fileplan", response_model=list[FilePlanClassOut])
async def file_plan(request: Request, _principal: Annotated[Principal, Depends(any_role)]) -> list[FilePlanClassOut]:
    return [
        FilePlanClassOut(number=c.number, title=c.title, retention_years=c.retention_years, disposal=c.disposal.value)
        for c in _filing(request).file_plan.ordered()
    ]


@router.post("/akten", status_code=status.HTTP_201_CREATED, response_model=AkteOut)
async def open_akte(
    request: Request, body: AkteIn, principal: Annotated[Principal, Depends(require_roles("clerk", "admin"))]
) -> AkteOut:
    open_akte = _filing(request).open_akte
    org_units = sorted(principal.org_units)
    view = await run_in_threadpool(
        open_akte, new_uow(request), body.file_plan_class, body.title.strip(), principal.user, org_units
    )
    return _akte_out(view)


@router.get("/akten", response_model=AktenPage)
async def list_akten(
    request: Request,
    principal: Annotated[Principal, Depends(any_role)],
    file_plan_class: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AktenPage:
    """The Akten the caller may see (need-to-know: their org units' Akten; records office and admins: all)."""
    scope = access(request).akten_scope(caller_of(request, principal))
    akten = _filing(request).akten
    total, views = await run_in_threadpool(akten, new_uow(request), file_plan_class, limit, offset, scope)
    return AktenPage(total=total, items=[_akte_out(v) for v in views])


@router.get("/akten/{aktenzeichen:path}", response_model=AkteDetail)
async def get_akte(
    request: Request, aktenzeichen: str, principal: Annotated[Principal, Depends(any_role)]
) -> AkteDetail:
    """The Akte, for its org unit's members, the records office and admins; its documents each by `may_see`."""
    filing, caller, checker = _filing(request), caller_of(request, principal), access(request)
    view = await run_in_threadpool(filing.akte, new_uow(request), aktenzeichen)
    if view is None or not checker.may_see_akte(caller, view.org_unit):
        raise NotFound("no such Akte")
    keep = checker.row_filter(caller, with_history=True)
    contents = await run_in_threadpool(filing.contents, new_uow(request), aktenzeichen, keep)
    return AkteDetail(**_akte_out(view).model_dump(), vorgaenge=[_vorgang_out(v) for v in contents])


def _vorgang_out(vorgang: VorgangView) -> VorgangOut:
    return VorgangOut(
        vorgang_id=vorgang.vorgang_id,
        title=vorgang.title,
        created_at=vorgang.created_at,
        documents=[_document_ref(d) for d in vorgang.documents],
    )


def _document_ref(document: FiledDocument) -> DocumentRef:
    return DocumentRef(
        document_id=document.document_id,
        title=document.title,
        filename=document.filename,
        sha256=document.sha256,
        content_type=document.content_type,
        created_at=document.created_at,
        status=document.status.value,
        version=document.version,
        source=document.source,
        document_type=document.document_type,
        history=[StatusEntry(status=h.status.value, at=h.at, by=h.by) for h in document.history],
    )
