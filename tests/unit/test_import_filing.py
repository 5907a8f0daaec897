"""Backlog import on the ingest side: finding or opening the Akte and Vorgang a row names, on fakes."""

from datetime import date
from pathlib import Path

import pytest

from services.ingest.domain import received_date
from services.ingest.fileplan import parse_aktenzeichen
from services.ingest.filing import FilingRefused
from services.ingest.tables import AkteRow
from services.ingest.uploads import Accepted
from tests.unit.test_ingest_service_layer import Harness, _text_pdf


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def _filed(harness: Harness, words: str, **upload: str | bool) -> Accepted:
    outcome = harness.ingest(_text_pdf(words), source="import", find_or_open_akte=True, **upload)  # type: ignore[arg-type]
    assert isinstance(outcome, Accepted), outcome
    return outcome


def test_an_old_aktenzeichen_is_opened_once_and_its_vorgaenge_are_found_by_title(harness: Harness) -> None:
    first = _filed(harness, "a", aktenzeichen="50.10-2019/0042", vorgang_title="Antrag")
    second = _filed(harness, "b", aktenzeichen="50.10-2019/0042", vorgang_title="Antrag", new_akte_title="Müller")
    third = _filed(harness, "c", aktenzeichen="50.10-2019/0042", vorgang_title="Widerspruch")
    assert first.aktenzeichen == second.aktenzeichen == third.aktenzeichen == "50.10-2019/0042"
    akte = harness.uow.filing.akte("50.10-2019/0042")
    assert akte is not None and (akte.year, akte.seq, akte.title) == (2019, 42, "Müller")  # titled by a later row
    vorgaenge = harness.uow.filing.vorgaenge_of("50.10-2019/0042")
    assert sorted(v.title for v in vorgaenge) == ["Antrag", "Widerspruch"]
    documents = harness.uow.documents.in_akte("50.10-2019/0042")
    assert {d.source for d in documents} == {"import"}


def test_a_class_and_title_file_into_one_akte(harness: Harness) -> None:
    first = _filed(harness, "a", new_akte_class="50.10", new_akte_title="Bauakte Hauptstr. 5")
    second = _filed(harness, "b", new_akte_class="50.10", new_akte_title="Bauakte Hauptstr. 5")
    other = _filed(harness, "c", new_akte_class="50.10", new_akte_title="Bauakte Ring 1")
    assert first.aktenzeichen == second.aktenzeichen != other.aktenzeichen
    # Without the import's flag, a class still opens a new Akte per upload (unchanged behaviour).
    plain = harness.ingest(_text_pdf("d"), new_akte_class="50.10", new_akte_title="Bauakte Hauptstr. 5")
    assert isinstance(plain, Accepted) and plain.aktenzeichen not in (first.aktenzeichen, other.aktenzeichen)


def test_the_date_received_travels_in_the_event(harness: Harness) -> None:
    _filed(harness, "a", aktenzeichen="50.10-2019/0001", received_on="2019-02-03")
    [event] = harness.uow.events
    assert event.metadata.received_on == "2019-02-03" and event.metadata.source == "import"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("aktenzeichen", "reason"),
    [("50.10/42", "invalid_aktenzeichen"), ("50.10-2019/42", "invalid_aktenzeichen"), ("77.77-2019/0001", "unknown")],
)
def test_a_bad_or_foreign_aktenzeichen_is_refused_before_any_bytes(
    harness: Harness, aktenzeichen: str, reason: str
) -> None:
    with pytest.raises(FilingRefused) as refused:
        harness.filing.check_request(harness.uow, aktenzeichen, "", open_missing=True)
    assert refused.value.reason.startswith(reason)
    # Without the import's flag an unknown Aktenzeichen is refused as before.
    with pytest.raises(FilingRefused, match="unknown_aktenzeichen"):
        harness.filing.check_request(harness.uow, "50.10-2019/0001", "")


def test_aktenzeichen_parts_and_dates_received() -> None:
    parts = parse_aktenzeichen("50.10-2019/0042")
    assert parts is not None and (parts.class_number, parts.year, parts.seq) == ("50.10", 2019, 42)
    assert parse_aktenzeichen("50.10-2019/42") is None  # not as the system writes it: would name another Akte
    assert received_date("03.02.2019") == received_date("2019-02-03") == date(2019, 2, 3)
    for bad in ("31.02.2019", "2019-13-01", "gestern", "01.01.1700", "01.01.2999"):
        with pytest.raises(ValueError, match="date received"):
            received_date(bad)


def test_an_akte_another_replica_opened_meanwhile_is_used(harness: Harness) -> None:
    filing = harness.uow.filing
    real_add = filing.add_akte

    def raced(row: AkteRow) -> bool:  # another replica inserted the same Aktenzeichen first
        other = AkteRow(**{c: getattr(row, c) for c in ("aktenzeichen", "file_plan_class", "year", "seq")})
        other.title, other.created_by, other.created_at = "Erste", "ingest-2", row.created_at
        real_add(other)
        return False

    filing.add_akte = raced  # type: ignore[method-assign]
    view = harness.filing.find_or_open(harness.uow, "50.10-2019/0007", "", "Zweite", "eakte-import")
    assert (view.aktenzeichen, view.title) == ("50.10-2019/0007", "Erste")
