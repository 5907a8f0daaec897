"""OCR off the request path, on the real stack with the real OCRmyPDF and Tesseract."""

import hashlib
import io
import time
import uuid

import pytest

from devstack.stack import Stack
from shared.storage import ObjectStore
from tests.conftest import corpus_file, unique_bytes
from tests.integration.conftest import Api, TopicReader, wait_for


def _upload(api: Api, name: str, data: bytes, **fields: str):
    return api.http.post(
        f"{api.stack.url('ingest')}/api/v1/documents",
        headers=api.headers("clara", "clerk"),
        files={"file": (name, data, "application/pdf")},
        data={"workflow": "none", **fields},
    )


def _unique_png(name: str) -> bytes:
    """PNG readers refuse trailing bytes; a unique text chunk inside makes the file unique instead."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("test-id", str(uuid.uuid4()))
    out = io.BytesIO()
    with Image.open(corpus_file(name)) as image:
        image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def _statuses(api: Api, document_id: str) -> list[str]:
    return [h["status"] for h in api.document(document_id)["history"]]


@pytest.fixture(scope="module", autouse=True)
def ocr_on(stack: Stack):
    """The session stack runs without OCR; this module turns it on (the product's default)."""
    stack.restart_service("ingest", EAKTE_OCR_ENABLED="true")
    yield
    stack.restart_service("ingest")


def test_scan_without_text_gets_a_text_layer_and_the_original_stays(
    api: Api, stack: Stack, topics: TopicReader
) -> None:
    scan = unique_bytes("ocr__linn.pdf")
    started = time.monotonic()
    response = _upload(api, "linn.pdf", scan)
    assert response.status_code == 201 and time.monotonic() - started < 10  # the upload does not wait for OCR
    document_id = response.json()["document_id"]

    document = api.wait_status(document_id, "archived", timeout_s=180)
    history = [h["status"] for h in document["history"]]
    assert history.index("received") < history.index("ocr_done") < history.index("approved")

    event = topics.about("documents.ingested", document_id)[0]
    assert event["original"]["sha256"] == hashlib.sha256(scan).hexdigest()
    settings = stack.settings()
    client = ObjectStore(settings).client
    text = client.get_object(event["ocr"]["text"]["bucket"], event["ocr"]["text"]["key"]).read().decode()
    assert "LinnSequencer" in text.replace(" ", "")
    derivative = client.get_object(event["ocr"]["derivative"]["bucket"], event["ocr"]["derivative"]["key"]).read()
    assert b"pdfaid" in derivative  # PDF/A identification in the XMP metadata
    original = client.get_object(event["original"]["bucket"], event["original"]["key"]).read()
    assert original == scan

    # The OCR text is what the records office searches in, and the derivative is part of the package.
    found = wait_for(
        lambda: api.http.get(
            f"{stack.url('archive')}/api/v1/archive/search",
            headers=api.headers("rita", "records_officer"),
            params={"q": "Sequencer Composition"},
        ).json()["items"]
    )
    assert document_id in {i["document_id"] for i in found}
    package = api.http.get(
        f"{stack.url('archive')}/api/v1/archive/{document_id}/package", headers=api.headers("rita", "records_officer")
    ).json()
    assert {"data/ocr.pdf", "data/ocr.txt", "data/original.pdf"} <= {o["path"] for o in package["objects"]}


def test_born_digital_pdf_needs_no_ocr(api: Api, topics: TopicReader) -> None:
    response = _upload(api, "brief.pdf", unique_bytes("sf__minimal-document.pdf"))
    document_id = response.json()["document_id"]
    api.wait_status(document_id, "archived")
    assert "ocr_done" not in _statuses(api, document_id)
    assert topics.about("documents.ingested", document_id)[0]["ocr"] is None


@pytest.fixture
def ingest_with(stack: Stack):
    restarted = []

    def restart(**env: str) -> None:
        restarted.append(True)
        stack.restart_service("ingest", **env)

    yield restart
    if restarted:
        stack.restart_service("ingest", EAKTE_OCR_ENABLED="true")


def test_ocr_over_its_time_limit_gives_up_and_the_document_goes_on(api: Api, ingest_with, topics: TopicReader) -> None:
    ingest_with(EAKTE_OCR_ENABLED="true", EAKTE_OCR_PAGE_TIMEOUT_S="0.5", EAKTE_OCR_STARTUP_ALLOWANCE_S="0")
    document_id = _upload(api, "linn.pdf", unique_bytes("ocr__linn.pdf")).json()["document_id"]
    api.wait_status(document_id, "archived", timeout_s=60)
    assert "ocr_failed" in _statuses(api, document_id)
    assert topics.about("documents.ingested", document_id)[0]["ocr"] is None


def test_ocr_can_be_switched_off(api: Api, ingest_with, topics: TopicReader) -> None:
    ingest_with(EAKTE_OCR_ENABLED="false")
    started = time.monotonic()
    document_id = _upload(api, "scan.png", _unique_png("ocr__crom.png")).json()["document_id"]
    api.wait_status(document_id, "archived", timeout_s=60)
    assert time.monotonic() - started < 30
    assert "ocr_done" not in _statuses(api, document_id)


def test_a_scans_ocr_text_is_found_by_the_search_for_clerks(api: Api, stack: Stack) -> None:
    """The OCR worker's text enters the search index in its unit of work: the submitter finds the scan by it."""
    response = _upload(api, "linn.pdf", unique_bytes("ocr__linn.pdf"))
    document_id = response.json()["document_id"]
    api.wait_status(document_id, "archived", timeout_s=180)
    url = f"{stack.url('ingest')}/api/v1/search"
    found = wait_for(
        lambda: api.http.get(url, headers=api.headers("clara", "clerk"), params={"q": "Sequencer"}).json()["hits"]
    )
    hit = next(h for h in found if h["document_id"] == document_id)
    # German stems: "Sequencer" and the scan's "Sequence" share the stem "sequenc"; the hit is marked in the text.
    assert "<mark>Sequence</mark>" in hit["snippet"] and "LinnSequencer" in hit["snippet"]
    assert hit["status"] == "archived"
