"""Archive use cases: take approved (and, where the file plan says so, rejected) documents into WORM
storage as BagIt packages; find, hand out, verify, hold and dispose of them."""

import asyncio
import json
import logging
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from minio.error import S3Error
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.archive import domain
from services.archive.domain import (
    BAGIT_TXT,
    FixityReport,
    IntegrityFailure,
    PayloadFile,
    bag_info,
    check_fixity,
    compare_fixity,
    manifest,
)
from services.archive.package import MISSING, ObjectState, PackageStore, StoredFile
from services.archive.search import SearchIndex
from services.archive.tables import AccessLogRow, ArchivedDocumentRow, DeletionRecordRow, PackageFileRow
from shared import events
from shared.db import commit_once, mark_processed, was_processed
from shared.outbox import OutboxRelay, add_dead_letter, add_event
from shared.settings import Settings
from shared.storage import ObjectStore

CONSUMER = "archive"
log = logging.getLogger(__name__)
Outcome = events.DocumentApproved | events.DocumentRejected


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


class NotArchived(LookupError):
    pass


class IntegrityError(Exception):
    """The stored bytes no longer match the fingerprint of record: they are not handed out."""


class ArchiveService:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        relay: OutboxRelay,
        search: SearchIndex,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._store = store
        self._relay = relay
        self._search = search
        self.packages = PackageStore(store, settings.archive_bucket, settings.archive_object_lock)

    # --- taking documents in ------------------------------------------------------------------------
    def archive(self, event: Outcome) -> None:
        """Write the document's package after re-checking its fingerprint; once per document."""
        with self._sessions() as session:
            if was_processed(session, CONSUMER, event.event_id):
                return
            done = session.get(ArchivedDocumentRow, str(event.document_id)) is not None
            skip = isinstance(event, events.DocumentRejected) and not event.metadata.archive_rejected
            if done or skip:
                mark_processed(session, CONSUMER, event.event_id, note="already archived" if done else "not kept")
                commit_once(session, CONSUMER, event.event_id)
                return
        archived_at = events.utcnow()
        retain = domain.retain_until(
            archived_at, event.metadata.retention_years, self._settings.archive_retention_override_s
        )
        with tempfile.TemporaryDirectory(prefix="eakte-archive-") as tmp:
            fetched = self._fetch_all(event, Path(tmp))
            if isinstance(fetched, IntegrityFailure):
                self._refuse(event, fetched)
                return
            stored = self._write_package(event, fetched, archived_at, retain)
        self._record(event, stored, archived_at, retain, self._ocr_text(event))

    def _sources(self, event: Outcome) -> list[tuple[str, events.StoredObject, str]]:
        """(path in the bag, object, content type) of everything the package holds."""
        extension = event.original.key.rsplit(".", 1)[-1] if "." in event.original.key.rsplit("/", 1)[-1] else "bin"
        sources = [(f"data/original.{extension}", event.original, event.metadata.content_type)]
        if event.rendition:
            sources.append(("data/rendition.pdf", event.rendition, "application/pdf"))
        if event.ocr:
            sources.append(("data/ocr.pdf", event.ocr.derivative, "application/pdf"))
            sources.append(("data/ocr.txt", event.ocr.text, "text/plain; charset=utf-8"))
        return sources

    def _fetch_all(self, event: Outcome, workdir: Path) -> list[tuple[str, Path, str]] | IntegrityFailure:
        fetched = []
        for path, source, content_type in self._sources(event):
            local = workdir / path.replace("/", "_")
            try:
                sha256, size = self._store.download_hashed(source.bucket, source.key, local)
            except S3Error as exc:
                if exc.code in (*MISSING, "NoSuchBucket"):
                    return IntegrityFailure(f"{source.bucket}/{source.key} is missing ({exc.code})")
                raise
            failure = check_fixity(source.sha256, source.size, sha256, size)
            if failure is not None:
                return IntegrityFailure(f"{path}: {failure.reason}")
            fetched.append((path, local, content_type))
        return fetched

    def _write_package(
        self, event: Outcome, fetched: list[tuple[str, Path, str]], archived_at: datetime, retain: datetime
    ) -> list[StoredFile]:
        document_id = str(event.document_id)
        metadata = _metadata_json(event, archived_at, retain)
        payload_sources: list[tuple[str, Path | bytes, str]] = [
            *fetched,
            ("data/metadata.json", _json_bytes(metadata), "application/json"),
            ("data/audit.json", _json_bytes(self._audit(event)), "application/json"),
        ]
        stored = [
            self.packages.put(document_id, path, source, ctype, retain) for path, source, ctype in payload_sources
        ]
        payload = [PayloadFile(f.path, f.sha256, f.size) for f in stored]
        tags = {
            "bagit.txt": BAGIT_TXT,
            "bag-info.txt": bag_info(_bag_info_fields(event), payload, archived_at),
            "manifest-sha256.txt": manifest(payload),
        }
        tag_files = [
            self.packages.put(document_id, name, body.encode(), "text/plain; charset=utf-8", retain)
            for name, body in tags.items()
        ]
        tag_manifest = manifest([PayloadFile(f.path, f.sha256, f.size) for f in tag_files])
        tag_files.append(
            self.packages.put(
                document_id, "tagmanifest-sha256.txt", tag_manifest.encode(), "text/plain; charset=utf-8", retain
            )
        )
        return stored + tag_files

    def _audit(self, event: Outcome) -> list[dict] | dict:
        if event.audit is not None:
            return event.audit
        if event.audit_ref is not None:
            raw = b"".join(self._store.stream(event.audit_ref.bucket, event.audit_ref.key))
            return json.loads(raw)
        return {
            "note": "no audit trail came with the decision",
            "decisions": [d.model_dump(mode="json") for d in event.decisions],
        }

    def _ocr_text(self, event: Outcome) -> str:
        if not event.ocr:
            return ""
        return b"".join(self._store.stream(event.ocr.text.bucket, event.ocr.text.key)).decode("utf-8", "replace")

    def _refuse(self, event: Outcome, failure: IntegrityFailure) -> None:
        letter = events.DeadLetter(
            source_topic=event.TOPIC,
            consumer=CONSUMER,
            reason=failure.reason,
            payload=event.model_dump_json(),
            document_id=str(event.document_id),
        )
        with self._sessions() as session:
            add_dead_letter(session, letter)
            mark_processed(session, CONSUMER, event.event_id, note=f"refused: {failure.reason}")
            if commit_once(session, CONSUMER, event.event_id):
                self._relay.notify()

    def _record(
        self, event: Outcome, stored: list[StoredFile], archived_at: datetime, retain: datetime, text: str
    ) -> None:
        meta = event.metadata
        original = stored[0]
        document_id = str(event.document_id)
        with self._sessions() as session:
            session.add(
                ArchivedDocumentRow(
                    document_id=document_id,
                    correlation_id=str(event.correlation_id),
                    outcome="approved" if isinstance(event, events.DocumentApproved) else "rejected",
                    sha256=event.original.sha256,
                    bucket=self.packages.bucket,
                    size=event.original.size,
                    content_type=meta.content_type,
                    original_path=original.path,
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
                    received_at=_received_at(event),
                    decisions=[d.model_dump(mode="json") for d in event.decisions],
                    archived_at=archived_at,
                    retain_until=retain,
                )
            )
            session.flush()
            for f in stored:
                session.add(
                    PackageFileRow(
                        document_id=document_id,
                        path=f.path,
                        key=f.key,
                        version_id=f.version_id,
                        sha256=f.sha256,
                        size=f.size,
                    )
                )
            self._search.add(session, document_id, " ".join([meta.title, meta.sender, meta.aktenzeichen, text]))
            add_event(
                session,
                events.DocumentArchived(
                    document_id=event.document_id,
                    correlation_id=event.correlation_id,
                    archived=events.StoredObject(
                        bucket=self.packages.bucket, key=original.key, size=original.size, sha256=original.sha256
                    ),
                    version_id=original.version_id,
                    archived_at=archived_at,
                ),
            )
            mark_processed(session, CONSUMER, event.event_id)
            if commit_once(session, CONSUMER, event.event_id):
                self._relay.notify()

    # --- finding and handing out ----------------------------------------------------------------------
    def get(self, document_id: str) -> ArchivedDocumentRow:
        with self._sessions() as session:
            row = session.get(ArchivedDocumentRow, document_id)
            if row is None:
                raise NotArchived(document_id)
            return row

    def search(self, query: SearchQuery) -> tuple[int, list[ArchivedDocumentRow]]:
        conditions = []
        if query.aktenzeichen:
            conditions.append(ArchivedDocumentRow.aktenzeichen.startswith(query.aktenzeichen, autoescape=True))
        if query.title:
            conditions.append(ArchivedDocumentRow.title.icontains(query.title, autoescape=True))
        if query.document_type:
            conditions.append(ArchivedDocumentRow.document_type == query.document_type)
        if query.sender:
            conditions.append(ArchivedDocumentRow.sender.icontains(query.sender, autoescape=True))
        if query.received_from:
            conditions.append(ArchivedDocumentRow.received_at >= _day_start(query.received_from))
        if query.received_to:
            conditions.append(ArchivedDocumentRow.received_at < _day_start(query.received_to + timedelta(days=1)))
        if query.text:
            conditions.append(self._search.matching(query.text))
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(ArchivedDocumentRow).where(*conditions)) or 0
            rows = session.scalars(
                select(ArchivedDocumentRow)
                .where(*conditions)
                .order_by(ArchivedDocumentRow.received_at.desc(), ArchivedDocumentRow.document_id)
                .limit(query.limit)
                .offset(query.offset)
            ).all()
            return total, list(rows)

    def log_access(self, document_id: str, user: str, action: str) -> None:
        with self._sessions() as session:
            session.add(AccessLogRow(document_id=document_id, user=user, action=action, at=events.utcnow()))
            session.commit()

    def access_log(self, document_id: str | None, limit: int, offset: int) -> tuple[int, list[AccessLogRow]]:
        with self._sessions() as session:
            query = select(AccessLogRow)
            if document_id:
                query = query.where(AccessLogRow.document_id == document_id)
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(query.order_by(AccessLogRow.id.desc()).limit(limit).offset(offset)).all()
            return total, list(rows)

    def original(self, row: ArchivedDocumentRow) -> StoredFile:
        return next(f for f in _stored_files(row) if f.path == row.original_path)

    def verified_content(self, row: ArchivedDocumentRow) -> Iterator[bytes]:
        """The original's bytes, streamed, after re-reading them once to check the SHA-256 of record."""
        original = self.original(row)
        if self.packages.reread_sha256(original) != row.sha256:
            raise IntegrityError(f"the archived original of {row.document_id} no longer matches its SHA-256")
        return self.packages.stream(original)

    def link(self, row: ArchivedDocumentRow) -> tuple[str, datetime]:
        expires = timedelta(seconds=self._settings.presigned_url_ttl_s)
        url = self.packages.presigned_url(self.original(row), expires, row.filename or "dokument")
        return url, events.utcnow() + expires

    def package_state(self, row: ArchivedDocumentRow) -> list[ObjectState]:
        return [self.packages.state(f) for f in _stored_files(row)]

    # --- proving it is unchanged ----------------------------------------------------------------------
    def verify(self, document_ids: list[str] | None, sample: int | None) -> list[tuple[str, FixityReport]]:
        """Re-read every object of the chosen packages and compare each with its manifest hash."""
        with self._sessions() as session:
            query = select(ArchivedDocumentRow.document_id)
            if document_ids:
                query = query.where(ArchivedDocumentRow.document_id.in_(document_ids))
            elif sample:
                query = query.order_by(func.random()).limit(sample)
            chosen = list(session.scalars(query))
        return [(document_id, self._verify_one(document_id)) for document_id in chosen]

    def _verify_one(self, document_id: str) -> FixityReport:
        row = self.get(document_id)
        files = _stored_files(row)
        found = {f.path: self.packages.reread_sha256(f) for f in files}
        manifest_file = next((f for f in files if f.path == "manifest-sha256.txt"), None)
        expected = {f.path: f.sha256 for f in files}
        if manifest_file is not None and found.get("manifest-sha256.txt") == manifest_file.sha256:
            # The bag's own manifest must agree with what we recorded: it is what other tools will check.
            expected |= domain.parse_manifest(b"".join(self.packages.stream(manifest_file)).decode())
        report = compare_fixity(expected, found)
        with self._sessions() as session:
            stored = session.get_one(ArchivedDocumentRow, document_id)
            stored.last_verified_at = events.utcnow()
            stored.last_verify_result = report.result.value
            stored.last_verify_problems = report.problems
            session.commit()
        return report

    # --- retention, hold, disposal --------------------------------------------------------------------
    def delete_handed_over(self, now: datetime) -> list[str]:
        """Packages the state archive confirmed (xdomea 0506) go as soon as their lock allows."""
        with self._sessions() as session:
            ready = list(
                session.scalars(
                    select(ArchivedDocumentRow.document_id).where(
                        ArchivedDocumentRow.state == "handed_over",
                        ArchivedDocumentRow.retain_until <= now,
                        ArchivedDocumentRow.legal_hold.is_(False),
                    )
                )
            )
        for document_id in ready:
            self.destroy(document_id, "system (Aussonderung)", now, handed_over=True)
        return ready

    async def delete_handed_over_regularly(self) -> None:
        """Background job of the archive service: delete handed-over packages once their locks expire."""
        while True:
            try:
                deleted = await asyncio.to_thread(self.delete_handed_over, events.utcnow())
                if deleted:
                    log.info("deleted %d package(s) handed over to the state archive", len(deleted))
            except Exception:
                log.exception("deleting handed-over packages failed; retrying")
            await asyncio.sleep(self._settings.archive_disposal_interval_s)

    def due(self, now: datetime) -> list[ArchivedDocumentRow]:
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(ArchivedDocumentRow)
                    .where(ArchivedDocumentRow.retain_until <= now)
                    .order_by(ArchivedDocumentRow.retain_until)
                )
            )

    def set_hold(self, document_id: str, on: bool, user: str) -> ArchivedDocumentRow:
        row = self.get(document_id)
        for f in _stored_files(row):
            self.packages.set_legal_hold(f, on)
        with self._sessions() as session:
            stored = session.get_one(ArchivedDocumentRow, document_id)
            stored.legal_hold = on
            session.add(
                AccessLogRow(
                    document_id=document_id, user=user, action="hold_on" if on else "hold_off", at=events.utcnow()
                )
            )
            session.commit()
        return self.get(document_id)

    def destroy(self, document_id: str, user: str, now: datetime, handed_over: bool = False) -> DeletionRecordRow:
        """Delete every object version of the package and keep only a deletion record."""
        row = self.get(document_id)
        handed_over = handed_over or row.state == "handed_over"  # the state archive has it: ours may go
        domain.check_may_destroy(row.disposal, row.retain_until, row.legal_hold, now, handed_over)
        files = _stored_files(row)
        for f in files:
            self.packages.delete(f)  # the store itself refuses while the lock holds
        rule = (
            f"file plan class {row.file_plan_class or '(none)'}: keep {row.retention_years or '-'} years, then "
            f"{'hand over to the state archive' if handed_over else row.disposal or 'decide'}; "
            f"retention ended {row.retain_until.date().isoformat()}"
        )
        record = DeletionRecordRow(
            document_id=document_id,
            aktenzeichen=row.aktenzeichen,
            file_plan_class=row.file_plan_class,
            rule=rule,
            objects=[{"path": f.path, "version_id": f.version_id, "sha256": f.sha256} for f in files],
            deleted_at=now,
            deleted_by=user,
        )
        with self._sessions() as session:
            session.add(record)
            # Tell the other services to remove what they still hold of it (inbox copy, workflow state).
            add_event(
                session,
                events.DocumentDestroyed(
                    document_id=uuid.UUID(document_id),
                    correlation_id=uuid.UUID(row.correlation_id),
                    aktenzeichen=row.aktenzeichen,
                    rule=rule,
                    deleted_at=now,
                    handed_over=handed_over,
                ),
            )
            self._search.remove(session, document_id)
            for f in session.scalars(select(PackageFileRow).where(PackageFileRow.document_id == document_id)):
                session.delete(f)
            session.delete(session.get_one(ArchivedDocumentRow, document_id))
            session.commit()
        self._relay.notify()
        return record

    def deletion_record(self, document_id: str) -> DeletionRecordRow | None:
        with self._sessions() as session:
            return session.get(DeletionRecordRow, document_id)


def _stored_files(row: ArchivedDocumentRow) -> list[StoredFile]:
    return [StoredFile(row.bucket, f.path, f.key, f.version_id, f.sha256, f.size) for f in row.files]


def _json_bytes(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2, default=str).encode()


def _received_at(event: Outcome) -> datetime:
    return min((d.decided_at for d in event.decisions), default=event.occurred_at)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=events.utcnow().tzinfo)


def _metadata_json(event: Outcome, archived_at: datetime, retain: datetime) -> dict:
    meta = event.metadata
    return {
        "document_id": str(event.document_id),
        "version": event.version,
        "outcome": "approved" if isinstance(event, events.DocumentApproved) else "rejected",
        "rejection_reason": getattr(event, "reason", None),
        "title": meta.title,
        "document_type": meta.document_type,
        "sender": meta.sender,
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


def _bag_info_fields(event: Outcome) -> dict[str, str]:
    meta = event.metadata
    return {
        "Source-Organization": "E-Akte",
        "External-Identifier": str(event.document_id),
        "External-Description": meta.title,
        "Aktenzeichen": meta.aktenzeichen,
        "File-Plan-Class": meta.file_plan_class,
        "Bag-Software-Agent": "eakte archive service",
    }
