"""Nothing lost, nothing doubled: redelivery, tampering, poison messages and restarts on the real stack."""

import io
import json
import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from devstack.stack import Stack
from shared.storage import ObjectStore
from tests.conftest import unique_bytes
from tests.integration.conftest import Api, TopicReader, wait_for


def test_redelivered_approval_gives_one_archive_entry(api: Api, pdf: Path, topics: TopicReader) -> None:
    document_id = api.upload(pdf, workflow="none").json()["document_id"]
    api.wait_status(document_id, "archived")
    first = api.archived(document_id).json()
    approved = topics.about("documents.approved", document_id)
    assert len(approved) == 1

    partition, offset = topics.publish("documents.approved", document_id, json.dumps(approved[0]).encode())
    topics.wait_consumed("archive", "documents.approved", partition, offset)

    assert len(topics.about("documents.archived", document_id)) == 1
    again = api.archived(document_id).json()
    assert again == first


def test_tampered_original_is_never_archived(api: Api, pdf: Path, stack: Stack, topics: TopicReader) -> None:
    document_id = api.upload(pdf).json()["document_id"]
    task = api.task_for(document_id)
    settings = stack.settings()
    forged = b"%PDF-1.4 forged content"
    ObjectStore(settings).client.put_object(
        settings.inbox_bucket, f"documents/{document_id}/original.pdf", io.BytesIO(forged), len(forged)
    )
    assert api.decide(task["task_id"], "approve").status_code == 200

    letters = wait_for(lambda: topics.about_dead_letters("documents.approved.dlq", document_id))
    assert len(letters) == 1
    assert "sha256 mismatch" in letters[0]["reason"] and letters[0]["consumer"] == "archive"
    api.wait_status(document_id, "approved")
    assert api.archived(document_id).status_code == 404


def test_unreadable_event_goes_to_the_dead_letter_topic(topics: TopicReader) -> None:
    key = "poison-0001"
    partition, offset = topics.publish("documents.approved", key, b'{"schema_version": 1, "no": "document"}')
    topics.wait_consumed("archive", "documents.approved", partition, offset)
    letters = [
        m for m in topics.messages("documents.approved.dlq") if m["payload"].startswith('{"schema_version": 1, "no"')
    ]
    assert letters and "unreadable DocumentApproved" in letters[0]["reason"]


def _consumed(api: Api, service: str, topic: str, outcome: str) -> float:
    labels = {"service": service, "topic": topic, "outcome": outcome}
    scraped = api.http.get(f"{api.stack.url(service)}/metrics").text
    for family in text_string_to_metric_families(scraped):
        for sample in family.samples:
            if sample.name == "eakte_events_consumed_total" and sample.labels == labels:
                return sample.value
    return 0.0


def test_status_changes_arriving_together_are_applied_once_and_a_poison_one_is_set_aside(
    api: Api, topics: TopicReader, tmp_path: Path
) -> None:
    """Ingest and the workflow's notifier take documents.archived in batches: redelivered events among them change
    nothing, an unreadable one goes to the dead-letter topic, and the ones behind it are still applied."""
    documents = []
    for index in range(3):
        path = tmp_path / f"brief-{index}.pdf"
        path.write_bytes(unique_bytes("sf__minimal-document.pdf"))
        documents.append(api.upload(path, workflow="none").json()["document_id"])
    for document_id in documents:
        api.wait_status(document_id, "archived")
    archived = [(d, json.dumps(topics.about("documents.archived", d)[0]).encode()) for d in documents]
    poison_key, poison = f"poison-{uuid.uuid4()}", b'{"schema_version": 1, "no": "status"}'
    duplicates = _consumed(api, "ingest", "documents.archived", "duplicate")

    sent = topics.publish_many("documents.archived", [*archived, (poison_key, poison), *archived])
    for group in ("ingest.documents.archived", "workflow.notify"):
        for partition, offset in sent:
            topics.wait_consumed(group, "documents.archived", partition, offset)

    for document_id in documents:
        statuses = [entry["status"] for entry in api.document(document_id)["history"]]
        assert statuses.count("archived") == 1 and statuses[-1] == "archived", statuses
    assert _consumed(api, "ingest", "documents.archived", "duplicate") == duplicates + 6
    letters = topics.about_dead_letters("documents.archived.dlq", poison_key)
    assert {letter["consumer"] for letter in letters} == {"ingest.documents.archived", "workflow.notify"}
    assert all("unreadable DocumentArchived" in letter["reason"] for letter in letters)


def test_document_survives_a_stopped_workflow_service(api: Api, pdf: Path, stack: Stack) -> None:
    stack.services["workflow"].stop()
    try:
        document_id = api.upload(pdf).json()["document_id"]
        assert api.document(document_id)["status"] == "received"
    finally:
        stack.start_service("workflow")
    task = api.task_for(document_id)
    assert api.decide(task["task_id"], "approve").status_code == 200
    api.wait_status(document_id, "archived")


def test_document_survives_a_crashed_archive_service(api: Api, pdf: Path, stack: Stack) -> None:
    document_id = api.upload(pdf).json()["document_id"]
    task = api.task_for(document_id)
    stack.services["archive"].kill()
    try:
        assert api.decide(task["task_id"], "approve").status_code == 200
        api.wait_status(document_id, "approved")
    finally:
        stack.start_service("archive")
    api.wait_status(document_id, "archived", timeout_s=60)
    assert api.archived_content(document_id).content == pdf.read_bytes()
