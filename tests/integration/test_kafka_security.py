"""Kafka is not an open door: SASL/SCRAM-SHA-512 for every client, ACLs per service principal (shared.kafka_acl),
and an archive that does not trust a forged `documents.approved` an insider produced."""

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError, TopicAuthorizationFailedError

from devstack.stack import Stack
from services.portal.lag import consumer_lag
from shared.events import DocumentApproved, DocumentMetadata, StoredObject
from shared.messaging import kafka_python_auth
from shared.settings import Settings, dev_kafka_password
from shared.storage import ObjectStore
from tests.integration.conftest import Api, TopicReader, wait_for

QUICK = {"request_timeout_ms": 3000, "bootstrap_timeout_ms": 3000}


def _producer(settings: Settings, **auth: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, retries=0, max_block_ms=3000, **QUICK, **auth)  # type: ignore[arg-type]


def _produce(settings: Settings, topic: str, key: str, **auth: str) -> None:
    producer = _producer(settings, **auth)
    try:
        producer.send(topic, key=key.encode(), value=b'{"probe": true}').get(timeout=10)
    finally:
        producer.close(timeout=5)


def _keys_on(topics: TopicReader, topic: str) -> set[str]:
    return {record.key.decode() for record in topics._records(topic, 2000) if record.key}


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param({}, id="no credentials"),
        pytest.param(kafka_python_auth("ingest", "not-the-password"), id="wrong password"),
        pytest.param(kafka_python_auth("mallory", dev_kafka_password("mallory")), id="unknown user"),
    ],
)
def test_a_client_without_valid_credentials_can_neither_produce_nor_consume(
    settings: Settings, topics: TopicReader, auth: dict[str, str]
) -> None:
    key = f"intruder-{uuid.uuid4()}"
    with pytest.raises(KafkaError):
        _produce(settings, "documents.approved", key, **auth)
    with pytest.raises(KafkaError):
        consumer = KafkaConsumer(
            "documents.approved",
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=f"intruder-{uuid.uuid4()}",
            auto_offset_reset="earliest",
            **QUICK,  # type: ignore[arg-type]
            **auth,
        )
        try:
            assert not consumer.poll(timeout_ms=3000), "read events without valid credentials"
            raise AssertionError("an unauthenticated consumer was let in")
        finally:
            consumer.close()
    assert key not in _keys_on(topics, "documents.approved")


@pytest.mark.parametrize(
    ("principal", "topic"),
    [
        ("portal", "documents.approved"),
        ("ingest", "documents.destroyed"),
        ("ingest", "documents.approved"),
        ("workflow", "documents.archived"),
        ("archive", "documents.ingested"),
        ("operator", "workflow.escalated"),  # IT's repair principal: replays into consumed topics only
        ("operator", "documents.ingested.dlq"),  # and never writes a dead letter itself
    ],
)
def test_a_service_cannot_write_a_topic_it_does_not_own(
    settings: Settings, topics: TopicReader, principal: str, topic: str
) -> None:
    key = f"not-mine-{uuid.uuid4()}"
    with pytest.raises(TopicAuthorizationFailedError):
        _produce(settings, topic, key, **kafka_python_auth(principal, dev_kafka_password(principal)))
    assert key not in _keys_on(topics, topic)


def test_a_service_may_write_what_it_owns(settings: Settings, topics: TopicReader) -> None:
    """The counterpart of the refusals above (the whole suite running is the broad proof)."""
    key = f"owned-{uuid.uuid4()}"
    _produce(settings, "documents.ingested.dlq", key, **kafka_python_auth("workflow", dev_kafka_password("workflow")))
    assert key in _keys_on(topics, "documents.ingested.dlq")


def test_the_portal_cannot_read_events(settings: Settings) -> None:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id="ingest.portal-snooping",
        auto_offset_reset="earliest",
        **QUICK,  # type: ignore[arg-type]
        **kafka_python_auth("portal", dev_kafka_password("portal")),
    )
    try:
        consumer.subscribe(["documents.ingested"])
        with pytest.raises(KafkaError):
            for _ in range(10):
                assert not consumer.poll(timeout_ms=1000), "the portal read documents.ingested"
    finally:
        consumer.close()


# --- a forged documents.approved, produced as an insider would (with the admin principal) ----------------------


def _store(settings: Settings, tmp_path: Path, bucket: str, key: str, data: bytes, recorded: bytes) -> StoredObject:
    """Put an object the way intake does (`put_file` records a SHA-256): here the SHA-256 of `recorded`."""
    path = tmp_path / "object.pdf"
    path.write_bytes(data)
    ObjectStore(settings).put_file(bucket, key, path, "application/pdf", hashlib.sha256(recorded).hexdigest())
    return StoredObject(bucket=bucket, key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def _forge(topics: TopicReader, document_id: uuid.UUID, original: StoredObject) -> None:
    event = DocumentApproved(
        document_id=document_id,
        correlation_id=uuid.uuid4(),
        original=original,
        metadata=DocumentMetadata(title="Untergeschoben", filename="evil.pdf", retention_years=30),
        submitted_by="mallory",
        decisions=[],
    )
    topics.publish(event.TOPIC, str(document_id), event.model_dump_json().encode())


PDF = b"%PDF-1.4 a file the archive must not take\n"
Forgery = Callable[[Settings, Path, uuid.UUID], StoredObject]


def _quarantined(settings: Settings, tmp_path: Path, document_id: uuid.UUID) -> StoredObject:
    return _store(settings, tmp_path, settings.quarantine_bucket, f"documents/{document_id}/original.pdf", PDF, PDF)


def _another_documents(settings: Settings, tmp_path: Path, document_id: uuid.UUID) -> StoredObject:
    return _store(settings, tmp_path, settings.inbox_bucket, f"documents/{uuid.uuid4()}/original.pdf", PDF, PDF)


def _not_intakes_sha256(settings: Settings, tmp_path: Path, document_id: uuid.UUID) -> StoredObject:
    key = f"documents/{document_id}/original.pdf"
    return _store(settings, tmp_path, settings.inbox_bucket, key, PDF, b"what intake received")


@pytest.mark.parametrize(
    ("forgery", "reason"),
    [
        pytest.param(_quarantined, "source not in the inbox bucket", id="quarantine bucket"),
        pytest.param(_another_documents, "source not under this document's key prefix", id="another document's key"),
        pytest.param(_not_intakes_sha256, "sha256 differs from intake's record", id="sha256 not intake's"),
    ],
)
def test_a_forged_approval_is_dead_lettered_and_nothing_archived(
    api: Api, settings: Settings, topics: TopicReader, stack: Stack, tmp_path: Path, forgery: Forgery, reason: str
) -> None:
    document_id = uuid.uuid4()
    original = forgery(settings, tmp_path, document_id)

    _forge(topics, document_id, original)

    letters = wait_for(lambda: topics.about_dead_letters("documents.approved.dlq", str(document_id)))
    assert len(letters) == 1 and letters[0]["consumer"] == "archive"
    assert reason in letters[0]["reason"] and original.key in letters[0]["reason"]
    assert api.archived(str(document_id)).status_code == 404
    assert not topics.about("documents.archived", str(document_id))


def test_the_portal_sees_the_consumer_lag_of_every_group(settings: Settings, topics: TopicReader) -> None:
    """What the admin's system page shows, read with the portal's own principal (describe only)."""
    partition, offset = topics.publish("documents.ingested", f"lag-probe-{uuid.uuid4()}", b'{"not": "an event"}')
    topics.wait_consumed("workflow", "documents.ingested", partition, offset)

    portal = ("portal", dev_kafka_password("portal"))
    lag = wait_for(lambda: consumer_lag(settings.kafka_bootstrap, *portal))

    assert ("workflow", "documents.ingested") in {(row.group, row.topic) for row in lag}
    assert all(row.lag >= 0 for row in lag)
