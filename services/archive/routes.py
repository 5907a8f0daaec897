"""HTTP entrypoints of the archive service (records office): parse, call one service function, answer.

Refusals (not archived, integrity, disposal rules) are answered by the one handler `build_app` registers.
"""

from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from services.archive import disposal, evidence, retrieval
from services.archive.bootstrap import Archive
from services.archive.domain import SearchQuery
from services.archive.evidence import RenewalView
from services.archive.views import (
    AccessPage,
    ArchivedView,
    DeletionView,
    DueView,
    LinkView,
    PackageView,
    SearchPage,
    VerifyView,
)
from shared.auth import Principal, require_roles
from shared.events import utcnow
from shared.need_to_know import Reader

router = APIRouter(prefix="/api/v1/archive")
records_office = require_roles("records_officer", "admin")
Caller = Annotated[Principal, Depends(records_office)]


class VerifyIn(BaseModel):
    document_ids: list[str] | None = None
    sample: int | None = Field(default=None, ge=1, le=100_000)
    evidence: bool = False  # also check each package's evidence record (RFC 4998, RFC 3161)


class RenewIn(BaseModel):
    algorithm: str | None = None  # another hash algorithm than the records': hash-tree renewal (e.g. sha512)


def reader(principal: Principal) -> Reader:
    """The caller as need-to-know sees them (services.archive.access checks every document they are shown)."""
    return Reader(principal.user, principal.roles, principal.org_units)


def _archive(request: Request) -> Archive:
    archive: Archive = request.app.state.archive
    return archive


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
    return await run_in_threadpool(retrieval.search, _archive(request).uow(), query, reader(principal))


@router.get("/access-log", response_model=AccessPage)
async def access_log(
    request: Request,
    principal: Caller,
    document_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AccessPage:
    return await run_in_threadpool(retrieval.access_log, _archive(request).uow(), document_id, limit, offset)


@router.post("/verify", response_model=VerifyView)
async def verify(request: Request, body: VerifyIn, principal: Caller) -> VerifyView:
    """Re-read the objects of the given packages (or a random sample, or all) and compare every manifest hash."""
    archive = _archive(request)
    chosen = (body.document_ids, body.sample)
    view = await run_in_threadpool(retrieval.verify, archive.uow(), archive.packages, *chosen, reader(principal))
    if not body.evidence:
        return view
    return await run_in_threadpool(evidence.verify, archive.uow(), archive.packages, archive.evidence, view)


@router.post("/evidence/renew", response_model=RenewalView)
async def renew_evidence(request: Request, body: RenewIn, principal: Caller) -> RenewalView:
    """Renew every package's evidence record: a time-stamp renewal, or with `algorithm` a hash-tree renewal."""
    archive = _archive(request)
    renew = evidence.renew
    return await run_in_threadpool(renew, archive.uow(), archive.packages, archive.evidence, body.algorithm)


@router.get("/due", response_model=list[DueView])
async def due(request: Request, principal: Caller) -> list[DueView]:
    return await run_in_threadpool(disposal.due, _archive(request).uow(), utcnow(), reader(principal))


@router.get("/deletions/{document_id}", response_model=DeletionView)
async def deletion(request: Request, document_id: str, principal: Caller) -> DeletionView:
    deletion_record = disposal.deletion_record
    return await run_in_threadpool(deletion_record, _archive(request).uow(), document_id, reader(principal))


@router.get("/{document_id}", response_model=ArchivedView)
async def get_archived(request: Request, document_id: str, principal: Caller) -> ArchivedView:
    return await run_in_threadpool(retrieval.metadata, _archive(request).uow(), document_id, reader(principal))


@router.get("/{document_id}/package", response_model=PackageView)
async def package(request: Request, document_id: str, principal: Caller) -> PackageView:
    """The package's objects as the object store reports them: version, SHA-256, retention mode and date."""
    archive = _archive(request)
    return await run_in_threadpool(retrieval.package, archive.uow(), archive.packages, document_id, reader(principal))


@router.get("/{document_id}/content")
async def get_content(request: Request, document_id: str, principal: Caller) -> StreamingResponse:
    archive = _archive(request)
    download = retrieval.download
    content = await run_in_threadpool(download, archive.uow(), archive.packages, document_id, reader(principal))
    return StreamingResponse(
        content.chunks,
        media_type=content.content_type,
        headers={
            "Content-Length": str(content.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(content.filename or 'dokument')}",
            "X-Content-SHA256": content.sha256,
        },
    )


@router.get("/{document_id}/link", response_model=LinkView)
async def link(request: Request, document_id: str, principal: Caller) -> LinkView:
    """A presigned download link that expires (EAKTE_PRESIGNED_URL_TTL_S, 5 minutes by default)."""
    archive = _archive(request)
    ttl_s = archive.settings.presigned_url_ttl_s
    link_for = retrieval.link
    return await run_in_threadpool(link_for, archive.uow(), archive.packages, ttl_s, document_id, reader(principal))


@router.post("/{document_id}/hold", response_model=ArchivedView)
async def hold(request: Request, document_id: str, principal: Caller) -> ArchivedView:
    archive = _archive(request)
    return await run_in_threadpool(
        disposal.set_hold, archive.uow(), archive.packages, document_id, True, principal.user
    )


@router.delete("/{document_id}/hold", response_model=ArchivedView)
async def release_hold(request: Request, document_id: str, principal: Caller) -> ArchivedView:
    archive = _archive(request)
    return await run_in_threadpool(
        disposal.set_hold, archive.uow(), archive.packages, document_id, False, principal.user
    )


@router.post("/{document_id}/destroy", response_model=DeletionView)
async def destroy(request: Request, document_id: str, principal: Caller) -> DeletionView:
    """Disposal `destroy`: after the lock has expired and without a legal hold; a deletion record stays."""
    archive = _archive(request)
    return await run_in_threadpool(
        disposal.destroy, archive.uow(), archive.packages, document_id, principal.user, utcnow()
    )
