"""The Open311 routes and use cases over a real SQLite database; the intake queue is a recorder here (its checks
and filing are tested in tests/integration/test_open311.py on the real stack)."""

import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pypdf
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import sessionmaker

from services.ingest import open311_routes
from services.ingest.domain import DocumentStatus, parse_api_keys
from services.ingest.fileplan import load_file_plan
from services.ingest.intake import IntakeItem
from services.ingest.open311 import Open311Reports
from services.ingest.open311_services import load_services
from services.ingest.tables import DocumentRow, IngestBase, IntakeItemRow, StatusRow
from services.ingest.unit_of_work import IngestUnitOfWork
from services.ingest.uploads import Upload
from shared.db import make_engine
from shared.events import utcnow
from shared.service_app import ServiceRuntime, build_app
from shared.settings import CONFIG_DIR, Settings
from shared.workflow_catalog import WORKFLOWS_DIR, workflow_names

KEY = "kiel-meldet-0123456789abcdef"
OTHER_KEY = "andere-app-0123456789abcdef"
RATHAUS = {"lat": "54.323300", "long": "10.122800"}


@dataclass
class RecordingIntake:
    """Stands in for the intake queue: keeps what it was given (the PDF's bytes, the upload)."""

    uow: Callable[[], IngestUnitOfWork]
    added: list[tuple[str, str, bytes, Upload]] = field(default_factory=list)
    finishers: dict[str, Callable[[IntakeItem], None]] = field(default_factory=dict)

    def add(
        self,
        item_id: str,
        source: str,
        path: Path,
        upload: Upload,
        refused: str = "",
        along: Callable[[IngestUnitOfWork], None] | None = None,
    ) -> None:
        self.added.append((item_id, source, path.read_bytes(), upload))
        if along is not None:  # the channel's own row, in the queue's transaction
            with self.uow() as uow:
                along(uow)

    def on_finished(self, source: str, finisher: Callable[[IntakeItem], None]) -> None:
        self.finishers[source] = finisher


@dataclass
class Channel:
    client: TestClient
    intake: RecordingIntake
    sessions: sessionmaker

    def report(self, key: str | None = KEY, files: dict | None = None, **fields: str) -> dict:
        data = {"service_code": "schlagloch", "description": "Tiefes Loch vor Hausnummer 12", **RATHAUS, **fields}
        params = {"api_key": key} if key is not None else {}
        return self.client.post("/open311/v2/requests.json", params=params, data=data, files=files)  # type: ignore[return-value]

    def document_reached(self, document_id: str, *statuses: DocumentStatus) -> None:
        with self.sessions.begin() as session:
            session.add(_document(document_id))
            session.flush()
            for status in (DocumentStatus.RECEIVED, *statuses):
                session.add(StatusRow(document_id=document_id, status=status.value, at=utcnow(), by="anton"))


def _document(document_id: str) -> DocumentRow:
    return DocumentRow(
        document_id=document_id,
        correlation_id=str(uuid.uuid4()),
        sha256="0" * 64,
        size=1,
        bucket="eakte-inbox",
        object_key=f"documents/{document_id}/original.pdf",
        filename="maengelmeldung.pdf",
        workflow="default",
        pages=1,
        submitted_by="open311",
    )


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[Channel]:
    settings = Settings(
        data_dir=tmp_path,
        open311_api_keys=f"{KEY},{OTHER_KEY}",
        open311_rate_limit="5/minute",
        open311_max_photo_bytes=200_000,
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'ingest.db'}")
    IngestBase.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    intake = RecordingIntake(lambda: IngestUnitOfWork(sessions))
    plan = load_file_plan(CONFIG_DIR / "aktenplan.yaml")
    services = load_services(settings.open311_services, plan, workflow_names(WORKFLOWS_DIR))
    reports = Open311Reports(
        settings,
        lambda: IngestUnitOfWork(sessions),
        intake,
        services,
        parse_api_keys(settings.open311_api_keys),  # type: ignore[arg-type]
    )
    runtime = ServiceRuntime(name="ingest", settings=settings, sessions=sessions, broker=None, relay=None)  # type: ignore[arg-type]
    app = build_app(runtime, [open311_routes.router], refusal_status=open311_routes.REFUSAL_STATUS)
    app.state.open311 = reports
    yield Channel(TestClient(app), intake, sessions)
    engine.dispose()


def _photo(size: tuple[int, int] = (640, 480)) -> bytes:
    data = io.BytesIO()
    Image.new("RGB", size, (90, 90, 90)).save(data, "JPEG")
    return data.getvalue()


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def test_the_report_types_are_public(channel: Channel) -> None:
    answer = channel.client.get("/open311/v2/services.json")
    assert answer.status_code == 200
    types = {s["service_code"]: s for s in answer.json()}
    assert types["schlagloch"]["service_name"] == "Schlagloch" and types["schlagloch"]["metadata"] is False


def test_a_missing_or_unknown_key_is_refused_before_the_body_is_read(channel: Channel) -> None:
    assert channel.report(key=None).status_code == 403
    assert channel.report(key="").status_code == 403
    assert channel.report(key="unbekannt-0123456789abcdef").status_code == 403
    # A photo upload announced far beyond the limit: the unknown key is refused first, before the body is touched.
    huge = {"content-length": str(10**10), "content-type": "multipart/form-data; boundary=x"}
    refused = channel.client.post("/open311/v2/requests.json", params={"api_key": "nope"}, headers=huge)
    assert refused.status_code == 403 and refused.json()[0]["error"] == "invalid_api_key"
    # GeoReport v2's error shape, which the apps read: a list of {code, description}.
    assert refused.json()[0]["code"] == 403 and refused.json()[0]["description"]
    assert channel.intake.added == []


def test_the_key_may_come_as_form_field(channel: Channel) -> None:
    answer = channel.client.post(
        "/open311/v2/requests.json", data={"api_key": KEY, "service_code": "schlagloch", **RATHAUS}
    )
    assert answer.status_code == 201, answer.text
    assert len(channel.intake.added) == 1


def test_a_report_becomes_a_pdf_record_for_the_intake_queue(channel: Channel) -> None:
    answer = channel.report(
        files={"media": ("loch.jpg", _photo(), "image/jpeg")}, first_name="Erika", email="erika@example.org"
    )
    assert answer.status_code == 201, answer.text
    request_id = answer.json()[0]["service_request_id"]
    [(item_id, source, pdf, upload)] = channel.intake.added
    assert source == upload.source == "open311"
    assert (upload.new_akte_class, upload.find_or_open_akte, upload.workflow) == ("66.20", True, "default")
    assert upload.new_akte_title.startswith("Mängelmeldungen Schlagloch 20") and upload.org_unit == "66"
    text = _text(pdf)
    for expected in ("Mängelmeldung: Schlagloch", "Tiefes Loch vor Hausnummer 12", "54.323300, 10.122800", request_id):
        assert expected in text
    assert "erika@example.org" in text  # the contact is in the record (for the clerk), never in the public view
    assert len(pypdf.PdfReader(io.BytesIO(pdf)).pages[0].images) == 1
    public = channel.client.get(f"/open311/v2/requests/{request_id}.json").json()[0]
    assert public["status"] == "open" and public["service_code"] == "schlagloch" and public["lat"] == 54.3233
    assert "erika" not in str(public).lower() and "Tiefes Loch" not in str(public)
    assert item_id != request_id


def test_a_disguised_or_oversized_photo_gets_a_clear_error(channel: Channel) -> None:
    disguised = channel.report(files={"media": ("foto.jpg", b"PK\x03\x04" + b"\0" * 500, "image/jpeg")})
    assert disguised.status_code == 422 and disguised.json()[0]["reason"] == "media_unsupported_type"
    assert "Dateiformat" in disguised.json()[0]["message"]
    broken = channel.report(files={"media": ("foto.jpg", _photo()[:300], "image/jpeg")})
    assert broken.status_code == 422 and broken.json()[0]["reason"] == "media_bad_image", broken.text
    oversized = channel.report(files={"media": ("foto.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 210_000, "image/png")})
    assert oversized.status_code == 413 and oversized.json()[0]["error"] == "too_large"
    way_too_large = channel.report(files={"media": ("foto.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 600_000, "image/png")})
    assert way_too_large.status_code == 413
    assert channel.intake.added == []


def test_a_second_report_at_the_same_place_is_linked_not_filed(channel: Channel) -> None:
    first = channel.report().json()[0]["service_request_id"]
    again = channel.report(lat="54.323380", long="10.122800", description="Da ist immer noch ein Loch")
    assert again.status_code == 201
    linked = again.json()[0]
    assert first in linked["service_notice"] and linked["service_request_id"] != first
    assert len(channel.intake.added) == 1
    elsewhere = channel.report(lat="54.330000", long="10.122800")
    other_type = channel.report(service_code="strassenbeleuchtung")
    assert not elsewhere.json()[0]["service_notice"] and not other_type.json()[0]["service_notice"]
    assert len(channel.intake.added) == 3
    public = channel.client.get(f"/open311/v2/requests/{linked['service_request_id']}.json").json()[0]
    assert public["status"] == "open" and first in public["service_notice"]


def test_the_status_turns_closed_with_notes_when_the_workflow_ends(channel: Channel) -> None:
    request_id = channel.report().json()[0]["service_request_id"]
    duplicate_id = channel.report().json()[0]["service_request_id"]
    [(document_id, *_rest)] = channel.intake.added
    channel.document_reached(document_id, DocumentStatus.IN_REVIEW)
    assert channel.client.get(f"/open311/v2/requests/{request_id}.json").json()[0]["status"] == "open"
    channel.document_reached(str(uuid.uuid4()))  # another document changes nothing
    with channel.sessions.begin() as session:
        session.add(StatusRow(document_id=document_id, status="approved", at=utcnow() + timedelta(seconds=1), by="a"))
    for rid in (request_id, duplicate_id):
        view = channel.client.get(f"/open311/v2/requests/{rid}.json").json()[0]
        assert view["status"] == "closed" and view["status_notes"].startswith("Erledigt"), view
    closed = channel.client.get("/open311/v2/requests.json", params={"status": "closed"}).json()
    assert {v["service_request_id"] for v in closed} == {request_id, duplicate_id}
    assert channel.client.get("/open311/v2/requests.json", params={"status": "open"}).json() == []
    assert channel.client.get("/open311/v2/requests.json", params={"status": "maybe"}).status_code == 422
    # A new report there now is a new matter: the first one is done.
    channel.report()
    assert len(channel.intake.added) == 2


def test_a_report_whose_intake_failed_is_closed(channel: Channel) -> None:
    request_id = channel.report().json()[0]["service_request_id"]
    [(item_id, *_rest)] = channel.intake.added
    with channel.sessions.begin() as session:
        session.add(
            IntakeItemRow(
                item_id=item_id, source="open311", filename="x.pdf", spool_path="/x", upload={}, state="failed"
            )
        )
    view = channel.client.get(f"/open311/v2/requests/{request_id}.json").json()[0]
    assert view["status"] == "closed" and view["status_notes"]


def test_unknown_things_get_clear_answers(channel: Channel) -> None:
    assert channel.client.get(f"/open311/v2/requests/{uuid.uuid4()}.json").status_code == 404
    unknown = channel.report(service_code="ufo")
    assert unknown.status_code == 422 and unknown.json()[0]["reason"] == "unknown_service_code"
    nowhere = channel.report(lat="", long="")
    assert nowhere.status_code == 400 and nowhere.json()[0]["error"] == "missing_location"
    by_address = channel.report(lat="", long="", address_string="Holstenstraße 12, Kiel")
    assert by_address.status_code == 201
    view = channel.client.get(f"/open311/v2/requests/{by_address.json()[0]['service_request_id']}.json").json()[0]
    assert view["address"] == "Holstenstraße 12, Kiel" and view["lat"] is None


def test_each_key_has_its_own_rate_limit_with_retry_after(channel: Channel) -> None:
    answers = [channel.report(service_code="ufo") for _ in range(6)]  # refused reports count too
    assert [a.status_code for a in answers] == [422] * 5 + [429]
    assert 0 < int(answers[-1].headers["retry-after"]) <= 60
    assert answers[-1].json()[0]["error"] == "rate_limited"
    assert channel.report(key=OTHER_KEY).status_code == 201


def test_a_wrong_key_in_the_form_stops_the_upload_before_its_photo_and_nothing_is_left(
    channel: Channel, tmp_path: Path
) -> None:
    photo = {"media": ("loch.jpg", _photo(), "image/jpeg")}
    fields = {"service_code": "schlagloch", **RATHAUS}
    wrong = channel.client.post(
        "/open311/v2/requests.json", data={"api_key": "falsch-0123456789abcdef", **fields}, files=photo
    )
    assert wrong.status_code == 403 and wrong.json()[0]["error"] == "invalid_api_key"
    right = channel.client.post("/open311/v2/requests.json", data={"api_key": KEY, **fields}, files=photo)
    assert right.status_code == 201, right.text
    assert channel.report(files={"media": ("foto.jpg", b"PK\x03\x04" + b"\0" * 500, "image/jpeg")}).status_code == 422
    # The records handed to the intake queue lie in the spool; no request left a photo or directory behind.
    leftovers = [p.name for p in (tmp_path / "open311-spool").iterdir()]
    assert leftovers == [channel.intake.added[0][0]]
