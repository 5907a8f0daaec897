"""The preview jobs of the ingest service (services.ingest.previews): one row per document."""

from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, or_, select, update
from sqlalchemy.orm import Session

from services.ingest.tables import DocumentRow, PreviewJobRow
from shared.db import insert_rows
from shared.events import utcnow


class PreviewJobRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def queue(self, document_id: str, version: int) -> None:
        """Ask for the page images of this version (a new version's job replaces the previous one)."""
        row = PreviewJobRow(
            document_id=document_id,
            version=version,
            state="pending",
            pages=0,
            rendered=0,
            render_ms=None,
            attempts=0,
            error="",
            created_at=utcnow(),
            finished_at=None,
            claimed_by=None,
        )
        if version == 1:  # a first version has no job yet: an INSERT, without merge's look-up first
            insert_rows(self._session, [row])
        else:
            self._session.merge(row)

    def find(self, document_id: str) -> PreviewJobRow | None:
        return self._session.get(PreviewJobRow, document_id)

    def get(self, document_id: str) -> PreviewJobRow:
        return self._session.get_one(PreviewJobRow, document_id)

    def next_pending(self, owner: str | None = None) -> str | None:
        """The oldest pending job; with `owner` (replicas), one this replica holds or claims now."""
        query = select(PreviewJobRow.document_id).where(PreviewJobRow.state == "pending")
        query = query.order_by(PreviewJobRow.created_at)
        if owner is None:
            return self._session.scalar(query)
        free = or_(PreviewJobRow.claimed_by.is_(None), PreviewJobRow.claimed_by == owner)
        for document_id in self._session.scalars(query.where(free).limit(5)).all():
            claimed = cast(
                CursorResult[Any],
                self._session.execute(
                    update(PreviewJobRow).where(PreviewJobRow.document_id == document_id, free).values(claimed_by=owner)
                ),
            )
            if claimed.rowcount == 1:
                return str(document_id)
        return None

    def without_job(self, limit: int) -> list[tuple[str, int]]:
        """Documents with no preview job yet (taken in before previews existed): (id, version), oldest first."""
        query = (
            select(DocumentRow.document_id, DocumentRow.version)
            .outerjoin(PreviewJobRow, PreviewJobRow.document_id == DocumentRow.document_id)
            .where(PreviewJobRow.document_id.is_(None))
            .order_by(DocumentRow.created_at)
            .limit(limit)
        )
        return [(str(document_id), int(version)) for document_id, version in self._session.execute(query).all()]

    def counts(self) -> dict[str, int]:
        query = select(PreviewJobRow.state, func.count()).group_by(PreviewJobRow.state)
        return {state: count for state, count in self._session.execute(query).all()}

    def remove(self, document_id: str) -> None:
        self._session.execute(delete(PreviewJobRow).where(PreviewJobRow.document_id == document_id))
