"""What the archive's service layer needs of the object store, as interfaces: MinIO in production
(`services.archive.package`), in-memory fakes in the unit tests."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from services.archive.domain import FoundVersion
from shared.events import StoredObject
from shared.storage import Downloaded


@dataclass(frozen=True)
class StoredFile:
    """One file of a package, by the exact object version written."""

    bucket: str
    path: str  # inside the bag, e.g. data/original.pdf
    key: str
    version_id: str | None
    sha256: str
    size: int
    # A file kept inside the package's bundle object (services.archive.bundle): its bytes start here in that
    # object version. None: the object version is the file.
    offset: int | None = None


@dataclass(frozen=True)
class ObjectState:
    """What the object store itself reports about one object version."""

    path: str
    key: str
    version_id: str | None
    size: int | None
    sha256: str | None
    retention_mode: str | None
    retain_until: datetime | None
    legal_hold: bool
    offset: int | None = None  # a file inside the bundle object: where its bytes start (`size` of them)


@dataclass(frozen=True)
class NewFile:
    """A file of a package to be written: its path in the bag, its content (in memory or on disk), its type."""

    path: str
    source: Path | bytes
    content_type: str


class AlreadyStored(Exception):
    """A write of a package file "only if new" found an object under its key (the message is the key)."""


class SourceMissing(Exception):
    """An intake object a package needs is gone (the message is the reason recorded for it)."""


class Sources(Protocol):
    """The intake objects (original, rendition, OCR) that a package copies, in the inbox bucket."""

    bucket: str

    def download(self, source: StoredObject, destination: Path) -> Downloaded:
        """Copy `source` to `destination`: the SHA-256 and size read, and the SHA-256 intake recorded on the object
        when it stored it ("" if none). Raises SourceMissing."""
        ...

    def read(self, source: StoredObject) -> bytes: ...


class Packages(Protocol):
    """The WORM bucket the packages are written to."""

    bucket: str

    def put(
        self,
        document_id: str,
        path: str,
        source: Path | bytes,
        content_type: str,
        retain: datetime,
        archived_at: datetime,
        only_new: bool = False,
    ) -> StoredFile:
        """Write one file of the package as a new version locked until `retain`; its SHA-256 and `archived_at`
        are recorded on the object. `only_new`: raise AlreadyStored, writing nothing, when the key holds an object."""
        ...

    def put_many(
        self,
        document_id: str,
        files: Sequence[NewFile],
        retain: datetime,
        archived_at: datetime,
        only_new: bool = False,
    ) -> list[StoredFile]:
        """`put` for each file, possibly several at once; in the order given. Returns when every put has ended; the
        first failure is raised then."""
        ...

    def found(self, document_id: str) -> dict[str, list[FoundVersion]]:
        """What is already stored under the package's keys: path -> its versions, oldest first."""
        ...

    def state(self, file: StoredFile) -> ObjectState: ...

    def read(self, file: StoredFile) -> bytes | None:
        """The object version's bytes (small tag files, evidence records); None when it is gone."""
        ...

    def reread_sha256(self, file: StoredFile) -> str | None: ...

    def stream(self, file: StoredFile) -> Iterator[bytes]: ...

    def presigned_url(self, file: StoredFile, expires: timedelta, filename: str) -> str: ...

    def set_legal_hold(self, file: StoredFile, on: bool) -> None: ...

    def delete(self, file: StoredFile) -> None: ...


class TimeStamper(Protocol):
    """A time-stamping authority (RFC 3161): `services.archive.tsa.TsaClient`, an in-process one in unit tests."""

    def stamp(self, algorithm: str, digest: bytes) -> bytes:
        """The DER time-stamp token over `digest`; raises `services.archive.tsa.TsaUnavailable` if there is none."""
        ...
