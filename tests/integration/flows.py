"""User journeys shared by the SQLite and the PostgreSQL runs of the pipeline."""

import hashlib
from pathlib import Path

from tests.integration.conftest import Api


def upload_approve_download(api: Api, pdf: Path) -> str:
    """A clerk uploads, an approver approves, the records office downloads the same bytes."""
    original = pdf.read_bytes()
    sha256 = hashlib.sha256(original).hexdigest()

    akte = api.http.post(
        f"{api.stack.url('ingest')}/api/v1/akten",
        headers=api.headers("clara", "clerk"),
        json={"file_plan_class": "63.01", "title": "Neubau Einfamilienhaus Müller"},
    )
    assert akte.status_code == 201, akte.text
    aktenzeichen = akte.json()["aktenzeichen"]
    created = api.upload(pdf, title="Bauantrag Müller", aktenzeichen=aktenzeichen)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["sha256"] == sha256 and body["status"] == "received"
    document_id = body["document_id"]

    task = api.task_for(document_id)
    assert task["sha256"] == sha256 and task["step"] == 1 and task["submitted_by"] == "clara"
    api.wait_status(document_id, "in_review")

    decided = api.decide(task["task_id"], "approve", comment="passt")
    assert decided.status_code == 200, decided.text

    document = api.wait_status(document_id, "archived")
    assert document["sha256"] == sha256
    assert [h["status"] for h in document["history"]] == ["received", "in_review", "approved", "archived"]
    approved = next(h for h in document["history"] if h["status"] == "approved")
    assert approved["by"] == "anton"

    archived = api.archived(document_id)
    assert archived.status_code == 200
    assert archived.json()["sha256"] == sha256
    assert archived.json()["aktenzeichen"] == aktenzeichen
    assert archived.json()["decisions"][0]["decided_by"] == "anton"

    content = api.archived_content(document_id)
    assert content.status_code == 200
    assert content.headers["x-content-sha256"] == sha256
    assert content.content == original
    return document_id
