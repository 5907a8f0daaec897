"""Backlog import, the parts without a network: the mapping, reading the index, checking a row, the journal.

A scanning provider delivers a folder of scans and an index (CSV) naming each file and where it belongs. The
mapping (YAML) says which column is which field, and how the CSV is written. The rules of what a valid
Aktenzeichen or date is are the ingest domain's (services.ingest), used here to refuse a bad row early.
"""

import csv
import io
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

import yaml

from services.ingest.domain import RECEIVED_DATE_FORMATS, received_date
from services.ingest.fileplan import parse_aktenzeichen

# The fields an index row may carry; a plain header naming them needs no mapping.
FIELDS = (
    "file",
    "aktenzeichen",
    "file_plan_class",
    "akte_title",
    "vorgang",
    "vorgang_id",
    "title",
    "document_type",
    "sender",
    "received_on",
    "workflow",
)
OUTCOMES = ("filed", "duplicate", "quarantined", "failed")
BAR_WIDTH = 30
REPORT_COLUMNS = ("row", "file", "outcome", "document_id", "aktenzeichen", "quarantine_id", "reason")


class MappingError(ValueError):
    pass


@dataclass(frozen=True)
class Mapping:
    """Which column holds which field, and the CSV's dialect. `delimiter` "auto" guesses from the header."""

    columns: dict[str, str] = field(default_factory=lambda: {name: name for name in FIELDS})
    delimiter: str = "auto"
    encoding: str = "utf-8"
    date_formats: tuple[str, ...] = RECEIVED_DATE_FORMATS


def parse_mapping(document: object, source: str = "mapping") -> Mapping:
    """A mapping from its YAML document; says exactly what is wrong."""
    if document is None:
        return Mapping()
    if not isinstance(document, dict):
        raise MappingError(f"{source}: expected a mapping with `columns`, `delimiter`, `encoding`, `date_format`")
    unknown = sorted(set(document) - {"columns", "delimiter", "encoding", "date_format"})
    if unknown:
        raise MappingError(f"{source}: unknown keys {unknown}")
    columns = document.get("columns") or {}
    if not isinstance(columns, dict) or not all(isinstance(v, str | int) for v in columns.values()):
        raise MappingError(f"{source}: `columns` maps field names to column names")
    bad = sorted(set(columns) - set(FIELDS))
    if bad:
        raise MappingError(f"{source}: unknown fields {bad}; known: {list(FIELDS)}")
    merged = {name: name for name in FIELDS} | {str(k): str(v) for k, v in columns.items()}
    delimiter = str(document.get("delimiter", "auto"))
    delimiter = {"\\t": "\t", "tab": "\t"}.get(delimiter, delimiter)
    if delimiter != "auto" and len(delimiter) != 1:
        raise MappingError(f"{source}: delimiter must be one character (or 'auto', 'tab')")
    encoding = str(document.get("encoding", "utf-8"))
    try:
        "".encode(encoding)
    except LookupError as exc:
        raise MappingError(f"{source}: unknown encoding {encoding!r}") from exc
    formats = document.get("date_format", list(RECEIVED_DATE_FORMATS))
    formats = [formats] if isinstance(formats, str) else formats
    if not isinstance(formats, list) or not formats or not all(isinstance(f, str) for f in formats):
        raise MappingError(f"{source}: date_format is a format like '%d.%m.%Y' or a list of them")
    return Mapping(merged, delimiter, encoding, tuple(formats))


def load_mapping(path: Path | None) -> Mapping:
    if path is None:
        return Mapping()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"cannot read the mapping {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise MappingError(f"mapping {path} is not valid YAML: {exc}") from exc
    return parse_mapping(document, str(path))


# --- reading the index ------------------------------------------------------------------------------------
def open_index(path: Path, mapping: Mapping) -> TextIO:
    """The index as text; a UTF-8 byte order mark is dropped whatever the encoding says."""
    raw = path.open("rb")
    bom = raw.read(3)
    encoding = mapping.encoding
    if bom == b"\xef\xbb\xbf":
        encoding = "utf-8"
    else:
        raw.seek(0)
    return io.TextIOWrapper(raw, encoding=encoding, newline="")


def _dialect_delimiter(header: str, mapping: Mapping) -> str:
    if mapping.delimiter != "auto":
        return mapping.delimiter
    counts = {candidate: header.count(candidate) for candidate in (";", ",", "\t", "|")}
    best = max(counts, key=lambda c: counts[c])
    return best if counts[best] else ","


def read_index(text: TextIO, mapping: Mapping) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, fields) for each data row, streamed; row 1 is the first row after the header.

    Raises MappingError when the header lacks the column of the file, or a mapped column is missing.
    """
    header_line = text.readline()
    delimiter = _dialect_delimiter(header_line, mapping)
    header = next(csv.reader([header_line], delimiter=delimiter), [])
    header = [name.strip() for name in header]
    column_of = {name: header.index(column) for name, column in mapping.columns.items() if column in header}
    if "file" not in column_of:
        raise MappingError(f"the index has no column {mapping.columns['file']!r} for the file; columns: {header}")
    explicit = {name for name, column in mapping.columns.items() if column != name}
    missing = sorted(mapping.columns[name] for name in explicit if name not in column_of)
    if missing:
        raise MappingError(f"the index has no columns {missing} named in the mapping; columns: {header}")
    for number, cells in enumerate(csv.reader(text, delimiter=delimiter), start=1):
        if not any(cell.strip() for cell in cells):
            continue
        yield number, {name: cells[i].strip() if i < len(cells) else "" for name, i in column_of.items()}


def count_rows(path: Path, mapping: Mapping) -> int:
    with open_index(path, mapping) as text:
        return sum(1 for _ in read_index(text, mapping))


# --- checking a row -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Planned:
    """A row that may be sent: its file inside the delivery, and the upload's form fields."""

    row: int
    file: str
    path: Path
    form: dict[str, str]


@dataclass(frozen=True)
class Outcome:
    row: int
    file: str
    outcome: str
    document_id: str = ""
    aktenzeichen: str = ""
    quarantine_id: str = ""
    reason: str = ""


def plan_row(row: int, fields: dict[str, str], delivery: Path, mapping: Mapping, workflow: str) -> Planned | Outcome:
    """The upload for a row, or the row's failure (missing or unreadable file, a path leaving the delivery,
    a bad date or Aktenzeichen, both or neither way of naming an Akte)."""
    name = fields.get("file", "")
    problem = _file_problem(name, delivery)
    if problem:
        return Outcome(row, name, "failed", reason=problem)
    try:
        form = _form(fields, mapping, workflow)
    except ValueError as exc:
        return Outcome(row, name, "failed", reason=str(exc))
    return Planned(row, name, (delivery / name).resolve(), form)


def _file_problem(name: str, delivery: Path) -> str:
    if not name:
        return "missing_file: the row names no file"
    path = (delivery / name).resolve()
    if Path(name).is_absolute() or not path.is_relative_to(delivery.resolve()):
        return f"outside_delivery: {name!r} is not inside the delivery folder"
    if not path.exists():
        return f"missing_file: {name!r} does not exist"
    if not path.is_file():
        return f"not_a_file: {name!r} is not a regular file"
    if not os.access(path, os.R_OK):
        return f"unreadable_file: {name!r} cannot be read"
    return ""


def _form(fields: dict[str, str], mapping: Mapping, workflow: str) -> dict[str, str]:
    aktenzeichen, plan_class = fields.get("aktenzeichen", ""), fields.get("file_plan_class", "")
    if aktenzeichen and plan_class:
        raise ValueError("ambiguous_akte: give either the Aktenzeichen or the file plan class, not both")
    if aktenzeichen and parse_aktenzeichen(aktenzeichen) is None:
        raise ValueError(f"invalid_aktenzeichen: {aktenzeichen!r} is not an Aktenzeichen like 50.10-2019/0042")
    received = fields.get("received_on", "")
    if received:
        try:
            received = received_date(received, mapping.date_formats).isoformat()
        except ValueError as exc:
            raise ValueError(f"invalid_date: {exc}") from exc
    form = {
        "title": fields.get("title", ""),
        "document_type": fields.get("document_type", ""),
        "sender": fields.get("sender", ""),
        "aktenzeichen": aktenzeichen,
        "file_plan_class": plan_class,
        "akte_title": fields.get("akte_title", ""),
        "vorgang_title": fields.get("vorgang", ""),
        "vorgang_id": fields.get("vorgang_id", ""),
        "received_on": received,
        "workflow": fields.get("workflow", "") or workflow,
        "source": "import",
        "find_or_open_akte": "true" if aktenzeichen or plan_class else "",
    }
    return {name: value for name, value in form.items() if value}


# --- the journal (the report itself) ---------------------------------------------------------------------
class Journal:
    """The report CSV, written a row at a time as rows finish: re-running the import skips the rows in it.

    A line cut short by a kill is dropped when the journal is opened again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: set[int] = set()
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self._out: IO[str] | None = None

    def open(self) -> "Journal":
        if self.path.exists():
            self._trim_and_load()
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._out = self.path.open("a", encoding="utf-8", newline="")
        if new:
            self._write(REPORT_COLUMNS)
        return self

    def _trim_and_load(self) -> None:
        with self.path.open("rb+") as raw:
            data = raw.read()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                raw.truncate(end)
        with self.path.open(encoding="utf-8", newline="") as text:
            for record in csv.DictReader(text):
                row, outcome = record.get("row") or "", record.get("outcome") or ""
                if row.isdigit() and outcome in OUTCOMES and int(row) not in self.done:
                    self.done.add(int(row))
                    self.counts[outcome] += 1

    def record(self, outcome: Outcome) -> None:
        self.done.add(outcome.row)
        self.counts[outcome.outcome] += 1
        self._write(
            (
                str(outcome.row),
                outcome.file,
                outcome.outcome,
                outcome.document_id,
                outcome.aktenzeichen,
                outcome.quarantine_id,
                outcome.reason,
            )
        )

    def _write(self, cells: tuple[str, ...]) -> None:
        assert self._out is not None
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(cells)
        self._out.write(buffer.getvalue())  # one write per line: a kill cuts at most the last one
        self._out.flush()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


# --- the progress bar -----------------------------------------------------------------------------------
class Progress:
    """Count, rate and ETA on stderr: one line that updates on a terminal, a plain line now and then otherwise."""

    def __init__(self, total: int, already: int, stream: TextIO = sys.stderr, every_s: float = 10.0) -> None:
        self.total, self.already, self.done = total, already, 0
        self._stream = stream
        self._tty = stream.isatty()
        self._every = 0.2 if self._tty else every_s
        self._start = self._last = time.monotonic()

    def step(self, force: bool = False) -> None:
        self.done += 1
        now = time.monotonic()
        if force or now - self._last >= self._every or self.already + self.done >= self.total:
            self._last = now
            self.show(now)

    def line(self, now: float) -> str:
        finished = self.already + self.done
        elapsed = max(now - self._start, 1e-6)
        rate = self.done / elapsed
        left = max(self.total - finished, 0)
        eta = _clock(left / rate) if rate > 0 else "--:--:--"
        share = 100.0 * finished / self.total if self.total else 100.0
        text = f"{finished}/{self.total} rows ({share:.1f}%)  {rate:.1f} files/s  ETA {eta}"
        if not self._tty:
            return f"import: {text}"
        filled = int(BAR_WIDTH * share / 100)
        return f"import [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {text}"

    def show(self, now: float | None = None) -> None:
        text = self.line(time.monotonic() if now is None else now)
        if self._tty:
            self._stream.write(f"\r{text}\x1b[K")
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._tty:
            self.show()
            self._stream.write("\n")
            self._stream.flush()


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
