"""HTTP entrypoint for online applications: the form data behind a document (the portal shows it as a table)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from services.ingest.routes import access, any_role, caller_of, new_uow
from services.ingest.unit_of_work import IngestUnitOfWork
from shared.auth import Principal
from shared.errors import NotFound

router = APIRouter(prefix="/api/v1")


def form_data_of(uow: IngestUnitOfWork, document_id: str) -> dict[str, Any] | None:
    with uow:
        row = uow.fitconnect.of_document(document_id)
        if row is None or row.form_data is None:
            return None
        return {"document_id": document_id, "submission_id": row.submission_id, **row.form_data}


@router.get("/documents/{document_id}/form-data")
async def document_form_data(
    request: Request, document_id: str, principal: Annotated[Principal, Depends(any_role)]
) -> dict[str, Any]:
    """The form data of an online application's leading document: `title`, `sections` (each a `heading` and
    `rows` of [label, value] in German, as shown) and the raw `data`. Only for those who may open the document
    (need-to-know); 404 for any other document."""
    caller = caller_of(request, principal)
    await run_in_threadpool(access(request).require, new_uow(request), caller, document_id, True)
    found = await run_in_threadpool(form_data_of, new_uow(request), document_id)
    if found is None:
        raise NotFound("this document has no form data")
    return found
