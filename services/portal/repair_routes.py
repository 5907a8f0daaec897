"""The system page's repair actions: Kafka dead letters (replay one or all, purge before a date) and set-aside
outbox rows (retry). The same operations as `eakte dlq` / `eakte outbox retry` (shared.dead_letters, the
services' outbox routes); admins only, every action with the form token, a German message after each.
"""

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from kafka.errors import KafkaError

from services.portal.backend import ServiceRefused, calls
from services.portal.identity import ADMIN, Csrf, User, allowed
from services.portal.pages import flash, not_found
from services.portal.wording import t
from shared.dead_letters import (
    DeadLetters,
    LetterNotFound,
    NotReplayable,
    StoredLetter,
    parse_before,
    parse_letter_id,
    source_of,
)

router = APIRouter(prefix="/admin/system")
Admin = Annotated[User, Depends(allowed(*ADMIN))]
NEWEST = 5
OUTBOX_SERVICES = ("ingest", "workflow", "archive")
BACK = "/admin/system"


@dataclass(frozen=True)
class TopicLetters:
    """One dead-letter topic on the system page: how many letters it holds, the newest few."""

    topic: str
    source: str
    count: int
    newest: list[StoredLetter]


def _letters(request: Request) -> DeadLetters:
    return DeadLetters.from_settings(request.app.state.settings)


def _overview(letters: DeadLetters) -> list[TopicLetters]:
    counts = letters.counts()
    return [
        TopicLetters(topic, source_of(topic), count, letters.newest(topic, NEWEST) if count else [])
        for topic, count in counts.items()
    ]


async def kafka_dead_letters(request: Request) -> list[TopicLetters] | None:
    """Every dead-letter topic with its count and newest letters; None when Kafka cannot be asked."""
    try:
        return await asyncio.to_thread(_overview, _letters(request))
    except (KafkaError, LetterNotFound):
        return None


def _back(request: Request, message: str, kind: str = "ok") -> Response:
    flash(request, message, kind)
    return RedirectResponse(BACK, status_code=303)


@router.post("/fehlerthemen/{topic}/erneut-senden", dependencies=[Csrf])
async def replay(request: Request, topic: str, _user: Admin, letter: Annotated[str, Form(alias="id")] = "") -> Response:
    """One letter (form field `id`) or, without it, every letter of the topic back to its source topic."""
    letters = _letters(request)
    if topic not in letters.topics:
        return not_found(request)
    try:
        if letter:
            done = await asyncio.to_thread(letters.replay, parse_letter_id(letter, topic))
            return _back(request, t("repair.replayed_one", id=str(done.letter), topic=done.topic))
        replayed, refused = await asyncio.to_thread(letters.replay_all, topic)
        message = t("repair.replayed_all", count=len(replayed), topic=source_of(topic))
        if refused:
            return _back(request, f"{message} {t('repair.skipped', count=len(refused))}", "error")
        return _back(request, message)
    except (ValueError, LetterNotFound):
        return _back(request, t("repair.letter_gone"), "error")
    except NotReplayable:
        return _back(request, t("repair.not_replayable"), "error")
    except KafkaError:
        return _back(request, t("repair.kafka_down"), "error")


@router.post("/fehlerthemen/{topic}/bereinigen", dependencies=[Csrf])
async def purge(request: Request, topic: str, _user: Admin, before: Annotated[str, Form(alias="vor")] = "") -> Response:
    """Delete the topic's letters written before the day given (midnight UTC)."""
    letters = _letters(request)
    if topic not in letters.topics:
        return not_found(request)
    try:
        moment = parse_before(before)
    except ValueError:
        return _back(request, t("repair.bad_date"), "error")
    try:
        deleted = await asyncio.to_thread(letters.purge, topic, moment)
    except KafkaError:
        return _back(request, t("repair.kafka_down"), "error")
    day = moment.strftime("%d.%m.%Y")
    return _back(request, t("repair.purged", count=deleted, topic=source_of(topic), day=day))


@router.post("/ausgang/{service}/{row_id}/erneut-senden", dependencies=[Csrf])
async def retry(request: Request, service: str, row_id: int, user: Admin) -> Response:
    """Put a set-aside outbox row back into the service's outbox: its relay publishes it."""
    if service not in OUTBOX_SERVICES:
        return not_found(request)
    try:
        answer: dict[str, Any] = await calls(request, user).post(service, f"/api/v1/outbox/dead-letters/{row_id}/retry")
    except ServiceRefused as exc:
        message = t("repair.row_gone") if exc.status == 404 else t("repair.refused", reason=str(exc.status))
        return _back(request, message, "error")
    return _back(request, t("repair.retried", service=t(f"services.{service}"), row=answer["outbox_id"]))
