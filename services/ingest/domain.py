"""The ingest domain: a document's life as the post room sees it. Imports nothing of Kafka, MinIO or HTTP."""

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from shared.errors import Refused
from shared.need_to_know import DocumentFacts


class DocumentStatus(StrEnum):
    RECEIVED = "received"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    ARCHIVED = "archived"
    # Entries of the history that are not lifecycle steps: OCR ran beside the lifecycle.
    OCR_DONE = "ocr_done"
    OCR_FAILED = "ocr_failed"
    # Returned for revision: back to the submitter, who uploads a new version.
    RETURNED = "returned"


# Events from different topics may arrive in any order; a document's status is the furthest step reached.
_STAGE = {
    DocumentStatus.RECEIVED: 0,
    DocumentStatus.IN_REVIEW: 1,
    DocumentStatus.APPROVED: 2,
    DocumentStatus.REJECTED: 2,
    DocumentStatus.ARCHIVED: 3,
}
# What `furthest_status` can yield: the values a list of documents may be filtered by.
LIFECYCLE_STATUSES: frozenset[DocumentStatus] = frozenset(_STAGE)
# The lifecycle from first to furthest step (a database can rank a history by it, as `furthest_status` does).
LIFECYCLE_ORDER: tuple[DocumentStatus, ...] = tuple(sorted(_STAGE, key=lambda s: _STAGE[s]))


def awaiting_revision(history: list[DocumentStatus]) -> bool:
    """Returned for revision and no new version received since."""
    relevant = [s for s in history if s in (DocumentStatus.RETURNED, DocumentStatus.RECEIVED)]
    return bool(relevant) and relevant[-1] is DocumentStatus.RETURNED


def furthest_status(statuses: list[DocumentStatus]) -> DocumentStatus:
    lifecycle = [s for s in statuses if s in _STAGE]
    return max(lifecycle, key=lambda s: _STAGE[s], default=DocumentStatus.RECEIVED)


@dataclass(frozen=True)
class StatusChange:
    status: DocumentStatus
    at: datetime
    by: str


class RejectionReason(StrEnum):
    """Why a file did not enter the e-file; the value is the API's `reason`, the message is for the clerk."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    NOT_A_PDF = "not_a_pdf"
    UNSUPPORTED_TYPE = "unsupported_type"
    ENCRYPTED = "encrypted"
    TRUNCATED = "truncated"
    UNREADABLE = "unreadable"
    TOO_MANY_PAGES = "too_many_pages"
    NO_PAGES = "no_pages"
    TIMEOUT = "timeout"
    BAD_IMAGE = "bad_image"


GERMAN_MESSAGES: dict[RejectionReason, str] = {
    RejectionReason.EMPTY: "Die Datei ist leer.",
    RejectionReason.TOO_LARGE: "Die Datei ist größer als erlaubt.",
    RejectionReason.NOT_A_PDF: "Die Datei ist weder ein PDF-Dokument noch ein Bild (TIFF, PNG, JPEG).",
    RejectionReason.UNSUPPORTED_TYPE: "Dieses Dateiformat wird nicht angenommen (erlaubt: PDF, TIFF, PNG, JPEG).",
    RejectionReason.ENCRYPTED: "Das PDF ist mit einem Passwort geschützt und kann nicht geöffnet werden.",
    RejectionReason.TRUNCATED: "Das PDF ist unvollständig (abgeschnitten) und kann nicht gelesen werden.",
    RejectionReason.UNREADABLE: "Das PDF ist beschädigt und kann nicht gelesen werden.",
    RejectionReason.TOO_MANY_PAGES: "Das PDF hat mehr Seiten als erlaubt.",
    RejectionReason.NO_PAGES: "Das PDF enthält keine Seiten.",
    RejectionReason.TIMEOUT: "Die Prüfung der Datei hat zu lange gedauert.",
    RejectionReason.BAD_IMAGE: "Das Bild ist beschädigt und kann nicht gelesen werden.",
}


@dataclass(frozen=True)
class Rejection:
    reason: RejectionReason
    detail: str

    @property
    def message(self) -> str:
        return GERMAN_MESSAGES[self.reason]


@dataclass(frozen=True)
class PdfFacts:
    pages: int
    has_text: bool = False


class FileKind(StrEnum):
    PDF = "application/pdf"
    PNG = "image/png"
    JPEG = "image/jpeg"
    TIFF = "image/tiff"

    @property
    def extension(self) -> str:
        return {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "image/tiff": "tif"}[self.value]

    @property
    def is_image(self) -> bool:
        return self is not FileKind.PDF


SIGNATURES: tuple[tuple[bytes, FileKind], ...] = (
    (b"\x89PNG\r\n\x1a\n", FileKind.PNG),
    (b"\xff\xd8\xff", FileKind.JPEG),
    (b"II*\x00", FileKind.TIFF),
    (b"MM\x00*", FileKind.TIFF),
)
OTHER_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "ZIP archive or office document"),
    (b"GIF8", "GIF image"),
    (b"BM", "BMP image"),
    (b"\xd0\xcf\x11\xe0", "old Microsoft Office document"),
    (b"RIFF", "RIFF media file"),
    (b"\x7fELF", "executable program"),
    (b"MZ", "Windows program"),
)


def sniff(head: bytes) -> FileKind | Rejection:
    """Judge a file by its first bytes, never by its name or the client's content type."""
    if not head:
        return Rejection(RejectionReason.EMPTY, "file has no bytes")
    for signature, kind in SIGNATURES:
        if head.startswith(signature):
            return kind
    # PDF readers accept the header anywhere in the first 1024 bytes (after junk or whitespace).
    if b"%PDF-" in head[:1024]:
        return FileKind.PDF
    for signature, what in OTHER_SIGNATURES:
        if head.startswith(signature):
            return Rejection(RejectionReason.UNSUPPORTED_TYPE, f"{what}; accepted are PDF, TIFF, PNG and JPEG")
    return Rejection(RejectionReason.NOT_A_PDF, "neither a PDF (no %PDF- header) nor a TIFF, PNG or JPEG image")


def clean_filename(name: str | None) -> str:
    """A client's file name as a label only: no path parts, no control characters, at most 255 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    printable = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".")
    return printable[:255] or "unbenannt.pdf"


def rendition_filename(name: str) -> str:
    """The name a PDF rendition is offered under: the original's name with `.pdf` in place of its extension."""
    stem, dot, _extension = name.rpartition(".")
    base = stem if dot and stem else name
    return base[:251] + ".pdf"


# --- where a document's objects lie -------------------------------------------------------------------
RENDITION = "rendition.pdf"
OCR_DERIVATIVE = "ocr.pdf"
OCR_TEXT = "ocr.txt"


def original_name(kind: FileKind) -> str:
    return f"original.{kind.extension}"


def document_key(document_id: str | UUID, name: str = "", version: int = 1) -> str:
    """The object key of a document's file `name`: `documents/{id}/{name}`, from version 2 on under `v{n}/`.

    Without `name` it is the prefix of everything the document holds (what a purge removes).
    """
    folder = f"documents/{document_id}/" + (f"v{version}/" if version > 1 else "")
    return folder + name


# --- intake rules -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredCopy:
    """A document that already holds the same bytes, and where it is filed."""

    document_id: str
    aktenzeichen: str | None


def duplicate_of(copies: Sequence[StoredCopy], aktenzeichen: str, copies_in_other_akte: bool) -> str | None:
    """The document the same bytes already are, or None when the upload is new.

    With `copies_in_other_akte`, a deliberate copy into an Akte that holds none of them is a new document.
    """
    if not copies:
        return None
    if copies_in_other_akte and aktenzeichen and all(copy.aktenzeichen != aktenzeichen for copy in copies):
        return None
    return copies[0].document_id


@dataclass(frozen=True)
class OcrPolicy:
    enabled: bool
    max_pages: int


def needs_ocr(policy: OcrPolicy, has_text: bool, pages: int) -> bool:
    """A scan without a text layer gets one, unless OCR is off or the scan is too long for it."""
    return policy.enabled and not has_text and pages <= policy.max_pages


def next_version(previous: int | None) -> int:
    """The version a new upload gets: 1 for a new document, the previous version + 1 for a revision."""
    return previous + 1 if previous else 1


# --- who may do what ----------------------------------------------------------------------------------
def whose_documents(user: str, roles: frozenset[str], submitted_by: str | None) -> str:
    """A clerk lists their own documents; an admin may name someone else."""
    if not submitted_by or submitted_by == user:
        return user
    if "admin" not in roles:
        raise Refused("forbidden", "only an admin may list another user's documents")
    return submitted_by


def check_may_revise(user: str, roles: frozenset[str], submitted_by: str, awaiting: bool) -> None:
    """Only the submitter (or an admin) uploads a new version, and only of a document returned for revision."""
    if user != submitted_by and "admin" not in roles:
        raise Refused("not_submitter", "only the submitter uploads a new version")
    if not awaiting:
        raise Refused("not_returned", "the document was not returned for revision")


# How long each text an upload carries may be, the same for HTTP uploads, batches and hot-folder sidecars (an
# event carries them: unbounded, one document could make an event larger than the broker accepts).
# Descriptive texts are cut; identifiers are refused, because a cut reference would name something else.
DESCRIPTIVE_TEXT_LIMITS = {
    "title": 500,
    "document_type": 100,
    "sender": 500,
    "new_akte_title": 500,
    "vorgang_title": 500,
}
IDENTIFIER_LIMITS = {"aktenzeichen": 100, "vorgang_id": 100, "new_akte_class": 100, "workflow": 100}
TEXT_LIMITS = {**DESCRIPTIVE_TEXT_LIMITS, **IDENTIFIER_LIMITS, "filename": 255}


def bounded_text(name: str, value: str) -> str:
    """`value` cut to the limit of the upload field `name` (fields without a limit pass unchanged)."""
    limit = TEXT_LIMITS.get(name)
    return value if limit is None else value[:limit]


def overlong_identifier(fields: Mapping[str, str]) -> str | None:
    """Why the upload is refused when one of its identifiers is too long, else None."""
    for name, limit in IDENTIFIER_LIMITS.items():
        value = fields.get(name, "")
        if len(value) > limit:
            return f"{name} is {len(value)} characters long; at most {limit} are allowed"
    return None


def first_org_unit(org_units: Sequence[str] | frozenset[str]) -> str:
    """A person's first org unit (sorted), or empty for a member of none."""
    return min(org_units, default="")


def owning_org_unit(class_org_unit: str, creator_org_units: Sequence[str] | frozenset[str]) -> str:
    """An Akte's owning org unit: its file-plan class's `org_unit`, else its creator's first org unit."""
    return class_org_unit or first_org_unit(creator_org_units)


def document_facts(
    org_unit: str | None, submitters: Sequence[str], statuses: Sequence[str], confidential: bool | None
) -> DocumentFacts:
    """What ingest knows about who may see a document (task holders are the workflow's to know)."""
    return DocumentFacts(
        org_unit=org_unit or "",
        submitters=frozenset(submitters),
        archived=DocumentStatus.ARCHIVED.value in statuses,
        confidential=bool(confidential),
    )


def may_see_batch(user: str, roles: frozenset[str], uploaders: set[str]) -> bool:
    """A multi-file upload's progress (file names, document ids) is its uploader's and the admins'."""
    return "admin" in roles or uploaders == {user}


# --- backlog import (a scanning provider's delivery, `eakte import`) ------------------------------------------
IMPORT_SOURCE = "import"  # the `source` of a document taken in by a backlog import
RECEIVED_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y")  # ISO and the German `TT.MM.JJJJ` of most indexes


def received_date(text: str, formats: Sequence[str] = RECEIVED_DATE_FORMATS) -> date:
    """The date a paper document was received, read from an index; ValueError says why it is none."""
    value = text.strip()
    for pattern in formats:
        try:
            day = datetime.strptime(value, pattern).date()
        except ValueError:
            continue
        if day.year < 1800 or day > date.today():
            raise ValueError(f"date received {value!r} is not plausible")
        return day
    raise ValueError(f"date received {value!r} is not a date like {', '.join(formats)}")


# --- channels (the `source` of a document: how it reached the authority) -------------------------------------
# Each value with its German name for the portal (`Kanal`); a channel files through the intake queue and the same
# checks as an upload (issue 15: online applications over FIT-Connect, Open311 defect reports, the Poststelle mailbox).
CHANNEL_NAMES = {
    "upload": "Upload",
    "batch": "Upload",
    "hotfolder": "Scan",
    IMPORT_SOURCE: "Altbestand (Scan)",
    "fitconnect": "Online-Antrag",
    "open311": "Mängelmeldung",
    "email": "E-Mail",
}


def channel_name(source: str) -> str:
    """The German name of the channel a document came through (an unknown one is shown as it is)."""
    return CHANNEL_NAMES.get(source, source)


# --- Open311 GeoReport v2: citizen defect reports (issue 15) -------------------------------------------------
OPEN311_SOURCE = "open311"  # the `source` of a document made from a citizen's report
OPEN311_SUBMITTER = "open311"  # who submitted it, as the documents and the workflow name it
OPEN311_KEY_MIN_LENGTH = 16  # a client app's api_key: long enough not to be guessed


@dataclass(frozen=True)
class Open311ServiceType:
    """A report type of `config/open311_services.yaml` and where its reports are filed."""

    code: str
    name: str
    description: str
    group: str
    keywords: tuple[str, ...]
    org_unit: str
    agency: str  # `agency_responsible` of the public views, e.g. Tiefbauamt
    file_plan_class: str
    workflow: str


@dataclass(frozen=True)
class ReportPlace:
    """Where the defect is: coordinates (WGS 84) and/or the address the citizen typed."""

    lat: float | None
    long: float | None
    address: str

    @property
    def has_coordinates(self) -> bool:
        return self.lat is not None and self.long is not None


def report_place(lat: str, long: str, address: str) -> ReportPlace:
    """The place of a report from its form fields; a report names coordinates or an address (or both)."""
    address = " ".join(address.split())[:500]
    if not lat and not long:
        if not address:
            raise Refused("missing_location", "a report needs `lat` and `long` or an `address_string`")
        return ReportPlace(None, None, address)
    try:
        latitude, longitude = float(lat), float(long)
    except ValueError as exc:
        raise Refused("invalid_location", "`lat` and `long` must both be decimal degrees (WGS 84)") from exc
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        raise Refused("invalid_location", "`lat` must lie within ±90 and `long` within ±180 degrees")
    return ReportPlace(latitude, longitude, address)


@dataclass(frozen=True)
class EarlierReport:
    """An earlier, first report of the same type within the duplicate window (never itself a duplicate)."""

    request_id: str
    place: ReportPlace
    requested_at: datetime
    closed: bool


Distance = Callable[[tuple[float, float], tuple[float, float]], float]


def same_place(a: ReportPlace, b: ReportPlace, radius_m: float, distance_m: Distance) -> bool:
    """Within `radius_m` metres by coordinates; without coordinates on either side, the same typed address."""
    if a.has_coordinates and b.has_coordinates:
        return distance_m((a.lat or 0.0, a.long or 0.0), (b.lat or 0.0, b.long or 0.0)) <= radius_m
    return bool(a.address) and a.address.casefold() == b.address.casefold()


def first_report_here(
    place: ReportPlace,
    at: datetime,
    earlier: Sequence[EarlierReport],
    radius_m: float,
    window: timedelta,
    distance_m: Distance,
) -> str | None:
    """The still open first report of the same type at the same place within the window, else None: a new report
    there is linked to it instead of being filed again. Once the first is closed, a new report is a new matter."""
    candidates = [
        e
        for e in earlier
        if not e.closed and at - window <= e.requested_at <= at and same_place(place, e.place, radius_m, distance_m)
    ]
    return min(candidates, key=lambda e: e.requested_at).request_id if candidates else None


def api_client(key: str, configured: Sequence[str]) -> str | None:
    """The client app a key belongs to (a short fingerprint, never the key), or None for a missing/unknown key.

    Every configured key is compared in constant time, so the answer's timing does not reveal a prefix."""
    found = False
    for candidate in configured:
        found |= hmac.compare_digest(key.encode(), candidate.encode())
    return "app-" + hashlib.sha256(key.encode()).hexdigest()[:10] if key and found else None


def parse_api_keys(text: str) -> tuple[str, ...]:
    """`EAKTE_OPEN311_API_KEYS`: comma-separated; a key shorter than the minimum is refused at start-up."""
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    short = [k for k in keys if len(k) < OPEN311_KEY_MIN_LENGTH]
    if short:
        raise ValueError(
            f"EAKTE_OPEN311_API_KEYS: {len(short)} key(s) shorter than {OPEN311_KEY_MIN_LENGTH} characters"
        )
    return keys


class PublicStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


STATUS_NOTES = {
    DocumentStatus.APPROVED: "Erledigt. Vielen Dank für Ihre Meldung.",
    DocumentStatus.ARCHIVED: "Erledigt. Vielen Dank für Ihre Meldung.",
    DocumentStatus.REJECTED: "Geprüft und abgeschlossen; es sind keine Maßnahmen vorgesehen.",
}
NOT_TAKEN_IN_NOTE = "Die Meldung konnte nicht angenommen werden."


def public_status(intake_failed: bool, history: Sequence[DocumentStatus]) -> tuple[PublicStatus, str]:
    """`open`/`closed` and the `status_notes` a citizen reads: notes only once the workflow ended (or intake failed).

    Only the outcome is told: never a clerk's name or decision comment (they may hold personal data)."""
    if intake_failed:
        return PublicStatus.CLOSED, NOT_TAKEN_IN_NOTE
    reached = furthest_status(list(history))
    if reached in STATUS_NOTES:
        return PublicStatus.CLOSED, STATUS_NOTES[reached]
    return PublicStatus.OPEN, ""


def duplicate_notice(first_request_id: str) -> str:
    return f"Diese Stelle wurde bereits gemeldet (Meldung {first_request_id}); Ihre Meldung wurde ihr zugeordnet."


def check_report_photo(kind: FileKind | Rejection, size: int, max_bytes: int) -> Rejection | None:
    """A report's photo: a JPEG or PNG (by its bytes, never its name) of at most `max_bytes`."""
    if size > max_bytes:
        return Rejection(RejectionReason.TOO_LARGE, f"the photo has more than {max_bytes} bytes")
    if isinstance(kind, Rejection):
        return kind
    if kind not in (FileKind.JPEG, FileKind.PNG):
        return Rejection(RejectionReason.UNSUPPORTED_TYPE, f"{kind.value}; a photo must be a JPEG or PNG image")
    return None
