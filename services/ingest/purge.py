"""After disposal: remove what the ingest service still holds of a destroyed document.

The inbox objects (original, rendition, OCR results, large audit trails) and the document's rows go;
intake records keep only that a file was taken in, without its name or metadata.
"""

import uuid

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.tables import DocumentRow, IntakeItemRow, OcrJobRow, StatusRow, VorgangRow
from shared.db import commit_once, mark_processed, was_processed
from shared.storage import ObjectStore

CONSUMER = "ingest.purge"


class Purge:
    def __init__(self, sessions: sessionmaker[Session], store: ObjectStore, inbox_bucket: str) -> None:
        self._sessions = sessions
        self._client = store.client
        self._bucket = inbox_bucket

    def document(self, event_id: uuid.UUID, document_id: str) -> None:
        with self._sessions() as session:
            if was_processed(session, CONSUMER, event_id):
                return
        # Objects first: a crash after this leaves rows that the redelivered event removes.
        for obj in self._client.list_objects(self._bucket, prefix=f"documents/{document_id}/", recursive=True):
            self._client.remove_object(self._bucket, obj.object_name)
        with self._sessions() as session:
            row = session.get(DocumentRow, document_id)
            vorgang_id = row.vorgang_id if row else None
            session.execute(delete(StatusRow).where(StatusRow.document_id == document_id))
            session.execute(delete(OcrJobRow).where(OcrJobRow.document_id == document_id))
            session.execute(
                update(IntakeItemRow)
                .where(IntakeItemRow.document_id == document_id)
                .values(filename="(vernichtet)", upload={}, reason="destroyed after its retention period")
            )
            if row is not None:
                session.delete(row)
                session.flush()
            if vorgang_id and not session.scalar(
                select(func.count()).select_from(DocumentRow).where(DocumentRow.vorgang_id == vorgang_id)
            ):
                session.execute(delete(VorgangRow).where(VorgangRow.vorgang_id == vorgang_id))
            mark_processed(session, CONSUMER, event_id, note="purged")
            commit_once(session, CONSUMER, event_id)
