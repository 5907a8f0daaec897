"""Taking a document in: its approved (or, where the file plan says so, rejected) outcome becomes a BagIt
package in WORM storage, after its intake fingerprint has been checked again; once per document."""

import concurrent.futures
import contextlib
import hashlib
import json
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from services.archive import domain
from services.archive.bundle import BUNDLE, BUNDLE_TYPE, Bundle, make_bundle
from services.archive.domain import FoundVersion, IntegrityFailure, Outcome, PayloadFile, check_fixity, manifest
from services.archive.ports import AlreadyStored, NewFile, Packages, SourceMissing, Sources, StoredFile
from services.archive.tables import ArchivedDocumentRow, PackageFileRow
from services.archive.unit_of_work import ArchiveUnitOfWork
from shared import events
from shared.tracing import continued, traceparent_of_event
from shared.unit_of_work import consume_many, consume_once

# The processed-event consumer of both outcomes (the Kafka consumer groups differ).
CONSUMER = "archive"
JSON = "application/json"
METADATA = "data/metadata.json"


@dataclass(frozen=True)
class Intake:
    """Where packages are read from and written to, the development-only retention override, and what writes a
    batch's packages side by side."""

    sources: Sources
    packages: Packages
    retention_override_s: int | None = None
    # Writes the packages of a batch side by side (`archive_many`); None: one after another.
    side_by_side: concurrent.futures.Executor | None = None


@dataclass(frozen=True)
class Fetched:
    """A source object copied to local disk after its fingerprint held."""

    path: str
    local: Path
    content_type: str
    sha256: str
    size: int


@dataclass(frozen=True)
class PackageFile:
    """One file of the package to be stored: its path in the bag, its content, type and fingerprint."""

    path: str
    source: Path | bytes
    content_type: str
    sha256: str
    size: int

    @staticmethod
    def of(path: str, data: bytes, content_type: str) -> "PackageFile":
        return PackageFile(path, data, content_type, hashlib.sha256(data).hexdigest(), len(data))


def archive(uow: ArchiveUnitOfWork, event: Outcome, intake: Intake) -> bool:
    """Write the document's package and record it; True when this delivery of `event` was applied."""
    return consume_once(uow, CONSUMER, event.event_id, lambda work: _take_in(work, [event], intake))


def archive_many(uow: ArchiveUnitOfWork, events: Sequence[Outcome], intake: Intake) -> int:
    """`archive` for a batch (`shared.unit_of_work.consume_many`): the packages are written side by side and
    recorded in one transaction; how many events were applied now. When one is refused (a dead letter), the batch
    raises and its events are taken one at a time: each finds the objects this attempt stored."""
    if not events:
        return 0
    items = [(event.event_id, event) for event in events]
    # Traces (on): the batch's transaction in the trace of its first approval, each package's S3 calls in its own.
    with continued(traceparent_of_event(str(events[0].event_id)), f"{events[0].TOPIC} archive"):
        return consume_many(uow, CONSUMER, items, lambda work, new: _take_in(work, new, intake))


@dataclass(frozen=True)
class Written:
    """A package in the object store: its files in the bag's order (the original first), when it was archived,
    how long it is kept, and the text the search indexes."""

    stored: list[StoredFile]
    archived_at: datetime
    retain: datetime
    text: str


def _take_in(uow: ArchiveUnitOfWork, outcomes: list[Outcome], intake: Intake) -> str | None:
    notes: list[str] = []
    todo: dict[str, Outcome] = {}
    # Archived here already, or being archived by an earlier event of this batch.
    taken_ids = uow.documents.archived_among([str(event.document_id) for event in outcomes])
    for event in outcomes:
        skipped = _skipped(event, taken_ids)
        if skipped:
            notes.append(skipped)
        else:
            todo[str(event.document_id)] = event
            taken_ids.add(str(event.document_id))
    taken: list[tuple[ArchivedDocumentRow, str]] = []
    for event, written in zip(todo.values(), _write_all(list(todo.values()), intake), strict=True):
        if isinstance(written, IntegrityFailure):
            notes.append(_refuse(uow, event, written))
            continue
        taken.append((_archived_row(event, written, intake.packages.bucket), written.text))
        # In a batch the announcement continues the trace of the approval it answers (traces on).
        with continued(traceparent_of_event(str(event.event_id)), f"{events.DocumentArchived.TOPIC} announce"):
            uow.add_event(_archived_event(event, written.stored[0], intake.packages.bucket, written.archived_at))
    # The batch's rows in a statement per table; each package's evidence record follows in a batch.
    uow.documents.add_all(taken)
    uow.evidence.add_all({row.document_id: row.archived_at for row, _ in taken})
    return ", ".join(sorted(set(notes))) or None


def _skipped(event: Outcome, taken_ids: set[str]) -> str | None:
    """Why `event` writes no package: its document is archived (or is being, earlier in this batch), or the file
    plan does not keep it."""
    if str(event.document_id) in taken_ids:
        return "already archived"
    if not domain.is_kept(event):
        return "not kept"
    return None


def _write_all(events: list[Outcome], intake: Intake) -> list[Written | IntegrityFailure]:
    """Each event's package, side by side where the intake has writers for it; none still writing when a failure
    is raised."""
    if len(events) <= 1 or intake.side_by_side is None:
        return [_write_package(event, intake) for event in events]
    futures = [
        intake.side_by_side.submit(_write_package_in_trace, event, intake, traceparent_of_event(str(event.event_id)))
        for event in events
    ]
    concurrent.futures.wait(futures)
    return [future.result() for future in futures]


def _write_package_in_trace(event: Outcome, intake: Intake, traceparent: str | None) -> Written | IntegrityFailure:
    """`_write_package` in a writer thread, in the trace of the event's message (traces on)."""
    with continued(traceparent, f"{event.TOPIC} archive"):
        return _write_package(event, intake)


def _write_package(event: Outcome, intake: Intake) -> Written | IntegrityFailure:
    """Check the sources' fingerprints, then store the package (the object store only): as a new package, else
    (an earlier attempt left objects) what it still lacks."""
    with _scratch_files() as scratch:
        fetched = _fetch_all(event, intake.sources, scratch)
        if isinstance(fetched, IntegrityFailure):
            return fetched
        stored = _write_new(event, intake, fetched) or _write_rest(event, intake, fetched)
    if isinstance(stored, IntegrityFailure):
        return stored
    text = domain.search_text(event, _ocr_text(event, intake.sources))
    return Written(*stored, text)


# A package's files in the bag's order, when it was archived and how long it is kept.
_Stored = tuple[list[StoredFile], datetime, datetime]


@dataclass(frozen=True)
class _Layout:
    """A package laid out for one archiving time: its files (`contents`) and the objects they are kept in."""

    archived_at: datetime
    retain: datetime
    contents: list[PackageFile]
    objects: list[PackageFile]
    bundle: Bundle


def _write_new(event: Outcome, intake: Intake, fetched: list[Fetched]) -> _Stored | None:
    """The common case, a package never begun: each object is written only if its key is new, which spares the
    listing of what an earlier attempt stored (one of the five object-store requests per document). None when a
    key holds an object already: an earlier attempt was here, and `_write_rest` completes its package."""
    layout = _layout(event, intake, fetched, events.utcnow())
    nothing_found: dict[str, FoundVersion | None] = {f.path: None for f in layout.objects}
    try:
        return _write(str(event.document_id), intake.packages, layout, nothing_found, only_new=True)
    except AlreadyStored:
        return None


def _write_rest(event: Outcome, intake: Intake, fetched: list[Fetched]) -> _Stored | IntegrityFailure:
    """Store what the package still lacks. A repeat (after a crash, or for a redelivered event) finds what an earlier
    attempt stored and keeps its archiving time, so the package comes out the same."""
    document_id = str(event.document_id)
    found = intake.packages.found(document_id)
    layout = _layout(event, intake, fetched, _archived_at(intake.packages, document_id, found))
    # Files of the bundle that an older archive version stored as objects of their own must hold the same
    # bytes (then they are left as they are), else the package is refused as before.
    earlier = [PayloadFile(m.path, m.sha256, m.size) for m in layout.bundle.members if m.path in found]
    listed = [PayloadFile(f.path, f.sha256, f.size) for f in layout.objects] + earlier
    plan = domain.plan_package_write(listed, found, domain.package_prefix(document_id))
    if isinstance(plan, IntegrityFailure):
        return plan
    return _write(document_id, intake.packages, layout, plan, only_new=False)


def _layout(event: Outcome, intake: Intake, fetched: list[Fetched], archived_at: datetime) -> _Layout:
    retain = domain.retain_until(archived_at, event.metadata.retention_years, intake.retention_override_s)
    contents = _package_files(event, intake.sources, fetched, archived_at, retain)
    objects, bundle = _objects(contents, archived_at)
    return _Layout(archived_at, retain, contents, objects, bundle)


def _write(
    document_id: str, packages: Packages, layout: _Layout, plan: dict[str, FoundVersion | None], only_new: bool
) -> _Stored:
    when = (layout.archived_at, layout.retain)
    written = _write_missing(document_id, packages, layout.objects, plan, when, only_new)
    return _files_of(layout.contents, written, layout.bundle), layout.archived_at, layout.retain


def _refuse(uow: ArchiveUnitOfWork, event: Outcome, failure: IntegrityFailure) -> str:
    uow.add_dead_letter(_dead_letter(event, failure))
    return f"refused: {failure.reason}"


@contextlib.contextmanager
def _scratch_files() -> Iterator[Callable[[], Path]]:
    """New names for one document's downloads in the temporary directory; the files are removed afterwards.

    (A directory of its own per document cost more than the files in it: mkdtemp and rmtree were 6 % of the
    archive's CPU under load, measured.)"""
    stem = Path(tempfile.gettempdir()) / f"eakte-archive-{uuid.uuid4().hex}"
    made: list[Path] = []

    def name() -> Path:
        made.append(stem.with_name(f"{stem.name}-{len(made)}"))
        return made[-1]

    try:
        yield name
    finally:
        for path in made:
            path.unlink(missing_ok=True)


def _fetch_all(event: Outcome, sources: Sources, scratch: Callable[[], Path]) -> list[Fetched] | IntegrityFailure:
    refused = domain.check_provenance(event, sources.bucket)
    if refused is not None:
        return refused
    fetched = []
    for item in domain.package_sources(event):
        local = scratch()
        try:
            downloaded = sources.download(item.source, local)
            sha256, size = downloaded.sha256, downloaded.size
            failure = check_fixity(item.source.sha256, item.source.size, sha256, size)
            if failure is None:
                failure = domain.check_recorded_sha256(item.source, downloaded.recorded_sha256)
        except SourceMissing as exc:
            return IntegrityFailure(str(exc))
        if failure is not None:
            return IntegrityFailure(f"{item.path}: {failure.reason}")
        fetched.append(Fetched(item.path, local, item.content_type, sha256, size))
    return fetched


def _archived_at(packages: Packages, document_id: str, found: dict[str, list[FoundVersion]]) -> datetime:
    """The first attempt's archiving time where one left objects behind, else now."""
    recorded = domain.first_archived_at(found)
    if recorded is None and METADATA in found:  # written before the time was recorded on each object
        first = found[METADATA][0]
        key = domain.package_prefix(document_id) + METADATA
        file = StoredFile(packages.bucket, METADATA, key, first.version_id, first.sha256 or "", first.size)
        recorded = domain.archived_at_of_metadata(b"".join(packages.stream(file)))
    return recorded or events.utcnow()


def _package_files(
    event: Outcome, sources: Sources, fetched: list[Fetched], archived_at: datetime, retain: datetime
) -> list[PackageFile]:
    """The payload (the original first), then the tag files, then the tag manifest over them: the same bytes
    for the same event and archiving time."""
    payload = [
        *(PackageFile(f.path, f.local, f.content_type, f.sha256, f.size) for f in fetched),
        PackageFile.of(METADATA, _json_bytes(domain.metadata_json(event, archived_at, retain)), JSON),
        PackageFile.of("data/audit.json", _json_bytes(_audit(event, sources)), JSON),
    ]
    listed = [PayloadFile(f.path, f.sha256, f.size) for f in payload]
    tags = [
        PackageFile.of(name, body.encode(), domain.TEXT_PLAIN)
        for name, body in domain.tag_files(event, listed, archived_at).items()
    ]
    tag_manifest = manifest([PayloadFile(f.path, f.sha256, f.size) for f in tags])
    return [*payload, *tags, PackageFile.of("tagmanifest-sha256.txt", tag_manifest.encode(), domain.TEXT_PLAIN)]


def _objects(contents: list[PackageFile], archived_at: datetime) -> tuple[list[PackageFile], Bundle]:
    """The objects to store: each payload file copied from intake as an object of its own, then one bundle of the
    files made here (metadata, audit trail, tag files). The bundle comes last: it holds the tag manifest, so a
    package whose bundle is stored is complete. (An empty file would stay on its own: S3 has no empty range.)"""
    own: list[PackageFile] = []
    small: list[tuple[str, bytes]] = []
    for f in contents:
        if isinstance(f.source, bytes) and f.size > 0:
            small.append((f.path, f.source))
        else:
            own.append(f)
    bundle = make_bundle(small, archived_at)
    return [*own, PackageFile.of(BUNDLE, bundle.data, BUNDLE_TYPE)], bundle


def _files_of(contents: list[PackageFile], written: list[StoredFile], bundle: Bundle) -> list[StoredFile]:
    """Every file of the package in the bag's order (the original first): an object of its own, or a byte range
    of the stored bundle (the last object written)."""
    stored, inside = written[-1], {f.path: f for f in written[:-1]}
    for m in bundle.members:
        inside[m.path] = StoredFile(stored.bucket, m.path, stored.key, stored.version_id, m.sha256, m.size, m.offset)
    return [inside[f.path] for f in contents]


def _write_missing(
    document_id: str,
    packages: Packages,
    contents: list[PackageFile],
    plan: dict[str, FoundVersion | None],
    when: tuple[datetime, datetime],
    only_new: bool,
) -> list[StoredFile]:
    """Store what is not there yet and reuse the versions an earlier attempt stored. The tag manifest (last) is
    written once everything it covers is stored, so a bag that has one is complete. `only_new`: each write raises
    AlreadyStored where its key holds an object (nothing found was listed)."""
    archived_at, retain = when
    stored: dict[str, StoredFile] = {}
    for f in contents:
        reused = plan[f.path]
        if reused is not None:
            key = domain.package_prefix(document_id) + f.path
            stored[f.path] = StoredFile(packages.bucket, f.path, key, reused.version_id, f.sha256, f.size)
    missing = [NewFile(f.path, f.source, f.content_type) for f in contents if f.path not in stored]
    for group in (missing[:-1], missing[-1:]):
        for written in packages.put_many(document_id, group, retain, archived_at, only_new) if group else []:
            stored[written.path] = written
    return [stored[f.path] for f in contents]


def _audit(event: Outcome, sources: Sources) -> Any:
    if event.audit is not None:
        return event.audit
    if event.audit_ref is not None:
        return json.loads(sources.read(event.audit_ref))
    return domain.audit_without_trail(event)


def _ocr_text(event: Outcome, sources: Sources) -> str:
    if not event.ocr:
        return ""
    return sources.read(event.ocr.text).decode("utf-8", "replace")


def _json_bytes(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2, default=str).encode()


def _dead_letter(event: Outcome, failure: IntegrityFailure) -> events.DeadLetter:
    return events.DeadLetter.of(
        source_topic=event.TOPIC,
        consumer=CONSUMER,
        reason=failure.reason,
        payload=event.model_dump_json().encode(),
        document_id=str(event.document_id),
    )


def _archived_row(event: Outcome, written: Written, bucket: str) -> ArchivedDocumentRow:
    meta, stored = event.metadata, written.stored
    return ArchivedDocumentRow(
        document_id=str(event.document_id),
        correlation_id=str(event.correlation_id),
        outcome=domain.outcome_name(event),
        sha256=event.original.sha256,
        bucket=bucket,
        size=event.original.size,
        content_type=meta.content_type,
        original_path=stored[0].path,
        title=meta.title,
        document_type=meta.document_type,
        sender=meta.sender,
        aktenzeichen=meta.aktenzeichen,
        akte_title=meta.akte_title,
        vorgang_id=meta.vorgang_id,
        file_plan_class=meta.file_plan_class,
        file_plan_title=meta.file_plan_title,
        retention_years=meta.retention_years,
        disposal=meta.disposal,
        filename=meta.filename,
        submitted_by=event.submitted_by,
        received_at=domain.received_at(event),
        decisions=[d.model_dump(mode="json") for d in event.decisions],
        archived_at=written.archived_at,
        retain_until=written.retain,
        org_unit=meta.org_unit or None,
        confidential=meta.confidential,
        source=meta.source or None,
        files=[
            PackageFileRow(
                document_id=str(event.document_id),
                path=f.path,
                key=f.key,
                version_id=f.version_id,
                sha256=f.sha256,
                size=f.size,
                offset=f.offset,
            )
            for f in stored
        ],
    )


def _archived_event(
    event: Outcome, original: StoredFile, bucket: str, archived_at: datetime
) -> events.DocumentArchived:
    return events.DocumentArchived(
        document_id=event.document_id,
        correlation_id=event.correlation_id,
        archived=events.StoredObject(bucket=bucket, key=original.key, size=original.size, sha256=original.sha256),
        version_id=original.version_id,
        archived_at=archived_at,
    )
