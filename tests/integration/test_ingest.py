"""Ingest as a post room relies on it: the whole corpus, images, duplicates, file plan, quarantine, limits."""

import collections
import hashlib
import io
import json
from pathlib import Path

import pytest

from devstack.stack import Stack
from tests.conftest import CORPUS, corpus_file, corpus_manifest, unique_bytes
from tests.integration.conftest import Api, TopicReader, wait_for


def _upload_bytes(api: Api, name: str, data: bytes, user: str = "clara", **fields: str):
    return api.http.post(
        f"{api.stack.url('ingest')}/api/v1/documents",
        headers=api.headers(user, "clerk"),
        # The client's content type is deliberately wrong: the service must sniff the bytes.
        files={"file": (name, data, "application/octet-stream")},
        data={"workflow": "none", **fields},
    )


def _inbox_documents(stack: Stack) -> set[str]:
    """The document ids the inbox bucket holds objects of (`documents/{id}/...`)."""
    from shared.storage import ObjectStore

    settings = stack.settings()
    listed = ObjectStore(settings).client.list_objects(settings.inbox_bucket, "documents/")
    return {obj.object_name.split("/")[1] for obj in listed}


def test_every_corpus_file_gets_its_verdict_and_none_is_lost(api: Api) -> None:
    admin = api.headers("adam", "admin")
    results: dict[str, tuple[str, str, dict]] = {}
    in_inbox_before = _inbox_documents(api.stack)
    for row in corpus_manifest():
        response = _upload_bytes(api, row["file"], (CORPUS / row["file"]).read_bytes())
        assert response.status_code in (201, 422), f"{row['file']}: {response.status_code} {response.text}"
        got = "accept" if response.status_code == 201 else "reject"
        results[row["file"]] = (row["kind"], got, response.json())
        assert got == row["expected"], f"{row['file']} ({row['note']}): {response.text}"

    counts = collections.Counter((kind, got) for kind, got, _ in results.values())
    print("\ncorpus verdicts per kind:", dict(sorted(counts.items())))

    # Nothing lost: every accepted file reaches the archive, every refused one is held in quarantine.
    accepted = {name: body["document_id"] for name, (_, got, body) in results.items() if got == "accept"}
    for name, document_id in accepted.items():
        assert (
            api.wait_status(document_id, "archived", timeout_s=60)["sha256"]
            == hashlib.sha256((CORPUS / name).read_bytes()).hexdigest()
        )
    refused = {body["quarantine_id"]: body["reason"] for _, got, body in results.values() if got == "reject"}
    for quarantine_id, reason in refused.items():
        held = api.http.get(f"{api.stack.url('ingest')}/api/v1/quarantine/{quarantine_id}", headers=admin)
        assert held.status_code == 200 and held.json()["reason"] == reason
    # A file goes to the inbox while it is checked: what the checks refused is not left there.
    assert _inbox_documents(api.stack) - in_inbox_before == set(accepted.values())


def test_reasons_are_specific(api: Api) -> None:
    expected = {
        "pypdf__r2-user-password.pdf": "encrypted",
        "qpdf__bad2.pdf": "truncated",
        "qpdf__pages-loop.pdf": "unreadable",
        "qpdf__example-bookmarks-3.pdf": "not_a_pdf",
    }
    for name, reason in expected.items():
        response = _upload_bytes(api, name, corpus_file(name).read_bytes())
        assert (response.status_code, response.json()["reason"]) == (422, reason), name
    empty = _upload_bytes(api, "leer.pdf", b"")
    assert (empty.status_code, empty.json()["reason"]) == (422, "empty")
    docx = _upload_bytes(api, "brief.pdf", b"PK\x03\x04" + b"\x00" * 100)
    assert (docx.status_code, docx.json()["reason"]) == (422, "unsupported_type")
    assert "erlaubt: PDF, TIFF, PNG, JPEG" in docx.json()["message"]


def test_scanned_image_is_kept_as_original_beside_its_pdf(api: Api, stack: Stack) -> None:
    image = unique_bytes("tess__8071_093.3B.tif")
    response = _upload_bytes(api, "scan.tif", image)
    assert response.status_code == 201, response.text
    document_id = response.json()["document_id"]
    assert response.json()["sha256"] == hashlib.sha256(image).hexdigest()
    document = api.wait_status(document_id, "archived")
    assert document["content_type"] == "image/tiff" and document["pages"] == 1

    settings = stack.settings()
    from shared.storage import ObjectStore

    client = ObjectStore(settings).client
    inbox = {o.object_name for o in client.list_objects(settings.inbox_bucket, f"documents/{document_id}/")}
    assert inbox == {f"documents/{document_id}/original.tif", f"documents/{document_id}/rendition.pdf"}
    rendition = client.get_object(settings.inbox_bucket, f"documents/{document_id}/rendition.pdf").read()
    assert rendition.startswith(b"%PDF-") and b"/CCITTFaxDecode" in rendition  # wrapped, not re-encoded
    archived = api.archived_content(document_id)
    assert archived.content == image and archived.headers["content-type"] == "image/tiff"


def test_same_bytes_again_is_a_409_pointing_at_the_first(api: Api) -> None:
    data = unique_bytes("qpdf__minimal.pdf")
    first = _upload_bytes(api, "a.pdf", data)
    assert first.status_code == 201
    again = _upload_bytes(api, "b.pdf", data, user="otto")
    assert again.status_code == 409
    # Need-to-know: the answer names the earlier document only to someone who may see it (here its submitter).
    assert again.json()["error"] == "duplicate" and "document_id" not in again.json()
    mine = _upload_bytes(api, "c.pdf", data)
    assert mine.status_code == 409 and mine.json()["document_id"] == first.json()["document_id"]


def test_file_plan_and_akten(api: Api, pdf: Path, topics: TopicReader) -> None:
    ingest = api.stack.url("ingest")
    # Need-to-know: the Akten of class 50.10 belong to org unit 50; clara reads them back as its member.
    clerk = api.headers("clara", "clerk", org_units=["50"])
    plan = api.http.get(f"{ingest}/api/v1/fileplan", headers=clerk).json()
    social = next(c for c in plan if c["number"] == "50.10")
    assert social == {
        "number": "50.10",
        "title": "Sozialhilfe, laufende Leistungen",
        "retention_years": 10,
        "disposal": "destroy",
    }

    opened = [
        api.http.post(f"{ingest}/api/v1/akten", headers=clerk, json={"file_plan_class": "50.10", "title": t})
        for t in ("Hilfe zum Lebensunterhalt Meier", "Grundsicherung Schulz")
    ]
    assert [r.status_code for r in opened] == [201, 201]
    first, second = (r.json()["aktenzeichen"] for r in opened)
    year, number = first.split("-")[1].split("/")
    assert first.startswith("50.10-") and len(number) == 4 and len(year) == 4
    assert second == f"50.10-{year}/{int(number) + 1:04d}"

    unknown_class = api.http.post(
        f"{ingest}/api/v1/akten", headers=clerk, json={"file_plan_class": "99.99", "title": "x"}
    )
    assert unknown_class.status_code == 422 and unknown_class.json()["reason"] == "unknown_file_plan_class"

    filed = api.upload(pdf, aktenzeichen=first, title="Antrag vom 3. März")
    assert filed.status_code == 201, filed.text
    document_id = filed.json()["document_id"]
    akte = api.http.get(f"{ingest}/api/v1/akten/{first}", headers=clerk).json()
    assert akte["title"] == "Hilfe zum Lebensunterhalt Meier" and akte["file_plan_class"]["retention_years"] == 10
    assert [d["document_id"] for v in akte["vorgaenge"] for d in v["documents"]] == [document_id]

    event = wait_for(lambda: topics.about("documents.ingested", document_id))[0]
    assert event["metadata"]["file_plan_class"] == "50.10" and event["metadata"]["retention_years"] == 10
    assert event["metadata"]["disposal"] == "destroy" and event["metadata"]["aktenzeichen"] == first

    listed = api.http.get(f"{ingest}/api/v1/akten", headers=clerk, params={"file_plan_class": "50.10"}).json()
    assert {first, second} <= {a["aktenzeichen"] for a in listed["items"]} and listed["total"] >= 2

    unknown = api.upload(pdf, aktenzeichen="50.10-1999/0001")
    assert unknown.status_code == 422 and unknown.json()["reason"] == "unknown_aktenzeichen"


def test_upload_may_open_a_new_akte(api: Api) -> None:
    data = unique_bytes("sf__annotated_pdf.pdf")
    response = _upload_bytes(
        api, "bauantrag.pdf", data, file_plan_class="63.01", akte_title="Neubau Kita Ost", title="Bauantrag"
    )
    assert response.status_code == 201, response.text
    aktenzeichen = response.json()["aktenzeichen"]
    assert aktenzeichen.startswith("63.01-")
    # Need-to-know: 63.01 names no org unit and its creator is a member of none: the records office reads it.
    records = api.headers("rita", "records_officer")
    akte = api.http.get(f"{api.stack.url('ingest')}/api/v1/akten/{aktenzeichen}", headers=records)
    assert akte.json()["title"] == "Neubau Kita Ost" and akte.json()["org_unit"] == ""


def test_quarantine_is_for_admins_and_gives_back_the_exact_bytes(api: Api) -> None:
    broken = corpus_file("qpdf__bad7.pdf").read_bytes()
    refused = _upload_bytes(api, "../../etc/passwd.pdf", broken)
    assert refused.status_code == 422
    quarantine_id = refused.json()["quarantine_id"]
    ingest = api.stack.url("ingest")
    admin = api.headers("adam", "admin")

    listing = api.http.get(f"{ingest}/api/v1/quarantine", headers=admin, params={"limit": 500}).json()
    item = next(i for i in listing["items"] if i["quarantine_id"] == quarantine_id)
    assert item["original_name"] == "passwd.pdf" and item["uploaded_by"] == "clara" and item["state"] == "held"
    content = api.http.get(f"{ingest}/api/v1/quarantine/{quarantine_id}/content", headers=admin)
    assert content.content == broken and content.headers["content-type"] == "application/octet-stream"

    for role in ("clerk", "approver", "records_officer"):
        forbidden = api.http.get(f"{ingest}/api/v1/quarantine", headers=api.headers("eve", role))
        assert forbidden.status_code == 403, role

    still_bad = api.http.post(f"{ingest}/api/v1/quarantine/{quarantine_id}/release", headers=admin)
    assert still_bad.status_code == 422 and still_bad.json()["quarantine_id"] == quarantine_id
    assert api.http.get(f"{ingest}/api/v1/quarantine/{quarantine_id}", headers=admin).json()["state"] == "held"


@pytest.fixture
def strict_ingest(stack: Stack):
    """The ingest service restarted with small limits; restored afterwards."""
    stack.restart_service("ingest", EAKTE_MAX_PAGES="5", EAKTE_MAX_UPLOAD_BYTES=str(1024 * 1024))
    try:
        yield stack
    finally:
        stack.restart_service("ingest")


def test_limits_hold_while_streaming_and_release_works_after_the_fix(api: Api, strict_ingest: Stack) -> None:
    ingest = api.stack.url("ingest")
    admin = api.headers("adam", "admin")
    big = b"%PDF-1.4\n" + b"0" * (3 * 1024 * 1024)
    too_large = _upload_bytes(api, "big.pdf", big)
    assert too_large.status_code == 422 and too_large.json()["reason"] == "too_large"
    kept = api.http.get(f"{ingest}/api/v1/quarantine/{too_large.json()['quarantine_id']}/content", headers=admin)
    assert len(kept.content) <= 1024 * 1024  # the spool stopped at the limit

    thirty_pages = unique_bytes("qpdf__c-linearized.pdf")
    refused = _upload_bytes(api, "dreissig.pdf", thirty_pages)
    assert refused.status_code == 422 and refused.json()["reason"] == "too_many_pages"

    unauthenticated = api.http.post(f"{ingest}/api/v1/documents", files={"file": ("x.pdf", io.BytesIO(big))})
    assert unauthenticated.status_code == 401

    strict_ingest.restart_service("ingest")  # the fix: normal limits again
    released = api.http.post(f"{ingest}/api/v1/quarantine/{refused.json()['quarantine_id']}/release", headers=admin)
    assert released.status_code == 201, released.text
    document = api.wait_status(released.json()["document_id"], "archived")
    assert document["pages"] == 30 and document["submitted_by"] == "clara"
    item = api.http.get(f"{ingest}/api/v1/quarantine/{refused.json()['quarantine_id']}", headers=admin).json()
    assert item["state"] == "released" and item["released_as"] == document["document_id"]
    sidecar_upload = json.dumps(item)
    assert "dreissig.pdf" in sidecar_upload
