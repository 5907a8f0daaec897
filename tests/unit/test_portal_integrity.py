"""The portal's integrity views without the stack: the system page's fixity figures, the report downloads."""

from typing import Any

import httpx
import pytest

from services.portal import admin_routes
from tests.unit.test_portal import FakeServices, make_client, sign_in

FIXITY = {
    "cycle_days": 90.0,
    "packages": 1234,
    "last_cycle": {
        "cycle": 3,
        "started_at": "2026-08-01T00:00:00+00:00",
        "finished_at": "2026-10-29T23:00:00+00:00",
        "checked": 1200,
        "ok": 1198,
        "mismatch": 1,
        "missing": 1,
    },
    "current_cycle": {
        "cycle": 4,
        "started_at": "2026-10-30T00:00:00+00:00",
        "finished_at": None,
        "checked": 420,
        "ok": 420,
        "mismatch": 0,
        "missing": 0,
    },
    "failures": [
        {"document_id": "d-broken", "cycle": 3, "result": "mismatch", "checked_at": "2026-09-01T10:00:00+00:00"}
    ],
}


@pytest.fixture
def no_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    """The system page asks Kafka too; here it is away at once instead of after the client's timeouts."""

    def away(*_args: Any) -> list[Any]:
        raise admin_routes.KafkaError("no broker in unit tests")

    async def none(_request: Any) -> None:
        return None

    monkeypatch.setattr(admin_routes, "consumer_lag", away)
    monkeypatch.setattr(admin_routes, "kafka_dead_letters", none)


@pytest.mark.usefixtures("no_kafka")
def test_the_system_page_shows_the_last_cycles_fixity_figures() -> None:
    services = FakeServices()
    services.answers[("GET", "/api/v1/archive/fixity")] = (200, FIXITY)
    services.answers[("GET", "/api/v1/outbox/dead-letters")] = (200, {"items": [], "total": 0})
    client = make_client(services)
    sign_in(client, "adam", "admin")
    page = client.get("/admin/system").text
    assert "Regelmäßige Prüfung der Unversehrtheit (Fixity)" in page
    assert "1234 Archivpakete insgesamt" in page
    row = page[page.index("Letzter abgeschlossener Zyklus") :]
    assert ">1200<" in row and ">1198<" in row and ">1<" in row
    assert 'href="/archiv/d-broken"' in page and "Abweichend" in page


@pytest.mark.usefixtures("no_kafka")
def test_the_system_page_says_when_the_archive_cannot_tell() -> None:
    services = FakeServices()
    client = make_client(services)
    sign_in(client, "adam", "admin")
    assert "Die Prüfergebnisse sind nicht abrufbar" in client.get("/admin/system").text


def test_the_report_is_offered_as_pdf_and_json_download() -> None:
    seen: list[httpx.Request] = []

    class Archive(FakeServices):
        def handler(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/api/v1/archive/d1/integrity-report":
                seen.append(request)
                if request.headers.get("accept") == "application/pdf":
                    return httpx.Response(200, content=b"%PDF-1.7 report", headers={"content-type": "application/pdf"})
                return httpx.Response(200, json={"ok": True, "lines": []})
            return super().handler(request)

    client = make_client(Archive())
    sign_in(client, "rita", "records_officer")
    pdf = client.get("/archiv/d1/integritaetsnachweis.pdf")
    assert pdf.status_code == 200 and pdf.content == b"%PDF-1.7 report"
    assert 'filename="integritaetsnachweis-d1.pdf"' in pdf.headers["content-disposition"]
    data = client.get("/archiv/d1/integritaetsnachweis.json")
    assert data.json() == {"ok": True, "lines": []} and "attachment" in data.headers["content-disposition"]
    assert [r.headers["accept"] for r in seen] == ["application/pdf", "application/json"]
    assert client.get("/archiv/d1/integritaetsnachweis.exe").status_code == 404
