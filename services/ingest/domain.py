"""The ingest domain: a document's life as the post room sees it. Imports nothing of Kafka, MinIO or HTTP."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
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
