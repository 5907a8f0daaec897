"""The ingest domain: a document's life as the post room sees it. Imports nothing of Kafka, MinIO or HTTP."""

import email
import email.policy
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import getaddresses
from enum import StrEnum
from html.parser import HTMLParser
from typing import TypeVar
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


def passed_by(status: DocumentStatus) -> frozenset[DocumentStatus]:
    """The statuses a report of `status` moves a document past (`furthest_status` of the two is `status`); none for
    a history entry outside the lifecycle. Lets a database apply a report in one statement."""
    if status not in _STAGE:
        return frozenset()
    return frozenset(s for s in _STAGE if _STAGE[s] < _STAGE[status])


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
    text: str = ""  # the text layer, for the search (capped at MAX_TEXT_CHARS)


class FileKind(StrEnum):
    PDF = "application/pdf"
    PNG = "image/png"
    JPEG = "image/jpeg"
    TIFF = "image/tiff"
    # An e-mail of the Poststelle mailbox (source `email`): the original of record, with a PDF rendition.
    MESSAGE = "message/rfc822"

    @property
    def extension(self) -> str:
        return {
            "application/pdf": "pdf",
            "image/png": "png",
            "image/jpeg": "jpg",
            "image/tiff": "tif",
            "message/rfc822": "eml",
        }[self.value]

    @property
    def is_image(self) -> bool:
        return self in (FileKind.PNG, FileKind.JPEG, FileKind.TIFF)


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


def sniff(head: bytes, message_expected: bool = False) -> FileKind | Rejection:
    """Judge a file by its first bytes, never by its name or the client's content type.

    `message_expected`: the mailbox hands in an e-mail (`is_mail_message`); its bytes must look like one too.
    """
    if not head:
        return Rejection(RejectionReason.EMPTY, "file has no bytes")
    if message_expected and looks_like_message(head):
        return FileKind.MESSAGE
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


# --- the Poststelle mailbox (source `email`) ---------------------------------------------------------------------
# Each message becomes one Vorgang: the message itself (`.eml`) is its original of record, with a PDF rendering of
# headers and body as rendition; each attachment is a document of the same Vorgang, through the same checks.
EMAIL_SOURCE = "email"
T = TypeVar("T")
MESSAGE_SUFFIX = ".eml"
MAX_SUBJECT_CHARS = 1000  # what routing patterns are matched against (a subject can be any length)
MAX_BODY_CHARS = 200_000  # what the rendering shows of the text; the .eml keeps it all
DEFAULT_MAIL_AKTE_TITLE = "Posteingang E-Mail"
_HEADER_LINE = re.compile(rb"[!-9;-~]{1,76}:")


def looks_like_message(head: bytes) -> bool:
    """Whether the bytes start like an Internet message: a header field (`Name: value`) and no binary content."""
    return bool(_HEADER_LINE.match(head.lstrip(b"\r\n"))) and b"\x00" not in head


def is_mail_message(source: str, filename: str) -> bool:
    """A file the mailbox hands in as an e-mail (its bytes must still look like one, see `sniff`)."""
    return source == EMAIL_SOURCE and filename.lower().endswith(MESSAGE_SUFFIX)


@dataclass(frozen=True)
class MailRoute:
    """Where a message is filed: an existing Akte (`aktenzeichen`, opened with it if missing) or the Akte of that
    title in a file plan class (opened once); which messages: `recipient` among its recipients and/or `subject`
    (a regular expression, case-insensitive) found in its subject. The default route names no condition."""

    file_plan_class: str = ""
    aktenzeichen: str = ""
    akte_title: str = DEFAULT_MAIL_AKTE_TITLE
    workflow: str = "default"
    recipient: str = ""
    subject: str = ""

    def matches(self, recipients: frozenset[str], subject: str) -> bool:
        if self.recipient and self.recipient.lower() not in recipients:
            return False
        return not self.subject or re.search(self.subject, subject[:MAX_SUBJECT_CHARS], re.IGNORECASE) is not None


@dataclass(frozen=True)
class MailRouting:
    routes: tuple[MailRoute, ...]
    default: MailRoute

    def route(self, recipients: Sequence[str], subject: str) -> MailRoute:
        """The first route whose conditions all hold, else the default."""
        addresses = frozenset(address.strip().lower() for address in recipients)
        return next((r for r in self.routes if r.matches(addresses, subject)), self.default)

    def targets(self) -> tuple[MailRoute, ...]:
        return (*self.routes, self.default)


_ROUTE_KEYS = {"recipient", "subject", "file_plan_class", "aktenzeichen", "akte_title", "workflow"}


def mail_routing(document: object) -> MailRouting:
    """The routing of `config/mail_routing.yaml` (`routes`: a list, first match wins; `default`); ValueError says
    what is wrong with it."""
    if not isinstance(document, Mapping) or "default" not in document:
        raise ValueError("the mail routing needs a `default` route (and optionally a list of `routes`)")
    listed = document.get("routes") or []
    if not isinstance(listed, list):
        raise ValueError("`routes` must be a list")
    routes = tuple(_mail_route(entry, f"routes[{i}]", conditional=True) for i, entry in enumerate(listed))
    return MailRouting(routes, _mail_route(document["default"], "default", conditional=False))


def _mail_route(entry: object, where: str, conditional: bool) -> MailRoute:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected a mapping")
    unknown = set(entry) - _ROUTE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    values = {key: str(value).strip() for key, value in entry.items() if value is not None}
    if conditional != bool(values.get("recipient") or values.get("subject")):
        raise ValueError(f"{where}: " + ("needs a recipient or subject" if conditional else "takes no condition"))
    if bool(values.get("file_plan_class")) == bool(values.get("aktenzeichen")):
        raise ValueError(f"{where}: name either a file_plan_class or an aktenzeichen")
    if values.get("subject"):
        try:
            re.compile(values["subject"])
        except re.error as exc:
            raise ValueError(f"{where}: subject is no regular expression: {exc}") from exc
    return MailRoute(**values)


@dataclass(frozen=True)
class MailAttachment:
    filename: str  # cleaned (`attachment_filename`)
    content_type: str  # what the sender declared; intake judges the bytes
    data: bytes


@dataclass(frozen=True)
class MailMessage:
    message_id: str
    subject: str
    sender: str
    to: str
    cc: str
    date: str  # as the sender wrote it
    recipients: tuple[str, ...]  # addresses of To, Cc, Delivered-To and X-Original-To (routing)
    body: str
    attachments: tuple[MailAttachment, ...]


def read_message(raw: bytes) -> MailMessage:
    """The parts of a message that matter for filing; never fails on a malformed one (what it cannot read is
    left out: the .eml keeps every byte)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    recipients = [
        address for _name, address in getaddresses([str(v) for k in _RECIPIENT_FIELDS for v in message.get_all(k, [])])
    ]
    return MailMessage(
        message_id=_header(message, "Message-ID"),
        subject=_header(message, "Subject"),
        sender=_header(message, "From"),
        to=_header(message, "To"),
        cc=_header(message, "Cc"),
        date=_header(message, "Date"),
        recipients=tuple(a for a in recipients if "@" in a),
        body=_readable(_body_text, message, ""),
        attachments=tuple(_readable(_attachments, message, [])),
    )


def _readable(part_of: Callable[[EmailMessage], T], message: EmailMessage, otherwise: T) -> T:
    """A part of a message the parser chokes on (hostile nesting, broken encodings) is left out, never fatal."""
    try:
        return part_of(message)
    except Exception:  # the stdlib parser raises many types on malformed input
        return otherwise


_RECIPIENT_FIELDS = ("To", "Cc", "Delivered-To", "X-Original-To")


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, TypeError, IndexError):  # a header the parser cannot decode
        return ""
    return _printable(str(value or ""), keep_newlines=False)


def _printable(text: str, keep_newlines: bool = True) -> str:
    allowed = "\n\t" if keep_newlines else ""
    return "".join(ch if ch.isprintable() or ch in allowed else " " for ch in text.replace("\r\n", "\n")).strip()


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        text = str(part.get_content())
    except (LookupError, ValueError, AssertionError):  # an unknown charset or a broken transfer encoding
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    if part.get_content_subtype() == "html":
        text = html_text(text)
    return _printable(text)[:MAX_BODY_CHARS]


def _attachments(message: EmailMessage) -> list[MailAttachment]:
    body = message.get_body(preferencelist=("plain", "html"))
    found: list[MailAttachment] = []

    def visit(part: EmailMessage) -> None:
        if part is body:
            return
        if part.get_content_maintype() == "multipart":
            for sub in part.iter_parts():
                visit(sub)  # type: ignore[arg-type]  # iter_parts yields the policy's message class
            return
        declared_name = part.get_filename()
        if not declared_name and part.get_content_disposition() != "attachment" and not _is_forwarded(part):
            return  # an alternative rendering of the body (HTML beside text), not an attachment
        content_type = part.get_content_type()
        filename = attachment_filename(declared_name, len(found) + 1, content_type)
        found.append(MailAttachment(filename, content_type, _payload(part)))

    visit(message)
    return found


def _is_forwarded(part: EmailMessage) -> bool:
    return part.get_content_type() == "message/rfc822"


def _payload(part: EmailMessage) -> bytes:
    if _is_forwarded(part):
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        return inner.as_bytes() if isinstance(inner, EmailMessage) else b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


_EXTENSIONS = {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg", "image/tiff": ".tif"}


def attachment_filename(declared: str | None, number: int, content_type: str) -> str:
    """An attachment's name as a label only (no path, no control characters); without one: `Anhang-<n>`, with the
    extension of its declared type (a forwarded message: `.eml`)."""
    if declared and declared.strip():
        return clean_filename(declared)
    extension = MESSAGE_SUFFIX if content_type == "message/rfc822" else _EXTENSIONS.get(content_type, ".bin")
    return f"Anhang-{number}{extension}"


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skipping += 1
        elif tag in ("br", "p", "div", "tr", "li", "h1", "h2", "h3"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_text(markup: str) -> str:
    """The readable text of an HTML body (no scripts, styles or markup)."""
    parser = _TextOfHtml()
    parser.feed(markup)
    parser.close()
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip()


def message_key(message_id: str, sha256: str) -> str:
    """What makes a message the same one again (a restart, a copy in another folder): its Message-ID, else its
    bytes."""
    cleaned = message_id.strip()
    return f"id:{cleaned}"[:400] if cleaned else f"sha256:{sha256}"


def message_title(message: MailMessage) -> str:
    """The title of the message's document and Vorgang."""
    return f"E-Mail: {message.subject or '(ohne Betreff)'}"[: DESCRIPTIVE_TEXT_LIMITS["title"]]


def message_record(message: MailMessage) -> tuple[str, list[tuple[str, list[tuple[str, str]], str]]]:
    """The readable record of a message: its title and sections (heading, label/value rows, text) in German."""
    headers = [
        ("Von", message.sender),
        ("An", message.to),
        ("Kopie an", message.cc),
        ("Datum", message.date),
        ("Betreff", message.subject),
        ("Message-ID", message.message_id),
    ]
    sections = [("Kopfdaten", [(label, value) for label, value in headers if value], "")]
    sections.append(("Nachricht", [], message.body or "(kein Text)"))
    if message.attachments:
        rows = [(a.filename, f"{a.content_type}, {len(a.data)} Bytes") for a in message.attachments]
        sections.append(("Anhänge (als eigene Dokumente im selben Vorgang)", rows, ""))
    return message_title(message), sections
