"""Records office pages: search the archive, open a package, download, check fixity, dispose via xdomea."""

import asyncio
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from services.portal.backend import ServiceRefused, calls
from services.portal.identity import RECORDS, Csrf, User, allowed
from services.portal.pages import flash, not_found, render
from services.portal.preview_routes import preview_of
from services.portal.wording import t, t_or

router = APIRouter()
Records = Annotated[User, Depends(allowed(*RECORDS))]
PAGE_SIZE = 20
SEARCH_FIELDS = ("aktenzeichen", "title", "q", "received_from", "received_to")
MAX_XML_BYTES = 20 * 1024 * 1024


@router.get("/archiv")
async def search_page(request: Request, user: Records, seite: Annotated[int, Query(ge=1)] = 1) -> Response:
    criteria = {name: request.query_params.get(name, "").strip() for name in SEARCH_FIELDS}
    results = None
    if any(criteria.values()) or "suchen" in request.query_params:
        query = {name: value for name, value in criteria.items() if value}
        results = await calls(request, user).get(
            "archive", "/api/v1/archive/search", limit=PAGE_SIZE, offset=(seite - 1) * PAGE_SIZE, **query
        )
    pages = max(1, -(-results["total"] // PAGE_SIZE)) if results else 1
    page_link = f"/archiv?{urlencode({**{k: v for k, v in criteria.items() if v}, 'suchen': '1'})}&seite="
    return render(
        request,
        "archive_search.html",
        criteria=criteria,
        results=results,
        seite=seite,
        pages=pages,
        page_link=page_link,
    )


@router.get("/archiv/{document_id}")
async def package_page(request: Request, document_id: str, user: Records) -> Response:
    api = calls(request, user)
    base = f"/api/v1/archive/{quote(document_id)}"
    record, package = await asyncio.gather(api.get("archive", base), api.get("archive", f"{base}/package"))
    preview = await preview_of(api, document_id)  # from ingest, while it holds the document
    return render(request, "archive_package.html", record=record, package=package, preview=preview)


@router.get("/archiv/{document_id}/herunterladen")
async def download(request: Request, document_id: str, user: Records) -> Response:
    """The original, streamed after the archive re-checked its checksum (the archive logs the access)."""
    answer = await calls(request, user).stream("archive", "GET", f"/api/v1/archive/{quote(document_id)}/content")
    return answer.response()


@router.post("/archiv/{document_id}/pruefen", dependencies=[Csrf])
async def fixity_check(request: Request, document_id: str, user: Records) -> Response:
    outcome = await calls(request, user).post("archive", "/api/v1/archive/verify", json={"document_ids": [document_id]})
    result = outcome["results"][0] if outcome["results"] else {"result": "missing", "problems": []}
    kind = "ok" if result["result"] == "ok" else "error"
    flash(request, t_or(f"fixity.{result['result']}", str(result["result"])), kind)
    return RedirectResponse(f"/archiv/{quote(document_id)}", status_code=303)


@router.get("/archiv/{document_id}/integritaetsnachweis.{kind}")
async def integrity_report(request: Request, document_id: str, kind: str, user: Records) -> Response:
    """The archive's integrity report of the document as a download: PDF (German) or JSON."""
    accept = {"pdf": "application/pdf", "json": "application/json"}
    if kind not in accept:
        return not_found(request)
    path = f"/api/v1/archive/{quote(document_id)}/integrity-report"
    answer = await calls(request, user).stream("archive", "GET", path, headers={"Accept": accept[kind]})
    response = answer.response()
    filename = f"integritaetsnachweis-{document_id}.{kind}"
    response.headers["Content-Disposition"] = f'attachment; filename="{quote(filename)}"'
    return response


@router.post("/archiv/{document_id}/sperre", dependencies=[Csrf])
async def legal_hold(
    request: Request, document_id: str, user: Records, aktion: Annotated[str, Form()] = ""
) -> Response:
    """Set or lift a legal hold (rechtliche Sperre): while it is set, nothing of the package can be disposed of."""
    path = f"/api/v1/archive/{quote(document_id)}/hold"
    api = calls(request, user)
    if aktion == "setzen":
        await api.post("archive", path)
        flash(request, t("package.hold_set"))
    elif aktion == "aufheben":
        await api.delete("archive", path)
        flash(request, t("package.hold_lifted"))
    return RedirectResponse(f"/archiv/{quote(document_id)}", status_code=303)


@router.get("/aussonderung")
async def disposal_page(request: Request, user: Records) -> Response:
    due = await calls(request, user).get("archive", "/api/v1/archive/due")
    return render(request, "disposal.html", akten=_by_akte(due))


def _by_akte(due: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Disposal works per Akte: the documents due, grouped by their Aktenzeichen."""
    groups: dict[str, dict[str, Any]] = {}
    for item in due:
        group = groups.setdefault(
            item["aktenzeichen"],
            {
                "aktenzeichen": item["aktenzeichen"],
                "documents": 0,
                "held": 0,
                "disposal": item["disposal"],
                "retain_until": item["retain_until"],
            },
        )
        group["documents"] += 1
        group["held"] += int(item["legal_hold"])
        group["retain_until"] = max(group["retain_until"], item["retain_until"])
    return sorted(groups.values(), key=lambda g: g["aktenzeichen"])


@router.post("/aussonderung/{step}", dependencies=[Csrf])
async def disposal_message(
    request: Request, step: str, user: Records, aktenzeichen: Annotated[list[str] | None, Form()] = None
) -> Response:
    """Offer (0501) or transfer (0503) for the chosen Akten, as the ZIP the state archive expects."""
    paths = {"angebot": "offer", "abgabe": "transfer"}
    if step not in paths:
        return not_found(request)
    if not aktenzeichen:
        flash(request, t("disposal.choose_akten"), "error")
        return RedirectResponse("/aussonderung", status_code=303)
    try:
        answer = await calls(request, user).stream(
            "archive", "POST", f"/api/v1/archive/xdomea/{paths[step]}", json={"aktenzeichen": aktenzeichen}
        )
    except ServiceRefused as exc:
        flash(request, t("disposal.refused", reason=str(exc.body.get("reason") or exc.status)), "error")
        return RedirectResponse("/aussonderung", status_code=303)
    return answer.response()


@router.post("/aussonderung/antwort/{step}", dependencies=[Csrf])
async def disposal_answer(request: Request, step: str, user: Records) -> Response:
    """The state archive's evaluation (0502) or import confirmation (0506), uploaded as the XML it sent.

    The multipart body is parsed here, after the session, role and CSRF checks (a `File()` parameter would
    have FastAPI parse it before any of them).
    """
    paths = {"bewertung": "evaluation", "bestaetigung": "confirmation"}
    if step not in paths:
        return not_found(request)
    form = await request.form(max_files=1, max_fields=10)
    nachricht = form.get("nachricht")
    body = await nachricht.read(MAX_XML_BYTES + 1) if isinstance(nachricht, UploadFile) else b""
    if not body or len(body) > MAX_XML_BYTES:
        flash(request, t("disposal.bad_file"), "error")
        return RedirectResponse("/aussonderung", status_code=303)
    try:
        result = await calls(request, user).post(
            "archive", f"/api/v1/archive/xdomea/{paths[step]}", content=body, content_type="application/xml"
        )
    except ServiceRefused as exc:
        flash(request, t("disposal.refused", reason=str(exc.body.get("reason") or exc.status)), "error")
        return RedirectResponse("/aussonderung", status_code=303)
    flash(request, _answer_summary(step, result))
    return RedirectResponse("/aussonderung", status_code=303)


def _answer_summary(step: str, result: dict[str, Any]) -> str:
    if step == "bewertung":
        decisions = list(result.get("decisions", {}).values())
        return t(
            "disposal.evaluated",
            archive=sum(1 for d in decisions if d == "archive"),
            destroy=sum(1 for d in decisions if d != "archive"),
        )
    return t(
        "disposal.confirmed",
        handed_over=len(result.get("handed_over", [])),
        deleted=len(result.get("deleted", [])),
        waiting=len(result.get("waiting_for_lock", [])),
    )
