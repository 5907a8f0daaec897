"""The outbox of every service, for admins: `GET /api/v1/outbox` (pending, oldest, set aside),
`GET /api/v1/outbox/dead-letters` (the rows the broker refused) and `POST .../dead-letters/{id}/retry`."""

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from shared.auth import Principal, require_roles
from shared.errors import NotFound

router = APIRouter(prefix="/api/v1/outbox")


@router.get("/dead-letters")
async def dead_letters(
    request: Request,
    _admin: Annotated[Principal, Depends(require_roles("admin"))],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Newest first: topic, key, size, SHA-256 and a cut prefix of the payload, the reason, when it was moved."""
    runtime = request.app.state.runtime
    total, letters = await run_in_threadpool(runtime.relay.dead_letters, limit, offset)
    return {"service": runtime.name, "total": total, "items": [asdict(letter) for letter in letters]}


@router.get("")
async def summary(request: Request, _admin: Annotated[Principal, Depends(require_roles("admin"))]) -> dict[str, Any]:
    """Rows waiting to be published, the age of the oldest in seconds, rows set aside (dead letters)."""
    runtime = request.app.state.runtime
    found = await run_in_threadpool(runtime.relay.summary)
    return {"service": runtime.name, **asdict(found)}


@router.post("/dead-letters/{dead_letter_id}/retry")
async def retry(
    request: Request, dead_letter_id: int, _admin: Annotated[Principal, Depends(require_roles("admin"))]
) -> dict[str, Any]:
    """Put a set-aside row back into the outbox: the relay publishes it (and sets it aside again if refused)."""
    runtime = request.app.state.runtime
    outbox_id = await run_in_threadpool(runtime.relay.retry, dead_letter_id)
    if outbox_id is None:
        raise NotFound(f"no set-aside outbox row {dead_letter_id} in {runtime.name}")
    return {"service": runtime.name, "id": dead_letter_id, "outbox_id": outbox_id}
