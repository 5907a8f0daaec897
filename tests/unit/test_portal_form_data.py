"""The portal's document page: an online application's form data as a table beside the PDF."""

from tests.unit.test_portal import FakeServices, make_client, sign_in
from tests.unit.test_portal import services as services

DOCUMENT = {
    "document_id": "d1",
    "sha256": "ab" * 32,
    "status": "in_review",
    "title": "Online-Antrag Wohngeld",
    "document_type": "antrag",
    "aktenzeichen": "50.30-2026/0001",
    "vorgang_id": "v1",
    "content_type": "application/pdf",
    "pages": 2,
    "filename": "Online-Antrag-wohngeld.pdf",
    "submitted_by": "fitconnect",
    "workflow": "wohngeld",
    "version": 1,
    "awaiting_revision": False,
    "history": [{"status": "received", "at": "2026-11-30T05:00:00+00:00", "by": "fitconnect"}],
    "org_unit": "50",
}
FORM = {
    "document_id": "d1",
    "submission_id": "s1",
    "title": "Online-Antrag Wohngeld",
    "sections": [
        {"heading": "Antragstellerin / Antragsteller", "rows": [["Nachname", "Musterfrau"], ["Vorname", "Erika"]]},
        {"heading": "Bankverbindung für die Auszahlung", "rows": [["IBAN", "DE89370400440532013000"]]},
    ],
    "data": {},
}


def test_an_online_applications_form_data_is_a_table_beside_the_pdf(services: FakeServices) -> None:
    services.answers[("GET", "/api/v1/documents/d1")] = (200, DOCUMENT)
    services.answers[("GET", "/api/v1/documents/d1/form-data")] = (200, FORM)
    client = make_client(services)
    sign_in(client, "anton", "clerk")
    html = client.get("/dokumente/d1").text
    assert "Formulardaten des Online-Antrags" in html
    assert "<caption>Bankverbindung für die Auszahlung</caption>" in html
    assert '<tr><th scope="row">IBAN</th><td>DE89370400440532013000</td></tr>' in html


def test_a_document_without_form_data_shows_no_table(services: FakeServices) -> None:
    services.answers[("GET", "/api/v1/documents/d1")] = (200, {**DOCUMENT, "submitted_by": "clara"})
    client = make_client(services)  # form-data answers 404: not an online application
    sign_in(client, "anton", "clerk")
    page = client.get("/dokumente/d1")
    assert page.status_code == 200 and "Formulardaten" not in page.text
