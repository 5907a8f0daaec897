"""HTTP entrypoints of the workflow service."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from services.workflow.domain import Approver, Decision, DecisionRefused
from services.workflow.service import TaskNotFound, WorkflowService
from shared.auth import Principal, require_roles

router = APIRouter(prefix="/api/v1")

REFUSAL_STATUS = {
    "four_eyes": status.HTTP_403_FORBIDDEN,
    "forbidden": status.HTTP_403_FORBIDDEN,
    "reason_required": status.HTTP_422_UNPROCESSABLE_CONTENT,
    "already_decided": status.HTTP_409_CONFLICT,
}


class TaskOut(BaseModel):
    task_id: str
    document_id: str
    step: int
    offered_to_role: str
    state: str
    title: str
    aktenzeichen: str
    sha256: str
    submitted_by: str
    created_at: datetime


class DecisionIn(BaseModel):
    decision: Decision
    comment: str = Field(default="", max_length=4000)


class DecisionOut(BaseModel):
    task_id: str
    decision: str
    workflow_state: str


def _service(request: Request) -> WorkflowService:
    return request.app.state.workflow


def _approver(principal: Principal) -> Approver:
    return Approver(user=principal.user, roles=principal.roles)


@router.get("/tasks", response_model=list[TaskOut])
async def list_tasks(
    request: Request, principal: Annotated[Principal, Depends(require_roles("approver"))]
) -> list[TaskOut]:
    tasks = await run_in_threadpool(_service(request).open_tasks, _approver(principal))
    return [TaskOut(**vars(task)) for task in tasks]


@router.post("/tasks/{task_id}/decision", response_model=DecisionOut)
async def decide(
    request: Request,
    task_id: str,
    body: DecisionIn,
    principal: Annotated[Principal, Depends(require_roles("approver"))],
) -> DecisionOut:
    try:
        state = await run_in_threadpool(
            _service(request).decide, task_id, _approver(principal), body.decision, body.comment
        )
    except TaskNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail={"error": "not_found", "reason": "no such task"}) from exc
    except DecisionRefused as exc:
        raise HTTPException(REFUSAL_STATUS[exc.code], detail={"error": exc.code, "reason": str(exc)}) from exc
    return DecisionOut(task_id=task_id, decision=body.decision.value, workflow_state=state.value)
