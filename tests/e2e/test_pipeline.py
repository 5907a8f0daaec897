"""Upload → approve → archive on the real Kafka broker and MinIO server, driven over HTTP."""

import hashlib
import json
from pathlib import Path

from tests.conftest import corpus_file, unique_bytes
from tests.integration.conftest import Api, TopicReader, wait_for
from tests.integration.flows import upload_approve_download


def test_approved_document_is_archived_byte_identical(api: Api, pdf: Path) -> None:
    upload_approve_download(api, pdf)


def test_rejected_document_is_not_archived_and_the_reason_travels(api: Api, pdf: Path, topics: TopicReader) -> None:
    document_id = api.upload(pdf).json()["document_id"]
    task = api.task_for(document_id)

    without_reason = api.decide(task["task_id"], "reject")
    assert without_reason.status_code == 422
    assert without_reason.json()["error"] == "reason_required"

    rejected = api.decide(task["task_id"], "reject", comment="Unterschrift fehlt")
    assert rejected.status_code == 200, rejected.text
    document = api.wait_status(document_id, "rejected")
    assert document["history"][-1]["by"] == "anton"

    events = topics.about("documents.rejected", document_id)
    assert len(events) == 1 and events[0]["reason"] == "Unterschrift fehlt"
    assert api.archived(document_id).status_code == 404
    assert all(t["document_id"] != document_id for t in api.tasks())


def test_submitter_never_approves_own_document(api: Api, pdf: Path) -> None:
    response = api.http.post(
        f"{api.stack.url('ingest')}/api/v1/documents",
        headers=api.headers("petra", "clerk", "approver"),
        files={"file": (pdf.name, pdf.read_bytes(), "application/pdf")},
    )
    assert response.status_code == 201
    document_id = response.json()["document_id"]
    task = api.task_for(document_id, user="anton")

    assert all(t["document_id"] != document_id for t in api.tasks("petra", "clerk", "approver"))
    own = api.decide(task["task_id"], "approve", "petra", "", "clerk", "approver")
    assert own.status_code == 403
    assert own.json()["error"] == "four_eyes"
    assert api.decide(task["task_id"], "approve", user="anton").status_code == 200
    api.wait_status(document_id, "archived", user="petra")  # need-to-know: read back by its submitter


def test_second_decision_on_a_task_gets_409(api: Api, pdf: Path) -> None:
    document_id = api.upload(pdf).json()["document_id"]
    task = api.task_for(document_id)
    assert api.decide(task["task_id"], "approve", user="anton").status_code == 200
    late = api.decide(task["task_id"], "reject", user="berta", comment="zu spät")
    assert late.status_code == 409
    assert api.wait_status(document_id, "archived")["status"] == "archived"


def test_filing_only_workflow_needs_no_approver(api: Api, pdf: Path) -> None:
    document_id = api.upload(pdf, workflow="none").json()["document_id"]
    document = api.wait_status(document_id, "archived")
    assert [h["status"] for h in document["history"]] == ["received", "approved", "archived"]
    assert document["history"][1]["by"] == "system"
    assert all(t["document_id"] != document_id for t in api.tasks())


def test_broken_pdf_gets_422_and_is_kept_in_quarantine(api: Api) -> None:
    broken = corpus_file("qpdf__bad2.pdf")
    response = api.upload(broken)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "document_rejected" and body["reason"] == "truncated"
    assert body["message"].startswith("Das PDF")

    store = api.stack.settings()
    from shared.storage import ObjectStore

    client = ObjectStore(store).client
    kept = client.get_object(store.quarantine_bucket, f"{body['quarantine_id']}/content").read()
    assert kept == broken.read_bytes()
    sidecar = json.loads(client.get_object(store.quarantine_bucket, f"{body['quarantine_id']}/sidecar.json").read())
    assert sidecar["reason"] == "truncated" and sidecar["uploaded_by"] == "clara"
    assert sidecar["sha256"] == hashlib.sha256(kept).hexdigest() and sidecar["original_name"] == broken.name


def test_not_a_pdf_and_encrypted_are_named(api: Api) -> None:
    fake = api.upload(corpus_file("qpdf__example-bookmarks-3.pdf"))
    assert fake.status_code == 422 and fake.json()["reason"] == "not_a_pdf"
    locked = api.upload(corpus_file("pypdf__r2-user-password.pdf"))
    assert locked.status_code == 422 and locked.json()["reason"] == "encrypted"


def test_unknown_workflow_is_a_clear_422(api: Api, pdf: Path) -> None:
    response = api.upload(pdf, workflow="does-not-exist")
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request" and body["reason"] == "unknown_workflow"
    assert "does-not-exist" in body["message"]


def test_every_route_checks_the_caller(api: Api, pdf: Path) -> None:
    ingest, workflow, archive = (api.stack.url(name) for name in ("ingest", "workflow", "archive"))
    some_id = "00000000-0000-0000-0000-000000000000"
    routes = [
        ("POST", f"{ingest}/api/v1/documents"),
        ("GET", f"{ingest}/api/v1/documents/{some_id}"),
        ("GET", f"{workflow}/api/v1/tasks"),
        ("POST", f"{workflow}/api/v1/tasks/{some_id}/decision"),
        ("GET", f"{archive}/api/v1/archive/{some_id}"),
        ("GET", f"{archive}/api/v1/archive/{some_id}/content"),
    ]
    for method, url in routes:
        assert api.http.request(method, url).status_code == 401, url
        bad = api.http.request(method, url, headers={"Authorization": "Bearer not-a-jwt"})
        assert bad.status_code == 401, url

    clerk = api.headers("clara", "clerk")
    assert api.http.get(f"{archive}/api/v1/archive/{some_id}", headers=clerk).status_code == 403
    assert api.http.get(f"{workflow}/api/v1/tasks", headers=clerk).status_code == 403
    records = api.headers("rita", "records_officer")
    upload = api.http.post(
        f"{ingest}/api/v1/documents", headers=records, files={"file": (pdf.name, pdf.read_bytes(), "application/pdf")}
    )
    assert upload.status_code == 403


def test_document_not_found_is_404(api: Api) -> None:
    response = api.http.get(f"{api.stack.url('ingest')}/api/v1/documents/nope", headers=api.headers("clara", "clerk"))
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_ingested_event_carries_the_claim_check(api: Api, pdf: Path, topics: TopicReader) -> None:
    document_id = api.upload(pdf, workflow="none").json()["document_id"]
    api.wait_status(document_id, "archived")
    ingested = wait_for(lambda: topics.about("documents.ingested", document_id))
    assert len(ingested) == 1
    event = ingested[0]
    assert event["schema_version"] == 1 and event["event_id"] and event["correlation_id"]
    assert event["original"]["sha256"] == hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert event["original"]["size"] == pdf.stat().st_size
    # A claim check, never the bytes: the message is far smaller than the 16 KB file it announces.
    assert len(json.dumps(event)) < 2048 < pdf.stat().st_size


def test_returned_document_comes_back_as_a_new_version_and_starts_again(api: Api, pdf: Path, tmp_path: Path) -> None:
    document_id = api.upload(pdf, title="Antrag Kita-Platz").json()["document_id"]
    task = api.task_for(document_id)
    returned = api.decide(task["task_id"], "return", comment="Bitte Unterschrift ergänzen")
    assert returned.status_code == 200, returned.text
    wait_for(lambda: api.document(document_id)["awaiting_revision"])

    ingest = api.stack.url("ingest")
    corrected = tmp_path / "korrigiert.pdf"
    corrected.write_bytes(unique_bytes("sf__annotated_pdf.pdf"))
    files = {"file": (corrected.name, corrected.read_bytes(), "application/pdf")}
    someone_else = api.http.post(
        f"{ingest}/api/v1/documents/{document_id}/versions", headers=api.headers("otto", "clerk"), files=files
    )
    assert someone_else.status_code == 404  # need-to-know: otto may not even see clara's document
    version = api.http.post(
        f"{ingest}/api/v1/documents/{document_id}/versions", headers=api.headers("clara", "clerk"), files=files
    )
    assert version.status_code == 201, version.text
    assert version.json()["document_id"] == document_id and version.json()["version"] == 2
    again = api.http.post(
        f"{ingest}/api/v1/documents/{document_id}/versions", headers=api.headers("clara", "clerk"), files=files
    )
    assert again.status_code == 409 and again.json()["error"] == "not_returned"

    restarted = wait_for(
        lambda: next(
            (t for t in api.tasks() if t["document_id"] == document_id and t["task_id"] != task["task_id"]), None
        )
    )
    assert restarted["step"] == 1 and restarted["sha256"] == hashlib.sha256(corrected.read_bytes()).hexdigest()
    assert api.decide(restarted["task_id"], "approve").status_code == 200
    document = api.wait_status(document_id, "archived")
    assert document["version"] == 2 and "returned" in [h["status"] for h in document["history"]]
    assert api.archived_content(document_id).content == corrected.read_bytes()
