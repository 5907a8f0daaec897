"""Archive use cases: take an approved document into the archive bucket, and hand it out again."""

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from minio.error import S3Error
from sqlalchemy.orm import Session, sessionmaker

from services.archive.domain import IntegrityFailure, archive_key, check_fixity
from services.archive.tables import ArchivedDocumentRow
from shared import events
from shared.db import commit_once, mark_processed, was_processed
from shared.outbox import OutboxRelay, add_dead_letter, add_event
from shared.settings import Settings
from shared.storage import ObjectStore

CONSUMER = "archive"
MISSING = ("NoSuchKey", "NoSuchObject", "NoSuchBucket")


@dataclass(frozen=True)
class ArchivedView:
    document_id: str
    sha256: str
    size: int
    title: str
    aktenzeichen: str
    filename: str
    submitted_by: str
    decisions: list[dict]
    archived_at: datetime
    content_type: str
    rendition_key: str | None
    bucket: str
    object_key: str
    version_id: str | None


class ArchiveService:
    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], store: ObjectStore, relay: OutboxRelay
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._store = store
        self._relay = relay

    def archive(self, event: events.DocumentApproved) -> None:
        """Copy the original into the archive after re-checking its fingerprint; once per document."""
        with self._sessions() as session:
            if was_processed(session, CONSUMER, event.event_id):
                return
            if session.get(ArchivedDocumentRow, str(event.document_id)) is not None:
                mark_processed(session, CONSUMER, event.event_id, note="already archived")
                commit_once(session, CONSUMER, event.event_id)
                return
        with tempfile.TemporaryDirectory(prefix="eakte-archive-") as tmp:
            copies: list[events.StoredObject] = []
            original_version: str | None = None
            for source in filter(None, (event.original, event.rendition)):
                copy = Path(tmp) / source.key.rsplit("/", 1)[-1]
                failure = self._fetch_verified(source, copy)
                if failure is not None:
                    self._refuse(event, failure)
                    return
                target = source.model_copy(
                    update={
                        "bucket": self._settings.archive_bucket,
                        "key": archive_key(str(event.document_id), source.key),
                    }
                )
                content_type = event.metadata.content_type if source is event.original else "application/pdf"
                version_id = self._store.put_file(target.bucket, target.key, copy, content_type, target.sha256)
                copies.append(target)
                if source is event.original:
                    original_version = version_id
        self._record(event, copies[0], original_version, copies[1] if len(copies) > 1 else None)

    def _fetch_verified(self, original: events.StoredObject, destination: Path) -> IntegrityFailure | None:
        try:
            sha256, size = self._store.download_hashed(original.bucket, original.key, destination)
        except S3Error as exc:
            if exc.code in MISSING:
                return IntegrityFailure(f"original {original.bucket}/{original.key} is missing ({exc.code})")
            raise
        return check_fixity(original.sha256, original.size, sha256, size)

    def _refuse(self, event: events.DocumentApproved, failure: IntegrityFailure) -> None:
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
        self,
        event: events.DocumentApproved,
        target: events.StoredObject,
        version_id: str | None,
        rendition: events.StoredObject | None,
    ) -> None:
        archived_at = events.utcnow()
        with self._sessions() as session:
            session.add(
                ArchivedDocumentRow(
                    document_id=str(event.document_id),
                    correlation_id=str(event.correlation_id),
                    bucket=target.bucket,
                    object_key=target.key,
                    version_id=version_id,
                    sha256=target.sha256,
                    size=target.size,
                    content_type=event.metadata.content_type,
                    rendition_key=rendition.key if rendition else None,
                    rendition_sha256=rendition.sha256 if rendition else None,
                    title=event.metadata.title,
                    aktenzeichen=event.metadata.aktenzeichen,
                    filename=event.metadata.filename,
                    submitted_by=event.submitted_by,
                    decisions=[d.model_dump(mode="json") for d in event.decisions],
                    archived_at=archived_at,
                )
            )
            add_event(
                session,
                events.DocumentArchived(
                    document_id=event.document_id,
                    correlation_id=event.correlation_id,
                    archived=target,
                    version_id=version_id,
                    archived_at=archived_at,
                ),
            )
            mark_processed(session, CONSUMER, event.event_id)
            if commit_once(session, CONSUMER, event.event_id):
                self._relay.notify()

    def archived(self, document_id: str) -> ArchivedView | None:
        with self._sessions() as session:
            row = session.get(ArchivedDocumentRow, document_id)
            if row is None:
                return None
            return ArchivedView(
                document_id=row.document_id,
                sha256=row.sha256,
                size=row.size,
                title=row.title,
                aktenzeichen=row.aktenzeichen,
                filename=row.filename,
                submitted_by=row.submitted_by,
                decisions=row.decisions,
                archived_at=row.archived_at,
                content_type=row.content_type,
                rendition_key=row.rendition_key,
                bucket=row.bucket,
                object_key=row.object_key,
                version_id=row.version_id,
            )

    def content(self, view: ArchivedView) -> Iterator[bytes]:
        return self._store.stream(view.bucket, view.object_key)
