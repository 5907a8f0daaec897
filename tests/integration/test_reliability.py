"""Nothing lost, nothing doubled: redelivery, tampering, poison messages and restarts on the real stack."""

import io
import json
from pathlib import Path

from devstack.stack import Stack
from shared.storage import ObjectStore
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
