"""Domain rules of the three services, without any infrastructure."""

from datetime import UTC, datetime

import pytest

from services.archive.domain import check_fixity
from services.ingest.domain import (
    LIFECYCLE_STATUSES,
    DocumentStatus,
    FileKind,
    Rejection,
    RejectionReason,
    clean_filename,
    furthest_status,
    passed_by,
    rendition_filename,
    sniff,
)
from services.workflow.domain import Approver, Decision, DecisionRefused, check_decision, check_may_decide


def test_submitter_may_never_decide_even_with_the_approver_role() -> None:
    with pytest.raises(DecisionRefused) as refused:
        check_may_decide(Approver("clara", frozenset({"clerk", "approver"})), "approver", submitted_by="clara")
    assert refused.value.code == "four_eyes"


def test_other_approver_may_decide_and_others_may_not() -> None:
    check_may_decide(Approver("anton", frozenset({"approver"})), "approver", submitted_by="clara")
    with pytest.raises(DecisionRefused) as refused:
        check_may_decide(Approver("rita", frozenset({"records_officer"})), "approver", submitted_by="clara")
    assert refused.value.code == "forbidden"


def test_rejection_needs_a_reason() -> None:
    with pytest.raises(DecisionRefused):
        check_decision(Decision.REJECT, "  ")
    check_decision(Decision.REJECT, "Betrag falsch")
    check_decision(Decision.APPROVE, "")


def test_status_is_the_furthest_step_whatever_order_events_arrived_in() -> None:
    arrived = [DocumentStatus.RECEIVED, DocumentStatus.ARCHIVED, DocumentStatus.IN_REVIEW, DocumentStatus.APPROVED]
    assert furthest_status(arrived) is DocumentStatus.ARCHIVED
    assert furthest_status([DocumentStatus.RECEIVED, DocumentStatus.IN_REVIEW]) is DocumentStatus.IN_REVIEW
    assert furthest_status([]) is DocumentStatus.RECEIVED


@pytest.mark.parametrize("reported", list(DocumentStatus))
def test_a_report_moves_exactly_the_statuses_it_passes_on_to_the_furthest(reported: DocumentStatus) -> None:
    """`passed_by` (the search's one-statement update) says what `furthest_status` says, for every pair."""
    for current in LIFECYCLE_STATUSES:
        moved = current in passed_by(reported)
        assert furthest_status([current, reported]) is (reported if moved else current)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.7\n...", FileKind.PDF),
        (b"   junk before %PDF-1.4", FileKind.PDF),
        (b"\x89PNG\r\n\x1a\n....", FileKind.PNG),
        (b"\xff\xd8\xff\xe0....", FileKind.JPEG),
        (b"II*\x00....", FileKind.TIFF),
        (b"MM\x00*....", FileKind.TIFF),
        (b"", RejectionReason.EMPTY),
        (b"potato salad", RejectionReason.NOT_A_PDF),
        (b"PK\x03\x04 a .docx renamed to .pdf", RejectionReason.UNSUPPORTED_TYPE),
        (b"GIF89a....", RejectionReason.UNSUPPORTED_TYPE),
        (b"MZ\x90\x00 an .exe named scan.pdf", RejectionReason.UNSUPPORTED_TYPE),
    ],
)
def test_type_is_sniffed_from_the_bytes(head: bytes, expected: FileKind | RejectionReason) -> None:
    verdict = sniff(head)
    assert (verdict.reason if isinstance(verdict, Rejection) else verdict) == expected


@pytest.mark.parametrize(
    ("given", "cleaned"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Scans\\brief.pdf", "brief.pdf"),
        ("bad\x00name\n.pdf", "badname.pdf"),
        ("", "unbenannt.pdf"),
        (None, "unbenannt.pdf"),
        ("x" * 400 + ".pdf", "x" * 255),
        ("Bescheid_Müller_Straße.pdf", "Bescheid_Müller_Straße.pdf"),
    ],
)
def test_file_names_are_cleaned(given: str | None, cleaned: str) -> None:
    assert clean_filename(given) == cleaned


@pytest.mark.parametrize(
    ("original", "offered"),
    [
        ("scan.tif", "scan.pdf"),
        ("Rechnung März.jpeg", "Rechnung März.pdf"),
        ("scan.2026.png", "scan.2026.pdf"),
        ("ohne_endung", "ohne_endung.pdf"),
        ("x" * 255, "x" * 251 + ".pdf"),
    ],
)
def test_an_image_is_offered_as_pdf_under_its_own_name(original: str, offered: str) -> None:
    assert rendition_filename(original) == offered


def test_fixity_check_names_the_mismatch() -> None:
    assert check_fixity("a" * 64, 10, "a" * 64, 10) is None
    failure = check_fixity("a" * 64, 10, "b" * 64, 10)
    assert failure is not None and "sha256 mismatch" in failure.reason
    failure = check_fixity("a" * 64, 10, "a" * 64, 11)
    assert failure is not None and "size mismatch" in failure.reason


def test_timestamps_come_back_from_sqlite_in_utc() -> None:
    from sqlalchemy import select

    from shared.db import OutboxMessage, make_engine, make_sessions

    sessions = make_sessions(make_engine("sqlite://"))
    stamp = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    with sessions() as session:
        session.add(OutboxMessage(topic="t", key=b"k", payload=b"{}", created_at=stamp))
        session.commit()
        assert session.scalar(select(OutboxMessage.created_at)) == stamp
