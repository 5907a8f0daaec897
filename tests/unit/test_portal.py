"""The portal's own rules without the stack: wording, sign-in, sessions, CSRF, role checks, what pages show."""

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from services.portal import wording
from services.portal.app import create_app
from services.portal.approver_routes import inbox_counts
from services.portal.backend import Backend
from services.portal.clerk_routes import upload_result
from services.portal.identity import safe_next
from services.portal.oidc import OidcMisconfigured, identity_from_claims, make_oidc
from services.portal.timeline import timeline
from shared.settings import Settings

PORTAL = Path(wording.__file__).resolve().parent
SECRET = "unit-test-secret-0123456789abcdef0123"
INBOX_COUNTS = ("total", "overdue", "due_soon", "deputy")


class FakeServices:
    """Stands in for ingest/workflow/archive: records each call, answers from a table of paths."""

    def __init__(self) -> None:
        self.calls: list[httpx.Request] = []
        self.answers: dict[tuple[str, str], tuple[int, object]] = {}

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        status, body = self.answers.get((request.method, request.url.path), (404, {"error": "not_found"}))
        return httpx.Response(status, json=body)


@pytest.fixture
def services() -> FakeServices:
    return FakeServices()


def make_client(services: FakeServices, **settings: object) -> TestClient:
    config = Settings(jwt_secret=SECRET, **settings)
    backend = Backend(config, transport=httpx.MockTransport(services.handler))
    return TestClient(create_app(config, backend), base_url="http://127.0.0.1:8080")


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, user: str, *roles: str) -> str:
    token = csrf_of(client.get("/anmelden").text)
    response = client.post(
        "/anmelden", data={"csrf_token": token, "user": user, "roles": list(roles)}, follow_redirects=False
    )
    assert response.status_code == 303
    return csrf_of(client.get(response.headers["location"]).text)


def test_every_text_the_templates_and_code_use_is_in_the_german_wording_file() -> None:
    used: set[str] = set()
    for path in [*PORTAL.glob("templates/*.html"), *PORTAL.glob("*.py")]:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_.]+)["']""", path.read_text()))
    used = {key for key in used if not key.endswith(".")}  # prefixes of keys built from data
    missing = sorted(key for key in used if key not in wording.texts())
    assert not missing, f"keys without German text: {missing}"
    assert len(used) > 150


def test_dates_read_the_german_way_in_the_citys_time_zone() -> None:
    dates = wording.GermanDates("Europe/Berlin")
    assert dates.datetime("2026-11-23T13:05:00+00:00") == "23.11.2026, 14:05 Uhr"
    assert dates.datetime("2026-07-01T22:30:00+00:00") == "02.07.2026, 00:30 Uhr"  # summer time
    assert dates.date("2030-07-14") == "14.07.2030"
    assert dates.date(None) == "—"
    assert wording.file_size(12_700) == "12,4 KB"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("/aufgaben?x=1", "/aufgaben?x=1"), ("https://evil.example/", "/"), ("//evil.example", "/"), ("", "/")],
)
def test_after_sign_in_only_paths_on_this_site_are_followed(given: str, expected: str) -> None:
    assert safe_next(given) == expected


def test_pages_need_a_sign_in_and_the_right_role(services: FakeServices) -> None:
    client = make_client(services)
    response = client.get("/archiv", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/anmelden?next=/archiv"
    sign_in(client, "clara", "clerk")
    services.calls.clear()
    refused = client.get("/archiv")
    assert refused.status_code == 403 and "Nicht erlaubt" in refused.text
    assert not services.calls, "a refused page must not reach the services"
    assert 'href="/archiv"' not in client.get("/abgemeldet").text


def test_sign_in_form_rejects_missing_roles_and_odd_names(services: FakeServices) -> None:
    client = make_client(services)
    token = csrf_of(client.get("/anmelden").text)
    for data in ({"user": "clara"}, {"user": "<script>", "roles": ["clerk"]}, {"user": "x", "roles": ["boss"]}):
        response = client.post("/anmelden", data={"csrf_token": token, **data})
        assert response.status_code == 422 and "mindestens eine Rolle" in response.text


def test_state_changes_need_the_sessions_csrf_token(services: FakeServices) -> None:
    client = make_client(services)
    assert client.post("/anmelden", data={"user": "adam", "roles": ["admin"]}).status_code == 403
    token = sign_in(client, "anton", "approver")
    services.calls.clear()
    forged = client.post("/abwesenheit", data={"deputy": "sven", "starts_on": "2030-01-01", "ends_on": "2030-01-02"})
    assert forged.status_code == 403 and "Formular abgelaufen" in forged.text
    wrong = client.post("/abwesenheit", data={"csrf_token": token + "x", "deputy": "sven"})
    assert wrong.status_code == 403
    assert not services.calls


def test_a_csrf_header_with_non_ascii_bytes_is_refused_not_an_error(services: FakeServices) -> None:
    client = make_client(services)
    sign_in(client, "anton", "approver")
    headers = [(b"x-csrf-token", "tökén\xff".encode("latin-1"))]
    answer = client.post("/abwesenheit", headers=headers, data={"deputy": "sven"})  # type: ignore[arg-type]
    assert answer.status_code == 403


def test_a_multipart_upload_is_refused_before_it_is_parsed(services: FakeServices) -> None:
    """Without a session, or with the token only inside the multipart body, the body is never parsed."""
    client = make_client(services)
    parsed: list[bytes] = []

    def body() -> Iterator[bytes]:
        parsed.append(b"read")
        yield b'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\nx\r\n--b--\r\n'

    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    assert client.post("/erfassen", content=body(), headers=headers).status_code == 403
    token = sign_in(client, "clara", "clerk")
    assert client.post("/erfassen", content=body(), headers=headers).status_code == 403
    records = make_client(services)
    sign_in(records, "rita", "records_officer")
    assert records.post("/aussonderung/antwort/bewertung", content=body(), headers=headers).status_code == 403
    assert parsed == []
    assert not [call for call in services.calls if call.method == "POST"]
    files = {"files": ("a.pdf", b"%PDF-1.4", "application/pdf")}
    services.answers[("POST", "/api/v1/documents")] = (201, {"document_id": "d1", "aktenzeichen": "AZ-1"})
    accepted = client.post(f"/erfassen?csrf_token={token}", files=files)
    assert accepted.status_code == 200 and [c for c in services.calls if c.method == "POST"]


def test_a_form_body_over_the_limit_gets_413_before_it_is_parsed(services: FakeServices) -> None:
    client = make_client(services, max_json_bytes=1024)
    answer = client.post("/anmelden", content=b"user=" + b"a" * 4096, headers={"Content-Type": FORM})
    assert answer.status_code == 413


FORM = "application/x-www-form-urlencoded"


def test_each_sign_in_starts_a_fresh_session(services: FakeServices) -> None:
    client = make_client(services)
    first = sign_in(client, "clara", "clerk")
    token = csrf_of(client.get("/abgemeldet").text)
    client.post("/abmelden", data={"csrf_token": token})
    assert client.get("/erfassen", follow_redirects=False).status_code == 303
    second = sign_in(client, "clara", "clerk")
    assert first != second


def test_session_cookie_is_httponly_samesite_and_secure_behind_https(services: FakeServices) -> None:
    plain = make_client(services)
    cookie = plain.get("/anmelden").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    https = make_client(services, portal_public_url="https://eakte.kiel.de")
    assert "secure" in https.get("/anmelden").headers["set-cookie"].lower()


def test_services_are_called_with_a_short_lived_token_for_the_signed_in_user(services: FakeServices) -> None:
    empty = {"total": 0, "limit": 50, "offset": 0, "steps": [], "org_units": [], "items": []}
    services.answers[("GET", "/api/v1/inbox")] = (200, {**empty, "counts": dict.fromkeys(INBOX_COUNTS, 0)})
    client = make_client(services)
    sign_in(client, "anton", "approver")
    page = client.get("/aufgaben")
    assert page.status_code == 200 and "keine offenen Aufgaben" in page.text
    claims = jwt.decode(services.calls[-1].headers["authorization"].split()[1], SECRET, algorithms=["HS256"])
    assert claims["sub"] == "anton" and claims["roles"] == ["approver"]
    assert claims["exp"] - claims["iat"] <= 300


def _claims_of_last_call(services: FakeServices) -> dict:
    return jwt.decode(services.calls[-1].headers["authorization"].split()[1], SECRET, algorithms=["HS256"])


def test_org_units_travel_from_sign_in_in_the_session_and_every_calls_token(services: FakeServices) -> None:
    services.answers[("GET", "/api/v1/tasks")] = (200, [])
    client = make_client(services)
    page = client.get("/anmelden").text
    assert "Organisationseinheit: 50" in page  # the sample people's units, from org_units.yaml
    sign_in(client, "anton", "approver")  # no units given: his membership in the org-unit file
    client.get("/aufgaben")
    assert _claims_of_last_call(services)["org_units"] == ["50"]
    token = csrf_of(client.get("/anmelden").text)
    form = {"csrf_token": token, "user": "kim", "roles": ["approver"], "org_units": "20, 30"}
    assert client.post("/anmelden", data=form, follow_redirects=False).status_code == 303
    client.get("/aufgaben")
    assert _claims_of_last_call(services)["org_units"] == ["20", "30"]
    sign_in(client, "nobody", "approver")  # in no unit of the file: a member of none
    client.get("/aufgaben")
    assert _claims_of_last_call(services)["org_units"] == []
    token = csrf_of(client.get("/anmelden").text)
    odd = {"csrf_token": token, "user": "kim", "roles": ["clerk"], "org_units": "50, <b>"}
    assert client.post("/anmelden", data=odd).status_code == 422


def test_a_service_that_is_down_gives_a_german_page_not_a_crash() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    config = Settings(jwt_secret=SECRET)
    client = TestClient(create_app(config, Backend(config, transport=httpx.MockTransport(down))))
    sign_in(client, "anton", "approver")
    page = client.get("/aufgaben")
    assert page.status_code == 503 and "Freigabe-Workflow" in page.text and "antwortet gerade nicht" in page.text


def test_pages_carry_security_headers(services: FakeServices) -> None:
    response = make_client(services).get("/anmelden")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_upload_results_read_as_german_sentences() -> None:
    accepted = upload_result(201, {"document_id": "d1", "aktenzeichen": "63.01-2026/0001"})
    assert (
        accepted["ok"]
        and accepted["message"] == "Erfasst in Akte 63.01-2026/0001."
        and accepted["link"] == "/dokumente/d1"
    )
    rejected = upload_result(422, {"error": "document_rejected", "reason": "encrypted", "message": "x"})
    assert rejected == {
        "ok": False,
        "message": "Abgelehnt: Das PDF ist mit einem Passwort geschützt und kann nicht geöffnet werden.",
    }
    unknown = upload_result(422, {"error": "invalid_request", "reason": "unknown_aktenzeichen", "message": "english"})
    assert unknown["message"].startswith("Dieses Aktenzeichen gibt es nicht.")
    duplicate = upload_result(409, {"error": "duplicate", "document_id": "d0"})
    assert duplicate["message"] == "Dieses Dokument wurde bereits erfasst." and duplicate["link"] == "/dokumente/d0"


def test_timeline_shows_what_happened_and_what_is_to_come() -> None:
    at = "2026-11-23T10:00:00+00:00"
    document = {
        "status": "in_review",
        "awaiting_revision": False,
        "history": [
            {"status": "received", "at": at, "by": "clara"},
            {"status": "in_review", "at": at, "by": "workflow"},
        ],
    }
    steps = timeline(document)
    assert [(s.label, s.done) for s in steps] == [
        ("Eingegangen", True),
        ("In Prüfung", True),
        ("Entscheidung ausstehend", False),
        ("Archivierung ausstehend", False),
    ]
    rejected = {**document, "history": [*document["history"], {"status": "rejected", "at": at, "by": "anton"}]}
    assert [s.label for s in timeline(rejected)] == ["Eingegangen", "In Prüfung", "Abgelehnt"]


def test_inbox_counts_overdue_due_soon_and_deputy_tasks() -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    tasks = [
        {"deadline_at": (now - timedelta(hours=1)).isoformat(), "on_behalf_of": None},
        {"deadline_at": (now + timedelta(hours=5)).isoformat(), "on_behalf_of": "sabine"},
        {"deadline_at": (now + timedelta(days=3)).isoformat(), "on_behalf_of": None},
        {"deadline_at": None, "on_behalf_of": None},
    ]
    assert inbox_counts(tasks, now) == {"total": 4, "overdue": 1, "due_soon": 1, "deputy": 1}


def test_oidc_roles_come_from_the_configured_claim_and_unknown_roles_are_dropped() -> None:
    settings = Settings(portal_oidc_roles_claim="realm_access.roles")
    claims = {
        "sub": "f00",
        "preferred_username": "rita",
        "realm_access": {"roles": ["records_officer", "offline_access"]},
    }
    assert identity_from_claims(claims, settings) == ("rita", frozenset({"records_officer"}))
    assert identity_from_claims({"sub": "x"}, settings) == ("x", frozenset())


def test_oidc_needs_issuer_client_and_secret() -> None:
    with pytest.raises(OidcMisconfigured, match="EAKTE_PORTAL_OIDC_ISSUER"):
        make_oidc(Settings(portal_auth="oidc"))
    with pytest.raises(OidcMisconfigured, match="'dev' or 'oidc'"):
        make_oidc(Settings(portal_auth="ldap"))
    configured = Settings(
        portal_auth="oidc",
        portal_oidc_issuer="https://sso.example.org/realms/stadt",
        portal_oidc_client_id="eakte",
        portal_oidc_client_secret="s3cret",
    )
    client = make_oidc(configured)
    assert client is not None and client.client_id == "eakte"
    assert client.client_kwargs == {"scope": "openid profile email", "code_challenge_method": "S256"}


def test_wording_file_is_valid_and_flat_keys_are_unique() -> None:
    texts = wording.texts()
    assert texts["nav.upload"] == "Dokumente erfassen"
    assert all(isinstance(value, str) and value for value in texts.values())
    json.dumps(texts, ensure_ascii=False)


def test_records_office_starts_the_xdomea_offer_for_the_chosen_akten(services: FakeServices) -> None:
    client = make_client(services)
    due = [
        {
            "aktenzeichen": "50.10-2016/0001",
            "disposal": "archive",
            "retain_until": "2026-01-01T00:00:00Z",
            "legal_hold": False,
            "document_id": "d1",
            "file_plan_class": "50.10",
        },
        {
            "aktenzeichen": "50.10-2016/0001",
            "disposal": "archive",
            "retain_until": "2026-02-01T00:00:00Z",
            "legal_hold": True,
            "document_id": "d2",
            "file_plan_class": "50.10",
        },
    ]
    services.answers[("GET", "/api/v1/archive/due")] = (200, due)
    token = sign_in(client, "rita", "records_officer")
    page = client.get("/aussonderung")
    assert "50.10-2016/0001" in page.text and "01.02.2026" in page.text
    assert (
        client.post("/aussonderung/angebot", data={"csrf_token": token}, follow_redirects=True).text.count(
            "Bitte wählen Sie mindestens eine Akte aus."
        )
        == 1
    )

    def offer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=due)
        assert json.loads(request.read()) == {"aktenzeichen": ["50.10-2016/0001"]}
        zip_headers = {"Content-Type": "application/zip", "Content-Disposition": 'attachment; filename="x_0501.zip"'}
        return httpx.Response(200, content=b"PK\x03\x04zip", headers=zip_headers)

    config = Settings(jwt_secret=SECRET)
    client = TestClient(create_app(config, Backend(config, transport=httpx.MockTransport(offer))))
    token = sign_in(client, "rita", "records_officer")
    answer = client.post("/aussonderung/angebot", data={"csrf_token": token, "aktenzeichen": "50.10-2016/0001"})
    assert answer.status_code == 200 and answer.content == b"PK\x03\x04zip"
    assert answer.headers["content-disposition"] == 'attachment; filename="x_0501.zip"'


def test_the_state_archives_evaluation_is_read_in_and_summed_up(services: FakeServices) -> None:
    services.answers[("POST", "/api/v1/archive/xdomea/evaluation")] = (
        200,
        {"process_id": "p1", "decisions": {"a": "archive", "b": "destroy", "c": "archive"}},
    )
    services.answers[("GET", "/api/v1/archive/due")] = (200, [])
    client = make_client(services)
    token = sign_in(client, "rita", "records_officer")
    answer = client.post(
        f"/aussonderung/antwort/bewertung?csrf_token={token}",  # multipart forms carry it in the query
        files={"nachricht": ("0502.xml", b"<xdomea/>", "application/xml")},
    )
    assert "Bewertung eingelesen: 2 archivwürdig, 1 zu vernichten." in answer.text
    sent = next(c for c in services.calls if c.url.path.endswith("/evaluation"))
    assert sent.content == b"<xdomea/>" and sent.headers["content-type"] == "application/xml"


def test_a_failed_fixity_check_is_shown_as_a_warning(services: FakeServices) -> None:
    services.answers[("POST", "/api/v1/archive/verify")] = (
        200,
        {
            "checked": 1,
            "ok": 0,
            "mismatch": 1,
            "missing": 0,
            "results": [{"document_id": "d1", "result": "mismatch", "problems": ["data/original.pdf"]}],
        },
    )
    client = make_client(services)
    token = sign_in(client, "rita", "records_officer")
    answer = client.post("/archiv/d1/pruefen", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/archiv/d1"
    shown = client.get("/abgemeldet")
    assert "Die Prüfsumme stimmt nicht überein" in shown.text and 'class="message error"' in shown.text


def test_absence_form_mistakes_are_explained_in_german_before_the_service_is_asked(services: FakeServices) -> None:
    services.answers[("GET", "/api/v1/absences")] = (200, [])
    client = make_client(services)
    token = sign_in(client, "anton", "approver")
    cases = {
        ("", "2030-01-01", "2030-01-02"): "Bitte geben Sie Ihre Vertretung an.",
        ("anton", "2030-01-01", "2030-01-02"): "Sie können sich nicht selbst vertreten.",
        ("sven", "2030-01-05", "2030-01-02"): "Das Ende darf nicht vor dem Beginn liegen.",
        ("sven", "morgen", "2030-01-02"): "Bitte geben Sie Beginn und Ende als Datum an.",
    }
    for (deputy, starts_on, ends_on), message in cases.items():
        form = {"csrf_token": token, "deputy": deputy, "starts_on": starts_on, "ends_on": ends_on}
        answer = client.post("/abwesenheit", data=form)
        assert answer.status_code == 422 and message in answer.text
    assert not any(call.method == "POST" for call in services.calls)
