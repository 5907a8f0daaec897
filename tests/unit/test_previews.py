"""Page previews: the rules (which file, how large, where), and rendering in the limited checker processes."""

from collections.abc import Callable
from pathlib import Path
from typing import cast

import httpx
import pytest
from PIL import Image

from eakte_cli import main
from services.ingest.domain import Rejection
from services.ingest.domain_previews import (
    MAX_DEFER_S,
    QUIET_S,
    PreviewPolicy,
    PreviewSize,
    PreviewState,
    drawn_in_gray,
    page_shown,
    pages_of,
    pages_to_render,
    preview_key,
    preview_source,
    render_now,
    render_scale,
    render_timeout,
    thumb_size,
)
from services.ingest.inspection import render_preview
from services.ingest.previews import PreviewWorker
from services.ingest.tables import DocumentRow
from shared.settings import Settings
from shared.storage import ObjectStore
from tests.conftest import corpus_file
from tests.preview_pdfs import nested_forms_pdf
from tests.unit.fakes_ingest import FakeIngestUnitOfWork

POLICY = PreviewPolicy(dpi=150, thumb_px=200, max_pages=50, page_timeout_s=10.0, startup_allowance_s=10.0)
A4 = (595.0, 842.0)


def test_a_scan_or_mail_previews_its_rendition_a_pdf_itself_and_nothing_else_nothing() -> None:
    assert preview_source("image/tiff", "documents/d/original.tif", "documents/d/rendition.pdf") == (
        "documents/d/rendition.pdf"
    )
    assert preview_source("message/rfc822", "documents/d/original.eml", "documents/d/rendition.pdf") == (
        "documents/d/rendition.pdf"
    )
    assert preview_source("application/pdf", "documents/d/original.pdf", None) == "documents/d/original.pdf"
    assert preview_source("image/png", "documents/d/original.png", None) is None


def test_page_images_lie_beside_the_original_of_their_version() -> None:
    assert preview_key("d", 1, 1, PreviewSize.THUMB) == "documents/d/preview/page-0001-thumb.png"
    assert preview_key("d", 3, 12, PreviewSize.LARGE) == "documents/d/v3/preview/page-0012-large.png"


def test_a4_is_drawn_at_the_policy_dpi_and_a_poster_page_smaller() -> None:
    scale = render_scale(POLICY, *A4)
    assert round(A4[0] * scale) == 1240 and round(A4[1] * scale) == 1754  # A4 at 150 dpi
    poster = render_scale(POLICY, 14400.0, 14400.0)  # 200 inches square
    assert round(14400 * poster) == 2400


def test_the_thumbnail_keeps_the_aspect_and_its_longer_side_is_the_policy_size() -> None:
    assert thumb_size(POLICY, 1240, 1754) == (141, 200)
    assert thumb_size(POLICY, 1754, 1240) == (200, 141)
    assert thumb_size(POLICY, 100, 50) == (100, 50)  # never scaled up


def test_long_documents_preview_their_first_pages_and_get_time_per_page() -> None:
    assert pages_to_render(POLICY, 300) == 50 and pages_to_render(POLICY, 3) == 3
    assert render_timeout(POLICY, 3) == 40.0
    assert render_timeout(POLICY, 300) == 510.0


def test_only_rendered_pages_of_a_finished_preview_are_shown() -> None:
    done = pages_of("done", 2, 5)
    assert page_shown(done, 1) and page_shown(done, 2)
    assert not page_shown(done, 0) and not page_shown(done, 3)
    assert not page_shown(pages_of("pending", 2, 5), 1)
    failed = pages_of("failed", 0, 1, "the file checker died")
    assert failed.state == PreviewState.FAILED and not page_shown(failed, 1)
    assert pages_of(None, 0, 4).state == PreviewState.NONE


def test_a_pdf_is_rendered_as_a_large_image_and_a_thumbnail_per_page(tmp_path: Path) -> None:
    verdict = render_preview(corpus_file("ocr__tagged.pdf"), tmp_path, POLICY, 30.0)
    assert isinstance(verdict, dict) and verdict["ok"], verdict
    assert verdict["pages"] == 2 and verdict["rendered"] == 2 and len(verdict["ms"]) == 2
    with Image.open(tmp_path / "1-large.png") as large, Image.open(tmp_path / "2-thumb.png") as thumb:
        assert large.format == "PNG" and max(large.size) > 1000
        assert max(thumb.size) == 200
    # A page is not blank: the text of the document is drawn on it.
    with Image.open(tmp_path / "1-large.png") as large:
        lowest, _highest = large.convert("L").getextrema()
        assert lowest < 100


def test_only_a_page_of_gray_images_is_drawn_in_gray() -> None:
    assert drawn_in_gray(other_objects=0, annotations=0)
    assert not drawn_in_gray(other_objects=1, annotations=0)  # text, a path, a colour image
    assert not drawn_in_gray(other_objects=0, annotations=1)


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("ocr__ccitt.pdf", "L"),  # a black-and-white fax scan
        ("ocr__lichtenstein.pdf", "L"),  # an 8-bit grayscale scan
        ("ocr__multipage.pdf", "RGB"),  # a colour photo
        ("ocr__tagged.pdf", "RGB"),  # text, which may be coloured
        ("sf__annotated_pdf.pdf", "RGB"),
    ],
)
def test_a_scan_in_black_and_white_is_previewed_in_gray_and_anything_else_in_colour(
    tmp_path: Path, name: str, mode: str
) -> None:
    verdict = render_preview(corpus_file(name), tmp_path, POLICY, 60.0)
    assert isinstance(verdict, dict) and verdict["ok"], verdict
    with Image.open(tmp_path / "1-large.png") as large, Image.open(tmp_path / "1-thumb.png") as thumb:
        assert (large.mode, thumb.mode) == (mode, mode)
        assert max(thumb.size) == 200
        assert large.convert("L").getextrema()[0] < 100  # something is drawn


def test_a_scan_drawn_in_gray_loses_nothing_against_its_colour_rendering(tmp_path: Path) -> None:
    import pypdfium2 as pdfium
    from PIL import ImageChops

    verdict = render_preview(corpus_file("ocr__ccitt.pdf"), tmp_path, POLICY, 60.0)
    assert isinstance(verdict, dict) and verdict["ok"], verdict
    pdf = pdfium.PdfDocument(corpus_file("ocr__ccitt.pdf"))
    in_colour = pdf[0].render(scale=POLICY.dpi / 72, draw_annots=True).to_pil()
    with Image.open(tmp_path / "1-large.png") as large:
        assert ImageChops.difference(large, in_colour.convert("L")).getextrema() == (0, 0)
    pdf.close()


def test_a_hostile_pdf_ends_as_no_preview_within_its_limits_not_a_hang(tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.pdf"
    hostile.write_bytes(nested_forms_pdf())
    verdict = render_preview(hostile, tmp_path, POLICY, 15.0)
    # The checker exhausted its memory (died) or its time (killed): either way a Rejection, never a hang.
    assert isinstance(verdict, Rejection), verdict


def test_eakte_previews_backfill_asks_until_a_batch_is_not_full(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter([3, 3, 1])
    asked: list[dict] = []

    def post(url: str, params: dict, headers: dict, timeout: float) -> httpx.Response:
        asked.append(params)
        request = httpx.Request("POST", url)
        return httpx.Response(200, json={"queued": next(answers)}, request=request)

    monkeypatch.setattr(httpx, "post", post)
    assert main(["previews", "backfill", "--url", "http://127.0.0.1:1", "--batch", "3"]) == 0
    assert asked == [{"limit": 3}] * 3
    assert "7 document(s) queued" in capsys.readouterr().out


def test_eakte_previews_backfill_fails_when_ingest_does_not_answer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def post(url: str, params: dict, headers: dict, timeout: float) -> httpx.Response:
        raise httpx.ConnectError("refused")

    monkeypatch.setattr(httpx, "post", post)
    assert main(["previews", "backfill", "--url", "http://127.0.0.1:1"]) == 1
    assert "does not answer" in capsys.readouterr().err


class _Store:
    """The object store's calls the preview worker makes, in memory."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def download_hashed(self, bucket: str, key: str, destination: Path) -> tuple[str, int]:
        data = self.objects[(bucket, key)]
        destination.write_bytes(data)
        return "", len(data)

    def put_file(self, bucket: str, key: str, path: Path, content_type: str, sha256: str) -> None:
        assert content_type == "image/png"
        self.objects[(bucket, key)] = path.read_bytes()


def _worker_with(
    content_type: str,
    data: bytes,
    rendition: bytes | None = None,
    since_intake_s: Callable[[], float] = lambda: float("inf"),
) -> tuple[PreviewWorker, FakeIngestUnitOfWork, _Store]:
    uow, store = FakeIngestUnitOfWork(), _Store()
    rendition_key = "documents/d/rendition.pdf" if rendition is not None else None
    uow.documents.add(
        DocumentRow(
            document_id="d",
            bucket="inbox",
            object_key="documents/d/original",
            content_type=content_type,
            rendition_key=rendition_key,
            pages=2,
            version=1,
        )
    )
    store.objects[("inbox", "documents/d/original")] = data
    if rendition_key and rendition is not None:
        store.objects[("inbox", rendition_key)] = rendition
    uow.previews.queue("d", 1)
    worker = PreviewWorker(Settings(), lambda: uow, cast(ObjectStore, store), since_intake_s)
    return worker, uow, store


def test_the_worker_stores_each_pages_images_beside_the_original_and_marks_the_job_done() -> None:
    worker, uow, store = _worker_with("application/pdf", corpus_file("ocr__tagged.pdf").read_bytes())
    assert worker.next_job(uow) == "d"
    worker.process(uow, "d")
    job = uow.previews.get("d")
    assert (job.state, job.pages, job.rendered) == ("done", 2, 2) and job.render_ms and job.render_ms > 0
    keys = {key for bucket, key in store.objects if key.startswith("documents/d/preview/")}
    assert keys == {f"documents/d/preview/page-000{n}-{size}.png" for n in (1, 2) for size in ("thumb", "large")}
    assert worker.next_job(uow) is None


def test_a_scan_is_previewed_from_its_rendition() -> None:
    rendition = corpus_file("sf__minimal-document.pdf").read_bytes()
    worker, uow, _ = _worker_with("image/png", b"not read: the rendition is", rendition)
    worker.process(uow, "d")
    assert uow.previews.get("d").state == "done" and uow.previews.get("d").rendered == 1


def test_without_a_pdf_to_draw_there_is_no_preview_and_a_hostile_pdf_fails() -> None:
    worker, uow, _ = _worker_with("image/png", b"an image without rendition")
    worker.process(uow, "d")
    assert uow.previews.get("d").state == "none"
    worker, uow, _ = _worker_with("application/pdf", nested_forms_pdf())
    worker.process(uow, "d")
    job = uow.previews.get("d")
    assert job.state == "failed" and job.rendered == 0 and "checker" in job.error


def test_previews_wait_while_files_are_taken_in_but_not_for_ever() -> None:
    assert not render_now(since_intake_s=0.2, since_render_s=1.0)  # an upload a moment ago: later
    assert render_now(since_intake_s=QUIET_S, since_render_s=0.0)  # intake quiet: at once
    assert render_now(since_intake_s=0.0, since_render_s=MAX_DEFER_S)  # a long import: one now and then


def test_the_worker_takes_no_job_while_an_upload_has_just_come_in() -> None:
    since_intake = [0.1]
    pdf = corpus_file("sf__minimal-document.pdf").read_bytes()
    worker, uow, _ = _worker_with("application/pdf", pdf, since_intake_s=lambda: since_intake[0])
    # Nothing rendered yet: the first waits no longer than MAX_DEFER_S since "never".
    assert worker.next_job(uow) == "d"
    worker.process(uow, "d")
    uow.previews.queue("d", 2)  # a new version to preview, and uploads keep coming
    assert worker.next_job(uow) is None
    since_intake[0] = QUIET_S
    assert worker.next_job(uow) == "d"
