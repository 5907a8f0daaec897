"""Admin pages: the quarantine (reasons, release, discard) and the state of the services and topics."""

import asyncio
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.portal.backend import SERVICES, Backend, ServiceDown, ServiceRefused, calls
from services.portal.identity import ADMIN, Csrf, User, allowed
from services.portal.lag import KafkaError, consumer_lag
from services.portal.pages import flash, not_found, render
from services.portal.repair_routes import kafka_dead_letters
from services.portal.wording import t

router = APIRouter(prefix="/admin")
Admin = Annotated[User, Depends(allowed(*ADMIN))]
PAGE_SIZE = 50
STATES = ("held", "released", "discarded")


@router.get("/quarantaene")
async def quarantine_page(
    request: Request, user: Admin, zustand: str = "held", seite: Annotated[int, Query(ge=1)] = 1
) -> Response:
    state = zustand if zustand in STATES else "held"
    page = await calls(request, user).get(
        "ingest", "/api/v1/quarantine", state=state, limit=PAGE_SIZE, offset=(seite - 1) * PAGE_SIZE
    )
    pages = max(1, -(-page["total"] // PAGE_SIZE))
    return render(request, "quarantine.html", page=page, state=state, states=STATES, seite=seite, pages=pages)


@router.get("/quarantaene/{quarantine_id}/datei")
async def quarantined_file(request: Request, quarantine_id: str, user: Admin) -> Response:
    """The refused bytes as a download, never shown in the page (the service sends them as an attachment)."""
    answer = await calls(request, user).stream("ingest", "GET", f"/api/v1/quarantine/{quote(quarantine_id)}/content")
    response = answer.response()
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.post("/quarantaene/{quarantine_id}/{action}", dependencies=[Csrf])
async def quarantine_action(request: Request, quarantine_id: str, action: str, user: Admin) -> Response:
    paths = {"freigeben": "release", "verwerfen": "discard"}
    if action not in paths:
        return not_found(request)
    try:
        result = await calls(request, user).post("ingest", f"/api/v1/quarantine/{quote(quarantine_id)}/{paths[action]}")
        flash(request, _released(result) if action == "freigeben" else t("quarantine.discarded"))
    except ServiceRefused as exc:
        flash(request, _refused(exc), "error")
    return RedirectResponse("/admin/quarantaene", status_code=303)


def _released(result: dict[str, Any]) -> str:
    return t("quarantine.released", document_id=result.get("document_id", ""))


def _refused(exc: ServiceRefused) -> str:
    if exc.status == 404:
        return t("quarantine.not_held")
    if exc.body.get("error") == "document_rejected":
        return t("quarantine.still_rejected", reason=str(exc.body.get("message") or exc.body.get("reason")))
    return t("quarantine.refused", reason=str(exc.body.get("message") or exc.body.get("reason") or exc.status))


@router.get("/system")
async def system_page(request: Request, user: Admin) -> Response:
    backend: Backend = request.app.state.backend
    healthy = await asyncio.gather(*(backend.health(name) for name in SERVICES))
    try:
        settings = request.app.state.settings
        lag = await asyncio.to_thread(
            consumer_lag, settings.kafka_bootstrap, settings.kafka_username, settings.kafka_password
        )
        kafka_ok = True
    except KafkaError:
        lag, kafka_ok = [], False
    services = [
        {"name": name, "label": t(f"services.{name}"), "ok": ok} for name, ok in zip(SERVICES, healthy, strict=True)
    ]
    letters, unknown = await _dead_letters(request, user)
    kafka_letters = await kafka_dead_letters(request)
    fixity = await _fixity(request, user)
    return render(
        request,
        "system.html",
        services=services,
        kafka_ok=kafka_ok,
        lag=lag,
        letters=letters,
        letters_unknown=unknown,
        kafka_letters=kafka_letters,
        fixity=fixity,
    )


async def _fixity(request: Request, user: User) -> dict[str, Any] | None:
    """The archive's scheduled fixity figures (last and running cycle); None when the archive cannot say."""
    try:
        figures: dict[str, Any] = await calls(request, user).get("archive", "/api/v1/archive/fixity")
    except (ServiceDown, ServiceRefused):
        return None
    return figures


async def _dead_letters(request: Request, user: User) -> tuple[list[dict[str, Any]], list[str]]:
    """Every service's outbox rows the broker refused (newest first), and the services that could not say."""
    api = calls(request, user)
    answers = await asyncio.gather(
        *(api.get(name, "/api/v1/outbox/dead-letters", limit=20) for name in SERVICES), return_exceptions=True
    )
    letters: list[dict[str, Any]] = []
    unknown: list[str] = []
    for name, answer in zip(SERVICES, answers, strict=True):
        if isinstance(answer, BaseException):
            unknown.append(t(f"services.{name}"))
            continue
        letters += [{**item, "service": t(f"services.{name}"), "service_name": name} for item in answer["items"]]
    letters.sort(key=lambda item: str(item["moved_at"]), reverse=True)
    return letters, unknown
