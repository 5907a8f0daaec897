"""The archive's repositories: what the service layer asks of its tables, and their SQLAlchemy versions.

Only these and the unit of work touch SQLAlchemy sessions; the unit tests replace them with in-memory fakes.
"""

import abc
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.archive.domain import SearchQuery
from services.archive.search import SearchIndex
from services.archive.tables import (
    AccessLogRow,
    ArchivedDocumentRow,
    DeletionRecordRow,
    EvidencePendingRow,
    FixityCycleRow,
    FixityResultRow,
    XdomeaProcessRow,
)
from shared.db import insert_rows
from shared.events import utcnow


class Documents(abc.ABC):
    """Archived documents with their package files, and the full-text index over them."""

    @abc.abstractmethod
    def get(self, document_id: str) -> ArchivedDocumentRow | None: ...

    @abc.abstractmethod
    def archived_among(self, document_ids: list[str]) -> set[str]:
        """Which of the documents have a package here (without loading them)."""

    @abc.abstractmethod
    def add_all(self, entries: list[tuple[ArchivedDocumentRow, str]]) -> None:
        """Add documents (their `files` with them), each with its text indexed for full-text search."""

    @abc.abstractmethod
    def remove(self, document_id: str) -> None:
        """Remove the document, its package files and its full-text entry."""

    @abc.abstractmethod
    def search(self, query: SearchQuery) -> tuple[int, list[ArchivedDocumentRow]]:
        """The total number of matches and the page `query` asks for, newest received first."""

    @abc.abstractmethod
    def ids(self, document_ids: list[str] | None, sample: int | None) -> list[str]:
        """The given documents that exist, else a random sample of `sample`, else all."""

    @abc.abstractmethod
    def due(self, now: datetime) -> list[ArchivedDocumentRow]:
        """Documents whose retention ended by `now`, the longest ended first."""

    @abc.abstractmethod
    def handed_over_deletable(self, now: datetime) -> list[str]:
        """Documents handed over to the state archive whose lock ended and that no legal hold keeps."""

    @abc.abstractmethod
    def archived_in(self, aktenzeichen: list[str]) -> list[ArchivedDocumentRow]:
        """Documents (not handed over) in these Akten, in the order they were received."""

    @abc.abstractmethod
    def count(self) -> int:
        """How many packages the archive holds (metrics)."""

    @abc.abstractmethod
    def count_by_verify_result(self) -> dict[str | None, int]:
        """How many packages' last fixity check had each result (None: never checked) (metrics)."""


class AccessLog(abc.ABC):
    @abc.abstractmethod
    def add(
        self, document_id: str, user: str, action: str, query: str | None = None, hits: int | None = None
    ) -> None: ...

    @abc.abstractmethod
    def page(self, document_id: str | None, limit: int, offset: int) -> tuple[int, list[AccessLogRow]]:
        """The total number of entries and a page of them, newest first."""


class DeletionRecords(abc.ABC):
    @abc.abstractmethod
    def add(self, record: DeletionRecordRow) -> None: ...

    @abc.abstractmethod
    def get(self, document_id: str) -> DeletionRecordRow | None: ...


class XdomeaProcesses(abc.ABC):
    @abc.abstractmethod
    def add(self, process: XdomeaProcessRow) -> None: ...

    @abc.abstractmethod
    def get(self, process_id: str) -> XdomeaProcessRow | None: ...

    @abc.abstractmethod
    def newest_first(self) -> list[XdomeaProcessRow]: ...


_ARCHIVED_IDS = select(ArchivedDocumentRow.document_id).where(
    ArchivedDocumentRow.document_id.in_(bindparam("document_ids", expanding=True))
)
_PENDING_EVIDENCE_IDS = select(EvidencePendingRow.document_id).where(
    EvidencePendingRow.document_id.in_(bindparam("document_ids", expanding=True))
)


class SqlDocuments(Documents):
    def __init__(self, session: Session, index: SearchIndex) -> None:
        self._session = session
        self._index = index

    def get(self, document_id: str) -> ArchivedDocumentRow | None:
        return self._session.get(ArchivedDocumentRow, document_id)

    def archived_among(self, document_ids: list[str]) -> set[str]:
        # On the connection: document rows are written at once (`add_all`), never left pending in the session.
        return set(self._session.connection().scalars(_ARCHIVED_IDS, {"document_ids": document_ids}))

    def count(self) -> int:
        return self._session.scalar(select(func.count()).select_from(ArchivedDocumentRow)) or 0

    def count_by_verify_result(self) -> dict[str | None, int]:
        query = select(ArchivedDocumentRow.last_verify_result, func.count()).group_by(
            ArchivedDocumentRow.last_verify_result
        )
        return {result: count for result, count in self._session.execute(query).all()}

    def add_all(self, entries: list[tuple[ArchivedDocumentRow, str]]) -> None:
        """New packages' rows and their files' rows, inserted at once (never changed in the same transaction): a
        statement per table for a batch."""
        insert_rows(self._session, [row for row, _ in entries])
        insert_rows(self._session, [file for row, _ in entries for file in row.files])
        self._index.add_all(self._session, {row.document_id: text for row, text in entries})

    def remove(self, document_id: str) -> None:
        self._index.remove(self._session, document_id)
        row = self._session.get_one(ArchivedDocumentRow, document_id)
        for file in row.files:
            self._session.delete(file)
        self._session.delete(row)

    def search(self, query: SearchQuery) -> tuple[int, list[ArchivedDocumentRow]]:
        conditions = self._conditions(query)
        total = self._session.scalar(select(func.count()).select_from(ArchivedDocumentRow).where(*conditions)) or 0
        rows = self._session.scalars(
            select(ArchivedDocumentRow)
            .where(*conditions)
            .order_by(ArchivedDocumentRow.received_at.desc(), ArchivedDocumentRow.document_id)
            .limit(query.limit)
            .offset(query.offset)
        ).all()
        return total, list(rows)

    def _conditions(self, query: SearchQuery) -> list[ColumnElement[bool]]:
        table = ArchivedDocumentRow
        conditions = []
        if query.aktenzeichen:
            conditions.append(table.aktenzeichen.startswith(query.aktenzeichen, autoescape=True))
        if query.title:
            conditions.append(table.title.icontains(query.title, autoescape=True))
        if query.document_type:
            conditions.append(table.document_type == query.document_type)
        if query.sender:
            conditions.append(table.sender.icontains(query.sender, autoescape=True))
        if query.received_from:
            conditions.append(table.received_at >= _day_start(query.received_from))
        if query.received_to:
            conditions.append(table.received_at < _day_start(query.received_to + timedelta(days=1)))
        if query.text:
            conditions.append(self._index.matching(query.text))
        return conditions

    def ids(self, document_ids: list[str] | None, sample: int | None) -> list[str]:
        query = select(ArchivedDocumentRow.document_id)
        if document_ids:
            query = query.where(ArchivedDocumentRow.document_id.in_(document_ids))
        elif sample:
            query = query.order_by(func.random()).limit(sample)
        return list(self._session.scalars(query))

    def due(self, now: datetime) -> list[ArchivedDocumentRow]:
        query = (
            select(ArchivedDocumentRow)
            .where(ArchivedDocumentRow.retain_until <= now)
            .order_by(ArchivedDocumentRow.retain_until)
        )
        return list(self._session.scalars(query))

    def handed_over_deletable(self, now: datetime) -> list[str]:
        query = select(ArchivedDocumentRow.document_id).where(
            ArchivedDocumentRow.state == "handed_over",
            ArchivedDocumentRow.retain_until <= now,
            ArchivedDocumentRow.legal_hold.is_(False),
        )
        return list(self._session.scalars(query))

    def archived_in(self, aktenzeichen: list[str]) -> list[ArchivedDocumentRow]:
        query = (
            select(ArchivedDocumentRow)
            .where(ArchivedDocumentRow.aktenzeichen.in_(aktenzeichen), ArchivedDocumentRow.state == "archived")
            .order_by(ArchivedDocumentRow.received_at)
        )
        return list(self._session.scalars(query))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=utcnow().tzinfo)


class SqlAccessLog(AccessLog):
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, document_id: str, user: str, action: str, query: str | None = None, hits: int | None = None) -> None:
        row = AccessLogRow(document_id=document_id, user=user, action=action, at=utcnow(), query=query, hits=hits)
        self._session.add(row)

    def page(self, document_id: str | None, limit: int, offset: int) -> tuple[int, list[AccessLogRow]]:
        query = select(AccessLogRow)
        if document_id:
            query = query.where(AccessLogRow.document_id == document_id)
        total = self._session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self._session.scalars(query.order_by(AccessLogRow.id.desc()).limit(limit).offset(offset)).all()
        return total, list(rows)


class SqlDeletionRecords(DeletionRecords):
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, record: DeletionRecordRow) -> None:
        self._session.add(record)

    def get(self, document_id: str) -> DeletionRecordRow | None:
        return self._session.get(DeletionRecordRow, document_id)


class SqlXdomeaProcesses(XdomeaProcesses):
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, process: XdomeaProcessRow) -> None:
        self._session.add(process)

    def get(self, process_id: str) -> XdomeaProcessRow | None:
        return self._session.get(XdomeaProcessRow, process_id)

    def newest_first(self) -> list[XdomeaProcessRow]:
        return list(self._session.scalars(select(XdomeaProcessRow).order_by(XdomeaProcessRow.created_at.desc())))


class EvidenceQueue(abc.ABC):
    """Packages awaiting their evidence record (RFC 4998), durable until their record is stored."""

    @abc.abstractmethod
    def add_all(self, queued: dict[str, datetime]) -> None:
        """Queue packages (document id -> when); one already waiting keeps its place."""

    @abc.abstractmethod
    def claim(self, now: datetime, until: datetime, limit: int) -> list[str]:
        """Up to `limit` waiting packages nobody holds a claim on, oldest first, claimed until `until`."""

    @abc.abstractmethod
    def done(self, document_ids: list[str]) -> None: ...

    @abc.abstractmethod
    def release(self, document_ids: list[str]) -> None:
        """Give up the claims on these packages: they wait for the next batch."""

    @abc.abstractmethod
    def queued_at(self, document_id: str) -> datetime | None: ...

    @abc.abstractmethod
    def count(self) -> int: ...


class SqlEvidenceQueue(EvidenceQueue):
    def __init__(self, session: Session) -> None:
        self._session = session

    def add_all(self, queued: dict[str, datetime]) -> None:
        # A disposed package's row may still wait here; else it is new: one look-up, one plain INSERT for the batch
        # (its rows are changed by statements, never left pending in the session).
        if not queued:
            return
        waiting = set(self._session.connection().scalars(_PENDING_EVIDENCE_IDS, {"document_ids": list(queued)}))
        new = [EvidencePendingRow(document_id=d, queued_at=at) for d, at in queued.items() if d not in waiting]
        insert_rows(self._session, new)

    def claim(self, now: datetime, until: datetime, limit: int) -> list[str]:
        free = or_(EvidencePendingRow.claimed_until.is_(None), EvidencePendingRow.claimed_until < now)
        query = select(EvidencePendingRow.document_id).where(free).order_by(EvidencePendingRow.queued_at).limit(limit)
        ids = list(self._session.scalars(query.with_for_update(skip_locked=True)))
        if ids:
            self._session.execute(
                update(EvidencePendingRow).where(EvidencePendingRow.document_id.in_(ids)).values(claimed_until=until)
            )
        return ids

    def done(self, document_ids: list[str]) -> None:
        if document_ids:
            self._session.execute(delete(EvidencePendingRow).where(EvidencePendingRow.document_id.in_(document_ids)))

    def release(self, document_ids: list[str]) -> None:
        if document_ids:
            query = update(EvidencePendingRow).where(EvidencePendingRow.document_id.in_(document_ids))
            self._session.execute(query.values(claimed_until=None))

    def queued_at(self, document_id: str) -> datetime | None:
        row = self._session.get(EvidencePendingRow, document_id)
        return row.queued_at if row else None

    def count(self) -> int:
        return self._session.scalar(select(func.count()).select_from(EvidencePendingRow)) or 0


class FixityLog(abc.ABC):
    """The scheduled fixity check: its one progress row (with the lease of the replica doing it) and its results."""

    @abc.abstractmethod
    def take_turn(self, replica: str, now: datetime, until: datetime) -> bool:
        """Hold (or renew) the check for `replica` until `until`, unless another replica holds it past `now`."""

    @abc.abstractmethod
    def release_turn(self, replica: str) -> None:
        """Give the check up (a replica shutting down), so that the next one need not wait for the lease."""

    @abc.abstractmethod
    def progress(self, now: datetime) -> FixityCycleRow:
        """The progress row (a first cycle starting `now` when there is none yet)."""

    @abc.abstractmethod
    def next_packages(self, after: str, limit: int) -> list[str]:
        """Up to `limit` archived packages after `after` in document-id order."""

    @abc.abstractmethod
    def add_result(self, result: FixityResultRow) -> None: ...

    @abc.abstractmethod
    def failures(self, cycles: list[int]) -> list[FixityResultRow]:
        """The results of these cycles that were not ok, newest first."""


class SqlFixityLog(FixityLog):
    NAME = "packages"

    def __init__(self, session: Session) -> None:
        self._session = session

    def take_turn(self, replica: str, now: datetime, until: datetime) -> bool:
        self.progress(now)
        free = or_(FixityCycleRow.holder.is_(None), FixityCycleRow.holder == replica, FixityCycleRow.held_until < now)
        taken = self._session.execute(
            update(FixityCycleRow)
            .where(FixityCycleRow.name == self.NAME, free)
            .values(holder=replica, held_until=until)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(taken, "rowcount", 0))

    def release_turn(self, replica: str) -> None:
        self._session.execute(
            update(FixityCycleRow)
            .where(FixityCycleRow.name == self.NAME, FixityCycleRow.holder == replica)
            .values(holder=None, held_until=None)
            .execution_options(synchronize_session=False)
        )

    def progress(self, now: datetime) -> FixityCycleRow:
        row = self._session.get(FixityCycleRow, self.NAME, populate_existing=True)
        if row is not None:
            return row
        try:
            with self._session.begin_nested():  # two replicas starting at once: one insert wins
                self._session.add(FixityCycleRow(name=self.NAME, cycle=1, started_at=now, cursor="", **ZERO_COUNTS))
        except IntegrityError:
            pass
        return self._session.get_one(FixityCycleRow, self.NAME)

    def next_packages(self, after: str, limit: int) -> list[str]:
        query = (
            select(ArchivedDocumentRow.document_id)
            .where(ArchivedDocumentRow.document_id > after)
            .order_by(ArchivedDocumentRow.document_id)
            .limit(limit)
        )
        return list(self._session.scalars(query))

    def add_result(self, result: FixityResultRow) -> None:
        self._session.add(result)

    def failures(self, cycles: list[int]) -> list[FixityResultRow]:
        query = (
            select(FixityResultRow)
            .where(FixityResultRow.cycle.in_(cycles), FixityResultRow.result != "ok")
            .order_by(FixityResultRow.id.desc())
        )
        return list(self._session.scalars(query))


ZERO_COUNTS = {"checked": 0, "ok": 0, "mismatch": 0, "missing": 0}
