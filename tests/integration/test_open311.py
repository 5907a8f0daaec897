"""Open311 GeoReport v2 on the real stack: a citizen's report becomes a document in the responsible org unit's
Akte (through the intake queue, the workflow and all), a second report at the same place is linked to it, a
client app without a valid key gets 403, and the report's public status turns `closed` after the decision."""

import io
import random
import time
from datetime import UTC, datetime

import httpx
import pypdf
import pytest
from PIL import Image

from tests.integration.conftest import Api, wait_for
from tests.stack import OPEN311_KEYS

KEY, THROTTLED_KEY = OPEN311_KEYS
TIEFBAU = ["66"]  # the org unit of the file-plan class 66.20 (Straßenunterhaltung, Mängelmeldungen)


def _photo() -> bytes:
    data = io.BytesIO()
    Image.new("RGB", (800, 600), (random.randrange(256), 120, 80)).save(data, "JPEG")
    return data.getvalue()


def _spot() -> dict[str, str]:
    """A place in Kiel of its own for each run (the stack lives for the whole session)."""
    return {"lat": f"{54.30 + random.random() * 0.05:.6f}", "long": f"{10.10 + random.random() * 0.05:.6f}"}


class Citizen:
    def __init__(self, api: Api) -> None:
        self.http = api.http
        self.base = f"{api.stack.url('ingest')}/open311/v2"

    def report(self, key: str | None = KEY, photo: bytes | None = None, **fields: str) -> httpx.Response:
        files = {"media": ("schlagloch.jpg", photo, "image/jpeg")} if photo is not None else None
        data = {"service_code": "schlagloch", "description": "Tiefes Schlagloch auf dem Radweg", **fields}
        params = {"api_key": key} if key is not None else {}
        return self.http.post(f"{self.base}/requests.json", params=params, data=data, files=files)

    def status_of(self, request_id: str) -> dict:
        answer = self.http.get(f"{self.base}/requests/{request_id}.json")
        assert answer.status_code == 200, answer.text
        return answer.json()[0]


def _filed(api: Api, request_id: str) -> dict | None:
    """The report's document as a clerk of the Tiefbauamt finds it: in the Akte of the type and year."""
    ingest, clerk = api.stack.url("ingest"), api.headers("tilo", "clerk", org_units=TIEFBAU)
    akten = api.http.get(f"{ingest}/api/v1/akten", headers=clerk, params={"file_plan_class": "66.20"}).json()
    title = f"Mängelmeldungen Schlagloch {datetime.now(UTC).year}"
    for akte in (a for a in akten["items"] if a["title"] == title):
        detail = api.http.get(f"{ingest}/api/v1/akten/{akte['aktenzeichen']}", headers=clerk).json()
        for vorgang in detail["vorgaenge"]:
            for document in vorgang["documents"]:
                if document["filename"] == f"maengelmeldung-{request_id}.pdf":
                    return {"akte": detail, "document": document}
    return None


@pytest.fixture
def citizen(api: Api) -> Citizen:
    return Citizen(api)


def test_the_report_types_are_public(citizen: Citizen) -> None:
    answer = citizen.http.get(f"{citizen.base}/services.json")
    assert answer.status_code == 200
    codes = {s["service_code"]: s["service_name"] for s in answer.json()}
    assert codes["schlagloch"] == "Schlagloch" and codes["wilder-muell"] == "Wilder Müll"


def test_a_client_app_without_a_valid_key_is_refused(citizen: Citizen) -> None:
    for key in (None, "", "gestohlen-oder-geraten-0000"):
        refused = citizen.report(key=key, **_spot())
        assert refused.status_code == 403, (key, refused.text)
        assert refused.json()[0]["error"] == "invalid_api_key"


def test_a_report_is_filed_linked_once_and_closed_after_the_decision(api: Api, citizen: Citizen) -> None:
    spot = _spot()
    started = time.monotonic()
    sent = citizen.report(photo=_photo(), first_name="Erika", last_name="Muster", **spot)
    assert sent.status_code == 201, sent.text
    request_id = sent.json()[0]["service_request_id"]
    assert sent.json()[0]["service_notice"] is None

    filed = wait_for(lambda: _filed(api, request_id), timeout_s=60)
    print(f"\nOpen311 report filed in its Akte {time.monotonic() - started:.2f} s after it was sent")
    assert filed["akte"]["org_unit"] == "66" and filed["akte"]["aktenzeichen"].startswith("66.20-")
    document_id = filed["document"]["document_id"]
    content = api.http.get(
        f"{api.stack.url('ingest')}/api/v1/documents/{document_id}/content",
        headers=api.headers("tilo", "clerk", org_units=TIEFBAU),
    )
    assert content.status_code == 200
    reader = pypdf.PdfReader(io.BytesIO(content.content))
    text = "".join(page.extract_text() for page in reader.pages)
    assert "Tiefes Schlagloch auf dem Radweg" in text and f"{spot['lat']}, {spot['long']}" in text
    assert "Erika" in text and any(page.images for page in reader.pages)  # the photo is in the record
    public = citizen.status_of(request_id)
    assert public["status"] == "open" and public["status_notes"] is None
    assert "Erika" not in str(public) and "Radweg" not in str(public)  # no personal data in the public view

    # The same hole reported again a few metres away: linked to the first, not filed again.
    nearby = {"lat": f"{float(spot['lat']) + 0.00008:.6f}", "long": spot["long"]}
    again = citizen.report(description="Immer noch da", **nearby)
    assert again.status_code == 201 and request_id in again.json()[0]["service_notice"]
    duplicate_id = again.json()[0]["service_request_id"]
    # A report elsewhere, sent after it, is filed: the queue is past the duplicate, which never became a document.
    elsewhere = citizen.report(**_spot()).json()[0]["service_request_id"]
    wait_for(lambda: _filed(api, elsewhere), timeout_s=60)
    assert _filed(api, duplicate_id) is None

    task = api.task_for(document_id)
    assert api.decide(task["task_id"], "approve", comment="Loch ist verfüllt").status_code == 200
    closed = wait_for(lambda: (s := citizen.status_of(request_id))["status"] == "closed" and s, timeout_s=60)
    assert closed["status_notes"].startswith("Erledigt") and "verfüllt" not in closed["status_notes"]
    assert citizen.status_of(duplicate_id)["status"] == "closed"
    listed = citizen.http.get(f"{citizen.base}/requests.json", params={"service_request_id": request_id}).json()
    assert [r["status"] for r in listed] == ["closed"]


def test_a_disguised_photo_gets_a_clear_error(citizen: Citizen) -> None:
    refused = citizen.report(photo=b"PK\x03\x04" + b"\0" * 1000, **_spot())
    assert refused.status_code == 422 and refused.json()[0]["reason"] == "media_unsupported_type"


def test_a_client_app_that_sends_too_much_waits(citizen: Citizen) -> None:
    answers = [citizen.report(key=THROTTLED_KEY, service_code="gibt-es-nicht", **_spot()) for _ in range(31)]
    assert {a.status_code for a in answers[:30]} == {422}  # 30 a minute by default
    assert answers[30].status_code == 429 and int(answers[30].headers["retry-after"]) >= 1
    assert citizen.report(**_spot()).status_code == 201  # other apps are not held up
