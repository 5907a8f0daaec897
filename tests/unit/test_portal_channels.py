"""The portal names the channel each document came through (Scan, Upload, Online-Antrag, Mängelmeldung, E-Mail)."""

import html
import re

import pytest

from services.ingest.domain import CHANNEL_NAMES, channel_name
from tests.unit.test_portal import FakeServices, make_client, sign_in

AT = "2026-11-30T08:00:00+00:00"


@pytest.fixture
def services() -> FakeServices:
    return FakeServices()


def _document(document_id: str, source: str) -> dict[str, object]:
    return {
        "document_id": document_id,
        "sha256": "a" * 64,
        "status": "in_review",
        "title": f"Dokument {document_id}",
        "document_type": "",
        "aktenzeichen": "32.20-2026/0001",
        "vorgang_id": "v1",
        "content_type": "message/rfc822",
        "pages": 1,
        "filename": "brief.eml",
        "submitted_by": "clara",
        "workflow": "default",
        "version": 1,
        "awaiting_revision": False,
        "history": [{"status": "received", "at": AT, "by": "clara"}],
        "org_unit": "",
        "source": source,
    }


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_the_list_of_documents_shows_each_documents_channel_in_german(services: FakeServices) -> None:
    sources = ["hotfolder", "email", "fitconnect", "open311", "batch"]
    items = [{**_document(f"d{i}", source), "created_at": AT, "updated_at": AT} for i, source in enumerate(sources)]
    items.append(
        {k: v for k, v in _document("old", "").items() if k != "source"} | {"created_at": AT, "updated_at": AT}
    )
    services.answers[("GET", "/api/v1/documents")] = (200, {"total": 6, "limit": 20, "offset": 0, "items": items})
    client = make_client(services)
    sign_in(client, "clara", "clerk")
    page = client.get("/dokumente")
    assert page.status_code == 200
    rows = [_text(row) for row in re.findall(r"<tr>(.*?)</tr>", page.text, re.S)[1:]]
    assert [row.split(" 32.20-2026/0001 ")[1].split(" In Prüfung")[0] for row in rows] == [
        "Scan",
        "E-Mail",
        "Online-Antrag",
        "Mängelmeldung",
        "Upload",
        "Upload",  # a service that does not say yet: the older upload
    ]
    assert "Kanal" in _text(page.text)


def test_the_document_and_task_pages_name_the_channel(services: FakeServices) -> None:
    services.answers[("GET", "/api/v1/documents/d1")] = (200, _document("d1", "email"))
    services.answers[("GET", "/api/v1/tasks")] = (
        200,
        [
            {
                "task_id": "t1",
                "document_id": "d1",
                "title": "Brief",
                "step": "signoff",
                "step_name": "Schlusszeichnung",
                "on_behalf_of": None,
            }
        ],
    )
    services.answers[("GET", "/api/v1/workflows/d1")] = (200, {"steps": []})
    client = make_client(services)
    sign_in(client, "clara", "clerk", "approver")
    for path in ("/dokumente/d1", "/aufgaben/t1"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "Eingangskanal E-Mail" in _text(page.text), path


def test_every_channel_has_a_german_name_and_an_unknown_one_shows_as_it_is() -> None:
    assert {channel_name(s) for s in ("upload", "hotfolder", "fitconnect", "open311", "email")} == {
        "Upload",
        "Scan",
        "Online-Antrag",
        "Mängelmeldung",
        "E-Mail",
    }
    assert set(CHANNEL_NAMES) >= {"upload", "batch", "hotfolder", "import", "fitconnect", "open311", "email"}
    assert channel_name("fax") == "fax"


def test_archive_search_results_name_the_channel_and_older_packages_show_none(services: FakeServices) -> None:
    hit = {
        "document_id": "a1",
        "aktenzeichen": "32.20-2026/0001",
        "title": "E-Mail: Anmeldung",
        "filename": "anmeldung.eml",
        "document_type": "E-Mail",
        "received_at": AT,
        "retain_until": "2036-12-31T00:00:00+00:00",
    }
    items = [{**hit, "source": "email"}, {**hit, "document_id": "a2", "title": "Alt"}]  # a2: archived before
    services.answers[("GET", "/api/v1/archive/search")] = (200, {"total": 2, "limit": 20, "offset": 0, "items": items})
    client = make_client(services)
    sign_in(client, "rita", "records_officer")
    page = client.get("/archiv", params={"suchen": "1"})
    assert page.status_code == 200
    rows = [_text(row) for row in re.findall(r"<tr>(.*?)</tr>", page.text, re.S)[1:]]
    assert [row.split(" E-Mail ", 1)[1].split(" ")[0] for row in rows] == ["E-Mail", "—"]
    assert "Eingangskanal" in _text(page.text)
