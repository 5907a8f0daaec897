"""Event contracts on Kafka: typed, versioned, keyed by document id.

Messages never carry file bytes, only a reference to the stored object (claim check).
Consumers ignore fields they do not know and refuse schema versions they cannot read.

Every topic, who writes it and who reads it (consumer group → handler). Producers write through their
transactional outbox; each consumer is one decorated function in its service's `handlers.py`, applied once per
event through `shared.unit_of_work.consume_once`:

topic                       producer (where)                          consumer groups
--------------------------  ----------------------------------------  -------------------------------------------------
documents.ingested          ingest (intake; OCR worker after OCR)     workflow
documents.review_started    workflow (a run opens its first step)     ingest.documents.review_started
documents.approved          workflow (last step approved)             archive; ingest.documents.approved
documents.rejected          workflow (a step rejected)                archive.documents.rejected;
                                                                      ingest.documents.rejected
documents.returned          workflow (returned for revision)          ingest.documents.returned
documents.archived          archive (package written)                 ingest.documents.archived
documents.destroyed         archive (disposal, handed-over deletion)  ingest.purge; workflow.purge
workflow.deadline_reminder  workflow scheduler                        none here (for notification systems)
workflow.escalated          workflow scheduler                        none here (for notification systems)
workflow.resubmission_due   workflow scheduler                        none here (for notification systems)
<topic>.dlq                 any consumer (unreadable or poison);      none: kept for IT to inspect and replay
                            workflow (unknown workflow); archive
                            (provenance or fingerprint refused)

IT replays a dead letter with `eakte dlq replay` (shared.dead_letters): the original goes back to its source topic
with the header `eakte-replayed-from: <dlq topic>/<partition>/<offset>`; a consumer that dead-lettered the event
did not mark it processed and applies it now, every other consumer group counts it as a duplicate.

A consumer group's handler is the function decorated with `@consumer(..., group="<group>")` in
`services/<service>/handlers.py` (the first part of the group names the service): grep for the group name.
`shared.kafka_acl.CONSUMER_GROUPS` lists the groups once (a test checks the handlers against it); the AsyncAPI
document of all this (`shared.asyncapi`, served at /asyncapi.json, committed as docs/asyncapi.json) is written from it.
"""

import hashlib
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, field_validator


def utcnow() -> datetime:
    return datetime.now(UTC)


class StoredObject(BaseModel):
    """Where a file lies in the object store, with the fingerprint taken at intake."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    bucket: str
    key: str
    size: int
    sha256: str


class Decision(BaseModel):
    """One recorded decision on a workflow step."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    step: int
    decided_by: str
    decision: str
    comment: str = ""
    decided_at: datetime
    on_behalf_of: str | None = None


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    TOPIC: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1

    schema_version: int = 1
    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime = Field(default_factory=utcnow)
    document_id: UUID
    correlation_id: UUID

    @field_validator("schema_version")
    @classmethod
    def _readable_version(cls, value: int) -> int:
        if value > cls.SCHEMA_VERSION:
            raise ValueError(f"schema_version {value} is newer than {cls.SCHEMA_VERSION}, which this service reads")
        return value

    @property
    def key(self) -> bytes:
        return str(self.document_id).encode()


class DocumentMetadata(BaseModel):
    """What is known about a document at intake: what the clerk said, and where it is filed."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    title: str = ""
    document_type: str = ""
    sender: str = ""
    aktenzeichen: str = ""
    akte_title: str = ""
    vorgang_id: str = ""
    file_plan_class: str = ""
    file_plan_title: str = ""
    retention_years: int | None = None
    disposal: str = ""
    archive_rejected: bool = False  # the file plan keeps rejected documents of this class too
    # Need-to-know (shared.need_to_know): the owning org unit (its Akte's) and whether its class is confidential.
    org_unit: str = ""
    confidential: bool = False
    filename: str = ""
    content_type: str = "application/pdf"
    pages: int = 0
    source: str = "upload"
    received_on: str = ""  # the date the paper was received (ISO), for documents of a backlog import


class OcrResult(BaseModel):
    """The text layer made by OCR: a searchable PDF/A derivative and the plain text, for full-text search."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    derivative: StoredObject
    text: StoredObject
    languages: str


class DocumentIngested(Event):
    TOPIC: ClassVar[str] = "documents.ingested"

    original: StoredObject
    # For scanned images: the PDF made from them without re-encoding; the image stays the original of record.
    rendition: StoredObject | None = None
    ocr: OcrResult | None = None
    metadata: DocumentMetadata
    workflow: str
    submitted_by: str
    version: int = 1


class ReviewStarted(Event):
    TOPIC: ClassVar[str] = "documents.review_started"

    workflow: str
    step: int
    offered_to_role: str
    step_name: str = ""
    version: int = 1


class DocumentApproved(Event):
    TOPIC: ClassVar[str] = "documents.approved"

    original: StoredObject
    rendition: StoredObject | None = None
    ocr: OcrResult | None = None
    metadata: DocumentMetadata
    submitted_by: str
    decisions: list[Decision]
    version: int = 1
    audit: list[dict[str, Any]] | None = None
    audit_ref: StoredObject | None = None


class DocumentRejected(Event):
    TOPIC: ClassVar[str] = "documents.rejected"

    original: StoredObject
    rendition: StoredObject | None = None
    ocr: OcrResult | None = None
    metadata: DocumentMetadata
    submitted_by: str
    decisions: list[Decision]
    reason: str
    version: int = 1
    audit: list[dict[str, Any]] | None = None
    audit_ref: StoredObject | None = None


class DocumentArchived(Event):
    TOPIC: ClassVar[str] = "documents.archived"

    archived: StoredObject
    version_id: str | None = None
    archived_at: datetime


class DocumentReturned(Event):
    """Returned for revision: the submitter uploads a new version, and the workflow restarts at step one."""

    TOPIC: ClassVar[str] = "documents.returned"

    submitted_by: str
    returned_by: str
    on_behalf_of: str | None = None
    comment: str
    step: int
    version: int = 1


class DeadlineReminder(Event):
    """A task's deadline (`Frist`) is near and it is still open."""

    TOPIC: ClassVar[str] = "workflow.deadline_reminder"

    task_id: str
    step: int
    step_name: str = ""
    assignee_kind: str
    assignee: str
    deadline_at: datetime


class TaskEscalated(Event):
    """A task's deadline passed: it is now also offered to the escalation target."""

    TOPIC: ClassVar[str] = "workflow.escalated"

    task_id: str
    step: int
    step_name: str = ""
    assignee_kind: str
    assignee: str
    deadline_at: datetime
    escalated_to_user: str | None = None
    escalated_to_role: str | None = None


class ResubmissionDue(Event):
    """A `Wiedervorlage` came due: the document is back in the user's inbox."""

    TOPIC: ClassVar[str] = "workflow.resubmission_due"

    resubmission_id: str
    user: str
    due_on: str
    note: str = ""


class DocumentDestroyed(Event):
    """Disposal: the archive deleted the package; every service removes what it still holds of the document."""

    TOPIC: ClassVar[str] = "documents.destroyed"

    aktenzeichen: str = ""
    rule: str
    deleted_at: datetime
    handed_over: bool = False  # taken over by the state archive (xdomea) before deletion here


EVENT_TYPES: tuple[type[Event], ...] = (
    DocumentDestroyed,
    DocumentIngested,
    ReviewStarted,
    DocumentApproved,
    DocumentRejected,
    DocumentArchived,
    DocumentReturned,
    DeadlineReminder,
    TaskEscalated,
    ResubmissionDue,
)


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


ALL_TOPICS: tuple[str, ...] = tuple(
    name for event in EVENT_TYPES for name in (event.TOPIC, dead_letter_topic(event.TOPIC))
)


# A dead letter stays far below the broker's message size (1 MiB by default): its payload and reason are cut.
DEAD_LETTER_PAYLOAD_BYTES = 64 * 1024
DEAD_LETTER_REASON_CHARS = 4000


class DeadLetter(BaseModel):
    """A message a consumer could not use, kept with the reason for IT to inspect and replay.

    The payload is cut to DEAD_LETTER_PAYLOAD_BYTES (`payload_truncated`); `payload_sha256` and `payload_size`
    name the whole original, which stays in the source topic.
    """

    source_topic: str
    consumer: str
    reason: str
    payload: str
    document_id: str | None = None
    occurred_at: datetime = Field(default_factory=utcnow)
    payload_sha256: str = ""
    payload_size: int = 0
    payload_truncated: bool = False
    # Where the refused message lies in the source topic (None when not known): a letter whose payload was cut
    # is replayed from there, as long as the source topic still holds it (`shared.dead_letters`).
    source_partition: int | None = None
    source_offset: int | None = None

    @classmethod
    def of(
        cls,
        source_topic: str,
        consumer: str,
        reason: str,
        payload: bytes,
        document_id: str | None = None,
        source: tuple[int, int] | None = None,
    ) -> "DeadLetter":
        """`source`: the message's (partition, offset) in `source_topic`, when the caller knows it."""
        cut = payload[:DEAD_LETTER_PAYLOAD_BYTES]
        return cls(
            source_topic=source_topic,
            source_partition=source[0] if source else None,
            source_offset=source[1] if source else None,
            consumer=consumer,
            reason=reason[:DEAD_LETTER_REASON_CHARS],
            payload=cut.decode("utf-8", errors="replace"),
            document_id=document_id[:200] if document_id else None,
            payload_sha256=hashlib.sha256(payload).hexdigest(),
            payload_size=len(payload),
            payload_truncated=len(cut) < len(payload),
        )
