"""Approver pages: the inbox (own, via role or org unit, as a deputy), deciding, and recording an absence."""

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from services.portal.backend import ServiceRefused, calls
from services.portal.identity import APPROVER, Csrf, User, allowed
from services.portal.inbox import InboxFilter, outcome_text
from services.portal.inbox import pages as inbox_pages
from services.portal.pages import flash, render
from services.portal.preview_routes import preview_of
from services.portal.timeline import timeline
from services.portal.wording import t, t_or

router = APIRouter()
Approver = Annotated[User, Depends(allowed(*APPROVER))]
DUE_SOON = timedelta(days=1)
MAX_BULK = 200  # tasks decided at once (the workflow's limit)


def inbox_counts(tasks: list[dict[str, Any]], now: datetime) -> dict[str, int]:
    """The figures above the inbox: all, overdue, due within a day, and those held as someone's deputy."""
    deadlines = [datetime.fromisoformat(task["deadline_at"]) for task in tasks if task.get("deadline_at")]
    return {
        "total": len(tasks),
        "overdue": sum(1 for d in deadlines if d < now),
        "due_soon": sum(1 for d in deadlines if now <= d < now + DUE_SOON),
        "deputy": sum(1 for task in tasks if task.get("on_behalf_of")),
    }


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("/aufgaben")
async def inbox(request: Request, user: Approver) -> Response:
    """A page of the inbox, filtered and sorted on the workflow service (usable with hundreds of tasks)."""
    chosen = InboxFilter.of(dict(request.query_params))
    page = await calls(request, user).get("workflow", "/api/v1/inbox", **chosen.api_params())
    now = _now()
    for task in page["items"]:
        task["overdue"] = bool(task.get("deadline_at")) and datetime.fromisoformat(task["deadline_at"]) < now
    return render(
        request,
        "inbox.html",
        tasks=page["items"],
        counts=page["counts"],
        page=page,
        chosen=chosen,
        seite=chosen.seite,
        pages=inbox_pages(page["total"]),
        page_link=chosen.page_link(),
    )


@router.post("/aufgaben/sammelfreigabe", dependencies=[Csrf])
async def approve_many(
    request: Request,
    user: Approver,
    task_id: Annotated[list[str] | None, Form()] = None,
    comment: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Approve the chosen tasks with one comment; the workflow decides and audits each one by itself."""
    chosen = list(dict.fromkeys(task_id or []))[:MAX_BULK]
    if not chosen:
        flash(request, t("inbox.none_chosen"), "error")
        return RedirectResponse("/aufgaben", status_code=303)
    form = await request.form()  # each row's title, as the page showed it (a task may be gone by now)
    titles = {task: str(form.get(f"title.{task}") or task)[:500] for task in chosen}
    body = {"task_ids": chosen, "decision": "approve", "comment": comment.strip()}
    answer = await calls(request, user).post("workflow", "/api/v1/tasks/decisions", json=body)
    results = [
        {**r, "title": titles.get(r["task_id"], r["task_id"]), "text": outcome_text(r)} for r in answer["results"]
    ]
    return render(request, "inbox_results.html", results=results, decided=answer["decided"], refused=answer["refused"])


async def _my_task(request: Request, user: User, task_id: str) -> dict[str, Any] | None:
    tasks = await calls(request, user).get("workflow", "/api/v1/tasks")
    return next((task for task in tasks if task["task_id"] == task_id), None)


@router.get("/aufgaben/{task_id}")
async def task_page(request: Request, task_id: str, user: Approver) -> Response:
    task = await _my_task(request, user, task_id)
    if task is None:
        return render(request, "error.html", 404, title=t("tasks.gone_title"), message=t("tasks.gone"))
    return await _render_task(request, user, task)


async def _render_task(
    request: Request, user: User, task: dict[str, Any], error: str = "", status_code: int = 200
) -> Response:
    api = calls(request, user)
    document_path = f"/api/v1/documents/{quote(task['document_id'])}"
    document, workflow = await asyncio.gather(
        api.get("ingest", document_path), api.get("workflow", f"/api/v1/workflows/{quote(task['document_id'])}")
    )
    preview = await preview_of(api, task["document_id"])
    return render(
        request,
        "task.html",
        status_code,
        task=task,
        document=document,
        workflow=workflow,
        steps=timeline(document),
        preview=preview,
        error=error,
    )


@router.post("/aufgaben/{task_id}/entscheidung", dependencies=[Csrf])
async def decide(
    request: Request,
    task_id: str,
    user: Approver,
    decision: Annotated[str, Form()] = "",
    comment: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    task = await _my_task(request, user, task_id)
    if task is None:
        return render(request, "error.html", 404, title=t("tasks.gone_title"), message=t("tasks.gone"))
    if decision not in ("approve", "reject", "return"):
        return await _render_task(request, user, task, t("tasks.choose_decision"), 422)
    if decision in ("reject", "return") and not comment.strip():
        return await _render_task(request, user, task, t("tasks.reason_required"), 422)
    body = {"decision": decision, "comment": comment.strip()}
    try:
        await calls(request, user).post("workflow", f"/api/v1/tasks/{quote(task_id)}/decision", json=body)
    except ServiceRefused as exc:
        message = t_or(f"decision_errors.{exc.code}", str(exc.body.get("reason") or exc.status))
        return await _render_task(request, user, task, message, exc.status)
    flash(request, t(f"tasks.decided.{decision}", title=task["title"] or task["document_id"]))
    return RedirectResponse("/aufgaben", status_code=303)


@router.get("/abwesenheit")
async def absence_page(request: Request, user: Approver) -> Response:
    absences = await calls(request, user).get("workflow", "/api/v1/absences")
    return render(request, "absence.html", absences=absences, today=date.today().isoformat(), form={})


@router.post("/abwesenheit", dependencies=[Csrf])
async def record_absence(
    request: Request,
    user: Approver,
    deputy: Annotated[str, Form(max_length=200)] = "",
    starts_on: Annotated[str, Form()] = "",
    ends_on: Annotated[str, Form()] = "",
) -> Response:
    form = {"deputy": deputy, "starts_on": starts_on, "ends_on": ends_on}
    error = _absence_error(user.name, deputy, starts_on, ends_on)
    if not error:
        try:
            await calls(request, user).post("workflow", "/api/v1/absences", json=form)
        except ServiceRefused as exc:
            error = t("absence.refused", reason=str(exc.body.get("reason") or exc.status))
    if error:
        absences = await calls(request, user).get("workflow", "/api/v1/absences")
        return render(
            request, "absence.html", 422, absences=absences, today=date.today().isoformat(), form=form, error=error
        )
    flash(request, t("absence.saved", deputy=deputy.strip()))
    return RedirectResponse("/abwesenheit", status_code=303)


def _absence_error(user: str, deputy: str, starts_on: str, ends_on: str) -> str:
    """The form's mistakes in German before the workflow service is asked (it checks the same again)."""
    if not deputy.strip():
        return t("absence.deputy_required")
    if deputy.strip() == user:
        return t("absence.not_yourself")
    try:
        start, end = date.fromisoformat(starts_on), date.fromisoformat(ends_on)
    except ValueError:
        return t("absence.dates_required")
    if end < start:
        return t("absence.end_before_start")
    return ""
