"""What an upload is and what became of it: the values intake, the intake queue and the quarantine share."""

from dataclasses import dataclass
from pathlib import Path

from services.ingest.domain import TEXT_LIMITS, DocumentStatus, FileKind, Rejection, bounded_text


@dataclass(frozen=True)
class Upload:
    """One file to take in, with what the clerk (or the scanner's sidecar) said about it."""

    filename: str
    submitted_by: str
    title: str = ""
    document_type: str = ""
    sender: str = ""
    aktenzeichen: str = ""
    vorgang_id: str = ""
    new_akte_class: str = ""
    new_akte_title: str = ""
    workflow: str = "default"
    source: str = "upload"
    new_version_of: str = ""  # a document returned for revision: this upload is its next version
    # The id the new document gets; the intake queue passes its item id, so that a re-run after a crash
    # (document committed, queue item not yet marked done) recognises the document it already made.
    document_id: str = ""
    # The submitter's first org unit (sorted, from the token): owns a new Akte whose class names none, and a
    # document filed in no Akte (need-to-know). Empty: a member of none.
    org_unit: str = ""
    # Backlog import (`eakte import`): the Vorgang by its title (joined, or started with it), the date the paper
    # was received (ISO), and `find_or_open_akte`: a missing Akte of that Aktenzeichen is opened with it, and a
    # file plan class + Akte title files into that class's Akte of the title (opened once) instead of a new one.
    vorgang_title: str = ""
    received_on: str = ""
    find_or_open_akte: bool = False

    def __post_init__(self) -> None:
        # Whatever made it (HTTP, batch, hot-folder sidecar): no text is longer than the domain allows. Callers
        # refuse over-long identifiers first (`domain.overlong_identifier`); here they are only bounded.
        for name in TEXT_LIMITS:
            object.__setattr__(self, name, bounded_text(name, getattr(self, name)))


@dataclass(frozen=True)
class SpooledFile:
    """An upload's bytes on disk, hashed while they were received."""

    path: Path
    sha256: str
    size: int
    too_large: bool


@dataclass(frozen=True)
class Accepted:
    document_id: str
    sha256: str
    status: DocumentStatus
    aktenzeichen: str | None = None
    version: int = 1


@dataclass(frozen=True)
class Quarantined:
    quarantine_id: str
    sha256: str
    rejection: Rejection


@dataclass(frozen=True)
class Duplicate:
    document_id: str  # the earlier document: named only to someone who may see it (see services.ingest.access)
    sha256: str


Outcome = Accepted | Quarantined | Duplicate


@dataclass(frozen=True)
class Inspected:
    """A file that passed inspection; `rendition` is the PDF made from an image."""

    kind: FileKind
    pages: int
    has_text: bool
    rendition: Path | None
    text: str = ""  # its text layer (born digital), for the search
