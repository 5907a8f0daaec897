"""An in-memory ingest unit of work: the repositories of `services.ingest.repositories` over dicts and lists.

Rows are the ORM classes, used as plain objects (never attached to a session).
"""

from collections.abc import Sequence
from datetime import datetime

from services.ingest.domain import DocumentStatus, StoredCopy
from services.ingest.tables import (
    AkteRow,
    DocumentRow,
    FitConnectSubmissionRow,
    IntakeItemRow,
    OcrJobRow,
    PreviewJobRow,
    QuarantineRow,
    StatusRow,
    VorgangRow,
)
from tests.unit.fakes import FakeUnitOfWork


class FakeDocuments:
    def __init__(self) -> None:
        self.rows: dict[str, DocumentRow] = {}

    def get(self, document_id: str) -> DocumentRow | None:
        return self.rows.get(document_id)

    get_without_history = get

    def existing(self, document_ids: list[str]) -> set[str]:
        return set(document_ids) & set(self.rows)

    def copies_of(self, sha256: str) -> list[StoredCopy]:
        return [StoredCopy(r.document_id, r.aktenzeichen) for r in self.rows.values() if r.sha256 == sha256]

    def add(self, row: DocumentRow) -> None:
        row.created_at = row.created_at or datetime.now().astimezone()
        self.rows[row.document_id] = row

    def replace(self, row: DocumentRow) -> None:
        row.history = list(self.rows[row.document_id].history)
        self.rows[row.document_id] = row

    def add_status(self, document_id: str, status: DocumentStatus, at: datetime, by: str) -> None:
        row = self.rows[document_id]
        row.history.append(StatusRow(document_id=document_id, status=status.value, at=at, by=by))

    def add_statuses(self, entries: Sequence[tuple[str, DocumentStatus, datetime, str]]) -> None:
        for document_id, status, at, by in entries:
            self.add_status(document_id, status, at, by)

    def statuses(self, document_id: str) -> list[str]:
        return [entry.status for entry in self.rows[document_id].history]

    def histories_of(self, submitted_by: str) -> Sequence[tuple[str, datetime, str | None, datetime | None]]:
        mine = [r for r in self.rows.values() if r.submitted_by == submitted_by]
        entries = [(r.document_id, r.created_at, h.status, h.at) for r in mine for h in r.history]
        return sorted(entries, key=lambda entry: entry[3] or entry[1])

    def by_ids(self, document_ids: list[str]) -> list[DocumentRow]:
        return [self.rows[i] for i in document_ids if i in self.rows]

    def in_akte(self, aktenzeichen: str) -> list[DocumentRow]:
        return [r for r in self.rows.values() if r.aktenzeichen == aktenzeichen]

    def count_in_vorgang(self, vorgang_id: str) -> int:
        return sum(1 for r in self.rows.values() if r.vorgang_id == vorgang_id)

    def remove(self, document_id: str) -> None:
        self.rows.pop(document_id, None)


class FakeFiling:
    def __init__(self) -> None:
        self.akten_rows: dict[str, AkteRow] = {}
        self.vorgaenge: dict[str, VorgangRow] = {}

    def akte(self, aktenzeichen: str) -> AkteRow | None:
        return self.akten_rows.get(aktenzeichen)

    def last_seq(self, file_plan_class: str, year: int) -> int:
        seqs = [a.seq for a in self.akten_rows.values() if a.file_plan_class == file_plan_class and a.year == year]
        return max(seqs, default=0)

    def add_akte(self, row: AkteRow) -> bool:
        if row.aktenzeichen in self.akten_rows:
            return False
        self.akten_rows[row.aktenzeichen] = row
        return True

    def akten(
        self, file_plan_class: str | None, limit: int, offset: int, org_units: frozenset[str] | None = None
    ) -> tuple[int, list[AkteRow]]:
        rows = sorted(
            (
                a
                for a in self.akten_rows.values()
                if (not file_plan_class or a.file_plan_class == file_plan_class)
                and (org_units is None or a.org_unit in org_units)
            ),
            key=lambda a: a.aktenzeichen,
        )
        return len(rows), rows[offset : offset + limit]

    def vorgang(self, vorgang_id: str) -> VorgangRow | None:
        return self.vorgaenge.get(vorgang_id)

    def vorgaenge_of(self, aktenzeichen: str) -> list[VorgangRow]:
        return [v for v in self.vorgaenge.values() if v.aktenzeichen == aktenzeichen]

    def akte_titled(self, file_plan_class: str, title: str) -> AkteRow | None:
        found = (a for a in self.akten_rows.values() if a.file_plan_class == file_plan_class and a.title == title)
        return next(found, None)

    def vorgang_titled(self, aktenzeichen: str, title: str) -> VorgangRow | None:
        return next((v for v in self.vorgaenge_of(aktenzeichen) if v.title == title), None)

    def add_vorgang(self, row: VorgangRow) -> None:
        self.vorgaenge[row.vorgang_id] = row

    def remove_vorgang(self, vorgang_id: str) -> None:
        self.vorgaenge.pop(vorgang_id, None)


class FakeQuarantine:
    def __init__(self) -> None:
        self.rows: dict[str, QuarantineRow] = {}

    def add(self, row: QuarantineRow) -> None:
        row.state = row.state or "held"
        self.rows[row.quarantine_id] = row

    def get(self, quarantine_id: str) -> QuarantineRow | None:
        return self.rows.get(quarantine_id)

    def page(self, state: str | None, limit: int, offset: int) -> tuple[int, list[QuarantineRow]]:
        rows = [r for r in self.rows.values() if not state or r.state == state]
        return len(rows), rows[offset : offset + limit]

    def mark_discarded(self, quarantine_id: str, admin: str, at: datetime) -> bool:
        row = self.rows.get(quarantine_id)
        if row is None or row.state != "held":
            return False
        row.state, row.discarded_by, row.discarded_at = "discarded", admin, at
        return True


class FakeOcrJobs:
    def __init__(self) -> None:
        self.rows: dict[str, OcrJobRow] = {}

    def add(self, row: OcrJobRow) -> None:
        self.rows[row.document_id] = row

    def get(self, document_id: str) -> OcrJobRow:
        return self.rows[document_id]

    def next_pending(self, owner: str | None = None) -> str | None:
        return next((r.document_id for r in self.rows.values() if r.state == "pending"), None)

    def remove(self, document_id: str) -> None:
        self.rows.pop(document_id, None)


class FakeIntakeItems:
    def __init__(self) -> None:
        self.rows: dict[str, IntakeItemRow] = {}

    def add_all(self, rows: list[IntakeItemRow]) -> None:
        self.rows |= {row.item_id: row for row in rows}

    def get(self, item_id: str) -> IntakeItemRow:
        return self.rows[item_id]

    def known(self, item_ids: list[str]) -> set[str]:
        return set(item_ids) & set(self.rows)

    def ids_in_state(self, state: str, limit: int, owner: str | None = None) -> list[str]:
        return [i for i, r in self.rows.items() if r.state == state and _owned(r, owner)][:limit]

    def not_in_state(self, state: str, owner: str | None = None) -> list[IntakeItemRow]:
        return [r for r in self.rows.values() if r.state != state and _owned(r, owner)]

    def counts(self, batch_id: str | None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows.values():
            if not batch_id or row.batch_id == batch_id:
                counts[row.state] = counts.get(row.state, 0) + 1
        return counts

    def batch(self, batch_id: str) -> list[IntakeItemRow]:
        return [r for r in self.rows.values() if r.batch_id == batch_id]

    def forget_document(self, document_id: str) -> None:
        for row in self.rows.values():
            if row.document_id == document_id:
                row.filename, row.upload, row.reason = "(vernichtet)", {}, "destroyed after its retention period"


class FakeIngestUnitOfWork(FakeUnitOfWork):
    """Like `IngestUnitOfWork`; the repositories keep their contents across `with` blocks (no rollback)."""

    def __init__(self) -> None:
        super().__init__()
        self.documents = FakeDocuments()
        self.filing = FakeFiling()
        self.quarantine = FakeQuarantine()
        self.ocr_jobs = FakeOcrJobs()
        self.intake_items = FakeIntakeItems()
        self.fitconnect = FakeFitConnectSubmissions()
        self.previews = FakePreviewJobs()

        self.search = FakeSearch()


def _owned(row: IntakeItemRow, owner: str | None) -> bool:
    return owner is None or row.owner in (None, owner)


class FakeFitConnectSubmissions:
    def __init__(self) -> None:
        self.rows: dict[str, FitConnectSubmissionRow] = {}

    def claim(self, row: FitConnectSubmissionRow) -> bool:
        if row.submission_id in self.rows:
            return False
        self.rows[row.submission_id] = row
        return True

    def get(self, submission_id: str) -> FitConnectSubmissionRow | None:
        return self.rows.get(submission_id)

    def in_states(self, *states: str) -> list[FitConnectSubmissionRow]:
        return [r for r in self.rows.values() if r.state in states]

    def forget_document(self, document_id: str) -> None:
        for row in self.rows.values():
            if row.form_document_id == document_id:
                row.form_data = None


class FakePreviewJobs:
    """Like `PreviewJobRepository`: one job row per document."""

    def __init__(self) -> None:
        self.rows: dict[str, PreviewJobRow] = {}

    def queue(self, document_id: str, version: int) -> None:
        self.rows[document_id] = PreviewJobRow(
            document_id=document_id, version=version, state="pending", pages=0, rendered=0, attempts=0, error=""
        )

    def find(self, document_id: str) -> PreviewJobRow | None:
        return self.rows.get(document_id)

    def get(self, document_id: str) -> PreviewJobRow:
        return self.rows[document_id]

    def next_pending(self, owner: str | None = None) -> str | None:
        return next((d for d, r in self.rows.items() if r.state == "pending"), None)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows.values():
            counts[row.state] = counts.get(row.state, 0) + 1
        return counts

    def remove(self, document_id: str) -> None:
        self.rows.pop(document_id, None)


class FakeSearch:
    """The search index's writes, as (what, document id, text) in order."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str, str | None]] = []

    def index(self, row: DocumentRow, body: str | None = None, *, new: bool = False) -> None:
        self.writes.append(("index", row.document_id, body))

    def status_changed(self, document_ids: list[str], status: DocumentStatus) -> None:
        self.writes += [("status", document_id, status.value) for document_id in document_ids]

    def text_found(self, document_id: str, body: str) -> None:
        self.writes.append(("text", document_id, body))

    def remove(self, document_id: str) -> None:
        self.writes.append(("remove", document_id, None))
