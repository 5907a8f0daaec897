"""HTTP entrypoints of the archive's integrity checks: the scheduled fixity figures and one report per document."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from services.archive import fixity, integrity_report
from services.archive.bootstrap import Archive
from services.archive.routes import Caller, reader

router = APIRouter(prefix="/api/v1/archive")
PDF = "application/pdf"


def _archive(request: Request) -> Archive:
    archive: Archive = request.app.state.archive
    return archive


# A fixed path: it must come before the archive's `/{document_id}` routes.
@router.get("/fixity", response_model=fixity.FixityView)
async def fixity_figures(request: Request, principal: Caller) -> fixity.FixityView:
    """The scheduled fixity check: the last finished cycle's figures (checked, ok, mismatch, missing), the running
    cycle's, and the packages that failed in either (those the caller may see)."""
    archive = _archive(request)
    days = archive.settings.fixity_cycle_days
    return await run_in_threadpool(fixity.fixity_view, archive.uow(), days, reader(principal))


@router.get(
    "/{document_id}/integrity-report",
    responses={200: {"content": {PDF: {}}, "description": "JSON, or a German PDF with `Accept: application/pdf`"}},
)
async def report(request: Request, document_id: str, principal: Caller) -> Response:
    """Every check of the package in one report; top-level `ok` only when every line is ok."""
    archive = _archive(request)
    found = await run_in_threadpool(
        integrity_report.integrity_report,
        archive.uow(),
        archive.packages,
        archive.evidence_check,
        document_id,
        reader(principal),
    )
    if PDF in request.headers.get("accept", ""):
        pdf = await run_in_threadpool(integrity_report.report_pdf, found)
        filename = f"integritaetsnachweis-{document_id}.pdf"
        return Response(pdf, media_type=PDF, headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    body: dict[str, Any] = integrity_report.report_json(found)
    return JSONResponse(body)
