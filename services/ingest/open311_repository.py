"""The Open311 reports' table, and what the public views read of the documents they became (never commits)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.ingest.domain import DocumentStatus
from services.ingest.tables import IntakeItemRow, Open311RequestRow, StatusRow


@dataclass(frozen=True)
class RequestFilter:
    """`GET /open311/v2/requests.json`: by ids, else by type and time span, newest first."""

    request_ids: Sequence[str] = ()
    service_code: str = ""
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 1000


@dataclass(frozen=True)
class DocumentProgress:
    """How far the document of a report came: its intake failed, its statuses so far, when last changed."""

    intake_failed: bool
    history: list[DocumentStatus]
    updated_at: datetime | None


class Open311Repository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, row: Open311RequestRow) -> None:
        self._session.add(row)

    def get(self, request_id: str) -> Open311RequestRow | None:
        return self._session.get(Open311RequestRow, request_id)

    def first_reports_since(self, service_code: str, since: datetime) -> list[Open311RequestRow]:
        """The first (not duplicate) reports of a type since `since`: candidates a new one may duplicate."""
        return list(
            self._session.scalars(
                select(Open311RequestRow).where(
                    Open311RequestRow.service_code == service_code,
                    Open311RequestRow.requested_at >= since,
                    Open311RequestRow.duplicate_of.is_(None),
                )
            ).all()
        )

    def find(self, query: RequestFilter) -> list[Open311RequestRow]:
        statement = select(Open311RequestRow)
        if query.request_ids:
            statement = statement.where(Open311RequestRow.request_id.in_(list(query.request_ids)))
        else:
            if query.service_code:
                statement = statement.where(Open311RequestRow.service_code == query.service_code)
            if query.start is not None:
                statement = statement.where(Open311RequestRow.requested_at >= query.start)
            if query.end is not None:
                statement = statement.where(Open311RequestRow.requested_at <= query.end)
        statement = statement.order_by(Open311RequestRow.requested_at.desc()).limit(query.limit)
        return list(self._session.scalars(statement).all())

    def progress_of(self, document_ids: Sequence[str]) -> dict[str, DocumentProgress]:
        """Per document id (= intake item id): whether its intake failed and its status history, oldest first."""
        ids = [i for i in document_ids if i]
        if not ids:
            return {}
        failed = set(
            self._session.scalars(
                select(IntakeItemRow.item_id).where(IntakeItemRow.item_id.in_(ids), IntakeItemRow.state == "failed")
            ).all()
        )
        rows = self._session.execute(
            select(StatusRow.document_id, StatusRow.status, StatusRow.at)
            .where(StatusRow.document_id.in_(ids))
            .order_by(StatusRow.at, StatusRow.id)
        ).all()
        histories: dict[str, list[tuple[DocumentStatus, datetime]]] = {}
        for document_id, status, at in rows:
            histories.setdefault(document_id, []).append((DocumentStatus(status), at))
        return {
            i: DocumentProgress(
                intake_failed=i in failed,
                history=[s for s, _ in histories.get(i, [])],
                updated_at=histories[i][-1][1] if histories.get(i) else None,
            )
            for i in ids
        }
