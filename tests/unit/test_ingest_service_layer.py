"""The ingest service layer on a fake unit of work and an in-memory object store: no Kafka, MinIO or database."""

import hashlib
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.ingest import views
from services.ingest.domain import DocumentStatus, FileKind, check_may_revise, document_key, original_name
from services.ingest.fileplan import Disposal, FilePlan, FilePlanClass
from services.ingest.filing import FilingRefused, FilingService
from services.ingest.history import StatusChange, record_statuses
from services.ingest.ingesting import IngestService
from services.ingest.ocr import OcrWorker
from services.ingest.purge import purge
from services.ingest.quarantine import NotHeld, QuarantineService
from services.ingest.tables import AkteRow, IntakeItemRow
from services.ingest.uploads import Accepted, Duplicate, Quarantined, SpooledFile, Upload
from shared.errors import Refused
from shared.events import DocumentIngested, utcnow
from shared.settings import Settings
from tests.unit.fakes_ingest import FakeIngestUnitOfWork

PLAN = FilePlan({"50.10": FilePlanClass("50.10", "Bauanträge", 10, Disposal.DESTROY)})
AKTE = "50.10-2026/0001"


@dataclass
class _Listed:
    object_name: str


class FakeObjectStore:
    """The part of `shared.storage.ObjectStore` intake, views and purge use, in memory."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    @property
    def client(self) -> "FakeObjectStore":  # purge lists and removes through the MinIO client
        return self

    def put_file(self, bucket: str, key: str, path: Path, content_type: str, sha256: str) -> None:
        self.objects[(bucket, key)] = path.read_bytes()

    def put_json(self, bucket: str, key: str, document: dict[str, object]) -> None:
        self.objects[(bucket, key)] = json.dumps(document).encode()

    def stream(self, bucket: str, key: str) -> Iterator[bytes]:
        yield self.objects[(bucket, key)]

    def remove(self, bucket: str, key: str) -> None:
        self.objects.pop((bucket, key), None)

    def list_objects(self, bucket: str, prefix: str, recursive: bool) -> list[_Listed]:
        return [_Listed(key) for b, key in self.objects if b == bucket and key.startswith(prefix)]

    def remove_object(self, bucket: str, key: str) -> None:
        self.remove(bucket, key)

    def keys(self) -> list[str]:
        return sorted(key for _bucket, key in self.objects)


def _text_pdf(words: str) -> bytes:
    """A one-page PDF with a text layer (born digital)."""
    stream = f"BT /F1 24 Tf 72 700 Td ({words}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _scan_png() -> bytes:
    """An image without a text layer, as a scanner delivers it."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (200, 300), color=1).save(out, format="PNG")
    return out.getvalue()


class Harness:
    def __init__(self, tmp_path: Path, **settings: object) -> None:
        self.settings = Settings(data_dir=tmp_path, **settings)  # type: ignore[arg-type]
        self.tmp = tmp_path
        self.uow = FakeIngestUnitOfWork()
        self.store = FakeObjectStore()
        self.filing = FilingService(PLAN)
        self.service = IngestService(self.settings, self.store, self.filing, frozenset({"default"}))  # type: ignore[arg-type]

    def spool(self, content: bytes, too_large: bool = False) -> SpooledFile:
        path = self.tmp / uuid.uuid4().hex
        path.write_bytes(content)
        return SpooledFile(path, hashlib.sha256(content).hexdigest(), len(content), too_large)

    def ingest(self, content: bytes, too_large: bool = False, **upload: str) -> object:
        fields = {"filename": "brief.pdf", "submitted_by": "clara"} | upload
        return self.service.ingest_file(self.uow, self.spool(content, too_large), Upload(**fields))  # type: ignore[arg-type]

    def add_akte(self, aktenzeichen: str = AKTE) -> None:
        row = AkteRow(aktenzeichen=aktenzeichen, file_plan_class="50.10", year=2026, seq=int(aktenzeichen[-4:]))
        row.title, row.created_by, row.created_at = "Bauantrag Müller", "clara", utcnow()
        self.uow.filing.add_akte(row)


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_a_pdf_is_accepted_with_its_status_and_event(harness: Harness) -> None:
    outcome = harness.ingest(_text_pdf("Hello"))
    assert isinstance(outcome, Accepted) and outcome.version == 1
    assert harness.uow.documents.statuses(outcome.document_id) == [DocumentStatus.RECEIVED.value]
    [event] = harness.uow.events
    assert isinstance(event, DocumentIngested) and str(event.document_id) == outcome.document_id
    assert event.original.key == f"documents/{outcome.document_id}/original.pdf"
    assert harness.store.keys() == [event.original.key]


def test_the_same_bytes_again_are_a_duplicate(harness: Harness) -> None:
    first = harness.ingest(_text_pdf("Hello"))
    again = harness.ingest(_text_pdf("Hello"), filename="nochmal.pdf")
    assert isinstance(first, Accepted) and again == Duplicate(first.document_id, first.sha256)
    assert len(harness.uow.events) == 1 and len(harness.uow.documents.rows) == 1
    # The second original went to the inbox before it was known to be a duplicate, and left it again.
    assert harness.store.keys() == [f"documents/{first.document_id}/original.pdf"]


def test_an_intake_item_tried_again_after_it_was_recorded_keeps_its_original(harness: Harness) -> None:
    # The intake queue chooses its item's document id: a second attempt names the recorded document's object.
    item_id = str(uuid.uuid4())
    first = harness.ingest(_text_pdf("Hello"), document_id=item_id)
    again = harness.ingest(_text_pdf("Hello"), document_id=item_id)
    assert isinstance(first, Accepted) and first.document_id == item_id and isinstance(again, Duplicate)
    assert harness.store.keys() == [f"documents/{item_id}/original.pdf"]


def test_a_deliberate_copy_into_another_akte_is_allowed_when_the_setting_is_on(tmp_path: Path) -> None:
    harness = Harness(tmp_path, allow_duplicates_in_other_akte=True)
    harness.add_akte(AKTE)
    harness.add_akte("50.10-2026/0002")
    first = harness.ingest(_text_pdf("Hello"), aktenzeichen=AKTE)
    copy = harness.ingest(_text_pdf("Hello"), aktenzeichen="50.10-2026/0002")
    same_akte = harness.ingest(_text_pdf("Hello"), aktenzeichen=AKTE)
    assert isinstance(first, Accepted) and isinstance(copy, Accepted) and copy.document_id != first.document_id
    assert isinstance(same_akte, Duplicate)


def test_a_too_large_file_is_quarantined_with_its_sidecar(harness: Harness) -> None:
    outcome = harness.ingest(b"%PDF-1.4 cut off", too_large=True)
    assert isinstance(outcome, Quarantined) and outcome.rejection.reason.value == "too_large"
    assert harness.uow.quarantine.rows[outcome.quarantine_id].state == "held"
    assert harness.store.keys() == [f"{outcome.quarantine_id}/content", f"{outcome.quarantine_id}/sidecar.json"]
    assert harness.uow.events == [] and harness.uow.documents.rows == {}


def test_a_pdf_the_check_refuses_is_quarantined_and_gone_from_the_inbox(harness: Harness) -> None:
    # The original goes to the inbox while the check runs: a file the check refuses must not stay there.
    outcome = harness.ingest(b"%PDF-1.4 cut off")
    assert isinstance(outcome, Quarantined) and outcome.rejection.reason.value in ("truncated", "unreadable")
    assert harness.store.keys() == [f"{outcome.quarantine_id}/content", f"{outcome.quarantine_id}/sidecar.json"]
    assert harness.uow.events == [] and harness.uow.documents.rows == {}


def test_an_original_the_inbox_refuses_fails_the_upload_and_nothing_is_recorded(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object) -> None:
        raise ConnectionError("object store unreachable")

    monkeypatch.setattr(harness.store, "put_file", refuse)
    with pytest.raises(ConnectionError):
        harness.ingest(_text_pdf("Hello"))
    assert harness.uow.events == [] and harness.uow.documents.rows == {} and harness.store.keys() == []


def test_a_scan_without_text_waits_for_ocr_before_its_event(harness: Harness) -> None:
    outcome = harness.ingest(_scan_png(), filename="scan.png")
    assert isinstance(outcome, Accepted)
    assert harness.uow.events == []
    job = harness.uow.ocr_jobs.get(outcome.document_id)
    assert job.state == "pending" and job.event["document_id"] == outcome.document_id
    prefix = document_key(outcome.document_id)
    assert harness.store.keys() == [prefix + "original.png", prefix + "rendition.pdf"]


def test_a_scan_goes_on_at_once_when_ocr_is_off(tmp_path: Path) -> None:
    harness = Harness(tmp_path, ocr_enabled=False)
    outcome = harness.ingest(_scan_png(), filename="scan.png")
    assert isinstance(outcome, Accepted) and harness.uow.ocr_jobs.rows == {}
    assert [type(e) for e in harness.uow.events] == [DocumentIngested]


def test_the_ocr_worker_releases_the_held_event_once(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    outcome = harness.ingest(_scan_png(), filename="scan.png")
    assert isinstance(outcome, Accepted)
    off = Settings(data_dir=tmp_path, ocr_enabled=False)
    worker = OcrWorker(off, lambda: harness.uow, harness.store)  # type: ignore[arg-type]
    assert worker.next_job(harness.uow) == outcome.document_id
    worker.process(harness.uow, outcome.document_id)
    worker.process(harness.uow, outcome.document_id)  # a second run finds the job finished
    [event] = harness.uow.events
    assert isinstance(event, DocumentIngested) and event.ocr is None
    assert harness.uow.documents.statuses(outcome.document_id) == ["received", "ocr_failed"]
    assert worker.next_job(harness.uow) is None


def test_a_new_version_of_a_returned_document_keeps_its_id(harness: Harness) -> None:
    first = harness.ingest(_text_pdf("Entwurf"))
    assert isinstance(first, Accepted)
    record_statuses(
        harness.uow, [StatusChange(uuid.uuid4(), first.document_id, DocumentStatus.RETURNED, utcnow(), "anton")]
    )
    second = harness.ingest(_text_pdf("Neu"), new_version_of=first.document_id)
    assert isinstance(second, Accepted) and second.document_id == first.document_id and second.version == 2
    old, new = harness.uow.events
    assert isinstance(old, DocumentIngested) and isinstance(new, DocumentIngested)
    assert new.original.key == f"documents/{first.document_id}/v2/original.pdf"
    assert new.correlation_id == old.correlation_id
    view = views.document(harness.uow, first.document_id)
    assert view is not None and view.version == 2 and not view.awaiting_revision


def test_a_status_change_is_recorded_once_per_event(harness: Harness) -> None:
    outcome = harness.ingest(_text_pdf("Hello"))
    assert isinstance(outcome, Accepted)
    event_id = uuid.uuid4()
    assert (
        record_statuses(
            harness.uow, [StatusChange(event_id, outcome.document_id, DocumentStatus.IN_REVIEW, utcnow(), "workflow")]
        )
        == 1
    )
    assert (
        record_statuses(
            harness.uow, [StatusChange(event_id, outcome.document_id, DocumentStatus.IN_REVIEW, utcnow(), "x")]
        )
        == 0
    )
    assert harness.uow.documents.statuses(outcome.document_id) == ["received", "in_review"]
    assert harness.uow.processed == {("ingest", event_id): "in_review"}


def test_a_status_change_of_an_unknown_document_is_only_marked_processed(harness: Harness) -> None:
    event_id = uuid.uuid4()
    assert (
        record_statuses(
            harness.uow, [StatusChange(event_id, str(uuid.uuid4()), DocumentStatus.APPROVED, utcnow(), "anton")]
        )
        == 1
    )
    assert harness.uow.processed == {("ingest", event_id): "approved"}


def test_purge_removes_objects_and_rows_once(harness: Harness) -> None:
    harness.add_akte()
    outcome = harness.ingest(_text_pdf("Hello"), aktenzeichen=AKTE)
    assert isinstance(outcome, Accepted)
    item = IntakeItemRow(item_id="i1", document_id=outcome.document_id, filename="brief.pdf", upload={"a": 1})
    harness.uow.intake_items.add_all([item])
    event_id = uuid.uuid4()
    assert purge(harness.uow, harness.store, "eakte-inbox", event_id, outcome.document_id)
    assert harness.store.keys() == [] and harness.uow.documents.rows == {}
    assert harness.uow.filing.vorgaenge == {}  # its only document is gone
    assert (item.filename, item.upload) == ("(vernichtet)", {})
    assert not purge(harness.uow, harness.store, "eakte-inbox", event_id, outcome.document_id)
    assert harness.uow.processed == {("ingest.purge", event_id): "purged"}


def test_the_object_key_layout() -> None:
    document_id = uuid.UUID("6f1c2b4e-0000-4000-8000-000000000001")
    assert document_key(document_id) == f"documents/{document_id}/"
    assert document_key(document_id, original_name(FileKind.TIFF)) == f"documents/{document_id}/original.tif"
    assert document_key(str(document_id), "rendition.pdf", 3) == f"documents/{document_id}/v3/rendition.pdf"
    assert document_key(document_id, "ocr.txt") == f"documents/{document_id}/ocr.txt"


def test_an_upload_is_filed_into_an_existing_akte(harness: Harness) -> None:
    harness.add_akte()
    outcome = harness.ingest(_text_pdf("Hello"), aktenzeichen=AKTE, title="Antrag")
    assert isinstance(outcome, Accepted) and outcome.aktenzeichen == AKTE
    [event] = harness.uow.events
    assert isinstance(event, DocumentIngested)
    assert (event.metadata.aktenzeichen, event.metadata.retention_years) == (AKTE, 10)
    [vorgang] = harness.filing.contents(harness.uow, AKTE)
    assert vorgang.title == "Antrag" and [d.document_id for d in vorgang.documents] == [outcome.document_id]


def test_an_upload_naming_a_file_plan_class_opens_a_new_akte(harness: Harness) -> None:
    outcome = harness.ingest(_text_pdf("Hello"), new_akte_class="50.10", new_akte_title="Neubau")
    year = utcnow().year
    assert isinstance(outcome, Accepted) and outcome.aktenzeichen == f"50.10-{year}/0001"
    akte = harness.filing.akte(harness.uow, f"50.10-{year}/0001")
    assert akte is not None and akte.title == "Neubau"
    second = harness.filing.open_akte(harness.uow, "50.10", "Zweite", "clara")
    assert second.aktenzeichen == f"50.10-{year}/0002"


def test_an_unknown_aktenzeichen_is_refused_and_nothing_is_recorded(harness: Harness) -> None:
    with pytest.raises(FilingRefused) as refused:
        harness.ingest(_text_pdf("Hello"), aktenzeichen="99.99-2026/0001")
    assert refused.value.reason == "unknown_aktenzeichen"
    assert harness.uow.events == []
    with pytest.raises(FilingRefused) as unknown_class:
        harness.filing.check_request(harness.uow, "", "77.77")
    assert unknown_class.value.reason == "unknown_file_plan_class"


def test_a_submitter_lists_own_documents_by_current_status(harness: Harness) -> None:
    mine = harness.ingest(_text_pdf("Eins"))
    harness.ingest(_text_pdf("Zwei"), submitted_by="otto")
    assert isinstance(mine, Accepted)
    record_statuses(
        harness.uow, [StatusChange(uuid.uuid4(), mine.document_id, DocumentStatus.APPROVED, utcnow(), "anton")]
    )
    total, listed = views.documents_of(harness.uow, "clara", DocumentStatus.APPROVED, 10, 0)
    assert total == 1 and [s.document_id for s in listed] == [mine.document_id]
    assert views.documents_of(harness.uow, "clara", DocumentStatus.RECEIVED, 10, 0) == (0, [])


def test_a_held_quarantine_item_is_discarded_once(harness: Harness) -> None:
    outcome = harness.ingest(b"not a pdf at all")
    assert isinstance(outcome, Quarantined) and outcome.rejection.reason.value == "not_a_pdf"
    quarantine = QuarantineService(harness.settings, harness.store, harness.service)  # type: ignore[arg-type]
    item = quarantine.discard(harness.uow, outcome.quarantine_id, "admin")
    assert item.state == "discarded" and harness.store.keys() == [f"{outcome.quarantine_id}/sidecar.json"]
    with pytest.raises(NotHeld):
        quarantine.discard(harness.uow, outcome.quarantine_id, "admin")


def test_only_the_submitter_revises_and_only_a_returned_document() -> None:
    check_may_revise("clara", frozenset({"clerk"}), "clara", awaiting=True)
    check_may_revise("root", frozenset({"admin"}), "clara", awaiting=True)
    with pytest.raises(Refused) as other:
        check_may_revise("otto", frozenset({"clerk"}), "clara", awaiting=True)
    assert other.value.code == "not_submitter"
    with pytest.raises(Refused) as not_returned:
        check_may_revise("clara", frozenset({"clerk"}), "clara", awaiting=False)
    assert not_returned.value.code == "not_returned"
