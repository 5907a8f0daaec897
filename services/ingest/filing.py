"""Filing use cases: the file plan, opening an Akte, and where an upload is filed."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.fileplan import Disposal, FilePlan, FilePlanClass, format_aktenzeichen
from services.ingest.tables import AkteRow, DocumentRow, VorgangRow
from shared.errors import Refused
from shared.events import utcnow


class FilingRefused(Refused):
    """The request names a file plan class, Akte or Vorgang that does not exist; `code` is the API's reason."""


@dataclass(frozen=True)
class AkteView:
    aktenzeichen: str
    title: str
    file_plan_class: FilePlanClass
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class Placement:
    """Where a new document is filed: its Akte and Vorgang (both None when filed nowhere yet)."""

    akte: AkteView | None
    vorgang_id: str | None


class FilingService:
    def __init__(self, sessions: sessionmaker[Session], file_plan: FilePlan) -> None:
        self._sessions = sessions
        self.file_plan = file_plan

    def _class(self, number: str) -> FilePlanClass:
        plan_class = self.file_plan.get(number)
        if plan_class is None:
            raise FilingRefused("unknown_file_plan_class", f"file plan class {number!r} does not exist")
        return plan_class

    def open_akte(self, file_plan_class: str, title: str, user: str) -> AkteView:
        """Open an Akte; its reference is the class number, this year and the next running number."""
        plan_class = self._class(file_plan_class)
        year = utcnow().year
        for _attempt in range(5):  # two clerks opening Akten in one class at once: retry with the next number
            with self._sessions() as session:
                seq = (
                    session.scalar(
                        select(func.max(AkteRow.seq)).where(
                            AkteRow.file_plan_class == plan_class.number, AkteRow.year == year
                        )
                    )
                    or 0
                ) + 1
                row = AkteRow(
                    aktenzeichen=format_aktenzeichen(plan_class.number, year, seq),
                    file_plan_class=plan_class.number,
                    year=year,
                    seq=seq,
                    title=title,
                    created_by=user,
                    created_at=utcnow(),
                )
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue
                return self._view(row)
        raise RuntimeError("could not assign a running number after 5 attempts")

    def akte(self, aktenzeichen: str) -> AkteView | None:
        with self._sessions() as session:
            row = session.get(AkteRow, aktenzeichen)
            return self._view(row) if row else None

    def akten(self, file_plan_class: str | None, limit: int, offset: int) -> tuple[int, list[AkteView]]:
        with self._sessions() as session:
            query = select(AkteRow)
            if file_plan_class:
                query = query.where(AkteRow.file_plan_class == file_plan_class)
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(query.order_by(AkteRow.aktenzeichen).limit(limit).offset(offset)).all()
            return total, [self._view(row) for row in rows]

    def contents(self, aktenzeichen: str) -> list[tuple[VorgangRow, list[DocumentRow]]]:
        """The Akte's Vorgänge, each with its documents, oldest first."""
        with self._sessions() as session:
            vorgaenge = session.scalars(
                select(VorgangRow).where(VorgangRow.aktenzeichen == aktenzeichen).order_by(VorgangRow.created_at)
            ).all()
            documents = session.scalars(
                select(DocumentRow).where(DocumentRow.aktenzeichen == aktenzeichen).order_by(DocumentRow.created_at)
            ).all()
            return [(v, [d for d in documents if d.vorgang_id == v.vorgang_id]) for v in vorgaenge]

    def place(
        self,
        session: Session,
        aktenzeichen: str,
        vorgang_id: str,
        new_akte: tuple[str, str] | None,
        title: str,
        user: str,
    ) -> Placement:
        """Resolve where an upload goes, inside the upload's transaction.

        `aktenzeichen` names an existing Akte; `new_akte` (file plan class, title) opens one; neither files it
        nowhere for now. A document joins the named Vorgang, or starts a new one.
        """
        if aktenzeichen:
            row = session.get(AkteRow, aktenzeichen)
            if row is None:
                raise FilingRefused("unknown_aktenzeichen", f"Aktenzeichen {aktenzeichen!r} does not exist")
            akte = self._view(row)
        elif new_akte:
            akte = self.open_akte(new_akte[0], new_akte[1], user)
        else:
            return Placement(None, None)
        if vorgang_id:
            vorgang = session.get(VorgangRow, vorgang_id)
            if vorgang is None or vorgang.aktenzeichen != akte.aktenzeichen:
                raise FilingRefused("unknown_vorgang", f"Vorgang {vorgang_id!r} is not in {akte.aktenzeichen}")
            return Placement(akte, vorgang.vorgang_id)
        vorgang = VorgangRow(vorgang_id=str(uuid.uuid4()), aktenzeichen=akte.aktenzeichen, title=title or "Vorgang")
        session.add(vorgang)
        session.flush()  # the document row refers to it
        return Placement(akte, vorgang.vorgang_id)

    def check_request(self, aktenzeichen: str, file_plan_class: str) -> None:
        """Refuse unknown references before any bytes are read."""
        if aktenzeichen and self.akte(aktenzeichen) is None:
            raise FilingRefused("unknown_aktenzeichen", f"Aktenzeichen {aktenzeichen!r} does not exist")
        if file_plan_class:
            self._class(file_plan_class)

    def _view(self, row: AkteRow) -> AkteView:
        # A class removed from the plan later: keep its records (archive), never destroy by default.
        plan_class = self.file_plan.get(row.file_plan_class) or FilePlanClass(
            row.file_plan_class, "(nicht mehr im Aktenplan)", 0, Disposal.ARCHIVE
        )
        return AkteView(row.aktenzeichen, row.title, plan_class, row.created_by, row.created_at)
