"""The PDF verdicts on the real-world corpus (PDF entries; images come with the ingest issue)."""

import pytest

from services.ingest.domain import PdfFacts, Rejection, RejectionReason, sniff
from services.ingest.pdf_check import check_pdf
from tests.conftest import CORPUS, corpus_manifest

PDF_ENTRIES = [row for row in corpus_manifest() if not row["kind"].startswith("image")]


@pytest.mark.parametrize("row", PDF_ENTRIES, ids=[row["file"] for row in PDF_ENTRIES])
def test_corpus_verdict(row: dict[str, str]) -> None:
    path = CORPUS / row["file"]
    verdict = sniff(path.read_bytes()[:1024]) or check_pdf(path, max_pages=2000, timeout_s=30)
    got = "accept" if isinstance(verdict, PdfFacts) else "reject"
    assert got == row["expected"], f"{row['file']}: {verdict} ({row['note']})"


def test_encrypted_with_user_password_is_named_encrypted() -> None:
    verdict = check_pdf(CORPUS / "pypdf__r2-user-password.pdf", max_pages=2000, timeout_s=30)
    assert isinstance(verdict, Rejection) and verdict.reason is RejectionReason.ENCRYPTED


def test_page_limit_applies() -> None:
    verdict = check_pdf(CORPUS / "qpdf__minimal-signed-restrictions-removed.pdf", max_pages=1, timeout_s=30)
    assert isinstance(verdict, Rejection) and verdict.reason is RejectionReason.TOO_MANY_PAGES


def test_a_check_that_overruns_its_time_is_stopped_and_named() -> None:
    verdict = check_pdf(CORPUS / "ocr__multipage.pdf", max_pages=2000, timeout_s=0.0001)
    assert isinstance(verdict, Rejection) and verdict.reason is RejectionReason.TIMEOUT
