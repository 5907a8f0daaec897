"""The search page for clerks and approvers: `/suche?q=...`, full text and metadata with facets.

The ingest service answers (`GET /api/v1/search`) with what the person may see (need-to-know applies there, in
the query): documents in review and archived, each with a snippet whose hits are marked.
"""

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.portal.backend import calls
from services.portal.identity import User, allowed
from services.portal.pages import render

router = APIRouter()
# Everyone who works with documents; each finds only what need-to-know lets them see.
SEARCHERS = ("clerk", "approver", "records_officer", "admin")
Searcher = Annotated[User, Depends(allowed(*SEARCHERS))]
PAGE_SIZE = 20
FACETS = ("status", "document_type", "file_plan_class", "year")


@router.get("/suche")
async def search_page(
    request: Request,
    user: Searcher,
    q: Annotated[str, Query(max_length=500)] = "",
    seite: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    chosen = {name: request.query_params.get(name, "").strip()[:100] for name in FACETS}
    chosen = {name: value for name, value in chosen.items() if value}
    if "year" in chosen and not chosen["year"].isdigit():
        del chosen["year"]
    results = None
    if q.strip() or chosen:
        results = await calls(request, user).get(
            "ingest", "/api/v1/search", q=q, limit=PAGE_SIZE, offset=(seite - 1) * PAGE_SIZE, **chosen
        )
    pages = max(1, -(-results["total"] // PAGE_SIZE)) if results else 1
    return render(
        request,
        "search.html",
        q=q,
        chosen=chosen,
        results=results,
        seite=seite,
        pages=pages,
        page_link=f"/suche?{urlencode({'q': q, **chosen})}&seite=",
        facet_link=lambda name, value: _facet_link(q, chosen, name, value),
    )


def _facet_link(q: str, chosen: dict[str, Any], name: str, value: str | None) -> str:
    """The search with facet `name` set to `value` (None: that facet cleared), from the first page."""
    params = {**chosen, name: value} if value is not None else {k: v for k, v in chosen.items() if k != name}
    return f"/suche?{urlencode({'q': q, **params})}"
