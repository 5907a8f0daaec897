"""HTTP entrypoints of the notifications: each person's choice (the portal's /einstellungen page).

Every call also records the caller as seen (roles, `email` claim): mails for a task offered to a role reach the
people known to hold it. `GET /tasks` records its callers the same way (`routes.list_tasks`).
"""

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from services.workflow.bootstrap import Workflow
from services.workflow.domain.notifications import Delivery
from services.workflow.notifications import Notifier, PreferenceView
from shared.auth import Principal, require_roles

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1")

ANY_ROLE = ("clerk", "approver", "records_officer", "admin")


class PreferenceIn(BaseModel):
    delivery: Delivery
    archived: bool = False


def notifier_of(request: Request) -> Notifier:
    notifier: Notifier = request.app.state.notifier
    return notifier


async def record_seen(request: Request, principal: Principal) -> None:
    """Remember who signed in with which roles (and their `email` claim), for mails to a role's holders."""
    notifier: Notifier | None = getattr(request.app.state, "notifier", None)
    if notifier is None:
        return
    workflow: Workflow = request.app.state.workflow
    try:
        await run_in_threadpool(notifier.seen, workflow.uow(), principal.user, principal.email, principal.roles)
    except Exception as error:  # e.g. two first calls of one person at once: the other one recorded them
        # Never fail the page; the error's text may hold the person's address: only its kind goes to the log.
        log.warning("could not record a person seen signing in (%s); the next call will", type(error).__name__)


@router.get("/notifications/preferences", response_model=PreferenceView)
async def get_preferences(
    request: Request, principal: Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
) -> PreferenceView:
    await record_seen(request, principal)
    workflow: Workflow = request.app.state.workflow
    return await run_in_threadpool(notifier_of(request).preference_of, workflow.uow(), principal.user)


@router.put("/notifications/preferences", response_model=PreferenceView)
async def put_preferences(
    request: Request, body: PreferenceIn, principal: Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
) -> PreferenceView:
    await record_seen(request, principal)
    workflow: Workflow = request.app.state.workflow
    notifier = notifier_of(request)
    return await run_in_threadpool(
        notifier.set_preference, workflow.uow(), principal.user, body.delivery, body.archived
    )
