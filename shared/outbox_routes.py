"""`GET /api/v1/outbox/dead-letters` on every service: the outbox rows the broker refused, for admins."""

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from shared.auth import Principal, require_roles

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
