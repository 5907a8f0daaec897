"""The archive domain: what may enter, how a package is laid out (BagIt, RFC 8493), how long it is kept.

Imports nothing of Kafka, MinIO or HTTP.
"""

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.errors import NotFound, Refused
from shared.events import DocumentApproved, DocumentRejected, StoredObject

BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
# Documents filed in no Akte (no file plan class) are kept this long; their disposal is decided by a person.
DEFAULT_RETENTION_YEARS = 10


@dataclass(frozen=True)
class IntegrityFailure:
    """Why a document must not be archived (BSI TR-RESISCAN: the intake fingerprint must still hold)."""

    reason: str


def check_fixity(
    expected_sha256: str, expected_size: int, actual_sha256: str, actual_size: int
) -> IntegrityFailure | None:
    if actual_sha256 != expected_sha256:
        return IntegrityFailure(f"sha256 mismatch: intake {expected_sha256}, stored object {actual_sha256}")
    if actual_size != expected_size:
        return IntegrityFailure(f"size mismatch: intake {expected_size} bytes, stored object {actual_size} bytes")
    return None


@dataclass(frozen=True)
class PayloadFile:
    """A file in the bag's `data/` directory."""

    path: str
    sha256: str
    size: int


def package_prefix(document_id: str) -> str:
    return f"packages/{document_id}/"


def manifest(files: list[PayloadFile]) -> str:
    """`manifest-sha256.txt` / `tagmanifest-sha256.txt`: one `<checksum> <path>` line per file."""
    return "".join(f"{f.sha256}  {f.path}\n" for f in sorted(files, key=lambda f: f.path))


def parse_manifest(text: str) -> dict[str, str]:
    entries = {}
    for line in text.splitlines():
        if line.strip():
            checksum, path = line.split(maxsplit=1)
            entries[path.strip()] = checksum.lower()
    return entries


def bag_info(fields: dict[str, str], payload: list[PayloadFile], bagged_at: datetime) -> str:
    """`bag-info.txt` with the RFC's reserved fields first, then ours (labels may not contain colons)."""
    octets = sum(f.size for f in payload)
    lines = {
        "Bagging-Date": bagged_at.date().isoformat(),
        "Payload-Oxum": f"{octets}.{len(payload)}",
        **{label.replace(":", "-"): " ".join(str(value).split()) for label, value in fields.items() if value},
    }
    return "".join(f"{label}: {value}\n" for label, value in lines.items())


def retain_until(archived_at: datetime, retention_years: int | None, override_seconds: int | None) -> datetime:
    """End of the retention period (`Aufbewahrungsfrist`), counted from archiving."""
    if override_seconds is not None:  # development and tests only: COMPLIANCE locks cannot be shortened later
        return archived_at + timedelta(seconds=override_seconds)
    years = retention_years if retention_years is not None else DEFAULT_RETENTION_YEARS
    try:
        return archived_at.replace(year=archived_at.year + years)
    except ValueError:  # 29 February into a year without it
        return archived_at.replace(year=archived_at.year + years, day=28)


class FixityResult(StrEnum):
    OK = "ok"
    MISMATCH = "mismatch"
    MISSING = "missing"


@dataclass(frozen=True)
class FixityReport:
    result: FixityResult
    problems: list[str]


def compare_fixity(expected: dict[str, str], found: dict[str, str | None]) -> FixityReport:
    """Compare every manifest hash with what was re-read (None: the object is gone)."""
    problems, result = [], FixityResult.OK
    for path, checksum in sorted(expected.items()):
        actual = found.get(path)
        if actual is None:
            problems.append(f"{path}: missing")
            result = FixityResult.MISSING
        elif actual != checksum:
            problems.append(f"{path}: sha256 {actual} instead of {checksum}")
            if result is FixityResult.OK:
                result = FixityResult.MISMATCH
    return FixityReport(result, problems)


class Disposal(StrEnum):
    ARCHIVE = "archive"  # offer to the state archive (xdomea), then delete here
    DESTROY = "destroy"


class DisposalRefused(Refused):
    """Disposal the rules forbid now (legal hold, retention running, or the file plan says archive)."""


def check_may_destroy(
    disposal: str, retain_until_at: datetime, legal_hold: bool, now: datetime, handed_over: bool = False
) -> None:
    if legal_hold:
        raise DisposalRefused("legal_hold", "a legal hold blocks disposal")
    if now < retain_until_at:
        raise DisposalRefused("retention_running", f"the retention period runs until {retain_until_at.isoformat()}")
    if disposal != Disposal.DESTROY and not handed_over:
        raise DisposalRefused("not_destroy", "the file plan says `archive`: offer it to the state archive first")


# --- what a package holds ------------------------------------------------------------------------------------

Outcome = DocumentApproved | DocumentRejected
TEXT_PLAIN = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class PackageSource:
    """An object the package copies from intake: its path in the bag, where it lies, its content type."""

    path: str
    source: StoredObject
    content_type: str


def is_kept(event: Outcome) -> bool:
    """Approved documents are always kept; rejected ones only where the file plan says so."""
    return not isinstance(event, DocumentRejected) or event.metadata.archive_rejected


def outcome_name(event: Outcome) -> str:
    return "approved" if isinstance(event, DocumentApproved) else "rejected"


def received_at(event: Outcome) -> datetime:
    """When the authority received the document: its first decision, else when the outcome was announced."""
    return min((d.decided_at for d in event.decisions), default=event.occurred_at)


def package_sources(event: Outcome) -> list[PackageSource]:
    """Everything the package copies from intake: the original, its rendition, the OCR derivative and text."""
    name = event.original.key.rsplit("/", 1)[-1]
    extension = event.original.key.rsplit(".", 1)[-1] if "." in name else "bin"
    sources = [PackageSource(f"data/original.{extension}", event.original, event.metadata.content_type)]
    if event.rendition:
        sources.append(PackageSource("data/rendition.pdf", event.rendition, "application/pdf"))
    if event.ocr:
        sources.append(PackageSource("data/ocr.pdf", event.ocr.derivative, "application/pdf"))
        sources.append(PackageSource("data/ocr.txt", event.ocr.text, TEXT_PLAIN))
    return sources


def intake_prefix(document_id: str) -> str:
    """Where intake stores a document's files (original, rendition, OCR, large audit trail) in the inbox bucket."""
    return f"documents/{document_id}/"


def referenced_objects(event: Outcome) -> list[StoredObject]:
    """Every stored object an outcome event asks the archive to read."""
    found = [item.source for item in package_sources(event)]
    return [*found, event.audit_ref] if event.audit_ref is not None else found


def check_provenance(event: Outcome, inbox_bucket: str) -> IntegrityFailure | None:
    """Defence in depth against a forged or confused event: the archive reads only the inbox bucket, and there
    only under this document's own prefix; whoever produced the event (Kafka's ACLs aside) gets no further."""
    prefix = intake_prefix(str(event.document_id))
    for source in referenced_objects(event):
        where = f"{source.bucket}/{source.key}"
        if source.bucket != inbox_bucket:
            return IntegrityFailure(f"source not in the inbox bucket {inbox_bucket}: {where}")
        segments = source.key.removeprefix(prefix).split("/")
        if not source.key.startswith(prefix) or any(part in ("", ".", "..") for part in segments):
            return IntegrityFailure(f"source not under this document's key prefix {prefix}: {where}")
    return None


def check_recorded_sha256(source: StoredObject, recorded_sha256: str) -> IntegrityFailure | None:
    """The event's fingerprint must be the one intake recorded on the object when it stored it."""
    where = f"{source.bucket}/{source.key}"
    if not recorded_sha256:
        return IntegrityFailure(f"no SHA-256 recorded at intake on {where}")
    if recorded_sha256 != source.sha256:
        return IntegrityFailure(
            f"sha256 differs from intake's record on {where}: recorded {recorded_sha256}, event {source.sha256}"
        )
    return None


def audit_without_trail(event: Outcome) -> dict[str, Any]:
    """`data/audit.json` when no audit trail came with the decision: the decisions at least."""
    return {
        "note": "no audit trail came with the decision",
        "decisions": [d.model_dump(mode="json") for d in event.decisions],
    }


def metadata_json(event: Outcome, archived_at: datetime, retain: datetime) -> dict[str, Any]:
    """`data/metadata.json`: the record's metadata, file plan and approvals."""
    meta = event.metadata
    return {
        "document_id": str(event.document_id),
        "version": event.version,
        "outcome": outcome_name(event),
        "rejection_reason": getattr(event, "reason", None),
        "title": meta.title,
        "document_type": meta.document_type,
        "sender": meta.sender,
        "received_on": meta.received_on or None,  # the paper's date received (backlog import)
        "akte": {"aktenzeichen": meta.aktenzeichen, "title": meta.akte_title},
        "vorgang_id": meta.vorgang_id,
        "file_plan": {
            "class": meta.file_plan_class,
            "title": meta.file_plan_title,
            "retention_years": meta.retention_years,
            "disposal": meta.disposal,
        },
        "original": {
            "filename": meta.filename,
            "content_type": meta.content_type,
            "pages": meta.pages,
            "sha256": event.original.sha256,
            "size": event.original.size,
            "source": meta.source,
        },
        "submitted_by": event.submitted_by,
        "approvals": [d.model_dump(mode="json") for d in event.decisions],
        "archived_at": archived_at.isoformat(),
        "retain_until": retain.isoformat(),
    }


def bag_info_fields(event: Outcome) -> dict[str, str]:
    """Our fields of `bag-info.txt`, after the RFC's reserved ones."""
    meta = event.metadata
    return {
        "Source-Organization": "E-Akte",
        "External-Identifier": str(event.document_id),
        "External-Description": meta.title,
        "Aktenzeichen": meta.aktenzeichen,
        "File-Plan-Class": meta.file_plan_class,
        "Bag-Software-Agent": "eakte archive service",
    }


def tag_files(event: Outcome, payload: list[PayloadFile], archived_at: datetime) -> dict[str, str]:
    """The bag's tag files but the tag manifest (which covers these): name -> content."""
    return {
        "bagit.txt": BAGIT_TXT,
        "bag-info.txt": bag_info(bag_info_fields(event), payload, archived_at),
        "manifest-sha256.txt": manifest(payload),
    }


# --- writing a package again (after a crash, or for a redelivered event) ------------------------------------


@dataclass(frozen=True)
class FoundVersion:
    """A version already stored under a key of the package, as the object store reports it."""

    version_id: str | None
    sha256: str | None  # as recorded when it was written (or hashed from its bytes when nothing was recorded)
    size: int
    archived_at: datetime | None  # the archiving time its writer recorded on it (None: none recorded)


def plan_package_write(
    files: list[PayloadFile], found: dict[str, list[FoundVersion]], prefix: str
) -> dict[str, FoundVersion | None] | IntegrityFailure:
    """Which files of a package are already stored and are reused (path -> that version) and which are still
    written (path -> None). A locked version can only be doubled, never replaced: a package with a key that
    already holds other bytes is refused as a whole, before anything is written."""
    plan: dict[str, FoundVersion | None] = {}
    for file in files:
        versions = found.get(file.path, [])
        same = [v for v in versions if v.sha256 == file.sha256 and v.size == file.size]
        if versions and not same:
            other = versions[-1]
            return IntegrityFailure(
                f"{prefix}{file.path} already holds {len(versions)} version(s) with another SHA-256 "
                f"({other.sha256 or 'none recorded'}, version {other.version_id}) than this package's "
                f"{file.sha256}: a locked object is not overwritten"
            )
        plan[file.path] = same[0] if same else None  # the oldest: the version the first attempt wrote
    return plan


def first_archived_at(found: dict[str, list[FoundVersion]]) -> datetime | None:
    """When an earlier attempt at this package archived it: a repeat keeps that time (and so the same
    metadata.json, bag-info.txt and retention date), so that it comes out byte for byte the same."""
    return min((v.archived_at for vs in found.values() for v in vs if v.archived_at is not None), default=None)


def archived_at_of_metadata(text: bytes) -> datetime | None:
    """`archived_at` of a stored `data/metadata.json` (for packages written before the time was also recorded
    on each object); None when it holds none that can be read (the write plan then refuses the foreign file)."""
    try:
        metadata = json.loads(text)
        value = metadata.get("archived_at") if isinstance(metadata, dict) else None
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:  # not JSON, not UTF-8, or not a timestamp
        return None


def search_text(event: Outcome, ocr_text: str) -> str:
    """What full-text search finds a document by."""
    meta = event.metadata
    return " ".join([meta.title, meta.sender, meta.aktenzeichen, ocr_text])


# --- disposal ------------------------------------------------------------------------------------------------


def disposal_rule(
    file_plan_class: str, retention_years: int | None, disposal: str, retain_until_at: datetime, handed_over: bool
) -> str:
    """The rule a deletion record names: the file plan class, its retention and what happens after it."""
    then = "hand over to the state archive" if handed_over else disposal or "decide"
    return (
        f"file plan class {file_plan_class or '(none)'}: keep {retention_years or '-'} years, then "
        f"{then}; retention ended {retain_until_at.date().isoformat()}"
    )


# --- refusals ------------------------------------------------------------------------------------------------


class NotArchived(NotFound):
    def __init__(self, message: str = "not archived") -> None:
        super().__init__(message)


class IntegrityBroken(Refused):
    """The stored bytes no longer match the fingerprint of record: they are not handed out."""

    def __init__(self, message: str) -> None:
        super().__init__("integrity", message)


class AussonderungRefused(Refused):
    """A disposal step to the state archive that cannot be taken (nothing offered, unknown process, ...)."""


class InvalidXdomea(Refused):
    """An xdomea message from the state archive that cannot be read (not XML, wrong message, schema errors)."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_xdomea", message)


class XdomeaSchemaMissing(Refused):
    """The official xdomea schema cannot be loaded here (a deployment gap, not the caller's fault): no xdomea
    message is built or read unchecked."""

    def __init__(self, message: str) -> None:
        super().__init__("xdomea_schema_missing", message)


# --- finding -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchQuery:
    aktenzeichen: str = ""
    title: str = ""
    document_type: str = ""
    sender: str = ""
    text: str = ""
    received_from: date | None = None
    received_to: date | None = None
    limit: int = 20
    offset: int = 0


def describe_search(query: SearchQuery) -> str:
    """What a search asked, for the access log: its non-empty criteria and the page."""
    criteria = [
        ("aktenzeichen", query.aktenzeichen),
        ("title", query.title),
        ("document_type", query.document_type),
        ("sender", query.sender),
        ("q", query.text),
        ("received_from", query.received_from.isoformat() if query.received_from else ""),
        ("received_to", query.received_to.isoformat() if query.received_to else ""),
    ]
    asked = [f"{name}={value}" for name, value in criteria if value]
    return "; ".join([*asked, f"limit={query.limit}", f"offset={query.offset}"])[:2000]
