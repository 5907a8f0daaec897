"""The Akte page: a case file with its Vorgänge, their documents, one timeline across all, and what to add."""

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.portal.backend import calls
from services.portal.identity import CLERK, User, signed_in
from services.portal.pages import render
from services.portal.wording import t_or

router = APIRouter()
AnyUser = Annotated[User, Depends(signed_in)]


@dataclass(frozen=True)
class AkteEvent:
    """One line of the Akte's timeline: a document's status change."""

    at: str
    status: str
    label: str
    by: str
    document_id: str
    title: str
    vorgang: str


def akte_timeline(akte: dict[str, Any]) -> list[AkteEvent]:
    """Every status change of every document the caller may see in the Akte, oldest first."""
    events = [
        AkteEvent(
            at=entry["at"],
            status=entry["status"],
            label=t_or(f"status.{entry['status']}", entry["status"]),
            by=entry["by"],
            document_id=document["document_id"],
            title=document["title"] or document["filename"],
            vorgang=vorgang["title"],
        )
        for vorgang in akte.get("vorgaenge", [])
        for document in vorgang.get("documents", [])
        for entry in document.get("history", [])
    ]
    return sorted(events, key=lambda e: (e.at, e.document_id))


def upload_link(aktenzeichen: str, vorgang_id: str = "") -> str:
    """The upload page, set to file into this Akte (and this Vorgang)."""
    query = {"aktenzeichen": aktenzeichen, **({"vorgang_id": vorgang_id} if vorgang_id else {})}
    return "/erfassen?" + urlencode(query)


@router.get("/akten/{aktenzeichen:path}")
async def akte_page(request: Request, aktenzeichen: str, user: AnyUser) -> Response:
    """404 (as for a missing Akte) when the ingest service says the caller may not see it (need-to-know)."""
    akte = await calls(request, user).get("ingest", f"/api/v1/akten/{quote(aktenzeichen, safe='/')}")
    return render(
        request,
        "akte.html",
        akte=akte,
        events=akte_timeline(akte),
        may_add=user.has(*CLERK),
        upload_link=upload_link,
    )
