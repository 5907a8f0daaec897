"""The ingest service's repositories: the only code besides the unit of work that touches a session.

Each works inside the unit of work's transaction and never commits; the `with uow:` block does.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, case, delete, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, noload

from services.ingest.domain import DocumentStatus, StoredCopy
from services.ingest.tables import (
    AkteRow,
    DocumentRow,
    IntakeItemRow,
    MailMessageRow,
    OcrJobRow,
    QuarantineRow,
    StatusRow,
    VorgangRow,
)
from shared.db import insert_rows

# Asked for every upload (the duplicate check): built once.
_COPIES_OF = select(DocumentRow.document_id, DocumentRow.aktenzeichen).where(DocumentRow.sha256 == bindparam("sha256"))


class DocumentRepository:
    """Documents and their status histories."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, document_id: str) -> DocumentRow | None:
        return self._session.get(DocumentRow, document_id)

    def get_without_history(self, document_id: str) -> DocumentRow | None:
        return self._session.get(DocumentRow, document_id, options=[noload(DocumentRow.history)])

    def existing(self, document_ids: list[str]) -> set[str]:
        """Which of these documents are here (not purged)."""
        found = self._session.scalars(select(DocumentRow.document_id).where(DocumentRow.document_id.in_(document_ids)))
        return set(found)

    def copies_of(self, sha256: str) -> list[StoredCopy]:
        # On the connection: document rows are written at once (`add`, `replace`), never left pending, so the ORM's
        # execution path and its flush are not needed before every upload.
        rows = self._session.connection().execute(_COPIES_OF, {"sha256": sha256}).all()
        return [StoredCopy(row.document_id, row.aktenzeichen) for row in rows]

    def add(self, row: DocumentRow) -> None:
        """A new document's row, inserted at once (rows referring to it follow); later changes go through `get`."""
        insert_rows(self._session, [row])

    def replace(self, row: DocumentRow) -> None:
        """Store a new version over the document's row (same id)."""
        self._session.merge(row)
        self._session.flush()

    def add_status(self, document_id: str, status: DocumentStatus, at: datetime, by: str) -> None:
        self.add_statuses([(document_id, status, at, by)])

    def add_statuses(self, entries: Sequence[tuple[str, DocumentStatus, datetime, str]]) -> None:
        """History entries (document id, status, at, by), written at once in one statement."""
        rows = [StatusRow(document_id=d, status=status.value, at=at, by=by) for d, status, at, by in entries]
        insert_rows(self._session, rows)

    def histories_of(self, submitted_by: str) -> Sequence[tuple[str, datetime, str | None, datetime | None]]:
        """(document id, created at, status, at) of every status entry of a submitter's documents, oldest first."""
        rows = self._session.execute(
            select(DocumentRow.document_id, DocumentRow.created_at, StatusRow.status, StatusRow.at)
            .outerjoin(StatusRow, StatusRow.document_id == DocumentRow.document_id)
            .where(DocumentRow.submitted_by == submitted_by)
            .order_by(StatusRow.at, StatusRow.id)
        ).all()
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    def by_ids(self, document_ids: list[str]) -> list[DocumentRow]:
        """The rows without their histories (read already where needed)."""
        return list(
            self._session.scalars(
                select(DocumentRow)
                .options(noload(DocumentRow.history))
                .where(DocumentRow.document_id.in_(document_ids))
            ).all()
        )

    def in_akte(self, aktenzeichen: str) -> list[DocumentRow]:
        return list(
            self._session.scalars(
                select(DocumentRow).where(DocumentRow.aktenzeichen == aktenzeichen).order_by(DocumentRow.created_at)
            ).all()
        )

    def count_in_vorgang(self, vorgang_id: str) -> int:
        query = select(func.count()).select_from(DocumentRow).where(DocumentRow.vorgang_id == vorgang_id)
        return self._session.scalar(query) or 0

    def count_by_status(self, lifecycle: Sequence[DocumentStatus]) -> dict[str, int]:
        """How many documents are at each step of `lifecycle` (first to furthest): the furthest step in each
        document's history, the first when it has none (metrics)."""
        rank = case({status.value: i for i, status in enumerate(lifecycle)}, value=StatusRow.status, else_=0)
        furthest = (
            select(func.coalesce(func.max(rank), 0).label("rank"))
            .select_from(DocumentRow)
            .outerjoin(StatusRow, StatusRow.document_id == DocumentRow.document_id)
            .group_by(DocumentRow.document_id)
            .subquery()
        )
        rows = self._session.execute(select(furthest.c.rank, func.count()).group_by(furthest.c.rank)).all()
        return {lifecycle[int(position)].value: count for position, count in rows}

    def remove(self, document_id: str) -> None:
        """Delete a document's row and its status history."""
        self._session.execute(delete(StatusRow).where(StatusRow.document_id == document_id))
        row = self.get(document_id)
        if row is not None:
            self._session.delete(row)
            self._session.flush()


class FilingRepository:
    """Akten and Vorgänge."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def akte(self, aktenzeichen: str) -> AkteRow | None:
        return self._session.get(AkteRow, aktenzeichen)

    def last_seq(self, file_plan_class: str, year: int) -> int:
        query = select(func.max(AkteRow.seq)).where(AkteRow.file_plan_class == file_plan_class, AkteRow.year == year)
        return self._session.scalar(query) or 0

    def add_akte(self, row: AkteRow) -> bool:
        """Add an Akte; False (and the transaction rolled back) when its running number was taken meanwhile."""
        self._session.add(row)
        try:
            self._session.flush()
        except IntegrityError:
            self._session.rollback()
            return False
        return True

    def akten(
        self, file_plan_class: str | None, limit: int, offset: int, org_units: frozenset[str] | None = None
    ) -> tuple[int, list[AkteRow]]:
        query = select(AkteRow)
        if file_plan_class:
            query = query.where(AkteRow.file_plan_class == file_plan_class)
        if org_units is not None:
            query = query.where(AkteRow.org_unit.in_(sorted(org_units)))
        total = self._session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self._session.scalars(query.order_by(AkteRow.aktenzeichen).limit(limit).offset(offset)).all()
        return total, list(rows)

    def vorgang(self, vorgang_id: str) -> VorgangRow | None:
        return self._session.get(VorgangRow, vorgang_id)

    def akte_titled(self, file_plan_class: str, title: str) -> AkteRow | None:
        """The oldest Akte of the class with exactly this title (a backlog import files into it)."""
        query = select(AkteRow).where(AkteRow.file_plan_class == file_plan_class, AkteRow.title == title)
        return self._session.scalars(query.order_by(AkteRow.created_at, AkteRow.seq).limit(1)).first()

    def vorgang_titled(self, aktenzeichen: str, title: str) -> VorgangRow | None:
        query = select(VorgangRow).where(VorgangRow.aktenzeichen == aktenzeichen, VorgangRow.title == title)
        return self._session.scalars(query.order_by(VorgangRow.created_at).limit(1)).first()

    def vorgaenge_of(self, aktenzeichen: str) -> list[VorgangRow]:
        query = select(VorgangRow).where(VorgangRow.aktenzeichen == aktenzeichen).order_by(VorgangRow.created_at)
        return list(self._session.scalars(query).all())

    def add_vorgang(self, row: VorgangRow) -> None:
        self._session.add(row)
        self._session.flush()  # the document row refers to it

    def remove_vorgang(self, vorgang_id: str) -> None:
        self._session.execute(delete(VorgangRow).where(VorgangRow.vorgang_id == vorgang_id))


class QuarantineRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, row: QuarantineRow) -> None:
        self._session.add(row)

    def get(self, quarantine_id: str) -> QuarantineRow | None:
        return self._session.get(QuarantineRow, quarantine_id)

    def page(self, state: str | None, limit: int, offset: int) -> tuple[int, list[QuarantineRow]]:
        query = select(QuarantineRow)
        if state:
            query = query.where(QuarantineRow.state == state)
        total = self._session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self._session.scalars(query.order_by(QuarantineRow.uploaded_at.desc()).limit(limit).offset(offset))
        return total, list(rows.all())

    def mark_discarded(self, quarantine_id: str, admin: str, at: datetime) -> bool:
        """Mark a held item discarded; False when a concurrent discard or release changed it first."""
        marked = cast(
            CursorResult[tuple[()]],
            self._session.execute(
                update(QuarantineRow)
                .where(QuarantineRow.quarantine_id == quarantine_id, QuarantineRow.state == "held")
                .values(state="discarded", discarded_by=admin, discarded_at=at)
            ),
        )
        return marked.rowcount == 1


class OcrJobRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, row: OcrJobRow) -> None:
        self._session.merge(row)  # a new version replaces the job of the previous one

    def get(self, document_id: str) -> OcrJobRow:
        return self._session.get_one(OcrJobRow, document_id)

    def next_pending(self, owner: str | None = None) -> str | None:
        """The oldest pending job; with `owner` (replicas), one this replica holds or claims now (a conditional
        update: of two replicas claiming one job, one wins)."""
        query = select(OcrJobRow.document_id).where(OcrJobRow.state == "pending").order_by(OcrJobRow.created_at)
        if owner is None:
            return self._session.scalar(query)
        free = or_(OcrJobRow.claimed_by.is_(None), OcrJobRow.claimed_by == owner)
        for document_id in self._session.scalars(query.where(free).limit(5)).all():
            claimed = cast(
                CursorResult[Any],
                self._session.execute(
                    update(OcrJobRow).where(OcrJobRow.document_id == document_id, free).values(claimed_by=owner)
                ),
            )
            if claimed.rowcount == 1:
                return str(document_id)
        return None

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state (metrics)."""
        query = select(OcrJobRow.state, func.count()).group_by(OcrJobRow.state)
        return {state: count for state, count in self._session.execute(query).all()}

    def remove(self, document_id: str) -> None:
        self._session.execute(delete(OcrJobRow).where(OcrJobRow.document_id == document_id))


class IntakeItemRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add_all(self, rows: list[IntakeItemRow]) -> None:
        self._session.add_all(rows)

    def get(self, item_id: str) -> IntakeItemRow:
        return self._session.get_one(IntakeItemRow, item_id)

    def known(self, item_ids: list[str]) -> set[str]:
        return set(self._session.scalars(select(IntakeItemRow.item_id).where(IntakeItemRow.item_id.in_(item_ids))))

    def ids_in_state(self, state: str, limit: int, owner: str | None = None) -> list[str]:
        """Items in `state`, oldest first; with `owner`, only that replica's (and unowned ones)."""
        query = (
            select(IntakeItemRow.item_id)
            .where(IntakeItemRow.state == state)
            .where(or_(IntakeItemRow.owner.is_(None), IntakeItemRow.owner == owner) if owner else true())
            .order_by(IntakeItemRow.created_at, IntakeItemRow.item_id)
            .limit(limit)
        )
        return list(self._session.scalars(query))

    def not_in_state(self, state: str, owner: str | None = None) -> list[IntakeItemRow]:
        query = select(IntakeItemRow).where(IntakeItemRow.state != state)
        if owner:
            query = query.where(or_(IntakeItemRow.owner.is_(None), IntakeItemRow.owner == owner))
        return list(self._session.scalars(query))

    def counts(self, batch_id: str | None) -> dict[str, int]:
        """How many items are in each state (of one batch, or all)."""
        query = select(IntakeItemRow.state, func.count()).group_by(IntakeItemRow.state)
        if batch_id:
            query = query.where(IntakeItemRow.batch_id == batch_id)
        return {state: count for state, count in self._session.execute(query).all()}

    def batch(self, batch_id: str) -> list[IntakeItemRow]:
        query = select(IntakeItemRow).where(IntakeItemRow.batch_id == batch_id).order_by(IntakeItemRow.created_at)
        return list(self._session.scalars(query))

    def forget_document(self, document_id: str) -> None:
        """Keep only that a file was taken in: no name, no metadata."""
        self._session.execute(
            update(IntakeItemRow)
            .where(IntakeItemRow.document_id == document_id)
            .values(filename="(vernichtet)", upload={}, reason="destroyed after its retention period")
        )


class MailMessageRepository:
    """Messages taken from the Poststelle mailbox (services.ingest.mailbox)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def find(self, folder: str, uidvalidity: int, uid: int, message_key: str) -> MailMessageRow | None:
        """The message taken before: at the same place in the mailbox, or the same message anywhere."""
        same_place = (
            (MailMessageRow.folder == folder)
            & (MailMessageRow.uidvalidity == uidvalidity)
            & (MailMessageRow.uid == uid)
        )
        query = select(MailMessageRow).where(or_(same_place, MailMessageRow.message_key == message_key)).limit(1)
        return self._session.scalars(query).first()

    def add(self, row: MailMessageRow) -> None:
        self._session.add(row)

    def get(self, mail_id: str) -> MailMessageRow:
        return self._session.get_one(MailMessageRow, mail_id)

    def in_state(self, state: str) -> list[MailMessageRow]:
        return list(self._session.scalars(select(MailMessageRow).where(MailMessageRow.state == state)))

    def ids(self) -> set[str]:
        return set(self._session.scalars(select(MailMessageRow.mail_id)))
