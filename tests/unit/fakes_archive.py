"""In-memory fakes of the archive's unit of work, repositories and object store, for service-layer tests."""

import hashlib
import io
import itertools
import tarfile
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from services.archive.bundle import BUNDLE
from services.archive.domain import FoundVersion, SearchQuery
from services.archive.ports import AlreadyStored, NewFile, ObjectState, SourceMissing, StoredFile
from services.archive.repositories import (
    ZERO_COUNTS,
    AccessLog,
    DeletionRecords,
    Documents,
    EvidenceQueue,
    FixityLog,
    XdomeaProcesses,
)
from services.archive.tables import (
    AccessLogRow,
    ArchivedDocumentRow,
    DeletionRecordRow,
    FixityCycleRow,
    FixityResultRow,
    XdomeaProcessRow,
)
from services.archive.unit_of_work import ArchiveUnitOfWork
from shared.events import StoredObject, utcnow
from shared.storage import Downloaded
from tests.unit.fakes import FakeUnitOfWork


class FakeDocuments(Documents):
    def __init__(self) -> None:
        self.rows: dict[str, ArchivedDocumentRow] = {}
        self.text: dict[str, str] = {}

    def get(self, document_id: str) -> ArchivedDocumentRow | None:
        return self.rows.get(document_id)

    def archived_among(self, document_ids: list[str]) -> set[str]:
        return set(document_ids) & set(self.rows)

    def count(self) -> int:
        return len(self.rows)

    def count_by_verify_result(self) -> dict[str | None, int]:
        counts: dict[str | None, int] = {}
        for row in self.rows.values():
            counts[row.last_verify_result] = counts.get(row.last_verify_result, 0) + 1
        return counts

    def add_all(self, entries: list[tuple[ArchivedDocumentRow, str]]) -> None:
        for row, text in entries:
            row.state = row.state or "archived"
            row.legal_hold = bool(row.legal_hold)
            self.rows[row.document_id] = row
            self.text[row.document_id] = text

    def remove(self, document_id: str) -> None:
        del self.rows[document_id]
        del self.text[document_id]

    def search(self, query: SearchQuery) -> tuple[int, list[ArchivedDocumentRow]]:
        found = [
            row
            for row in self.rows.values()
            if row.aktenzeichen.startswith(query.aktenzeichen)
            and query.title.lower() in row.title.lower()
            and all(word.lower() in self.text[row.document_id].lower() for word in query.text.split())
        ]
        found.sort(key=lambda row: row.received_at, reverse=True)
        return len(found), found[query.offset : query.offset + query.limit]

    def ids(self, document_ids: list[str] | None, sample: int | None) -> list[str]:
        if document_ids:
            return [d for d in document_ids if d in self.rows]
        return list(self.rows)[:sample] if sample else list(self.rows)

    def due(self, now: datetime) -> list[ArchivedDocumentRow]:
        return sorted((r for r in self.rows.values() if r.retain_until <= now), key=lambda r: r.retain_until)

    def handed_over_deletable(self, now: datetime) -> list[str]:
        return [
            r.document_id
            for r in self.rows.values()
            if r.state == "handed_over" and r.retain_until <= now and not r.legal_hold
        ]

    def archived_in(self, aktenzeichen: list[str]) -> list[ArchivedDocumentRow]:
        rows = [r for r in self.rows.values() if r.aktenzeichen in aktenzeichen and r.state == "archived"]
        return sorted(rows, key=lambda r: r.received_at)


class FakeAccessLog(AccessLog):
    def __init__(self) -> None:
        self.entries: list[AccessLogRow] = []

    def add(self, document_id: str, user: str, action: str, query: str | None = None, hits: int | None = None) -> None:
        row = AccessLogRow(document_id=document_id, user=user, action=action, at=utcnow(), query=query, hits=hits)
        self.entries.append(row)

    def page(self, document_id: str | None, limit: int, offset: int) -> tuple[int, list[AccessLogRow]]:
        chosen = [e for e in reversed(self.entries) if document_id in (None, e.document_id)]
        return len(chosen), chosen[offset : offset + limit]


class FakeDeletionRecords(DeletionRecords):
    def __init__(self) -> None:
        self.records: dict[str, DeletionRecordRow] = {}

    def add(self, record: DeletionRecordRow) -> None:
        self.records[record.document_id] = record

    def get(self, document_id: str) -> DeletionRecordRow | None:
        return self.records.get(document_id)


class FakeXdomeaProcesses(XdomeaProcesses):
    def __init__(self) -> None:
        self.rows: dict[str, XdomeaProcessRow] = {}

    def add(self, process: XdomeaProcessRow) -> None:
        self.rows[process.process_id] = process

    def get(self, process_id: str) -> XdomeaProcessRow | None:
        return self.rows.get(process_id)

    def newest_first(self) -> list[XdomeaProcessRow]:
        return sorted(self.rows.values(), key=lambda r: r.created_at, reverse=True)


class FakeEvidenceQueue(EvidenceQueue):
    """Packages awaiting their evidence record, with their claims, in memory."""

    def __init__(self) -> None:
        self.queued: dict[str, datetime] = {}
        self.claims: dict[str, datetime] = {}

    def add_all(self, queued: dict[str, datetime]) -> None:
        for document_id, at in queued.items():
            self.queued.setdefault(document_id, at)

    def claim(self, now: datetime, until: datetime, limit: int) -> list[str]:
        free = [i for i in sorted(self.queued, key=self.queued.__getitem__) if self.claims.get(i, now) <= now]
        for document_id in free[:limit]:
            self.claims[document_id] = until
        return free[:limit]

    def done(self, document_ids: list[str]) -> None:
        for document_id in document_ids:
            self.queued.pop(document_id, None)
            self.claims.pop(document_id, None)

    def release(self, document_ids: list[str]) -> None:
        for document_id in document_ids:
            self.claims.pop(document_id, None)

    def queued_at(self, document_id: str) -> datetime | None:
        return self.queued.get(document_id)

    def count(self) -> int:
        return len(self.queued)


class FakeArchiveUnitOfWork(FakeUnitOfWork, ArchiveUnitOfWork):
    """The archive's unit of work in memory; repository changes are visible at once (no rollback of rows)."""

    def __init__(self) -> None:
        super().__init__()
        self.documents = FakeDocuments()
        self.access_log = FakeAccessLog()
        self.deletions = FakeDeletionRecords()
        self.processes = FakeXdomeaProcesses()
        self.evidence = FakeEvidenceQueue()
        self.fixity = FakeFixityLog(self.documents)


class FakeSources:
    """Intake objects by (bucket, key), each with the SHA-256 recorded when it was stored (as `put_file` does)."""

    def __init__(self, bucket: str = "inbox") -> None:
        self.bucket = bucket
        self.objects: dict[tuple[str, str], bytes] = {}
        self.recorded: dict[tuple[str, str], str] = {}

    def put(self, bucket: str, key: str, data: bytes, recorded_sha256: str | None = None) -> StoredObject:
        """Store `data`; record its SHA-256 (or `recorded_sha256`, as a tampered or foreign object would have)."""
        sha256 = hashlib.sha256(data).hexdigest()
        self.objects[(bucket, key)] = data
        self.recorded[(bucket, key)] = sha256 if recorded_sha256 is None else recorded_sha256
        return StoredObject(bucket=bucket, key=key, size=len(data), sha256=sha256)

    def download(self, source: StoredObject, destination: Path) -> Downloaded:
        data = self.read(source)
        destination.write_bytes(data)
        return Downloaded(hashlib.sha256(data).hexdigest(), len(data), self.recorded[(source.bucket, source.key)])

    def read(self, source: StoredObject) -> bytes:
        try:
            return self.objects[(source.bucket, source.key)]
        except KeyError:
            raise SourceMissing(f"{source.bucket}/{source.key} is missing (NoSuchKey)") from None


class LockedError(Exception):
    """The fake store refuses to delete a version under its retention lock or a legal hold."""


class Crash(Exception):
    """The archive process "dies" in the middle of writing a package (the fake refuses any further put)."""


class FakePackages:
    """A versioned WORM bucket in memory: each put is a new version with its lock date and recorded archiving
    time; `crash_after(n)` lets n more puts through and then fails every one, as a killed writer would."""

    def __init__(self, bucket: str = "archive") -> None:
        self.bucket = bucket
        self.objects: dict[tuple[str, str], bytes] = {}
        self.locks: dict[tuple[str, str], datetime] = {}
        self.archived_at: dict[tuple[str, str], datetime | None] = {}
        self.holds: set[tuple[str, str]] = set()
        self.puts = 0
        self.listings = 0  # how often `found` listed a package
        self._versions = itertools.count(1)
        self._budget: int | None = None

    def crash_after(self, puts: int | None) -> None:
        self._budget = puts

    def put_many(
        self,
        document_id: str,
        files: Sequence[NewFile],
        retain: datetime,
        archived_at: datetime,
        only_new: bool = False,
    ) -> list[StoredFile]:
        return [self.put(document_id, f.path, f.source, f.content_type, retain, archived_at, only_new) for f in files]

    def put(
        self,
        document_id: str,
        path: str,
        source: Path | bytes,
        content_type: str,
        retain: datetime,
        archived_at: datetime | None = None,
        only_new: bool = False,
    ) -> StoredFile:
        if self._budget is not None:
            if self._budget <= 0:
                raise Crash(path)
            self._budget -= 1
        key = f"packages/{document_id}/{path}"
        if only_new and any(k == key for k, _ in self.objects):
            raise AlreadyStored(key)
        self.puts += 1
        data = source if isinstance(source, bytes) else source.read_bytes()
        version = str(next(self._versions))
        self.objects[(key, version)] = data
        self.locks[(key, version)] = retain
        self.archived_at[(key, version)] = archived_at
        return StoredFile(self.bucket, path, key, version, hashlib.sha256(data).hexdigest(), len(data))

    def found(self, document_id: str) -> dict[str, list[FoundVersion]]:
        self.listings += 1
        prefix = f"packages/{document_id}/"
        found: dict[str, list[FoundVersion]] = {}
        for (key, version), data in self.objects.items():  # in the order written: oldest first
            if key.startswith(prefix):
                found.setdefault(key.removeprefix(prefix), []).append(
                    FoundVersion(version, hashlib.sha256(data).hexdigest(), len(data), self.archived_at[(key, version)])
                )
        return found

    def versions(self, document_id: str) -> dict[str, int]:
        """How many versions each path of the package has."""
        return {path: len(found) for path, found in self.found(document_id).items()}

    def content(self, document_id: str, path: str) -> bytes:
        """The file as a reader of the bag sees it: an object of its own, or a member of the bundle."""
        key = f"packages/{document_id}/{path}"
        own = next((data for (k, _), data in self.objects.items() if k == key), None)
        return own if own is not None else self._members(document_id)[path][1]

    def paths(self, document_id: str) -> set[str]:
        """The files of the package (a bundle counts as the files inside it)."""
        prefix = f"packages/{document_id}/"
        own = {k.removeprefix(prefix) for k, _ in self.objects if k.startswith(prefix)}
        return (own - {BUNDLE}) | set(self._members(document_id))

    def corrupt(self, document_id: str, path: str) -> None:
        if path in self._members(document_id):
            self.rewrite(document_id, path, lambda data: b"x" * len(data))
            return
        key = f"packages/{document_id}/{path}"
        for version in [v for k, v in self.objects if k == key]:
            self.objects[(key, version)] = b"changed"

    def rewrite(self, document_id: str, path: str, change: Callable[[bytes], bytes]) -> None:
        """Change a file inside the bundle in place, as a forger with write access would (same length)."""
        offset, data = self._members(document_id)[path]
        changed = change(data)
        assert len(changed) == len(data), "a file in the bundle keeps its length"
        key = f"packages/{document_id}/{BUNDLE}"
        for version in [v for k, v in self.objects if k == key]:
            whole = self.objects[(key, version)]
            self.objects[(key, version)] = whole[:offset] + changed + whole[offset + len(data) :]

    def _members(self, document_id: str) -> dict[str, tuple[int, bytes]]:
        """The files in the package's first bundle: path -> (offset, bytes)."""
        key = f"packages/{document_id}/{BUNDLE}"
        bundle = next((data for (k, _), data in self.objects.items() if k == key), None)
        if bundle is None:
            return {}
        with tarfile.open(fileobj=io.BytesIO(bundle)) as tar:
            return {m.name: (m.offset_data, bundle[m.offset_data : m.offset_data + m.size]) for m in tar.getmembers()}

    def _bytes(self, file: StoredFile) -> bytes | None:
        data = self.objects.get((file.key, file.version_id or ""))
        if data is None or file.offset is None:
            return data
        return data[file.offset : file.offset + file.size]

    def state(self, file: StoredFile) -> ObjectState:
        data = self._bytes(file)
        return ObjectState(
            path=file.path,
            key=file.key,
            version_id=file.version_id,
            size=None if data is None else len(data),
            sha256=None if data is None else hashlib.sha256(data).hexdigest(),
            retention_mode="COMPLIANCE",
            retain_until=self.locks.get((file.key, file.version_id or "")),
            legal_hold=(file.key, file.version_id or "") in self.holds,
            offset=file.offset,
        )

    def reread_sha256(self, file: StoredFile) -> str | None:
        data = self._bytes(file)
        return None if data is None else hashlib.sha256(data).hexdigest()

    def stream(self, file: StoredFile) -> Iterator[bytes]:
        data = self._bytes(file)
        if data is None:
            raise KeyError(file.key)
        yield data

    def read(self, file: StoredFile) -> bytes | None:
        return self._bytes(file)

    def presigned_url(self, file: StoredFile, expires: timedelta, filename: str) -> str:
        return f"https://store.example/{file.key}?version={file.version_id}&expires={int(expires.total_seconds())}"

    def set_legal_hold(self, file: StoredFile, on: bool) -> None:
        (self.holds.add if on else self.holds.discard)((file.key, file.version_id or ""))

    def delete(self, file: StoredFile) -> None:
        version = (file.key, file.version_id or "")
        if version in self.holds or self.locks[version] > utcnow():
            raise LockedError(file.key)
        del self.objects[version]


class FakeFixityLog(FixityLog):
    """The fixity check's progress row and results in memory; `documents` gives the packages in id order."""

    def __init__(self, documents: FakeDocuments) -> None:
        self.row: FixityCycleRow | None = None
        self.results: list[FixityResultRow] = []
        self._documents = documents

    def take_turn(self, replica: str, now: datetime, until: datetime) -> bool:
        row = self.progress(now)
        if row.holder not in (None, replica) and row.held_until is not None and row.held_until >= now:
            return False
        row.holder, row.held_until = replica, until
        return True

    def release_turn(self, replica: str) -> None:
        if self.row is not None and self.row.holder == replica:
            self.row.holder, self.row.held_until = None, None

    def progress(self, now: datetime) -> FixityCycleRow:
        if self.row is None:
            self.row = FixityCycleRow(name="packages", cycle=1, started_at=now, cursor="", **ZERO_COUNTS)
        return self.row

    def next_packages(self, after: str, limit: int) -> list[str]:
        return sorted(d for d in self._documents.rows if d > after)[:limit]

    def add_result(self, result: FixityResultRow) -> None:
        self.results.append(result)

    def failures(self, cycles: list[int]) -> list[FixityResultRow]:
        return [r for r in reversed(self.results) if r.cycle in cycles and r.result != "ok"]
