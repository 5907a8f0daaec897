"""HTTP entrypoints of the workflow service: parse, call one service function, answer with a view.

Refusals (`shared.errors.Refused`) pass through: `build_app` maps their codes to statuses with
`REFUSAL_STATUS`.
"""

from dataclasses import asdict
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from services.workflow.absences import AbsenceView
from services.workflow.bootstrap import Workflow
from services.workflow.clock import ControllableClock
from services.workflow.domain import Decision
from services.workflow.domain.inbox import MAX_PAGE, Due, InboxQuery, SortKey
from services.workflow.notification_routes import record_seen
from services.workflow.resubmissions import ResubmissionView
from services.workflow.views import TaskView
from shared.auth import Principal, require_roles
from shared.errors import NotFound
from shared.need_to_know import Reader

router = APIRouter(prefix="/api/v1")
test_router = APIRouter(prefix="/api/v1/_test")  # only mounted with EAKTE_CLOCK=controllable

ANY_ROLE = ("clerk", "approver", "records_officer", "admin")
DECIDERS = ("approver", "admin")

# The HTTP status of each refusal code of the workflow (`shared.errors.COMMON_STATUS` has the shared ones).
REFUSAL_STATUS = {
    "four_eyes": status.HTTP_403_FORBIDDEN,
    "forbidden": status.HTTP_403_FORBIDDEN,
    "reason_required": status.HTTP_422_UNPROCESSABLE_CONTENT,
    "already_decided": status.HTTP_409_CONFLICT,
    "claimed": status.HTTP_409_CONFLICT,
    "already_signed": status.HTTP_409_CONFLICT,
    "not_claimable": status.HTTP_409_CONFLICT,
}


class DecisionIn(BaseModel):
    decision: Decision
    comment: str = Field(default="", max_length=4000)


class DecisionOut(BaseModel):
    task_id: str
    decision: str
    workflow_state: str
    on_behalf_of: str | None = None


class BulkDecisionIn(DecisionIn):
    task_ids: list[str] = Field(min_length=1, max_length=MAX_PAGE)


class BulkOutcomeOut(BaseModel):
    task_id: str
    ok: bool
    workflow_state: str = ""
    on_behalf_of: str | None = None
    error: str = ""
    reason: str = ""


class BulkDecisionOut(BaseModel):
    decision: str
    decided: int
    refused: int
    results: list[BulkOutcomeOut]


class InboxOut(BaseModel):
    total: int
    limit: int
    offset: int
    counts: dict[str, int]
    steps: list[str]
    org_units: list[str]
    items: list[TaskView]


class AbsenceIn(BaseModel):
    deputy: str = Field(min_length=1, max_length=200)
    starts_on: date
    ends_on: date


class ResubmissionIn(BaseModel):
    document_id: str = Field(min_length=1, max_length=36)
    on: date
    note: str = Field(default="", max_length=2000)


class ClockIn(BaseModel):
    advance_seconds: float = Field(ge=0)


def _reader(principal: Principal) -> Reader:
    """Need-to-know's view of the caller: user, roles and the org units of their token."""
    return Reader(principal.user, principal.roles, principal.org_units)


def _workflow(request: Request) -> Workflow:
    workflow: Workflow = request.app.state.workflow
    return workflow


@router.get("/tasks", response_model=list[TaskView])
async def list_tasks(
    request: Request, principal: Annotated[Principal, Depends(require_roles(*DECIDERS))]
) -> list[TaskView]:
    workflow = _workflow(request)
    await record_seen(request, principal)  # an approver's inbox: mails for tasks offered to their roles
    return await run_in_threadpool(workflow.tasks.open_tasks, workflow.uow(), principal.user, principal.roles)


@router.get("/inbox", response_model=InboxOut)
async def inbox(
    request: Request,
    principal: Annotated[Principal, Depends(require_roles(*DECIDERS))],
    due: Due = Due.ANY,
    step: Annotated[str, Query(max_length=200)] = "",
    org_unit: Annotated[str, Query(max_length=50)] = "",
    text: Annotated[str, Query(max_length=200)] = "",
    sort: SortKey = SortKey.DEADLINE,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> InboxOut:
    """A page of the caller's inbox (the tasks of `/tasks`), filtered (`due`, `step`, `org_unit`, `text`) and
    sorted."""
    workflow = _workflow(request)
    query = InboxQuery(due, step, org_unit, text, sort, order == "desc", limit, offset)
    page = await run_in_threadpool(workflow.tasks.inbox, workflow.uow(), principal.user, principal.roles, query)
    return InboxOut(
        total=page.total,
        limit=limit,
        offset=offset,
        counts=asdict(page.counts),
        steps=page.steps,
        org_units=page.org_units,
        items=page.items,
    )


@router.post("/tasks/decisions", response_model=BulkDecisionOut)
async def decide_many(
    request: Request,
    body: BulkDecisionIn,
    principal: Annotated[Principal, Depends(require_roles(*DECIDERS))],
) -> BulkDecisionOut:
    """The same decision on several tasks; each is checked and audited as `/tasks/{id}/decision` in its own
    transaction, and each outcome is reported (a refusal of one leaves the others decided)."""
    workflow = _workflow(request)
    outcomes = await run_in_threadpool(
        workflow.tasks.decide_many,
        workflow.uow,
        body.task_ids,
        principal.user,
        principal.roles,
        body.decision,
        body.comment,
        principal.org_units,
    )
    results = [BulkOutcomeOut(ok=not o.error, **asdict(o)) for o in outcomes]
    decided = sum(1 for r in results if r.ok)
    return BulkDecisionOut(
        decision=body.decision.value, decided=decided, refused=len(results) - decided, results=results
    )


@router.post("/tasks/{task_id}/claim", response_model=TaskView)
async def claim(
    request: Request, task_id: str, principal: Annotated[Principal, Depends(require_roles(*DECIDERS))]
) -> TaskView:
    workflow = _workflow(request)
    return await run_in_threadpool(
        workflow.tasks.claim, workflow.uow(), task_id, principal.user, principal.roles, principal.org_units
    )


@router.post("/tasks/{task_id}/decision", response_model=DecisionOut)
async def decide(
    request: Request,
    task_id: str,
    body: DecisionIn,
    principal: Annotated[Principal, Depends(require_roles(*DECIDERS))],
) -> DecisionOut:
    workflow = _workflow(request)
    result = await run_in_threadpool(
        workflow.tasks.decide,
        workflow.uow(),
        task_id,
        principal.user,
        principal.roles,
        body.decision,
        body.comment,
        principal.org_units,
    )
    return DecisionOut(
        task_id=task_id,
        decision=body.decision.value,
        workflow_state=result.workflow_state.value,
        on_behalf_of=result.on_behalf_of,
    )


@router.get("/workflows/{document_id}")
async def workflow_state(
    request: Request, document_id: str, principal: Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
) -> dict[str, Any]:
    """200 exactly when the caller may see the document (`shared.need_to_know.may_see`), else 404. The ingest
    service asks this with the caller's own token whether an approver has or had a task on a document."""
    workflow = _workflow(request)
    return await run_in_threadpool(workflow.visibility.state, workflow.uow(), _reader(principal), document_id)


@router.get("/workflows/{document_id}/audit")
async def audit_trail(
    request: Request, document_id: str, principal: Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
) -> dict[str, Any]:
    workflow = _workflow(request)
    view = await run_in_threadpool(workflow.visibility.audit, workflow.uow(), _reader(principal), document_id)
    return {
        "document_id": view.document_id,
        "verified": view.verified,
        "first_broken_entry": view.first_broken_entry,
        "reason": view.reason,
        "entries": view.entries,
    }


@router.post("/absences", response_model=AbsenceView, status_code=status.HTTP_201_CREATED)
async def record_absence(
    request: Request, body: AbsenceIn, principal: Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
) -> AbsenceView:
    workflow = _workflow(request)
    return await run_in_threadpool(
        workflow.absences.record,
        workflow.uow(),
        principal.user,
        principal.roles,
        body.deputy,
        body.starts_on,
        body.ends_on,
    )


@router.get("/absences", response_model=list[AbsenceView])
async def list_absences(
    request: Request, principal: Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
) -> list[AbsenceView]:
    workflow = _workflow(request)
    return await run_in_threadpool(workflow.absences.of, workflow.uow(), principal.user, principal.roles)


@router.post("/resubmissions", response_model=ResubmissionView, status_code=status.HTTP_201_CREATED)
async def add_resubmission(
    request: Request, body: ResubmissionIn, principal: Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
) -> ResubmissionView:
    workflow = _workflow(request)
    return await run_in_threadpool(
        workflow.resubmissions.add, workflow.uow(), _reader(principal), body.document_id, body.on, body.note
    )


@router.get("/resubmissions", response_model=list[ResubmissionView])
async def list_resubmissions(
    request: Request, principal: Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
) -> list[ResubmissionView]:
    workflow = _workflow(request)
    return await run_in_threadpool(workflow.resubmissions.of, workflow.uow(), _reader(principal))


@router.post("/resubmissions/{resubmission_id}/done", response_model=ResubmissionView)
async def finish_resubmission(
    request: Request, resubmission_id: str, principal: Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
) -> ResubmissionView:
    workflow = _workflow(request)
    return await run_in_threadpool(workflow.resubmissions.finish, workflow.uow(), _reader(principal), resubmission_id)


@test_router.get("/clock")
async def read_clock(
    request: Request, _principal: Annotated[Principal, Depends(require_roles("admin"))]
) -> dict[str, Any]:
    context = _workflow(request).context
    return {"now": context.clock.now(), "today": context.today()}


@test_router.post("/clock")
async def advance_clock(
    request: Request, body: ClockIn, _principal: Annotated[Principal, Depends(require_roles("admin"))]
) -> dict[str, Any]:
    """Move the controllable clock forward and do at once what became due (test stacks only)."""
    workflow = _workflow(request)
    clock = workflow.context.clock
    if not isinstance(clock, ControllableClock):  # not mounted otherwise; belt and braces
        raise NotFound("no such route")
    now = clock.advance(body.advance_seconds)
    changed = await run_in_threadpool(workflow.scheduler.tick, workflow.uow())
    return {"now": now, "today": workflow.context.today(), "changed": changed}
