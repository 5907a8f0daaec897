"""HTTP entrypoint of the search for clerks and approvers: `GET /api/v1/search` (the portal's /suche asks it)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from services.ingest.domain_search import Filters
from services.ingest.routes import any_role, caller_of, new_uow
from services.ingest.searching import SearchResult, SearchService
from shared.auth import Principal

router = APIRouter(prefix="/api/v1")


class SearchHitOut(BaseModel):
    document_id: str
    title: str
    filename: str
    aktenzeichen: str
    akte_title: str
    document_type: str
    file_plan_class: str
    year: int
    status: str
    snippet: str  # HTML: the text escaped, each hit in <mark>


class FacetValueOut(BaseModel):
    value: str
    count: int


class SearchOut(BaseModel):
    query: str
    total: int
    hits: list[SearchHitOut]
    facets: dict[str, list[FacetValueOut]]  # status, document_type, file_plan_class, year


@router.get("/search", response_model=SearchOut)
async def search(
    request: Request,
    principal: Annotated[Principal, Depends(any_role)],
    q: Annotated[str, Query(max_length=500)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    document_type: Annotated[str, Query(max_length=100)] = "",
    file_plan_class: Annotated[str, Query(max_length=50)] = "",
    year: Annotated[int | None, Query(ge=1900, le=2999)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> SearchOut:
    """Documents in review and archived the caller may see, matching every word of `q` (German stems) in their
    metadata or text, narrowed by the facets; the facets count only what the caller may see."""
    service: SearchService = request.app.state.search
    filters = Filters(status, document_type, file_plan_class, year)
    caller = caller_of(request, principal)
    result = await run_in_threadpool(service.search, new_uow(request), caller, q, filters, limit, offset)
    return _out(result)


def _out(result: SearchResult) -> SearchOut:
    return SearchOut(
        query=result.query,
        total=result.total,
        hits=[SearchHitOut(**vars(hit)) for hit in result.hits],
        facets={
            name: [FacetValueOut(value=value, count=count) for value, count in values]
            for name, values in result.facets.items()
        },
    )
