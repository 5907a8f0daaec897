"""Open311 use cases: admit a client app, take a citizen's report in (through the intake queue), tell its status.

A report becomes a PDF record (shared.record_pdf) that the intake queue takes in with exactly the checks,
quarantine and filing of an upload (source `open311`): into the responsible org unit's Akte of its type and year,
with the type's workflow. A report at the place of an open one of the same type is linked to it, not filed again.
"""

import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from haversine import Unit, haversine
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from services.ingest.domain import (
    OPEN311_SOURCE,
    OPEN311_SUBMITTER,
    EarlierReport,
    Open311ServiceType,
    PublicStatus,
    Rejection,
    RejectionReason,
    ReportPlace,
    api_client,
    check_report_photo,
    duplicate_notice,
    first_report_here,
    parse_api_keys,
    public_status,
    sniff,
)
from services.ingest.fileplan import FilePlan
from services.ingest.inspection import image_to_pdf
from services.ingest.intake import IntakeItem, IntakeQueue
from services.ingest.open311_repository import DocumentProgress, RequestFilter
from services.ingest.open311_services import load_services
from services.ingest.tables import Open311RequestRow
from services.ingest.unit_of_work import IngestUnitOfWork
from services.ingest.uploads import Upload
from shared.errors import InvalidRequest, NotFound, Refused
from shared.events import utcnow
from shared.record_pdf import Section, record_pdf
from shared.settings import Settings


@dataclass(frozen=True)
class Photo:
    """The `media` upload, spooled to disk; `too_large` when it was cut at the limit while it streamed."""

    path: Path
    size: int
    too_large: bool


@dataclass(frozen=True)
class Report:
    service_code: str
    place: ReportPlace
    description: str
    contact: dict[str, str] = field(default_factory=dict)  # only in the PDF: name, e-mail, phone as given
    photo: Photo | None = None


@dataclass(frozen=True)
class Submitted:
    request_id: str
    duplicate_of: str | None
    notice: str


@dataclass(frozen=True)
class PublicRequest:
    """What anyone may read of a report: no description, no contact, no clerk (no personal data)."""

    request_id: str
    service: Open311ServiceType | None
    service_code: str
    status: PublicStatus
    status_notes: str
    notice: str
    requested_at: datetime
    updated_at: datetime
    place: ReportPlace
    has_photo: bool


FIELDS_BYTES = 256 * 1024  # the text fields of a report together, beside the photo
CONTACT_LABELS = {"first_name": "Vorname", "last_name": "Nachname", "email": "E-Mail", "phone": "Telefon"}


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(haversine(a, b, unit=Unit.METERS))


class Open311Reports:
    def __init__(
        self,
        settings: Settings,
        uow_factory: Callable[[], IngestUnitOfWork],
        intake: IntakeQueue,
        services: dict[str, Open311ServiceType],
        api_keys: tuple[str, ...],
    ) -> None:
        self._settings = settings
        self._uow = uow_factory
        self._intake = intake
        self.services = services
        self._keys = api_keys
        self._rate: RateLimitItem = parse(settings.open311_rate_limit)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._spool = settings.data_dir / "open311-spool"
        self._spool.mkdir(parents=True, exist_ok=True)
        self._placing = threading.Lock()  # duplicate check and registration of one report at a time (per replica)
        self._zone = ZoneInfo(settings.timezone)
        intake.on_finished(OPEN311_SOURCE, self._drop_record)

    @property
    def spool_dir(self) -> Path:
        return self._spool

    @property
    def max_photo_bytes(self) -> int:
        return self._settings.open311_max_photo_bytes

    @property
    def max_body_bytes(self) -> int:
        """A report's whole body: the photo and its text fields (multipart framing included)."""
        return self._settings.open311_max_photo_bytes + FIELDS_BYTES

    # --- admission ------------------------------------------------------------------------------------
    def client_of(self, key: str) -> str:
        """The client app of an api_key; a missing or unknown key is refused (403)."""
        client = api_client(key, self._keys)
        if client is None:
            raise Refused("invalid_api_key", "a valid `api_key` of a registered client app is required")
        return client

    def retry_after(self, client: str) -> int | None:
        """Count one request of the client; seconds to wait when it has used up its requests, else None."""
        if self._limiter.hit(self._rate, client):
            return None
        stats = self._limiter.get_window_stats(self._rate, client)
        return max(1, math.ceil(stats.reset_time - time.time()))

    # --- taking a report in -------------------------------------------------------------------------
    def service(self, code: str) -> Open311ServiceType:
        service = self.services.get(code)
        if service is None:
            raise InvalidRequest("unknown_service_code", f"service_code {code!r} is not one of services.json")
        return service

    def check_photo(self, photo: Photo) -> bytes:
        """The photo's bytes once it passed the checks of any intake (type by its bytes, size, a sandboxed decode)."""
        with photo.path.open("rb") as handle:
            head = handle.read(1024)
        size = self._settings.open311_max_photo_bytes + 1 if photo.too_large else photo.size
        rejection = check_report_photo(sniff(head), size, self._settings.open311_max_photo_bytes)
        if rejection is None:
            rendition = photo.path.with_name(photo.path.name + ".check.pdf")
            try:
                limits = (self._settings.max_pages, self._settings.pdf_check_timeout_s)
                verdict = image_to_pdf(photo.path, rendition, *limits)
            finally:
                rendition.unlink(missing_ok=True)
            rejection = verdict if isinstance(verdict, Rejection) else None
        if rejection is not None and rejection.reason is RejectionReason.TOO_LARGE:
            raise Refused("too_large", f"{rejection.message} ({rejection.detail})")
        if rejection is not None:
            raise InvalidRequest(f"media_{rejection.reason.value}", f"{rejection.message} ({rejection.detail})")
        return photo.path.read_bytes()

    def submit(self, client: str, report: Report) -> Submitted:
        service = self.service(report.service_code)
        photo = self.check_photo(report.photo) if report.photo else None
        request_id, at = str(uuid.uuid4()), utcnow()
        record = self._render(service, report, photo, request_id, at)  # outside the lock: reports render side by side
        with self._placing:
            first = self._first_report_here(service, report.place, at)
            row = Open311RequestRow(
                request_id=request_id,
                service_code=service.code,
                lat=report.place.lat,
                long=report.place.long,
                address=report.place.address,
                requested_at=at,
                client=client,
                duplicate_of=first,
                has_photo=photo is not None,
            )
            if first is None:  # the report's row and its intake item in one transaction
                self._queue_record(service, report, record, row, at)
            else:
                with self._uow() as uow:
                    uow.open311.add(row)
        return Submitted(request_id, first, duplicate_notice(first) if first else "")

    def _first_report_here(self, service: Open311ServiceType, place: ReportPlace, at: datetime) -> str | None:
        window = timedelta(hours=self._settings.open311_duplicate_window_h)
        with self._uow() as uow:
            rows = uow.open311.first_reports_since(service.code, at - window)
            progress = uow.open311.progress_of([r.document_id for r in rows if r.document_id])
        earlier = [
            EarlierReport(r.request_id, _place(r), r.requested_at, _closed(progress.get(r.document_id or "")))
            for r in rows
        ]
        radius = self._settings.open311_duplicate_radius_m
        return first_report_here(place, at, earlier, radius, window, _distance_m)

    def _queue_record(
        self, service: Open311ServiceType, report: Report, record: bytes, row: Open311RequestRow, at: datetime
    ) -> None:
        """Hand the report's PDF record to the intake queue, recording the report with the id its document gets."""
        item_id, request_id = str(uuid.uuid4()), row.request_id
        row.document_id = item_id
        path = self._spool / item_id
        path.write_bytes(record)
        local = at.astimezone(self._zone)
        upload = Upload(
            filename=f"maengelmeldung-{request_id}.pdf",
            submitted_by=OPEN311_SUBMITTER,
            title=f"Mängelmeldung {service.name}: {_where(report.place)}",
            document_type="Mängelmeldung",
            new_akte_class=service.file_plan_class,
            new_akte_title=f"Mängelmeldungen {service.name} {local.year}",
            find_or_open_akte=True,
            workflow=service.workflow,
            source=OPEN311_SOURCE,
            org_unit=service.org_unit,
        )
        self._intake.add(item_id, OPEN311_SOURCE, path, upload, along=lambda uow: uow.open311.add(row))

    def _render(
        self, service: Open311ServiceType, report: Report, photo: bytes | None, request_id: str, at: datetime
    ) -> bytes:
        place = report.place
        rows = [
            ("Art der Meldung", service.name),
            ("Zuständig", service.agency),
            ("Meldungsnummer", request_id),
            ("Eingegangen am", at.astimezone(self._zone).strftime("%d.%m.%Y um %H:%M Uhr")),
            ("Adresse", place.address or "—"),
            ("Koordinaten (WGS 84)", f"{place.lat:.6f}, {place.long:.6f}" if place.has_coordinates else "—"),
        ]
        sections = [Section("Meldung", rows), Section("Beschreibung", text=report.description or "—")]
        contact = [(CONTACT_LABELS[k], v) for k, v in report.contact.items() if v and k in CONTACT_LABELS]
        if contact:
            sections.append(Section("Kontakt der meldenden Person", contact))
        sections.append(Section("Foto", images=[photo]) if photo else Section("Foto", text="Kein Foto übermittelt."))
        footer = f"Mängelmeldung {request_id} · eingegangen über die Mängelmelde-App (Open311)"
        return record_pdf(f"Mängelmeldung: {service.name}", sections, footer)

    @staticmethod
    def _drop_record(item: IntakeItem) -> None:
        item.path.unlink(missing_ok=True)  # the queue took it in (or failed it: the reason is in its row)

    # --- public views -------------------------------------------------------------------------------
    def request(self, request_id: str) -> PublicRequest:
        found = self.requests(RequestFilter(request_ids=[request_id]))
        if not found:
            raise NotFound(f"no service request {request_id!r}")
        return found[0]

    def requests(self, query: RequestFilter, status: frozenset[PublicStatus] = frozenset()) -> list[PublicRequest]:
        with self._uow() as uow:
            rows = uow.open311.find(query)
            firsts = {r.duplicate_of for r in rows if r.duplicate_of}
            first_rows = {i: uow.open311.get(i) for i in firsts}
            ids = [r.document_id for r in [*rows, *first_rows.values()] if r is not None and r.document_id]
            progress = uow.open311.progress_of(ids)
        views = [self._view(r, first_rows.get(r.duplicate_of or ""), progress) for r in rows]
        return [v for v in views if not status or v.status in status]

    def _view(
        self, row: Open311RequestRow, first: Open311RequestRow | None, progress: dict[str, DocumentProgress]
    ) -> PublicRequest:
        decisive = first or row  # a duplicate shares the status of the report it was linked to
        reached = progress.get(decisive.document_id or "")
        status, notes = public_status(reached.intake_failed, reached.history) if reached else (PublicStatus.OPEN, "")
        updated = max(row.requested_at, reached.updated_at) if reached and reached.updated_at else row.requested_at
        return PublicRequest(
            request_id=row.request_id,
            service=self.services.get(row.service_code),
            service_code=row.service_code,
            status=status,
            status_notes=notes,
            notice=duplicate_notice(row.duplicate_of) if row.duplicate_of else "",
            requested_at=row.requested_at,
            updated_at=updated,
            place=_place(row),
            has_photo=row.has_photo,
        )


def _place(row: Open311RequestRow) -> ReportPlace:
    return ReportPlace(row.lat, row.long, row.address)


def _closed(progress: DocumentProgress | None) -> bool:
    return progress is not None and public_status(progress.intake_failed, progress.history)[0] is PublicStatus.CLOSED


def _where(place: ReportPlace) -> str:
    if place.address:
        return place.address[:200]
    return f"{place.lat:.5f}, {place.long:.5f}"


def open311_reports(
    settings: Settings,
    uow_factory: Callable[[], IngestUnitOfWork],
    intake: IntakeQueue,
    file_plan: FilePlan,
    workflows: frozenset[str],
) -> Open311Reports:
    """The Open311 channel as the settings configure it; a broken report list or a weak key stops start-up."""
    services = load_services(settings.open311_services, file_plan, workflows)
    return Open311Reports(settings, uow_factory, intake, services, parse_api_keys(settings.open311_api_keys))
