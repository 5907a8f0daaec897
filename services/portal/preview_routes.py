"""Page previews in the portal: the page images of a document, asked from the ingest service with the user's
token (need-to-know applies there), and the preview's state for the document, task and archive pages."""

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.portal.backend import ServiceDown, ServiceRefused, UserCalls, calls
from services.portal.identity import User, signed_in
from services.portal.pages import render

router = APIRouter()
AnyUser = Annotated[User, Depends(signed_in)]
SIZES = ("thumb", "large")


async def preview_of(api: UserCalls, document_id: str) -> dict[str, Any] | None:
    """The document's preview state (`state`, `count`, `total_pages`); None when there is none to ask for.

    A page never fails for its preview: without one it shows the PDF link alone."""
    try:
        found = await api.get("ingest", f"/api/v1/documents/{quote(document_id)}/pages")
    except (ServiceRefused, ServiceDown):
        return None
    return found if isinstance(found, dict) else None


@router.get("/dokumente/{document_id}/vorschau")
async def preview_fragment(request: Request, document_id: str, user: AnyUser) -> Response:
    """The preview alone, which the page's script fetches every few seconds while it is being made."""
    api = calls(request, user)
    document = await api.get("ingest", f"/api/v1/documents/{quote(document_id)}")
    preview = await preview_of(api, document_id)
    if preview is None:
        preview = {"state": "none", "count": 0, "total_pages": 0}
    return render(
        request,
        "_preview_body.html",
        preview=preview,
        preview_base=f"/dokumente/{document['document_id']}/seiten/",
        preview_id=f"vorschau-{document['document_id']}",
        preview_title=document.get("title") or document.get("filename", ""),
    )


@router.get("/dokumente/{document_id}/seiten/{page}.png")
async def page_image(
    request: Request, document_id: str, page: int, user: AnyUser, size: Annotated[str, Query()] = "large"
) -> Response:
    chosen = size if size in SIZES else "large"
    path = f"/api/v1/documents/{quote(document_id)}/pages/{page}.png"
    download = await calls(request, user).stream("ingest", "GET", path, params={"size": chosen})
    return download.response()
