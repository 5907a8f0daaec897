"""The inspection verdicts on the real-world corpus, in-process (the HTTP run is in tests/integration)."""

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from services.ingest import inspection
from services.ingest.domain import FileKind, PdfFacts, Rejection, RejectionReason, sniff
from services.ingest.inspection import CheckerPool, check_pdf, image_to_pdf, inspect_pdf
from tests.conftest import CORPUS, corpus_manifest

ENTRIES = corpus_manifest()


def _inspect(path: Path, output: Path) -> PdfFacts | Rejection:
    kind = sniff(path.read_bytes()[:1024])
    if isinstance(kind, Rejection):
        return kind
    if kind is FileKind.PDF:
        return check_pdf(path, max_pages=2000, timeout_s=30)
    return image_to_pdf(path, output, max_pages=2000, timeout_s=30)


@pytest.mark.parametrize("row", ENTRIES, ids=[row["file"] for row in ENTRIES])
def test_corpus_verdict(row: dict[str, str], tmp_path: Path) -> None:
    verdict = _inspect(CORPUS / row["file"], tmp_path / "rendition.pdf")
    got = "accept" if isinstance(verdict, PdfFacts) else "reject"
    assert got == row["expected"], f"{row['file']}: {verdict} ({row['note']})"


def test_multipage_tiff_becomes_a_pdf_without_reencoding(tmp_path: Path) -> None:
    from PIL import Image

    pages = [Image.new("1", (200, 300), color=1) for _ in range(3)]
    tiff = tmp_path / "scan.tif"
    pages[0].save(tiff, save_all=True, append_images=pages[1:], compression="group4", dpi=(300, 300))
    verdict = image_to_pdf(tiff, tmp_path / "scan.pdf", max_pages=2000, timeout_s=30)
    assert verdict == PdfFacts(pages=3, has_text=False)
    # CCITT G4 data is copied into the PDF as is (img2pdf), not decoded and compressed again.
    assert b"/CCITTFaxDecode" in (tmp_path / "scan.pdf").read_bytes()


def test_broken_image_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes((CORPUS / "ocr__crom.png").read_bytes()[:60])
    verdict = image_to_pdf(broken, tmp_path / "out.pdf", max_pages=2000, timeout_s=30)
    assert isinstance(verdict, Rejection) and verdict.reason is RejectionReason.BAD_IMAGE


def test_encrypted_with_user_password_is_named_encrypted() -> None:
    verdict = check_pdf(CORPUS / "pypdf__r2-user-password.pdf", max_pages=2000, timeout_s=30)
    assert isinstance(verdict, Rejection) and verdict.reason is RejectionReason.ENCRYPTED


def test_page_limit_applies() -> None:
    verdict = check_pdf(CORPUS / "qpdf__minimal-signed-restrictions-removed.pdf", max_pages=1, timeout_s=30)
    assert isinstance(verdict, Rejection) and verdict.reason is RejectionReason.TOO_MANY_PAGES


def test_a_check_that_overruns_its_time_is_stopped_and_named() -> None:
    verdict = CheckerPool(size=1).run(_sleep, (30,), timeout_s=0.2)  # a parser stuck on a hostile file
    assert isinstance(verdict, Rejection) and verdict.reason is RejectionReason.TIMEOUT


def test_checkers_are_reused_and_replaced_after_a_timeout(tmp_path: Path) -> None:
    pool = CheckerPool(size=1)
    pdf = str(CORPUS / "sf__minimal-document.pdf")
    first = pool.run(inspect_pdf, (pdf, 2000), timeout_s=30)
    second = pool.run(inspect_pdf, (pdf, 2000), timeout_s=30)
    assert first == second and first["ok"]
    checker = pool._idle.get_nowait()
    assert checker.checked == 2  # both files went to the one warm checker
    pool._idle.put(checker)
    overrun = pool.run(_sleep, (30,), timeout_s=0.2)
    assert isinstance(overrun, Rejection) and overrun.reason is RejectionReason.TIMEOUT
    after = pool.run(inspect_pdf, (pdf, 2000), timeout_s=30)
    assert after["ok"]  # a new checker takes the next file
    assert pool._idle.get_nowait().checked == 1


def test_a_checker_that_dies_is_named_and_replaced() -> None:
    pool = CheckerPool(size=1)
    died = pool.run(_exit_hard, (), timeout_s=30)
    assert isinstance(died, Rejection) and died.reason is RejectionReason.UNREADABLE
    assert "died" in died.detail
    assert pool.run(inspect_pdf, (str(CORPUS / "sf__minimal-document.pdf"), 2000), timeout_s=30)["ok"]


def test_many_threads_share_a_small_pool() -> None:
    pool = CheckerPool(size=2)
    pdf = str(CORPUS / "sf__minimal-document.pdf")
    with ThreadPoolExecutor(8) as threads:
        verdicts = list(threads.map(lambda _: pool.run(inspect_pdf, (pdf, 2000), timeout_s=30), range(40)))
    assert all(isinstance(v, dict) and v["ok"] for v in verdicts)
    assert pool._running <= 2


def test_page_images_are_rendered_only_with_cpu_time_nothing_else_wants() -> None:
    """Under load the uploads' checks and the pipeline get the CPU; previews (background work) catch up after."""
    assert CheckerPool(size=1).run(_scheduling, (), timeout_s=30) == {"policy": os.SCHED_OTHER}
    assert inspection._preview_pool.run(_scheduling, (), timeout_s=30) == {"policy": os.SCHED_IDLE}


def test_a_background_render_is_limited_by_its_cpu_time_not_by_its_wait() -> None:
    """A render waiting for idle CPU is not cut off at its CPU budget; a runaway one still is (SIGXCPU)."""
    verdict = inspection._preview_pool.run(_spin, (1.5,), timeout_s=30, cpu_s=0.2)
    assert isinstance(verdict, Rejection) and verdict.reason is RejectionReason.UNREADABLE


def _scheduling() -> dict:
    return {"policy": os.sched_getscheduler(0)}


def _spin(seconds: float) -> dict:
    ends = time.process_time() + seconds
    while time.process_time() < ends:
        pass
    return {"ok": True}


def _exit_hard() -> dict:
    os._exit(3)


def _sleep(seconds: float) -> dict:
    time.sleep(seconds)
    return {"ok": True, "pages": 1}
