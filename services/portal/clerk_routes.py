"""Clerk pages: upload scans into an Akte with a workflow, and follow each document's timeline."""

import asyncio
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from services.portal.backend import ServiceRefused, calls
from services.portal.identity import CLERK, Csrf, User, allowed, signed_in
from services.portal.pages import flash, render
from services.portal.preview_routes import preview_of
from services.portal.timeline import timeline
from services.portal.wording import t, t_or
from shared.workflow_catalog import definitions_dir, workflow_titles

router = APIRouter()
Clerk = Annotated[User, Depends(allowed(*CLERK))]
AnyUser = Annotated[User, Depends(signed_in)]
PAGE_SIZE = 20
# The upload form's metadata fields, passed to the ingest service as they are.
UPLOAD_FIELDS: tuple[str, ...] = (
    "title",
    "document_type",
    "sender",
    "aktenzeichen",
    "file_plan_class",
    "akte_title",
    "workflow",
)
UPLOAD_FIELDS += ("vorgang_id", "vorgang_title")  # into a Vorgang of the Akte, or a new one (from the Akte page)


@router.get("/erfassen")
async def upload_page(request: Request, user: Clerk) -> Response:
    """The upload form; `aktenzeichen`, `vorgang_id` or `vorgang_title` in the address preset where it files."""
    preset = {
        name: request.query_params.get(name, "")[:500] for name in ("aktenzeichen", "vorgang_id", "vorgang_title")
    }
    api = calls(request, user)
    akten, fileplan = await asyncio.gather(
        api.get("ingest", "/api/v1/akten", limit=200), api.get("ingest", "/api/v1/fileplan")
    )
    workflows = workflow_titles(definitions_dir(request.app.state.settings))
    return render(
        request,
        "upload.html",
        akten=akten["items"],
        fileplan=fileplan,
        workflows=workflows,
        max_mb=_max_mb(request),
        preset=preset,
    )


@router.post("/erfassen/datei", dependencies=[Csrf])
async def upload_one(request: Request, user: Clerk) -> JSONResponse:
    """One file from the page's script, streamed through to the ingest service unread; German answer."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return JSONResponse({"ok": False, "message": t("upload.not_multipart")}, status_code=415)
    response = await calls(request, user).forward("ingest", "/api/v1/documents", request.stream(), content_type)
    body = _json(response)
    return JSONResponse(upload_result(response.status_code, body), status_code=response.status_code)


@router.post("/erfassen", dependencies=[Csrf])
async def upload_form(request: Request, user: Clerk) -> Response:
    """The same upload without JavaScript: the form posts all files at once; one result line per file."""
    form = await request.form()
    fields = {name: str(form.get(name) or "") for name in UPLOAD_FIELDS}
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    api = calls(request, user)
    results = []
    for upload in files:
        try:
            answer = await api.post(
                "ingest", "/api/v1/documents", data=fields, files={"file": (upload.filename, upload.file)}
            )
            results.append({"name": upload.filename, **upload_result(201, answer)})
            if fields["file_plan_class"] and answer.get("aktenzeichen"):
                # A new Akte is created once: the following files of the same upload go into it.
                fields.update(aktenzeichen=answer["aktenzeichen"], file_plan_class="", akte_title="")
        except ServiceRefused as exc:
            results.append({"name": upload.filename, **upload_result(exc.status, exc.body)})
    if not files:
        results.append({"name": "", "ok": False, "message": t("upload.no_files")})
    return render(request, "upload_results.html", results=results)


def upload_result(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """What the clerk reads about one file: accepted (with a link), a duplicate, or the reason in German."""
    if status == 201:
        return {
            "ok": True,
            "document_id": body["document_id"],
            "aktenzeichen": body.get("aktenzeichen") or "",
            "message": t("upload.accepted", aktenzeichen=body.get("aktenzeichen") or t("upload.no_akte")),
            "link": f"/dokumente/{body['document_id']}",
        }
    if status == 409 and body.get("document_id"):
        return {
            "ok": False,
            "message": t("upload.duplicate"),
            "link": f"/dokumente/{body['document_id']}",
        }
    reason = str(body.get("reason", ""))
    if body.get("error") == "document_rejected":
        message = t_or(f"reasons.{reason}", str(body.get("message") or reason))
        return {"ok": False, "message": t("upload.rejected", reason=message)}
    message = t_or(f"upload_errors.{reason}", str(body.get("message") or body.get("reason") or status))
    return {"ok": False, "message": message}


@router.get("/dokumente")
async def my_documents(request: Request, user: Clerk, seite: Annotated[int, Query(ge=1)] = 1) -> Response:
    page = await calls(request, user).get(
        "ingest", "/api/v1/documents", limit=PAGE_SIZE, offset=(seite - 1) * PAGE_SIZE
    )
    return render(request, "documents.html", page=page, seite=seite, pages=_pages(page["total"]))


@router.get("/dokumente/{document_id}")
async def document_page(request: Request, document_id: str, user: AnyUser) -> Response:
    document = await calls(request, user).get("ingest", f"/api/v1/documents/{quote(document_id)}")
    form_data = await _form_data(request, user, document_id)
    preview = await preview_of(calls(request, user), document_id)
    return render(
        request, "document.html", document=document, steps=timeline(document), form_data=form_data, preview=preview
    )


async def _form_data(request: Request, user: User, document_id: str) -> dict[str, Any] | None:
    """An online application's form data (shown as a table beside the PDF); None for any other document."""
    try:
        found = await calls(request, user).get("ingest", f"/api/v1/documents/{quote(document_id)}/form-data")
    except ServiceRefused as exc:
        if exc.status == 404:
            return None
        raise
    return found if isinstance(found, dict) else None


@router.post("/dokumente/{document_id}/neue-fassung", dependencies=[Csrf])
async def new_version(request: Request, document_id: str, user: Clerk) -> Response:
    """A document returned for revision: the clerk uploads its next version; the workflow starts again."""
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        flash(request, t("upload.no_files"), "error")
        return RedirectResponse(f"/dokumente/{quote(document_id)}", status_code=303)
    try:
        answer = await calls(request, user).post(
            "ingest",
            f"/api/v1/documents/{quote(document_id)}/versions",
            files={"file": (upload.filename, upload.file)},
        )
        flash(request, t("document.new_version_saved", version=answer.get("version", "")))
    except ServiceRefused as exc:
        flash(request, upload_result(exc.status, exc.body)["message"], "error")
    return RedirectResponse(f"/dokumente/{quote(document_id)}", status_code=303)


@router.get("/dokumente/{document_id}/verlauf")
async def timeline_fragment(request: Request, document_id: str, user: AnyUser) -> Response:
    """The timeline alone, which the page's script fetches every few seconds until the document is archived."""
    document = await calls(request, user).get("ingest", f"/api/v1/documents/{quote(document_id)}")
    return render(request, "_timeline.html", document=document, steps=timeline(document))


@router.get("/dokumente/{document_id}/inhalt")
async def document_content(request: Request, document_id: str, user: AnyUser) -> Response:
    download = await calls(request, user).stream("ingest", "GET", f"/api/v1/documents/{quote(document_id)}/content")
    return download.response()


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _max_mb(request: Request) -> int:
    return request.app.state.settings.max_upload_bytes // (1024 * 1024)


def _pages(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))
