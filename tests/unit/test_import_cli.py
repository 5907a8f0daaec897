"""`eakte import` without a stack: the mapping, CSV dialects, row checks, the journal and resuming, on fakes."""

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from eakte_cli.backlog import (
    FIELDS,
    Journal,
    MappingError,
    Outcome,
    Planned,
    Progress,
    count_rows,
    load_mapping,
    open_index,
    parse_mapping,
    plan_row,
    read_index,
)
from eakte_cli.importer import ServiceUnavailable, default_report, outcome_of, run_import

GERMAN = {
    "columns": {"file": "Datei", "aktenzeichen": "AZ", "title": "Betreff", "received_on": "Eingang"},
    "delimiter": ";",
    "encoding": "cp1252",
    "date_format": "%d.%m.%Y",
}


def _rows(path: Path, mapping: object = None) -> list[tuple[int, dict[str, str]]]:
    parsed = parse_mapping(mapping)
    with open_index(path, parsed) as text:
        return list(read_index(text, parsed))


# --- mapping and dialects ------------------------------------------------------------------------------
def test_a_plain_header_needs_no_mapping_and_the_delimiter_is_guessed(tmp_path: Path) -> None:
    index = tmp_path / "index.csv"
    index.write_text('file;title;aktenzeichen\na.pdf;Brief; 50.10-2019/0001 \n;;\nb.pdf;"Zwei; Teile";\n')
    assert _rows(index) == [
        (1, {"file": "a.pdf", "title": "Brief", "aktenzeichen": "50.10-2019/0001"}),
        (3, {"file": "b.pdf", "title": "Zwei; Teile", "aktenzeichen": ""}),
    ]
    assert parse_mapping(None).columns == {name: name for name in FIELDS}


def test_a_windows_1252_index_with_german_headers(tmp_path: Path) -> None:
    index = tmp_path / "index.csv"
    index.write_bytes(
        "Datei;AZ;Betreff;Eingang\nä.pdf;50.10-2019/0001;Widerspruch Müller;03.02.2019\n".encode("cp1252")
    )
    [(row, fields)] = _rows(index, GERMAN)
    assert row == 1 and fields["file"] == "ä.pdf" and fields["title"] == "Widerspruch Müller"
    assert fields["received_on"] == "03.02.2019"


def test_a_byte_order_mark_is_dropped_whatever_the_encoding(tmp_path: Path) -> None:
    index = tmp_path / "index.csv"
    index.write_bytes("\ufeffDatei;AZ;Betreff;Eingang\nü.pdf;;Grüße;\n".encode())
    [(_row, fields)] = _rows(index, GERMAN)  # says cp1252, but the BOM says UTF-8
    assert fields["file"] == "ü.pdf" and fields["title"] == "Grüße"


def test_a_missing_mapped_column_is_named(tmp_path: Path) -> None:
    index = tmp_path / "index.csv"
    index.write_text("Datei;Betreff\na.pdf;x\n")
    with pytest.raises(MappingError, match=r"\['AZ', 'Eingang'\]"):
        _rows(index, GERMAN)
    index.write_text("name,title\na.pdf,x\n")
    with pytest.raises(MappingError, match="no column 'file'"):
        _rows(index)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"columns": {"datei": "Datei"}}, "unknown fields"),
        ({"delimiter": ";;"}, "one character"),
        ({"encoding": "klingon"}, "unknown encoding"),
        ({"colums": {}}, "unknown keys"),
        ({"date_format": 5}, "date_format"),
        (["file"], "expected a mapping"),
    ],
)
def test_mapping_errors_say_what_is_wrong(document: object, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        parse_mapping(document)


def test_a_mapping_file_with_tab_and_a_list_of_date_formats(tmp_path: Path) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text('delimiter: tab\ndate_format: ["%d.%m.%Y", "%Y%m%d"]\n')
    mapping = load_mapping(path)
    assert mapping.delimiter == "\t" and mapping.date_formats == ("%d.%m.%Y", "%Y%m%d")
    path.write_text("columns: [")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(path)


# --- checking a row --------------------------------------------------------------------------------------
@pytest.fixture
def delivery(tmp_path: Path) -> Path:
    folder = tmp_path / "delivery"
    (folder / "box").mkdir(parents=True)
    (folder / "box" / "a.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "secret.pdf").write_bytes(b"%PDF-1.4")
    (folder / "link.pdf").symlink_to(tmp_path / "secret.pdf")
    return folder


def _plan(delivery: Path, default_workflow: str = "none", **fields: str) -> Planned | Outcome:
    return plan_row(7, {"file": "box/a.pdf"} | fields, delivery, parse_mapping(GERMAN), default_workflow)


@pytest.mark.parametrize(
    ("file", "reason"),
    [
        ("", "missing_file"),
        ("box/b.pdf", "missing_file"),
        ("../secret.pdf", "outside_delivery"),
        ("box/../../secret.pdf", "outside_delivery"),
        ("link.pdf", "outside_delivery"),
        ("/etc/passwd", "outside_delivery"),
        ("box", "not_a_file"),
    ],
)
def test_a_bad_file_fails_its_row_with_the_reason(delivery: Path, file: str, reason: str) -> None:
    outcome = _plan(delivery, file=file)
    assert isinstance(outcome, Outcome) and outcome.outcome == "failed" and outcome.row == 7
    assert outcome.reason.startswith(reason)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"received_on": "31.02.2019"}, "invalid_date"),
        ({"received_on": "2019-02-03"}, "invalid_date"),  # this mapping says TT.MM.JJJJ
        ({"aktenzeichen": "50.10/42"}, "invalid_aktenzeichen"),
        ({"aktenzeichen": "50.10-2019/0001", "file_plan_class": "50.10"}, "ambiguous_akte"),
    ],
)
def test_bad_metadata_fails_its_row(delivery: Path, fields: dict[str, str], reason: str) -> None:
    outcome = _plan(delivery, **fields)
    assert isinstance(outcome, Outcome) and outcome.reason.startswith(reason)


def test_a_good_row_becomes_an_import_upload(delivery: Path) -> None:
    planned = _plan(delivery, aktenzeichen="50.10-2019/0001", vorgang="Antrag", received_on="03.02.2019", title="T")
    assert isinstance(planned, Planned) and planned.path == (delivery / "box" / "a.pdf").resolve()
    assert planned.form == {
        "title": "T",
        "aktenzeichen": "50.10-2019/0001",
        "vorgang_title": "Antrag",
        "received_on": "2019-02-03",
        "workflow": "none",
        "source": "import",
        "find_or_open_akte": "true",
    }
    own = _plan(delivery, default_workflow="none", workflow="standard")
    assert isinstance(own, Planned) and own.form["workflow"] == "standard" and "find_or_open_akte" not in own.form


# --- answers, journal, resuming ----------------------------------------------------------------------------
def test_each_answer_of_the_upload_becomes_a_report_row() -> None:
    planned = Planned(3, "a.pdf", Path("a.pdf"), {})
    filed = outcome_of(planned, 201, {"document_id": "d1", "aktenzeichen": "50.10-2019/0001"})
    assert (filed.outcome, filed.document_id, filed.aktenzeichen) == ("filed", "d1", "50.10-2019/0001")
    double = outcome_of(planned, 409, {"error": "duplicate", "document_id": "d0"})
    assert (double.outcome, double.document_id, double.reason) == ("duplicate", "d0", "duplicate of d0")
    body = {"error": "document_rejected", "reason": "encrypted", "detail": "a password", "quarantine_id": "q1"}
    held = outcome_of(planned, 422, body)
    assert (held.outcome, held.quarantine_id, held.reason) == ("quarantined", "q1", "encrypted: a password")
    refused = outcome_of(planned, 422, {"error": "invalid_request", "reason": "unknown_workflow", "message": "x"})
    assert (refused.outcome, refused.reason) == ("failed", "unknown_workflow: x")


def test_the_journal_survives_a_line_cut_by_a_kill(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    journal = Journal(path).open()
    journal.record(Outcome(1, "a.pdf", "filed", "d1"))
    journal.record(Outcome(2, "b, c.pdf", "failed", reason='missing_file: "b"'))
    journal.close()
    with path.open("a") as handle:
        handle.write("3,c.pdf,fil")  # the kill came in the middle of a line
    reopened = Journal(path).open()
    assert reopened.done == {1, 2} and reopened.counts == {"filed": 1, "duplicate": 0, "quarantined": 0, "failed": 1}
    reopened.record(Outcome(3, "c.pdf", "filed", "d3"))
    reopened.close()
    lines = path.read_text().splitlines()
    assert lines[0] == "row,file,outcome,document_id,aktenzeichen,quarantine_id,reason"
    assert lines[1:] == ["1,a.pdf,filed,d1,,,", '2,"b, c.pdf",failed,,,,"missing_file: ""b"""', "3,c.pdf,filed,d3,,,"]
    assert default_report(Path("/x/index.csv")) == Path("/x/index.report.csv")


class FakeService:
    """Files each new file once; the same file again is a duplicate (the content-hash rule)."""

    def __init__(self, fail_at: int = 0) -> None:
        self.filed: dict[str, str] = {}
        self.sent: list[int] = []
        self.fail_at = fail_at

    def send(self, planned: Planned) -> Outcome:
        self.sent.append(planned.row)
        if planned.row == self.fail_at:
            raise ServiceUnavailable("away")
        if planned.file in self.filed:
            return Outcome(planned.row, planned.file, "duplicate", self.filed[planned.file])
        self.filed[planned.file] = f"doc-{planned.row}"
        return Outcome(planned.row, planned.file, "filed", self.filed[planned.file])


def _planned(rows: range, journal: Journal, stop_after: int = 0) -> Iterator[Planned | Outcome]:
    for row in rows:
        if stop_after and row > stop_after:
            raise KeyboardInterrupt
        if row not in journal.done:
            yield Planned(row, f"f{row}.pdf", Path(f"f{row}.pdf"), {}) if row != 5 else Outcome(row, "x", "failed")


def _progress() -> Progress:
    return Progress(20, 0, io.StringIO())


def test_an_interrupted_import_resumes_where_it_stopped_without_doubles(tmp_path: Path) -> None:
    service, path = FakeService(), tmp_path / "report.csv"
    journal = Journal(path).open()
    with pytest.raises(KeyboardInterrupt):
        run_import(_planned(range(1, 21), journal, stop_after=8), service.send, journal, _progress(), 3)
    journal.close()
    assert Journal(path).open().done == set(range(1, 9))  # what was in flight was finished and journaled

    journal = Journal(path).open()
    run_import(_planned(range(1, 21), journal), service.send, journal, _progress(), 3)
    journal.close()
    assert sorted(service.sent) == [r for r in range(1, 21) if r != 5]  # each row sent once
    assert Journal(path).open().counts == {"filed": 19, "duplicate": 0, "quarantined": 0, "failed": 1}


def test_a_service_that_stays_away_stops_the_import_and_the_row_is_sent_again(tmp_path: Path) -> None:
    service, path = FakeService(fail_at=4), tmp_path / "report.csv"
    journal = Journal(path).open()
    with pytest.raises(ServiceUnavailable):
        run_import(_planned(range(1, 11), journal), service.send, journal, _progress(), 1)
    journal.close()
    assert Journal(path).open().done == {1, 2, 3}
    service.fail_at = 0
    journal = Journal(path).open()
    run_import(_planned(range(1, 11), journal), service.send, journal, _progress(), 1)
    journal.close()
    assert Journal(path).open().done == set(range(1, 11)) and service.sent.count(4) == 2


def test_the_progress_line_has_count_rate_and_eta() -> None:
    stream = io.StringIO()
    progress = Progress(100, 40, stream, every_s=0.0)
    progress._start -= 10.0  # ten seconds ago
    for _ in range(20):
        progress.step()
    line = stream.getvalue().splitlines()[-1]
    assert line.startswith("import: 60/100 rows (60.0%)") and "2.0 files/s" in line and "ETA 0:00:20" in line
    assert "\r" not in stream.getvalue()  # not a terminal: plain lines


def test_count_rows_streams_the_index(tmp_path: Path) -> None:
    index = tmp_path / "index.csv"
    index.write_text("file\n" + "".join(f"f{n}.pdf\n" for n in range(1000)))
    assert count_rows(index, parse_mapping(None)) == 1000


def test_the_shipped_example_mapping_loads() -> None:
    mapping = load_mapping(Path(__file__).resolve().parents[2] / "config" / "import_mapping.example.yaml")
    assert mapping.delimiter == ";" and mapping.encoding == "cp1252" and mapping.columns["file"] == "Dateiname"
    assert set(mapping.columns) == set(FIELDS)
