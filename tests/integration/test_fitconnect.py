"""FIT-Connect on the real stack: online Wohngeld applications sent with FITKO's Python SDK to a local Submission API
(devstack.fitconnect_server), picked up by the ingest service's subscriber, filed or rejected."""

import io
import json
import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from pypdf import PdfReader

from devstack.fitconnect_server import SENDER, LocalFitConnect, ReceivedEvent, local_destination
from devstack.stack import Stack
from tests.conftest import unique_bytes
from tests.fitconnect_sender import Sender, Sent, wohngeld_form
from tests.integration.conftest import Api, wait_for

pytestmark = pytest.mark.integration

CLERK = ("anton", ["50"])  # a member of the Sozialamt, which owns the Wohngeld class 50.30
PROBLEM = "https://schema.fitko.de/fit-connect/events/problems/"


class FitConnect:
    def __init__(self, server: LocalFitConnect, sender: Sender) -> None:
        self.server = server
        self.sender = sender

    def decision(self, sent: Sent, count: int = 1, timeout_s: float = 60) -> ReceivedEvent:
        """The `count`-th event the subscriber sent for the submission's case."""
        events = wait_for(lambda: len(found := self.server.events_of(sent.case_id)) >= count and found, timeout_s)
        return events[count - 1]


@pytest.fixture(scope="module")
def fitconnect(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FitConnect]:
    server, env = local_destination(tmp_path_factory.mktemp("fitconnect"))
    server.start()
    try:
        stack.restart_service("ingest", **env)
        yield FitConnect(server, Sender(server, *SENDER))
    finally:
        stack.restart_service("ingest")  # back to its normal settings for the tests after these
        server.stop()


def _attachments() -> list[tuple[str, bytes]]:
    return [
        ("Mietvertrag.pdf", unique_bytes("sf__minimal-document.pdf")),
        ("Einkommensnachweis.pdf", unique_bytes("sf__minimal-document.pdf")),
    ]


def _akte_of(api: Api, surname: str) -> dict | None:
    user, units = CLERK
    headers = api.headers(user, "clerk", org_units=units)
    url = f"{api.stack.url('ingest')}/api/v1/akten"
    page = api.http.get(url, params={"file_plan_class": "50.30", "limit": 500}, headers=headers).json()
    found = next((a for a in page["items"] if surname in a["title"]), None)
    if found is None:
        return None
    return api.http.get(f"{url}/{found['aktenzeichen']}", headers=headers).json()


def _vorgaenge_of(api: Api, surname: str, submission_id: str) -> list[dict]:
    akte = _akte_of(api, surname)
    return [v for v in (akte or {}).get("vorgaenge", []) if submission_id in v["title"]]


def test_a_valid_wohngeld_application_becomes_a_vorgang_in_review_and_is_accepted(
    fitconnect: FitConnect, api: Api
) -> None:
    surname = f"Mustermann-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    sent = fitconnect.sender.send(wohngeld_form(surname), _attachments())
    decision = fitconnect.decision(sent)
    print(f"\nFIT-Connect: submitted to accept-submission in {decision.at - started:.2f} s")
    assert decision.name == "accept-submission"
    assert decision.payload["sub"] == f"submission:{sent.submission_id}"

    akte = _akte_of(api, surname)
    assert akte is not None and akte["title"] == f"Wohngeld: {surname}, Erika (geb. 12.03.1984)"
    assert akte["file_plan_class"]["number"] == "50.30" and akte["org_unit"] == "50"
    (vorgang,) = _vorgaenge_of(api, surname, sent.submission_id)
    titles = [d["title"] for d in vorgang["documents"]]
    assert titles == ["Online-Antrag Wohngeld", "Nachweis: Mietvertrag.pdf", "Nachweis: Einkommensnachweis.pdf"]
    user, units = CLERK
    for document in vorgang["documents"]:
        filed = api.wait_status(document["document_id"], "in_review", user=user, org_units=units)
        assert filed["workflow"] == "wohngeld" and filed["submitted_by"] == "fitconnect"

    form_id = vorgang["documents"][0]["document_id"]
    headers = api.headers(user, "clerk", org_units=units)
    form = api.http.get(f"{api.stack.url('ingest')}/api/v1/documents/{form_id}/form-data", headers=headers).json()
    rows = {label: value for section in form["sections"] for label, value in section["rows"]}
    assert rows["IBAN"] == "DE89370400440532013000" and rows["Kaltmiete monatlich (EUR)"] == "620,00 €"
    assert form["data"]["antragsteller"]["nachname"] == surname
    content = api.http.get(f"{api.stack.url('ingest')}/api/v1/documents/{form_id}/content", headers=headers)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(content.content)).pages)
    assert surname in text and "Holstenstraße" in text and "DE89370400440532013000" in text
    page = _portal_page(api, f"/dokumente/{form_id}", "anton")
    assert "Formulardaten des Online-Antrags" in page
    assert '<th scope="row">IBAN</th><td>DE89370400440532013000</td>' in page


def _portal_page(api: Api, path: str, user: str) -> str:
    """The page as a clerk sees it in the browser portal (development sign-in; org units from org_units.yaml)."""
    with httpx.Client(base_url=api.stack.url("portal"), timeout=30) as client:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/anmelden").text)
        assert csrf
        client.post("/anmelden", data={"csrf_token": csrf.group(1), "user": user, "roles": ["clerk"]})
        page = client.get(path)
        assert page.status_code == 200
        return page.text


def test_form_data_is_shown_only_to_those_who_may_open_the_document(fitconnect: FitConnect, api: Api) -> None:
    surname = f"Schmidt-{uuid.uuid4().hex[:6]}"
    sent = fitconnect.sender.send(wohngeld_form(surname), _attachments()[:1])
    assert fitconnect.decision(sent).name == "accept-submission"
    (vorgang,) = _vorgaenge_of(api, surname, sent.submission_id)
    form_id, attachment_id = (d["document_id"] for d in vorgang["documents"])
    base = f"{api.stack.url('ingest')}/api/v1/documents"
    stranger = api.headers("kira", "clerk", org_units=["20"])  # Kämmerei: not the Sozialamt's Akte
    assert api.http.get(f"{base}/{form_id}/form-data", headers=stranger).status_code == 404
    member = api.headers(*CLERK[:1], "clerk", org_units=CLERK[1])
    assert api.http.get(f"{base}/{attachment_id}/form-data", headers=member).status_code == 404  # not a form


def test_a_tampered_attachment_hash_is_rejected_and_the_raw_submission_quarantined(
    fitconnect: FitConnect, api: Api
) -> None:
    surname = f"Meyer-{uuid.uuid4().hex[:6]}"
    sent = fitconnect.sender.send(wohngeld_form(surname), _attachments(), tamper_attachment=1)
    decision = fitconnect.decision(sent)
    assert decision.name == "reject-submission"
    problems = decision.payload["events"]["https://schema.fitko.de/fit-connect/events/reject-submission"]["problems"]
    assert [p["type"] for p in problems] == [PROBLEM + "incorrect-attachment-hash"]
    assert problems[0]["instance"].startswith("attachment:")

    admin = api.headers("admin", "admin")
    base = f"{api.stack.url('ingest')}/api/v1/quarantine"
    held = api.http.get(base, params={"limit": 500}, headers=admin).json()["items"]
    (item,) = [i for i in held if i["original_name"] == f"fitconnect-{sent.submission_id}.json"]
    assert item["source"] == "fitconnect" and item["reason"] == "incorrect-attachment-hash"
    kept = json.loads(api.http.get(f"{base}/{item['quarantine_id']}/content", headers=admin).content)
    assert kept["submission"]["submissionId"] == sent.submission_id and len(kept["attachments"]) == 2
    assert kept["submission"]["encryptedMetadata"].count(".") == 4  # kept as it came: a compact JWE
    assert _akte_of(api, surname) is None  # nothing filed


def test_another_metadata_schema_version_is_refused_with_its_problem_code(fitconnect: FitConnect) -> None:
    other = "https://schema.fitko.de/fit-connect/metadata/1.2.0/metadata.schema.json"
    sent = fitconnect.sender.send(wohngeld_form("Neumann"), [], metadata_schema=other)
    decision = fitconnect.decision(sent)
    assert decision.name == "reject-submission"
    (problem,) = decision.payload["events"]["https://schema.fitko.de/fit-connect/events/reject-submission"]["problems"]
    assert problem["type"] == PROBLEM + "unsupported-metadata-schema" and "1.0.0" in problem["detail"]


def test_a_submission_seen_again_is_not_filed_twice(fitconnect: FitConnect, api: Api) -> None:
    surname = f"Wagner-{uuid.uuid4().hex[:6]}"
    sent = fitconnect.sender.send(wohngeld_form(surname), _attachments())
    assert fitconnect.decision(sent).name == "accept-submission"
    fitconnect.server.relist(sent.submission_id)  # as if the accept event had not arrived: listed again
    assert fitconnect.decision(sent, count=2).name == "accept-submission"
    (vorgang,) = _vorgaenge_of(api, surname, sent.submission_id)
    assert len(vorgang["documents"]) == 3
    assert len(_akte_of(api, surname)["vorgaenge"]) == 1  # type: ignore[index]


def test_an_attachment_refused_by_intake_goes_to_quarantine_while_the_rest_is_filed(
    fitconnect: FitConnect, api: Api
) -> None:
    surname = f"Becker-{uuid.uuid4().hex[:6]}"
    hostile = ("Kontoauszug.pdf", unique_bytes("pypdf__r2-user-password.pdf"))  # a password-protected PDF
    sent = fitconnect.sender.send(wohngeld_form(surname), [_attachments()[0], hostile])
    assert fitconnect.decision(sent).name == "accept-submission"  # intact and decrypted: accepted
    (vorgang,) = _vorgaenge_of(api, surname, sent.submission_id)
    assert [d["title"] for d in vorgang["documents"]] == ["Online-Antrag Wohngeld", "Nachweis: Mietvertrag.pdf"]
    admin = api.headers("admin", "admin")
    held = api.http.get(f"{api.stack.url('ingest')}/api/v1/quarantine", params={"limit": 500}, headers=admin)
    items = held.json()["items"]
    (item,) = [i for i in items if i["original_name"] == "Kontoauszug.pdf" and i["source"] == "fitconnect"]
    assert item["reason"] == "encrypted"
