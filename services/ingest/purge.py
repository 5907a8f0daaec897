"""After disposal: remove what the ingest service still holds of a destroyed document.

The inbox objects (original, rendition, OCR results, large audit trails) and the document's rows go;
intake records keep only that a file was taken in, without its name or metadata; an online application's
form data goes with its form document.
"""

import uuid

from services.ingest.domain import document_key
from services.ingest.unit_of_work import IngestUnitOfWork
from shared.storage import ObjectStore
from shared.unit_of_work import consume_once

CONSUMER = "ingest.purge"


def purge(uow: IngestUnitOfWork, store: ObjectStore, bucket: str, event_id: uuid.UUID, document_id: str) -> bool:
    """Remove the document once per event; True when it was removed now."""
    with uow:
        if uow.was_processed(CONSUMER, event_id):
            return False
    # Objects first: a crash after this leaves rows that the redelivered event removes.
    client = store.client
    for obj in client.list_objects(bucket, prefix=document_key(document_id), recursive=True):
        client.remove_object(bucket, obj.object_name)
    return consume_once(uow, CONSUMER, event_id, lambda work: _forget(work, document_id))


def _forget(uow: IngestUnitOfWork, document_id: str) -> str:
    row = uow.documents.get_without_history(document_id)
    vorgang_id = row.vorgang_id if row else None
    uow.ocr_jobs.remove(document_id)
    uow.previews.remove(document_id)
    uow.intake_items.forget_document(document_id)
    uow.fitconnect.forget_document(document_id)  # an online application's form data goes with its form PDF
    uow.search.remove(document_id)
    uow.documents.remove(document_id)
    if vorgang_id and not uow.documents.count_in_vorgang(vorgang_id):
        uow.filing.remove_vorgang(vorgang_id)
    return "purged"
