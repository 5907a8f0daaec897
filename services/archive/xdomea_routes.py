"""HTTP entrypoints for disposal to the state archive (xdomea Aussonderung), for the records office."""

import shutil
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from services.archive import xdomea
from services.archive.aussonderung import AussonderungRefused, AussonderungService, Package, new_workdir, stream_file
from shared.auth import Principal, require_roles

router = APIRouter(prefix="/api/v1/archive/xdomea")
Caller = Annotated[Principal, Depends(require_roles("records_officer", "admin"))]
MAX_MESSAGE_BYTES = 20 * 1024 * 1024


class AktenIn(BaseModel):
    aktenzeichen: list[str] = Field(min_length=1, max_length=10_000)


class EvaluationOut(BaseModel):
    process_id: str
    decisions: dict[str, str]


class ConfirmationOut(BaseModel):
    process_id: str
    handed_over: list[str]
    deleted: list[str]
    waiting_for_lock: list[str]
    failed: list[str]


def _service(request: Request) -> AussonderungService:
    return request.app.state.aussonderung


def _refused(exc: AussonderungRefused) -> HTTPException:
    code = status.HTTP_404_NOT_FOUND if exc.code in ("unknown_process",) else status.HTTP_422_UNPROCESSABLE_CONTENT
    return HTTPException(code, detail={"error": exc.code, "reason": str(exc)})


def _invalid_message(exc: xdomea.XdomeaError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail={"error": "invalid_xdomea", "reason": str(exc)})


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
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail={"error": "invalid_xdomea", "reason": "message larger than 20 MB"},
        )
    return body


@router.post("/offer")
async def offer(request: Request, body: AktenIn, principal: Caller, background: BackgroundTasks) -> StreamingResponse:
    """Step 1: the offer list (0501 Anbieteverzeichnis, metadata only) for these Akten, as a ZIP."""
    workdir = new_workdir()
    try:
        package = await run_in_threadpool(_service(request).offer, body.aktenzeichen, principal.user, workdir)
    except AussonderungRefused as exc:
        shutil.rmtree(workdir, True)
        raise _refused(exc) from exc
    return _zip_response(package, background)


@router.post("/evaluation", response_model=EvaluationOut)
async def evaluation(request: Request, principal: Caller) -> EvaluationOut:
    """Step 2: the state archive's answer (0502 Bewertungsverzeichnis, XML body): archive or destroy per object."""
    message = await _message(request)
    try:
        process_id, decisions = await run_in_threadpool(_service(request).evaluation, message)
    except xdomea.XdomeaError as exc:
        raise _invalid_message(exc) from exc
    except AussonderungRefused as exc:
        raise _refused(exc) from exc
    return EvaluationOut(process_id=process_id, decisions=decisions)


@router.post("/transfer")
async def transfer(
    request: Request, body: AktenIn, principal: Caller, background: BackgroundTasks
) -> StreamingResponse:
    """Step 3: the transfer package (0503 Aussonderung: XML plus primary documents) for what the archive chose."""
    workdir = new_workdir()
    try:
        package = await run_in_threadpool(_service(request).transfer, body.aktenzeichen, workdir)
    except AussonderungRefused as exc:
        shutil.rmtree(workdir, True)
        raise _refused(exc) from exc
    return _zip_response(package, background)


@router.post("/confirmation", response_model=ConfirmationOut)
async def confirmation(request: Request, principal: Caller) -> ConfirmationOut:
    """Step 4: the import confirmation (0506): taken-over objects are marked handed over and deleted here once
    their lock allows it."""
    message = await _message(request)
    try:
        result = await run_in_threadpool(_service(request).confirmation, message, principal.user)
    except xdomea.XdomeaError as exc:
        raise _invalid_message(exc) from exc
    except AussonderungRefused as exc:
        raise _refused(exc) from exc
    return ConfirmationOut(**vars(result))
