"""HTTP entrypoints for disposal to the state archive (xdomea Aussonderung), for the records office."""

import shutil
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from services.archive import aussonderung
from services.archive.aussonderung import ConfirmationResult, Package, stream_file
from services.archive.bootstrap import Archive
from services.archive.domain import InvalidXdomea
from services.archive.routes import reader
from shared.auth import Principal, require_roles

router = APIRouter(prefix="/api/v1/archive/xdomea")
Caller = Annotated[Principal, Depends(require_roles("records_officer", "admin"))]
MAX_MESSAGE_BYTES = 20 * 1024 * 1024


class AktenIn(BaseModel):
    aktenzeichen: list[str] = Field(min_length=1, max_length=10_000)


class EvaluationOut(BaseModel):
    process_id: str
    decisions: dict[str, str]


def _archive(request: Request) -> Archive:
    archive: Archive = request.app.state.archive
    return archive


def _zip_response(package: Package, background: BackgroundTasks) -> StreamingResponse:
    background.add_task(shutil.rmtree, package.path.parent, True)
    return StreamingResponse(
        stream_file(package.path),
        media_type="application/zip",
        background=background,
        headers={
            "Content-Disposition": f'attachment; filename="{package.zip_name}"',
            "X-Xdomea-Process-Id": package.process_id,
        },
    )


async def _message(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_MESSAGE_BYTES:
        raise InvalidXdomea("message larger than 20 MB")
    return body


@router.post("/offer")
async def offer(request: Request, body: AktenIn, principal: Caller, background: BackgroundTasks) -> StreamingResponse:
    """Step 1: the offer list (0501 Anbieteverzeichnis, metadata only) for these Akten, as a ZIP."""
    archive = _archive(request)
    package = await run_in_threadpool(
        aussonderung.offer, archive.uow(), archive.parties, body.aktenzeichen, principal.user
    )
    return _zip_response(package, background)


@router.post("/evaluation", response_model=EvaluationOut)
async def evaluation(request: Request, principal: Caller) -> EvaluationOut:
    """Step 2: the state archive's answer (0502 Bewertungsverzeichnis, XML body): archive or destroy per object."""
    archive = _archive(request)
    message = await _message(request)
    process_id, decisions = await run_in_threadpool(aussonderung.evaluation, archive.uow(), archive.parties, message)
    return EvaluationOut(process_id=process_id, decisions=decisions)


@router.post("/transfer")
async def transfer(
    request: Request, body: AktenIn, principal: Caller, background: BackgroundTasks
) -> StreamingResponse:
    """Step 3: the transfer package (0503 Aussonderung: XML plus primary documents) for what the archive chose."""
    archive = _archive(request)
    package = await run_in_threadpool(
        aussonderung.transfer, archive.uow(), archive.packages, archive.parties, body.aktenzeichen, reader(principal)
    )
    return _zip_response(package, background)


@router.post("/confirmation", response_model=ConfirmationResult)
async def confirmation(request: Request, principal: Caller) -> ConfirmationResult:
    """Step 4: the import confirmation (0506): taken-over objects are marked handed over and deleted here once
    their lock allows it."""
    archive = _archive(request)
    message = await _message(request)
    return await run_in_threadpool(
        aussonderung.confirmation, archive.uow(), archive.packages, archive.parties, message, principal.user
    )
