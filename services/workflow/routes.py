"""HTTP entrypoints of the workflow service."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from services.workflow.absences import InvalidRequest
from services.workflow.clock import ControllableClock
from services.workflow.domain import Decision, DecisionRefused
from services.workflow.rows import TaskNotFound, WorkflowNotFound
from services.workflow.service import WorkflowService
from services.workflow.views import TaskView
from shared.auth import Principal, require_roles

router = APIRouter(prefix="/api/v1")
test_router = APIRouter(prefix="/api/v1/_test")  # only mounted with EAKTE_CLOCK=controllable

ANY_ROLE = ("clerk", "approver", "records_officer", "admin")
DECIDERS = ("approver", "admin")

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


class AbsenceIn(BaseModel):
    deputy: str = Field(min_length=1, max_length=200)
    starts_on: date
    ends_on: date


class AbsenceOut(BaseModel):
    absence_id: str
    user: str
    deputy: str
    starts_on: date
    ends_on: date


class ResubmissionIn(BaseModel):
    document_id: str = Field(min_length=1, max_length=36)
    on: date
    note: str = Field(default="", max_length=2000)


class ResubmissionOut(BaseModel):
    resubmission_id: str
    document_id: str
    user: str
    on: date
    note: str
    due: bool
    done: bool


class ClockIn(BaseModel):
    advance_seconds: float = Field(ge=0)


def _service(request: Request) -> WorkflowService:
    return request.app.state.workflow


def _refused(exc: DecisionRefused) -> HTTPException:
    return HTTPException(REFUSAL_STATUS[exc.code], detail={"error": exc.code, "reason": str(exc)})


def _not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail={"error": "not_found", "reason": f"no such {what}"})


@router.get("/tasks", response_model=list[TaskView])
async def list_tasks(
    request: Request, principal: Annotated[Principal, Depends(require_roles(*DECIDERS))]
) -> list[TaskView]:
    tasks = await run_in_threadpool(_service(request).open_tasks, principal.user, principal.roles)
    return tasks


@router.post("/tasks/{task_id}/claim", response_model=TaskView)
async def claim(
    request: Request, task_id: str, principal: Annotated[Principal, Depends(require_roles(*DECIDERS))]
) -> TaskView:
    try:
        task = await run_in_threadpool(_service(request).claim, task_id, principal.user, principal.roles)
    except TaskNotFound as exc:
        raise _not_found("task") from exc
    except DecisionRefused as exc:
        raise _refused(exc) from exc
    return task


@router.post("/tasks/{task_id}/decision", response_model=DecisionOut)
async def decide(
    request: Request,
    task_id: str,
    body: DecisionIn,
    principal: Annotated[Principal, Depends(require_roles(*DECIDERS))],
) -> DecisionOut:
    try:
        result = await run_in_threadpool(
            _service(request).decide, task_id, principal.user, principal.roles, body.decision, body.comment
        )
    except TaskNotFound as exc:
        raise _not_found("task") from exc
    except DecisionRefused as exc:
        raise _refused(exc) from exc
    return DecisionOut(
        task_id=task_id,
        decision=body.decision.value,
        workflow_state=result.workflow_state.value,
        on_behalf_of=result.on_behalf_of,
    )


@router.get("/workflows/{document_id}")
async def workflow_state(
    request: Request, document_id: str, _principal: Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
) -> dict[str, Any]:
    try:
        return await run_in_threadpool(_service(request).views.workflow_state, document_id)
    except WorkflowNotFound as exc:
        raise _not_found("workflow") from exc


@router.get("/workflows/{document_id}/audit")
async def audit_trail(
    request: Request, document_id: str, _principal: Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
) -> dict[str, Any]:
    try:
        view = await run_in_threadpool(_service(request).audit_log.view, document_id)
    except WorkflowNotFound as exc:
        raise _not_found("workflow") from exc
    return {
        "document_id": view.document_id,
        "verified": view.verified,
        "first_broken_entry": view.first_broken_entry,
        "reason": view.reason,
        "entries": view.entries,
    }


@router.post("/absences", response_model=AbsenceOut, status_code=status.HTTP_201_CREATED)
async def record_absence(
    request: Request, body: AbsenceIn, principal: Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
) -> AbsenceOut:
    try:
        row = await run_in_threadpool(
            _service(request).absences.record,
            principal.user,
            principal.roles,
            body.deputy,
            body.starts_on,
            body.ends_on,
        )
    except InvalidRequest as exc:
        raise HTTPException(422, detail={"error": "invalid_request", "reason": str(exc)}) from exc
    return AbsenceOut(
        absence_id=row.absence_id, user=row.user, deputy=row.deputy, starts_on=row.starts_on, ends_on=row.ends_on
    )


@router.get("/absences", response_model=list[AbsenceOut])
async def list_absences(
    request: Request, principal: Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
) -> list[AbsenceOut]:
    rows = await run_in_threadpool(_service(request).absences.of, principal.user)
    return [
        AbsenceOut(absence_id=r.absence_id, user=r.user, deputy=r.deputy, starts_on=r.starts_on, ends_on=r.ends_on)
        for r in rows
    ]


def _resubmission_out(row: Any) -> ResubmissionOut:
    return ResubmissionOut(
        resubmission_id=row.resubmission_id,
        document_id=row.document_id,
        user=row.user,
        on=row.due_on,
        note=row.note,
        due=row.due_at is not None,
        done=row.done_at is not None,
    )


@router.post("/resubmissions", response_model=ResubmissionOut, status_code=status.HTTP_201_CREATED)
async def add_resubmission(
    request: Request, body: ResubmissionIn, principal: Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
) -> ResubmissionOut:
    try:
        row = await run_in_threadpool(
            _service(request).resubmissions.add, principal.user, body.document_id, body.on, body.note
        )
    except WorkflowNotFound as exc:
        raise _not_found("workflow") from exc
    return _resubmission_out(row)


@router.get("/resubmissions", response_model=list[ResubmissionOut])
async def list_resubmissions(
    request: Request, principal: Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
) -> list[ResubmissionOut]:
    rows = await run_in_threadpool(_service(request).resubmissions.of, principal.user)
    return [_resubmission_out(r) for r in rows]


@router.post("/resubmissions/{resubmission_id}/done", response_model=ResubmissionOut)
async def finish_resubmission(
    request: Request, resubmission_id: str, principal: Annotated[Principal, Depends(require_roles(*ANY_ROLE))]
) -> ResubmissionOut:
    try:
        row = await run_in_threadpool(_service(request).resubmissions.finish, principal.user, resubmission_id)
    except TaskNotFound as exc:
        raise _not_found("resubmission") from exc
    return _resubmission_out(row)


@test_router.get("/clock")
async def read_clock(request: Request, _principal: Annotated[Principal, Depends(require_roles("admin"))]) -> dict:
    context = _service(request).context
    return {"now": context.clock.now(), "today": context.today()}


@test_router.post("/clock")
async def advance_clock(
    request: Request, body: ClockIn, _principal: Annotated[Principal, Depends(require_roles("admin"))]
) -> dict:
    """Move the controllable clock forward and do at once what became due (test stacks only)."""
    service = _service(request)
    clock = service.context.clock
    if not isinstance(clock, ControllableClock):  # not mounted otherwise; belt and braces
        raise _not_found("route")
    now = clock.advance(body.advance_seconds)
    changed = await run_in_threadpool(service.scheduler.tick)
    return {"now": now, "today": service.context.today(), "changed": changed}
