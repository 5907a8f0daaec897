"""HTTP entrypoints of the archive service (records office)."""

from datetime import date, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from services.archive.domain import DisposalRefused
from services.archive.service import ArchiveService, IntegrityError, NotArchived, SearchQuery
from services.archive.tables import ArchivedDocumentRow
from shared.auth import Principal, require_roles
from shared.events import utcnow

router = APIRouter(prefix="/api/v1/archive")
records_office = require_roles("records_officer", "admin")
Caller = Annotated[Principal, Depends(records_office)]


class ArchivedOut(BaseModel):
    document_id: str
    outcome: str
    sha256: str
    size: int
    content_type: str
    title: str
    document_type: str
    sender: str
    aktenzeichen: str
    akte_title: str
    file_plan_class: str
    retention_years: int | None
    disposal: str
    filename: str
    submitted_by: str
    decisions: list[dict]
    received_at: datetime
    archived_at: datetime
    retain_until: datetime
    legal_hold: bool
    version_id: str | None
    last_verified_at: datetime | None
    last_verify_result: str | None
    last_verify_problems: list[str] | None


class SearchPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[ArchivedOut]


class PackageObjectOut(BaseModel):
    path: str
    key: str
    version_id: str | None
    size: int | None
    sha256: str | None
    retention_mode: str | None
    retain_until: datetime | None
    legal_hold: bool


class PackageOut(BaseModel):
    document_id: str
    bucket: str
    objects: list[PackageObjectOut]


class LinkOut(BaseModel):
    url: str
    expires_at: datetime


class VerifyIn(BaseModel):
    document_ids: list[str] | None = None
    sample: int | None = Field(default=None, ge=1, le=100_000)


class VerifyResultOut(BaseModel):
    document_id: str
    result: str
    problems: list[str]


class VerifyOut(BaseModel):
    checked: int
    ok: int
    mismatch: int
    missing: int
    results: list[VerifyResultOut]


class AccessOut(BaseModel):
    document_id: str
    user: str
    action: str
    at: datetime


class AccessPage(BaseModel):
    total: int
    items: list[AccessOut]


class DueOut(BaseModel):
    document_id: str
    aktenzeichen: str
    file_plan_class: str
    disposal: str
    retain_until: datetime
    legal_hold: bool


class DeletionOut(BaseModel):
    document_id: str
    aktenzeichen: str
    file_plan_class: str
    rule: str
    objects: list[dict]
    deleted_at: datetime
    deleted_by: str


def _service(request: Request) -> ArchiveService:
    return request.app.state.archive


def _out(service: ArchiveService, row: ArchivedDocumentRow) -> ArchivedOut:
    fields = {name: getattr(row, name) for name in ArchivedOut.model_fields if name != "version_id"}
    return ArchivedOut(**fields, version_id=service.original(row).version_id)


async def _row(request: Request, document_id: str) -> ArchivedDocumentRow:
    try:
        return await run_in_threadpool(_service(request).get, document_id)
    except NotArchived as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail={"error": "not_found", "reason": "not archived"}) from exc


# Fixed paths first: `/search` must not be taken for a document id.
@router.get("/search", response_model=SearchPage)
async def search(
    request: Request,
    principal: Caller,
    aktenzeichen: str = "",
    title: str = "",
    document_type: str = "",
    sender: str = "",
    q: Annotated[str, Query(description="full text (OCR text, title, sender)")] = "",
    received_from: date | None = None,
    received_to: date | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> SearchPage:
    query = SearchQuery(aktenzeichen, title, document_type, sender, q, received_from, received_to, limit, offset)
    service = _service(request)
    total, rows = await run_in_threadpool(service.search, query)
    return SearchPage(total=total, limit=limit, offset=offset, items=[_out(service, r) for r in rows])


@router.get("/access-log", response_model=AccessPage)
async def access_log(
    request: Request,
    principal: Caller,
    document_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AccessPage:
    total, rows = await run_in_threadpool(_service(request).access_log, document_id, limit, offset)
    return AccessPage(
        total=total, items=[AccessOut(document_id=r.document_id, user=r.user, action=r.action, at=r.at) for r in rows]
    )


@router.post("/verify", response_model=VerifyOut)
async def verify(request: Request, body: VerifyIn, principal: Caller) -> VerifyOut:
    """Re-read the objects of the given packages (or a random sample, or all) and compare every manifest hash."""
    results = await run_in_threadpool(_service(request).verify, body.document_ids, body.sample)
    counts = {kind: sum(1 for _, r in results if r.result.value == kind) for kind in ("ok", "mismatch", "missing")}
    return VerifyOut(
        checked=len(results),
        **counts,
        results=[VerifyResultOut(document_id=d, result=r.result.value, problems=r.problems) for d, r in results],
    )


@router.get("/due", response_model=list[DueOut])
async def due(request: Request, principal: Caller) -> list[DueOut]:
    rows = await run_in_threadpool(_service(request).due, utcnow())
    return [
        DueOut(
            document_id=r.document_id,
            aktenzeichen=r.aktenzeichen,
            file_plan_class=r.file_plan_class,
            disposal=r.disposal,
            retain_until=r.retain_until,
            legal_hold=r.legal_hold,
        )
        for r in rows
    ]


@router.get("/deletions/{document_id}", response_model=DeletionOut)
async def deletion(request: Request, document_id: str, principal: Caller) -> DeletionOut:
    record = await run_in_threadpool(_service(request).deletion_record, document_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail={"error": "not_found", "reason": "no deletion record"})
    return DeletionOut(**{name: getattr(record, name) for name in DeletionOut.model_fields})


@router.get("/{document_id}", response_model=ArchivedOut)
async def get_archived(request: Request, document_id: str, principal: Caller) -> ArchivedOut:
    row = await _row(request, document_id)
    await run_in_threadpool(_service(request).log_access, document_id, principal.user, "metadata")
    return _out(_service(request), row)


@router.get("/{document_id}/package", response_model=PackageOut)
async def package(request: Request, document_id: str, principal: Caller) -> PackageOut:
    """The package's objects as the object store reports them: version, SHA-256, retention mode and date."""
    service = _service(request)
    row = await _row(request, document_id)
    states = await run_in_threadpool(service.package_state, row)
    return PackageOut(
        document_id=document_id, bucket=service.packages.bucket, objects=[PackageObjectOut(**vars(s)) for s in states]
    )


@router.get("/{document_id}/content")
async def get_content(request: Request, document_id: str, principal: Caller) -> StreamingResponse:
    service = _service(request)
    row = await _row(request, document_id)
    try:
        chunks = await run_in_threadpool(service.verified_content, row)
    except IntegrityError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail={"error": "integrity", "reason": str(exc)}) from exc
    await run_in_threadpool(service.log_access, document_id, principal.user, "download")
    return StreamingResponse(
        chunks,
        media_type=row.content_type,
        headers={
            "Content-Length": str(row.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(row.filename or 'dokument')}",
            "X-Content-SHA256": row.sha256,
        },
    )


@router.get("/{document_id}/link", response_model=LinkOut)
async def link(request: Request, document_id: str, principal: Caller) -> LinkOut:
    """A presigned download link that expires (EAKTE_PRESIGNED_URL_TTL_S, 5 minutes by default)."""
    service = _service(request)
    row = await _row(request, document_id)
    url, expires_at = await run_in_threadpool(service.link, row)
    await run_in_threadpool(service.log_access, document_id, principal.user, "link")
    return LinkOut(url=url, expires_at=expires_at)


@router.post("/{document_id}/hold", response_model=ArchivedOut)
async def hold(request: Request, document_id: str, principal: Caller) -> ArchivedOut:
    await _row(request, document_id)
    return _out(
        _service(request), await run_in_threadpool(_service(request).set_hold, document_id, True, principal.user)
    )


@router.delete("/{document_id}/hold", response_model=ArchivedOut)
async def release_hold(request: Request, document_id: str, principal: Caller) -> ArchivedOut:
    await _row(request, document_id)
    return _out(
        _service(request), await run_in_threadpool(_service(request).set_hold, document_id, False, principal.user)
    )


@router.post("/{document_id}/destroy", response_model=DeletionOut)
async def destroy(request: Request, document_id: str, principal: Caller) -> DeletionOut:
    """Disposal `destroy`: after the lock has expired and without a legal hold; a deletion record stays."""
    await _row(request, document_id)
    try:
        record = await run_in_threadpool(_service(request).destroy, document_id, principal.user, utcnow())
    except DisposalRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail={"error": exc.code, "reason": str(exc)}) from exc
    return DeletionOut(**{name: getattr(record, name) for name in DeletionOut.model_fields})
