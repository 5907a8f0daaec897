"""Open311 GeoReport v2 for citizens' defect-reporting apps: the report types, reports in, their public status.

Open without an OIDC token (the request gate lets exactly these paths through): a report needs the client
app's `api_key` (query parameter, checked before the body is read, or form field) and is counted against the
key's rate limit; the body is bounded before it is read. The public views carry no personal data.
"""

import json
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.types import Message

from services.ingest.domain import PublicStatus, report_place
from services.ingest.multipart import MalformedUpload, ReceivedForm, receive_form
from services.ingest.open311 import Open311Reports, Photo, PublicRequest, Report
from services.ingest.open311_repository import RequestFilter
from shared.errors import InvalidRequest, Refused


class Open311Route(APIRoute):
    """Errors in GeoReport v2's shape: a list of `{"code": <HTTP status>, "description": ...}` (apps read that),
    keeping the project's own fields (`error`, `reason`, `message`) beside them."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_in_open311_shape(request: Request) -> Response:
            try:
                return await handle(request)
            except (Refused, HTTPException, RequestValidationError) as exc:
                return await _open311_error(request, exc)

        return handle_in_open311_shape


async def _open311_error(request: Request, exc: Exception) -> Response:
    """The app's own answer to `exc` (status, headers, fields), its body turned into GeoReport v2's error list."""
    answer = request.app.exception_handlers[next(c for c in type(exc).__mro__ if c in request.app.exception_handlers)]
    response: Response = await answer(request, exc)
    fields = json.loads(bytes(response.body))
    description = fields.get("message") or fields.get("reason") or fields.get("error") or "error"
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
    body = [{"code": response.status_code, "description": description, **fields}]
    return JSONResponse(body, status_code=response.status_code, headers=headers)


router = APIRouter(prefix="/open311/v2", route_class=Open311Route)

REFUSAL_STATUS: dict[str, int] = {
    "invalid_api_key": 403,
    "missing_location": 400,
    "invalid_location": 400,
    "too_large": 413,
}
DESCRIPTION_CHARS = 4000  # GeoReport v2: a description of up to 4,000 characters
CONTACT_FIELDS = ("first_name", "last_name", "email", "phone")
DEFAULT_SPAN = timedelta(days=90)
MAX_RESULTS = 1000


class _BodyTooLarge(MalformedUpload):
    """The body passed its bound while it was read (a MalformedUpload, so that the multipart parser passes it on)."""


class _KeyRefused(MalformedUpload):
    """The form's `api_key` field is not a valid key: the upload stops before its photo is read."""


def _reports(request: Request) -> Open311Reports:
    reports: Open311Reports = request.app.state.open311
    return reports


def _admit(reports: Open311Reports, key: str) -> str:
    """The client app of the key (403 when missing or unknown), counted against its rate limit (429)."""
    client = reports.client_of(key)
    wait = reports.retry_after(client)
    if wait is not None:
        body = {"error": "rate_limited", "reason": f"too many requests for this api_key; retry in {wait} s"}
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail=body, headers={"Retry-After": str(wait)})
    return client


@router.get("/services.json")
async def services(request: Request) -> list[dict[str, Any]]:
    """The report types a citizen can choose (config/open311_services.yaml)."""
    return [
        {
            "service_code": s.code,
            "service_name": s.name,
            "description": s.description,
            "metadata": False,
            "type": "realtime",
            "keywords": ",".join(s.keywords),
            "group": s.group,
        }
        for s in _reports(request).services.values()
    ]


@router.post("/requests.json", status_code=status.HTTP_201_CREATED)
async def post_request(request: Request) -> list[dict[str, Any]]:
    """A citizen's report: `service_code`, `lat`+`long` and/or `address_string`, `description`, `media` (a JPEG or
    PNG photo; `media_url` is ignored), optional contact (`first_name`, `last_name`, `email`, `phone`), `api_key`."""
    reports = _reports(request)
    key = request.query_params.get("api_key")
    client = _admit(reports, key) if key is not None else None  # before a byte of the body is read
    # Each request spools into a directory of its own, removed with all in it whatever happens (a refused key
    # may stop the form after its photo was spooled).
    with tempfile.TemporaryDirectory(dir=reports.spool_dir) as spool:
        form = await _read_form(request, reports, Path(spool), check_key=client is None)
        client = client or _admit(reports, form.text("api_key"))
        submitted = await run_in_threadpool(reports.submit, client, _report(form))
    return [
        {"service_request_id": submitted.request_id, "service_notice": submitted.notice or None, "account_id": None}
    ]


@router.get("/requests/{request_id}.json")
async def get_request(request: Request, request_id: str) -> list[dict[str, Any]]:
    return [_public(await run_in_threadpool(_reports(request).request, request_id))]


@router.get("/requests.json")
async def get_requests(
    request: Request,
    service_request_id: Annotated[str, Query()] = "",
    service_code: Annotated[str, Query()] = "",
    start_date: Annotated[datetime | None, Query()] = None,
    end_date: Annotated[datetime | None, Query()] = None,
    status_: Annotated[str, Query(alias="status")] = "",
) -> list[dict[str, Any]]:
    """Reports by ids (comma-separated), else by type, time span (default the last 90 days) and status."""
    ids = [i.strip() for i in service_request_id.split(",") if i.strip()][:MAX_RESULTS]
    wanted = _statuses(status_)
    if not ids and start_date is None:
        start_date = (end_date or datetime.now(UTC)) - DEFAULT_SPAN
    query = RequestFilter(ids, service_code, _aware(start_date), _aware(end_date), MAX_RESULTS)
    return [_public(r) for r in await run_in_threadpool(_reports(request).requests, query, wanted)]


def _statuses(text: str) -> frozenset[PublicStatus]:
    try:
        return frozenset(PublicStatus(s.strip()) for s in text.split(",") if s.strip())
    except ValueError as exc:
        raise InvalidRequest("invalid_status", "status must be `open`, `closed` or both, comma-separated") from exc


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _public(view: PublicRequest) -> dict[str, Any]:
    return {
        "service_request_id": view.request_id,
        "status": view.status.value,
        "status_notes": view.status_notes or None,
        "service_name": view.service.name if view.service else view.service_code,
        "service_code": view.service_code,
        "agency_responsible": view.service.agency if view.service else None,
        "service_notice": view.notice or None,
        "requested_datetime": view.requested_at.isoformat(timespec="seconds"),
        "updated_datetime": view.updated_at.isoformat(timespec="seconds"),
        "expected_datetime": None,
        "address": view.place.address or None,
        "address_id": None,
        "zipcode": None,
        "lat": view.place.lat,
        "long": view.place.long,
        "media_url": None,
    }


def _report(form: ReceivedForm) -> Report:
    media = next((f for f in form.files if f.field_name == "media" and f.size), None)
    return Report(
        service_code=form.text("service_code"),
        place=report_place(form.text("lat"), form.text("long"), form.text("address_string")),
        description=form.text("description")[:DESCRIPTION_CHARS],
        contact={name: form.text(name)[:200] for name in CONTACT_FIELDS if form.text(name)},
        photo=Photo(media.path, media.size, media.too_large) if media else None,
    )


async def _read_form(request: Request, reports: Open311Reports, spool: Path, check_key: bool) -> ReceivedForm:
    """The form (multipart with a `media` photo, or URL-encoded), its body bounded before and while it is read;
    with `check_key`, a multipart form stops at an invalid `api_key` field (sent before the photo, it is never read)."""
    max_body = reports.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        raise Refused("too_large", f"the request body is larger than {max_body} bytes")
    bounded = Request(request.scope, _bounded(request.receive, max_body))
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data"):
            hook = _key_check(reports) if check_key else None
            return await receive_form(bounded, spool, reports.max_photo_bytes, 1, hook)
        body = b"".join([chunk async for chunk in bounded.stream()])
    except _BodyTooLarge as exc:
        raise Refused("too_large", str(exc)) from exc
    except _KeyRefused as exc:
        raise Refused("invalid_api_key", str(exc)) from exc
    except MalformedUpload as exc:
        raise InvalidRequest("malformed_request", str(exc)) from exc
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return ReceivedForm({name: values[-1] for name, values in fields.items()}, [])


def _key_check(reports: Open311Reports) -> Callable[[str, str], None]:
    def check(name: str, value: str) -> None:
        if name == "api_key":
            try:
                reports.client_of(value)
            except Refused as exc:
                raise _KeyRefused(str(exc)) from exc

    return check


def _bounded(receive: Callable[[], Awaitable[Message]], limit: int) -> Callable[[], Awaitable[Message]]:
    received = 0

    async def bounded_receive() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise _BodyTooLarge(f"the request body is larger than {limit} bytes")
        return message

    return bounded_receive
