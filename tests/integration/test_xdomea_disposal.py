"""Disposal to the state archive in xdomea's four steps, on the real stack; every message checked by the schema."""

import hashlib
import io
import zipfile
from pathlib import Path

from lxml import etree

from services.archive import xdomea
from services.archive.aussonderung import akte_object_id
from tests.conftest import unique_bytes
from tests.integration.conftest import Api, wait_for

STATE_ARCHIVE = xdomea.Institution(name="Landesarchiv")
CITY = xdomea.Institution(name="Stadtverwaltung")


def _akte_with_documents(api: Api, count: int) -> tuple[str, dict[str, bytes]]:
    ingest = api.stack.url("ingest")
    clerk = api.headers("clara", "clerk")
    akte = api.http.post(f"{ingest}/api/v1/akten", headers=clerk, json={"file_plan_class": "63.01", "title": "Bau"})
    aktenzeichen = akte.json()["aktenzeichen"]
    documents = {}
    for index in range(count):
        data = unique_bytes("sf__minimal-document.pdf")
        response = api.http.post(
            f"{ingest}/api/v1/documents",
            headers=clerk,
            files={"file": (f"plan-{index}.pdf", data, "application/pdf")},
            data={"aktenzeichen": aktenzeichen, "workflow": "none", "title": f"Plan {index}"},
        )
        documents[response.json()["document_id"]] = data
    for document_id in documents:
        wait_for(lambda d=document_id: api.archived(d).status_code == 200, timeout_s=60)
    return aktenzeichen, documents


def _post_zip(api: Api, step: str, aktenzeichen: list[str]) -> tuple[str, zipfile.ZipFile, str]:
    response = api.http.post(
        f"{api.stack.url('archive')}/api/v1/archive/xdomea/{step}",
        headers=api.headers("rita", "records_officer"),
        json={"aktenzeichen": aktenzeichen},
    )
    assert response.status_code == 200, response.text
    name = response.headers["content-disposition"].split('filename="')[1].rstrip('"')
    return name, zipfile.ZipFile(io.BytesIO(response.content)), response.headers["x-xdomea-process-id"]


def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(xdomea.schema_path())))


def _post_xml(api: Api, step: str, message: bytes):
    return api.http.post(
        f"{api.stack.url('archive')}/api/v1/archive/xdomea/{step}",
        content=message,
        headers={**api.headers("rita", "records_officer"), "content-type": "application/xml"},
    )


def test_four_step_disposal(api: Api) -> None:
    kept, kept_documents = _akte_with_documents(api, 2)
    dropped, dropped_documents = _akte_with_documents(api, 1)

    name, offer, process_id = _post_zip(api, "offer", [kept, dropped])
    assert name == f"{process_id}_Aussonderung.Anbieteverzeichnis.0501.zip"
    assert offer.namelist() == [f"{process_id}_Aussonderung.Anbieteverzeichnis.0501.xml"]
    message = offer.read(offer.namelist()[0])
    _schema().assertValid(etree.fromstring(message).getroottree())
    assert kept.encode() in message and dropped.encode() in message

    decisions = {akte_object_id(kept): xdomea.Disposal.ARCHIVE, akte_object_id(dropped): xdomea.Disposal.DESTROY}
    answer = xdomea.build_evaluation(process_id, STATE_ARCHIVE, CITY, decisions)
    evaluated = _post_xml(api, "evaluation", answer)
    assert evaluated.status_code == 200, evaluated.text
    assert evaluated.json()["decisions"] == {akte_object_id(kept): "archive", akte_object_id(dropped): "destroy"}

    name, transfer, same_process = _post_zip(api, "transfer", [kept, dropped])
    assert same_process == process_id and name == f"{process_id}_Aussonderung.Aussonderung.0503.zip"
    xml_name = f"{process_id}_Aussonderung.Aussonderung.0503.xml"
    _schema().assertValid(etree.fromstring(transfer.read(xml_name)).getroottree())
    primaries = {n: transfer.read(n) for n in transfer.namelist() if n != xml_name}
    assert sorted(hashlib.sha256(b).hexdigest() for b in primaries.values()) == sorted(
        hashlib.sha256(b).hexdigest() for b in kept_documents.values()
    )  # the chosen Akte's documents, byte for byte; nothing of the one the archive did not want

    imported = [xdomea.ImportedObject(object_id=akte_object_id(kept), success=True)]
    confirmed = _post_xml(api, "confirmation", xdomea.build_confirmation(process_id, STATE_ARCHIVE, CITY, imported))
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert sorted(body["handed_over"]) == sorted(kept_documents)
    # Handed over, but the retention lock still runs: deleted here once it allows.
    assert sorted(body["waiting_for_lock"]) == sorted(kept_documents) and body["deleted"] == []
    assert not set(body["handed_over"]) & set(dropped_documents)


def test_two_step_procedure_transfers_everything_offered(api: Api) -> None:
    aktenzeichen, documents = _akte_with_documents(api, 2)
    _, _, process_id = _post_zip(api, "offer", [aktenzeichen])
    _, transfer, same = _post_zip(api, "transfer", [aktenzeichen])
    assert same == process_id
    assert len(transfer.namelist()) == 1 + len(documents)


def test_invalid_messages_get_a_clear_422(api: Api) -> None:
    for junk in (
        b"not xml at all",
        b"<a/>",
        xdomea.build_confirmation(
            "5b1f2f1d-4e10-4d38-9a55-6f1f3b7e7c1e",
            STATE_ARCHIVE,
            CITY,
            [xdomea.ImportedObject(object_id=akte_object_id("x"), success=True)],
        ),
    ):
        response = _post_xml(api, "evaluation", junk)
        assert response.status_code == 422 and response.json()["error"] == "invalid_xdomea", response.text
    unknown = _post_zip_status(api, "offer", ["99.99-2026/0001"])
    assert unknown == 422
    clerk = api.http.post(
        f"{api.stack.url('archive')}/api/v1/archive/xdomea/offer",
        headers=api.headers("clara", "clerk"),
        json={"aktenzeichen": ["x"]},
    )
    assert clerk.status_code == 403


def _post_zip_status(api: Api, step: str, aktenzeichen: list[str]) -> int:
    return api.http.post(
        f"{api.stack.url('archive')}/api/v1/archive/xdomea/{step}",
        headers=api.headers("rita", "records_officer"),
        json={"aktenzeichen": aktenzeichen},
    ).status_code


def test_handed_over_packages_are_deleted_here_once_their_lock_allows(api: Api) -> None:
    api.stack.restart_service("archive", EAKTE_ARCHIVE_RETENTION_OVERRIDE_S="8", EAKTE_ARCHIVE_DISPOSAL_INTERVAL_S="1")
    try:
        aktenzeichen, documents = _akte_with_documents(api, 1)
        _, _, process_id = _post_zip(api, "offer", [aktenzeichen])
        _post_zip(api, "transfer", [aktenzeichen])
        imported = [xdomea.ImportedObject(object_id=akte_object_id(aktenzeichen), success=True)]
        confirmed = _post_xml(api, "confirmation", xdomea.build_confirmation(process_id, STATE_ARCHIVE, CITY, imported))
        assert sorted(confirmed.json()["handed_over"]) == sorted(documents)
        (document_id,) = documents
        wait_for(lambda: api.archived(document_id).status_code == 404, timeout_s=60)
        record = api.http.get(
            f"{api.stack.url('archive')}/api/v1/archive/deletions/{document_id}",
            headers=api.headers("rita", "records_officer"),
        ).json()
        assert "hand over to the state archive" in record["rule"]
    finally:
        api.stack.restart_service("archive")


def _first_line_with(text: str, log: Path, offset: int) -> str | None:
    return next((line for line in log.read_bytes()[offset:].decode().splitlines() if text in line), None)


def test_without_the_schema_the_archive_warns_at_start_and_refuses_xdomea_with_503(api: Api, tmp_path: Path) -> None:
    missing = str(tmp_path / "xdomea_3.0.0" / "xdomea.xsd")  # configured, but the operator never put it there
    log = api.stack.data_dir / "logs" / "archive.log"
    before = log.stat().st_size  # the log is appended to across restarts: read only this start's lines
    api.stack.restart_service("archive", EAKTE_XDOMEA_SCHEMA=missing)
    try:
        warning = wait_for(lambda: _first_line_with("xdomea disposal", log, before))
        assert " WARNING services.archive.app: " in warning and "NOT available" in warning and missing in warning
        response = api.http.post(
            f"{api.stack.url('archive')}/api/v1/archive/xdomea/offer",
            headers=api.headers("rita", "records_officer"),
            json={"aktenzeichen": ["63.01-2026/0001"]},
        )
        assert response.status_code == 503
        assert response.json()["error"] == "xdomea_schema_missing" and missing in response.json()["reason"]
        assert api.http.get(f"{api.stack.url('archive')}/health").status_code == 200  # the rest runs on
    finally:
        api.stack.restart_service("archive")
