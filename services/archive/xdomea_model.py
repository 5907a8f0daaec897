"""Plain data for xdomea 3.0.0 disposal (`Aussonderung`): what goes into the messages and what comes back.

Imports only the standard library: no Kafka, MinIO, HTTP or XML here.
"""

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class XdomeaError(ValueError):
    """A message (or the data for one) is not what the xdomea disposal process expects. Routes answer 422."""


class XdomeaSchemaUnavailable(RuntimeError):
    """The xdomea XML schema cannot be loaded: a deployment problem (answer 500/503), not the sender's fault."""


class Disposal(StrEnum):
    """Disposal decision (`Aussonderungsart`): archive permanently (code `A`) or destroy (`V`, vernichten)."""

    ARCHIVE = "archive"
    DESTROY = "destroy"

    @property
    def code(self) -> str:
        """The value in the xdomea code lists Aussonderungsart / Bewertungsvorschlag."""
        return "A" if self is Disposal.ARCHIVE else "V"

    @classmethod
    def from_code(cls, code: str) -> "Disposal":
        if code == "A":
            return cls.ARCHIVE
        if code == "V":
            return cls.DESTROY
        raise XdomeaError(f"Aussonderungsart code {code!r} is no decision (expected 'A' archive or 'V' destroy)")


def object_uuid(value: object, what: str = "object_id") -> str:
    """An xdomea object ID (`stringUUIDType`) in canonical lower-case form; ValueError when it is no UUID."""
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError as exc:
        raise XdomeaError(f"{what} {value!r} is not a UUID (xdomea identifies every object by a UUID)") from exc


@dataclass(frozen=True, kw_only=True)
class Institution:
    """Sender or receiver of a message (`Absender`/`Empfaenger`): an authority or the state archive."""

    name: str
    abbreviation: str = ""
    # Behördenkennung: an authority key (e.g. from DVDV) and, if known, its code list.
    authority_key: str = ""
    authority_key_list_uri: str = ""
    authority_key_list_version: str = ""
    # Präfix of the Behördenkennung (e.g. `ags:` for a municipality identified by its official key, DVDV).
    authority_prefix: str = ""
    org_unit: str = ""


@dataclass(frozen=True, kw_only=True)
class DocumentRecord:
    """Document (`Dokument`): one scanned or uploaded item with its primary file."""

    object_id: str
    title: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    version: int = 1
    # Optional format details; xdomea asks for a format version (e.g. `1.7`, `2b` for PDF/A-2b).
    format_version: str = ""
    pdf_a: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "object_id", object_uuid(self.object_id, "document object_id"))
        digest = self.sha256.strip().lower()
        if not SHA256_HEX.fullmatch(digest):
            raise XdomeaError(f"document {self.object_id}: sha256 {self.sha256!r} is not 64 hex digits")
        object.__setattr__(self, "sha256", digest)
        if self.size < 0 or self.version < 1:
            raise XdomeaError(f"document {self.object_id}: size must be >= 0 and version >= 1")


@dataclass(frozen=True, kw_only=True)
class ProcessRecord:
    """Process (`Vorgang`): one matter inside a file, with its documents."""

    object_id: str
    title: str
    documents: Sequence[DocumentRecord] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "object_id", object_uuid(self.object_id, "process object_id"))


@dataclass(frozen=True, kw_only=True)
class FileRecord:
    """File (`Akte`): a case file by its file reference (`Aktenzeichen`), in a class of the file plan."""

    object_id: str
    aktenzeichen: str
    title: str
    file_plan_class: str
    file_plan_class_title: str
    # None: kept without limit (`Unbefristet`).
    retention_years: int | None
    disposal: Disposal
    opened_on: date
    closed_on: date | None = None
    processes: Sequence[ProcessRecord] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "object_id", object_uuid(self.object_id, "file object_id"))
        try:
            object.__setattr__(self, "disposal", Disposal(self.disposal))
        except ValueError as exc:
            raise XdomeaError(f"disposal {self.disposal!r} must be 'archive' or 'destroy'") from exc
        if self.retention_years is not None and not 0 <= self.retention_years <= 65535:
            raise XdomeaError(f"retention_years {self.retention_years} is out of range (0..65535)")

    def retention_end(self) -> date | None:
        """End of the retention period (`Aufbewahrungsende`): 31 Dec of the year closed + retention years.

        The period runs from the end of the year the file was closed (zdA), as is usual in German records
        management; xdomea allows a year-end date for yearly disposal. None if open or kept without limit.
        """
        if self.closed_on is None or self.retention_years is None:
            return None
        return date(self.closed_on.year + self.retention_years, 12, 31)


@dataclass(frozen=True)
class Evaluation:
    """The state archive's evaluation (`Bewertungsverzeichnis`, 0502): a decision per offered object."""

    process_id: str
    created_at: datetime
    sender: Institution
    decisions: Mapping[str, Disposal]

    def archive_ids(self) -> set[str]:
        return {i for i, d in self.decisions.items() if d is Disposal.ARCHIVE}

    def destroy_ids(self) -> set[str]:
        return {i for i, d in self.decisions.items() if d is Disposal.DESTROY}


@dataclass(frozen=True)
class ImportedObject:
    """One object of an import confirmation (`AusgesondertesSGO` in 0506)."""

    object_id: str
    success: bool
    errors: tuple[str, ...] = ()
    error_codes: tuple[str, ...] = ()
    # The archive's own reference for the object (`Archivkennung`), when it sends one.
    archive_id: str | None = None


@dataclass(frozen=True)
class Confirmation:
    """The state archive's import confirmation (`AussonderungImportBestaetigen`, 0506)."""

    process_id: str
    created_at: datetime
    sender: Institution
    objects: tuple[ImportedObject, ...] = field(default=())

    def by_id(self) -> dict[str, ImportedObject]:
        return {o.object_id: o for o in self.objects}

    def succeeded_ids(self) -> set[str]:
        return {o.object_id for o in self.objects if o.success}

    def failed_ids(self) -> set[str]:
        return {o.object_id for o in self.objects if not o.success}
