"""Integrity on the real stack: the scheduled fixity cycle, one integrity report per document (JSON and German
PDF), and the authority's identity in every xdomea message, checked against the official schema."""

import io
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pypdf
from lxml import etree

from devstack.stack import Stack
from services.archive import xdomea
from shared.storage import ObjectStore
from tests.integration.conftest import Api, wait_for
from tests.integration.test_archive import _archive_document, _archived, _records
from tests.integration.test_xdomea_disposal import _akte_with_documents, _post_zip

CYCLE_S = 20.0
PLAIN_BUCKET = "eakte-archive-fixity"  # without object lock, so that the test can change a package
NS = {"x": "urn:xoev-de:xdomea:schema:3.0.0"}


def _fixity(api: Api) -> dict:
    response = api.http.get(f"{api.stack.url('archive')}/api/v1/archive/fixity", headers=_records(api))
    assert response.status_code == 200, response.text
    return response.json()


def _report(api: Api, document_id: str, accept: str = "application/json", user: tuple[str, ...] = ()):
    headers = api.headers(*user) if user else _records(api)
    url = f"{api.stack.url('archive')}/api/v1/archive/{document_id}/integrity-report"
    return api.http.get(url, headers={**headers, "Accept": accept})


def _lines(report: dict) -> dict[str, dict]:
    return {line["name"]: line for line in report["lines"]}


def test_the_fixity_cycle_visits_every_package_and_a_changed_one_fails_its_report(api: Api, stack: Stack) -> None:
    stack.restart_service(
        "archive",
        EAKTE_FIXITY_CYCLE_DAYS=str(CYCLE_S / 86_400),
        EAKTE_ARCHIVE_OBJECT_LOCK="false",
        EAKTE_ARCHIVE_BUCKET=PLAIN_BUCKET,
        EAKTE_ARCHIVE_RETENTION_OVERRIDE_S="3600",
    )
    log = Path(stack.data_dir) / "logs" / "archive.log"
    log_offset = log.stat().st_size
    try:
        changed, intact = (_archive_document(api) for _ in range(2))
        for document_id in (changed, intact):
            _archived(api, document_id)
        ObjectStore(stack.settings()).client.put_object(
            PLAIN_BUCKET, f"packages/{changed}/data/original.pdf", io.BytesIO(b"%PDF-1.4 altered"), 16
        )
        changed_at = datetime.now(UTC)

        def cycle_after_the_change() -> dict | None:
            last = _fixity(api)["last_cycle"]
            return last if last and datetime.fromisoformat(last["started_at"]) > changed_at else None

        last = wait_for(cycle_after_the_change, timeout_s=6 * CYCLE_S)
        figures = _fixity(api)
        # Every package of the archive, once: both buckets' packages are in the cycle.
        assert last["checked"] == figures["packages"] == last["ok"] + last["mismatch"] + last["missing"]
        assert last["mismatch"] >= 1 and last["ok"] >= 1
        assert (changed, "mismatch") in {(f["document_id"], f["result"]) for f in figures["failures"]}
        for document_id in (changed, intact):
            checked_at = datetime.fromisoformat(api.archived(document_id).json()["last_verified_at"])
            assert checked_at > changed_at
        audit = api.http.get(
            f"{stack.url('archive')}/api/v1/archive/access-log", headers=_records(api), params={"document_id": changed}
        ).json()
        assert ("fixity", "fixity_mismatch") in {(e["user"], e["action"]) for e in audit["items"]}
        errors = [line for line in log.read_text()[log_offset:].splitlines() if " ERROR " in line and changed in line]
        assert errors and "mismatch" in errors[0]

        report = _report(api, changed).json()
        assert report["ok"] is False
        fixity_line = _lines(report)["fixity"]
        assert fixity_line["status"] == "failed" and "data/original.pdf" in fixity_line["detail"]
        assert _lines(_report(api, intact).json())["fixity"]["status"] == "ok"
    finally:
        stack.restart_service("archive")


def test_the_integrity_report_as_json_and_german_pdf(api: Api, stack: Stack) -> None:
    document_id = _archive_document(api, title="Bauantrag Schmidt")
    archived = _archived(api, document_id)
    verified = api.http.post(
        f"{stack.url('archive')}/api/v1/archive/verify", headers=_records(api), json={"document_ids": [document_id]}
    )
    assert verified.json()["ok"] == 1

    report = _report(api, document_id)
    assert report.status_code == 200 and report.headers["content-type"] == "application/json"
    body = report.json()
    lines = _lines(body)
    assert body["intake_sha256"] == archived["sha256"] and lines["intake_sha256"]["ok"]
    for topic in ("documents.ingested", "documents.approved", "documents.archived"):
        assert lines[f"event:{topic}"]["ok"], lines[f"event:{topic}"]
    chain = [name for name in lines if name.startswith("audit:")]
    assert len(chain) >= 3 and all(lines[name]["ok"] for name in chain)  # created, assigned, ..., approved
    assert any("decision=approve" in lines[name]["detail"] for name in chain)
    assert body["decisions"][0]["decision"] == "approve"
    assert lines["manifest"]["ok"] and "data/original.pdf" in body["manifest"]
    assert lines["fixity"]["ok"]
    # No evidence record yet: that line fails, and so the whole report is not ok.
    assert lines["evidence"]["status"] == "failed" and body["ok"] is False
    assert [name for name, line in lines.items() if not line["ok"]] == ["evidence"]

    pdf = _report(api, document_id, accept="application/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "integritaetsnachweis" in pdf.headers["content-disposition"]
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    for phrase in ("Integritätsnachweis", "SHA-256 bei Eingang", "Audit-Eintrag 1", "Letzte Fixity-Prüfung"):
        assert phrase in text
    assert "FEHLGESCHLAGEN" in text and archived["sha256"][:32] in text.replace("\n", "")

    assert _report(api, "00000000-0000-4000-8000-000000000000").status_code == 404
    assert _report(api, document_id, user=("clara", "clerk")).status_code == 403


def test_the_records_office_downloads_the_report_from_the_package_page(api: Api, stack: Stack) -> None:
    document_id = _archive_document(api)
    _archived(api, document_id)
    portal = httpx.Client(base_url=stack.url("portal"), timeout=60)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', portal.get("/anmelden").text)
    assert csrf
    portal.post("/anmelden", data={"csrf_token": csrf.group(1), "user": "rita", "roles": ["records_officer"]})
    page = portal.get(f"/archiv/{document_id}").text
    assert f"/archiv/{document_id}/integritaetsnachweis.pdf" in page and "Integritätsnachweis (JSON)" in page
    pdf = portal.get(f"/archiv/{document_id}/integritaetsnachweis.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "attachment" in pdf.headers["content-disposition"]
    data = portal.get(f"/archiv/{document_id}/integritaetsnachweis.json")
    assert data.status_code == 200 and data.json()["document_id"] == document_id
    portal.close()


def test_xdomea_messages_name_the_authority_and_the_state_archive(api: Api, stack: Stack) -> None:
    stack.restart_service(
        "archive",
        EAKTE_XDOMEA_SENDER_KEY="16055000",
        EAKTE_XDOMEA_SENDER_PREFIX="ags:",
        EAKTE_XDOMEA_SENDER_ORG_UNIT="Hauptamt, Registratur",
        EAKTE_XDOMEA_RECEIVER_KEY="LATH",
        EAKTE_XDOMEA_RECEIVER_PREFIX="psw:",
        EAKTE_XDOMEA_RECEIVER_ORG_UNIT="Staatsarchiv Weimar",
    )
    try:
        aktenzeichen, _documents = _akte_with_documents(api, 1)
        _name, offer, process_id = _post_zip(api, "offer", [aktenzeichen])
        root = etree.fromstring(offer.read(offer.namelist()[0]))
        etree.XMLSchema(etree.parse(str(xdomea.schema_path()))).assertValid(root.getroottree())
        head = "x:Kopf/x:Absender/x:Behoerdenkennung"
        assert root.xpath(f"{head}/x:Behoerdenschluessel/code/text()", namespaces=NS) == ["16055000"]
        assert root.xpath(f"{head}/x:Praefix/code/text()", namespaces=NS) == ["ags:"]
        assert root.xpath("x:Kopf/x:Absender/x:Organisationseinheit/x:Name/text()", namespaces=NS) == [
            "Hauptamt, Registratur"
        ]
        receiver = "x:Kopf/x:Empfaenger/x:Behoerdenkennung"
        assert root.xpath(f"{receiver}/x:Behoerdenschluessel/code/text()", namespaces=NS) == ["LATH"]
        assert root.xpath(f"{receiver}/x:Praefix/code/text()", namespaces=NS) == ["psw:"]
        assert root.xpath("//x:Aktenplaneinheit/x:BetreffKurz/text()", namespaces=NS)

        _name, transfer, same = _post_zip(api, "transfer", [aktenzeichen])
        xml_name = next(n for n in transfer.namelist() if n.endswith(".xml"))
        sent = etree.fromstring(transfer.read(xml_name))
        etree.XMLSchema(etree.parse(str(xdomea.schema_path()))).assertValid(sent.getroottree())
        assert same == process_id
        assert sent.xpath(f"{head}/x:Behoerdenschluessel/code/text()", namespaces=NS) == ["16055000"]
        assert isinstance(transfer, zipfile.ZipFile)
    finally:
        stack.restart_service("archive")
