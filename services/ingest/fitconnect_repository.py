"""The FIT-Connect submissions taken in (one row per submission id); works inside the unit of work's transaction."""

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.ingest.tables import FitConnectSubmissionRow


class FitConnectRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def claim(self, row: FitConnectSubmissionRow) -> bool:
        """Add the row; False (and the transaction rolled back) when the submission is already taken."""
        self._session.add(row)
        try:
            self._session.flush()
        except IntegrityError:
            self._session.rollback()
            return False
        return True

    def get(self, submission_id: str) -> FitConnectSubmissionRow | None:
        return self._session.get(FitConnectSubmissionRow, submission_id)

    def in_states(self, *states: str) -> list[FitConnectSubmissionRow]:
        query = select(FitConnectSubmissionRow).where(FitConnectSubmissionRow.state.in_(states))
        return list(self._session.scalars(query.order_by(FitConnectSubmissionRow.received_at)))

    def of_document(self, document_id: str) -> FitConnectSubmissionRow | None:
        query = select(FitConnectSubmissionRow).where(FitConnectSubmissionRow.form_document_id == document_id)
        return self._session.scalars(query).first()

    def counts(self) -> dict[str, int]:
        query = select(FitConnectSubmissionRow.state, func.count()).group_by(FitConnectSubmissionRow.state)
        return {state: count for state, count in self._session.execute(query).tuples()}

    def forget_document(self, document_id: str) -> None:
        """The form document is destroyed after its retention period: its form data goes with it."""
        self._session.execute(
            update(FitConnectSubmissionRow)
            .where(FitConnectSubmissionRow.form_document_id == document_id)
            .values(form_data=None)
        )
