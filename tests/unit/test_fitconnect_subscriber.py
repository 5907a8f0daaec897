"""The FIT-Connect subscriber's service layer on fakes: what it queues, when it accepts, what it rejects, and that an
interrupted or repeated take never files anything twice."""

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any, cast

import pytest
from joserfc import jwe, jws
from joserfc.jwk import RSAKey

from devstack.fitconnect_schema import metadata_schema
from services.ingest.fileplan import load_file_plan
from services.ingest.fitconnect import ACCEPTED, FILING, REJECTED, TAKING, FitConnectSubscriber
from services.ingest.fitconnect_client import FitConnectClient, FitConnectKeys, FitConnectUnavailable, SubmissionStub
from services.ingest.fitconnect_rules import ACCEPT_EVENT, REJECT_EVENT
from services.ingest.intake import IntakeQueue
from services.ingest.online_services import load_metadata_schemas, load_online_services
from services.ingest.purge import purge
from services.ingest.tables import IntakeItemRow
from services.ingest.unit_of_work import IngestUnitOfWork
from services.ingest.uploads import Upload
from shared.settings import CONFIG_DIR, Settings
from shared.storage import ObjectStore
from tests.fitconnect_sender import METADATA_SCHEMA, WOHNGELD_LEIKA, wohngeld_form
from tests.unit.fakes_ingest import FakeIngestUnitOfWork

KEY = RSAKey.generate_key(2048, private=True)
HEADER = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "zip": "DEF", "cty": "application/json"}


class Uow(FakeIngestUnitOfWork):
    """The ingest unit of work on fakes (its `fitconnect` repository included)."""


class FakeQueue:
    def __init__(self, uow: Uow) -> None:
        self.uow = uow
        self.added: list[tuple[str, str, Path, Upload]] = []

    def on_finished(self, source: str, callback: Any) -> None:
        pass

    def known(self, ids: list[str]) -> set[str]:
        return self.uow.intake_items.known(ids)

    def add(self, item_id: str, source: str, path: Path, upload: Upload) -> None:
        self.added.append((item_id, source, path, upload))
        row = IntakeItemRow(item_id=item_id, source=source, filename=upload.filename, spool_path=str(path), upload={})
        row.state = "pending"
        self.uow.intake_items.add_all([row])

    def finish_all(self) -> None:
        for row in self.uow.intake_items.rows.values():
            row.state = "done"


class FakeStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_file(self, bucket: str, key: str, path: Path, content_type: str, sha256: str) -> None:
        self.objects[key] = path.read_bytes()

    def put_json(self, bucket: str, key: str, document: dict[str, Any]) -> None:
        self.objects[key] = json.dumps(document).encode()


class FakeFitConnect:
    """The Submission API as the subscriber's client sees it."""

    def __init__(self) -> None:
        self.waiting: dict[str, dict[str, Any]] = {}
        self.attachments: dict[tuple[str, str], str] = {}
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.down = False

    def submit(self, data: bytes, attachments: list[bytes], stated: list[bytes] | None = None) -> SubmissionStub:
        stub = SubmissionStub(str(uuid.uuid4()), str(uuid.uuid4()))
        ids = [str(uuid.uuid4()) for _ in attachments]
        metadata = {
            "$schema": METADATA_SCHEMA,
            "contentStructure": {
                "data": {
                    "hash": {"type": "sha512", "content": hashlib.sha512(data).hexdigest()},
                    "submissionSchema": {"schemaUri": "urn:x", "mimeType": "application/json"},
                },
                "attachments": [
                    {
                        "attachmentId": i,
                        "hash": {"type": "sha512", "content": hashlib.sha512(s).hexdigest()},
                        "mimeType": "application/pdf",
                        "purpose": "attachment",
                        "filename": f"anlage-{n}.pdf",
                    }
                    for n, (i, s) in enumerate(zip(ids, stated or attachments, strict=True))
                ],
            },
        }
        for attachment_id, content in zip(ids, attachments, strict=True):
            self.attachments[(stub.submission_id, attachment_id)] = _encrypt(content)
        self.waiting[stub.submission_id] = {
            "submissionId": stub.submission_id,
            "caseId": stub.case_id,
            "serviceType": {"identifier": WOHNGELD_LEIKA},
            "attachments": ids,
            "encryptedMetadata": _encrypt(json.dumps(metadata).encode()),
            "encryptedData": _encrypt(data),
        }
        return stub

    def submissions(self, destination_id: str) -> list[SubmissionStub]:
        return [SubmissionStub(s["submissionId"], s["caseId"]) for s in self.waiting.values()]

    def submission(self, submission_id: str) -> dict[str, Any]:
        return self.waiting[submission_id]

    def attachment(self, submission_id: str, attachment_id: str) -> str:
        return self.attachments[(submission_id, attachment_id)]

    def send_event(self, case_id: str, token: str) -> None:
        if self.down:
            raise FitConnectUnavailable("down")
        payload = json.loads(jws.deserialize_compact(token, KEY, algorithms=["PS512"]).payload)
        self.events.append((case_id, payload))
        self.waiting.pop(payload["sub"].removeprefix("submission:"), None)


def _encrypt(content: bytes) -> str:
    return jwe.encrypt_compact(HEADER, content, KEY, algorithms=["RSA-OAEP-256", "A256GCM", "DEF"])


@pytest.fixture
def world(tmp_path: Path) -> tuple[FitConnectSubscriber, FakeFitConnect, FakeQueue, Uow, FakeStore]:
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(KEY.as_dict(private=True)))
    uow, api, store = Uow(), FakeFitConnect(), FakeStore()
    queue = FakeQueue(uow)
    plan = load_file_plan(CONFIG_DIR / "aktenplan.yaml")
    services = load_online_services(CONFIG_DIR / "online_services" / "services.yaml", plan, frozenset({"wohngeld"}))
    subscriber = FitConnectSubscriber(
        Settings(data_dir=tmp_path, fitconnect_destination_id="dest"),
        lambda: cast(IngestUnitOfWork, uow),
        cast(IntakeQueue, queue),
        cast(ObjectStore, store),
        cast(FitConnectClient, api),
        FitConnectKeys(key_file, key_file),
        services,
        load_metadata_schemas(metadata_schema()),
    )
    return subscriber, api, queue, uow, store


FORM = json.dumps(wohngeld_form("Musterfrau")).encode()


def test_a_valid_submission_is_queued_then_accepted_once_all_its_documents_are_in(world: Any) -> None:
    subscriber, api, queue, uow, _store = world
    stub = api.submit(FORM, [b"%PDF-1 a", b"%PDF-1 b"])
    sent = dict(api.waiting[stub.submission_id])
    subscriber.poll_once()
    assert [(source, upload.document_type) for _i, source, _p, upload in queue.added] == [
        ("fitconnect", "antrag"),
        ("fitconnect", "anlage"),
        ("fitconnect", "anlage"),
    ]
    form = queue.added[0][3]
    assert form.new_akte_class == "50.30" and form.workflow == "wohngeld" and form.find_or_open_akte
    assert stub.submission_id in form.vorgang_title and form.new_akte_title.startswith("Wohngeld: Musterfrau")
    assert queue.added[1][2].read_bytes() == b"%PDF-1 a" and queue.added[0][2].read_bytes().startswith(b"%PDF")
    assert uow.fitconnect.get(stub.submission_id).state == FILING and api.events == []  # not before all are in
    subscriber.poll_once()
    assert api.events == []
    queue.finish_all()
    subscriber.poll_once()
    ((case_id, payload),) = api.events
    assert case_id == stub.case_id and list(payload["events"]) == [ACCEPT_EVENT]
    tags = payload["events"][ACCEPT_EVENT]["authenticationTags"]  # what exactly was accepted
    assert tags["metadata"] == sent["encryptedMetadata"].rsplit(".", 1)[1]
    assert tags["data"] == sent["encryptedData"].rsplit(".", 1)[1] and len(tags["attachments"]) == 2
    row = uow.fitconnect.get(stub.submission_id)
    assert row.state == ACCEPTED and row.event_sent_at is not None
    assert row.form_document_id == queue.added[0][0] and row.form_data["data"]["miete"]["kaltmiete"] == 620


def test_an_interrupted_take_adds_only_what_is_missing_with_the_planned_ids(world: Any) -> None:
    subscriber, api, queue, uow, _store = world
    stub = api.submit(FORM, [b"%PDF-1 a", b"%PDF-1 b"])
    subscriber.poll_once()
    planned = dict(uow.fitconnect.get(stub.submission_id).items)
    # As if the process died after queueing the form only: its row still says `taking`.
    uow.fitconnect.get(stub.submission_id).state = TAKING
    first = queue.added[0]
    queue.added.clear()
    uow.intake_items.rows = {first[0]: uow.intake_items.rows[first[0]]}
    subscriber.poll_once()
    assert sorted(item_id for item_id, *_ in queue.added) == sorted(planned["attachments"].values())
    assert uow.fitconnect.get(stub.submission_id).state == FILING and len(uow.intake_items.rows) == 3


def test_a_wrong_attachment_hash_is_rejected_kept_in_quarantine_and_the_event_sent_again_if_lost(world: Any) -> None:
    subscriber, api, queue, uow, store = world
    stub = api.submit(FORM, [b"%PDF-1 a"], stated=[b"%PDF-1 other"])
    api.down = True
    with pytest.raises(FitConnectUnavailable):  # the poll stops; the next one tries again
        subscriber.poll_once()
    row = uow.fitconnect.get(stub.submission_id)
    assert row.state == REJECTED and row.event_sent_at is None and queue.added == []
    (held,) = uow.quarantine.rows.values()
    assert held.source == "fitconnect" and held.reason == "incorrect-attachment-hash"
    kept = json.loads(store.objects[f"{held.quarantine_id}/content"])
    assert kept["submission"]["submissionId"] == stub.submission_id and len(kept["attachments"]) == 1
    api.down = False
    subscriber.poll_once()  # the lost event goes out on the next poll
    ((_case, payload),) = api.events
    (problem,) = payload["events"][REJECT_EVENT]["problems"]
    assert problem["type"].endswith("/incorrect-attachment-hash") and row.event_sent_at is not None


def test_a_submission_listed_again_after_its_decision_is_not_taken_again(world: Any) -> None:
    subscriber, api, queue, _uow, _store = world
    stub = api.submit(FORM, [])
    subscriber.poll_once()
    queue.finish_all()
    subscriber.poll_once()
    # Listed again (as FIT-Connect does while it has no event from us):
    api.waiting[stub.submission_id] = {"submissionId": stub.submission_id, "caseId": stub.case_id}
    subscriber.poll_once()
    assert len(queue.added) == 1 and [list(p["events"]) for _c, p in api.events] == [[ACCEPT_EVENT]] * 2


def test_the_form_data_goes_when_its_form_document_is_destroyed(world: Any) -> None:
    subscriber, api, queue, uow, _store = world
    stub = api.submit(FORM, [])
    subscriber.poll_once()
    form_id = queue.added[0][0]
    assert uow.fitconnect.get(stub.submission_id).form_data is not None

    class NoObjects:
        client = type("Client", (), {"list_objects": staticmethod(lambda *a, **k: [])})()

    purge(cast(IngestUnitOfWork, uow), cast(ObjectStore, NoObjects()), "eakte-inbox", uuid.uuid4(), form_id)
    assert uow.fitconnect.get(stub.submission_id).form_data is None
