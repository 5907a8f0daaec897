"""Filing use cases: the file plan, opening an Akte, and where an upload is filed."""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.ingest.domain import DocumentStatus, StatusChange, furthest_status, owning_org_unit
from services.ingest.fileplan import Disposal, FilePlan, FilePlanClass, format_aktenzeichen, parse_aktenzeichen
from services.ingest.tables import AkteRow, DocumentRow, VorgangRow
from services.ingest.unit_of_work import IngestUnitOfWork
from shared.errors import InvalidRequest
from shared.events import utcnow

# Two clerks opening Akten in one class at once: the later one retries with the next running number.
OPEN_ATTEMPTS = 5


class FilingRefused(InvalidRequest):
    """The request names a file plan class, Akte or Vorgang that does not exist; `reason` says which."""


@dataclass(frozen=True)
class AkteView:
    aktenzeichen: str
    title: str
    file_plan_class: FilePlanClass
    created_by: str
    created_at: datetime
    org_unit: str = ""  # the owning org unit (need-to-know); empty: none


@dataclass(frozen=True)
class FiledDocument:
    document_id: str
    title: str
    filename: str
    sha256: str
    content_type: str
    created_at: datetime
    status: DocumentStatus = DocumentStatus.RECEIVED  # the furthest stage of its lifecycle
    version: int = 1
    source: str = "upload"  # the channel it came through (`domain.CHANNEL_NAMES`)
    document_type: str = ""
    history: tuple[StatusChange, ...] = ()


@dataclass(frozen=True)
class VorgangView:
    vorgang_id: str
    title: str
    created_at: datetime
    documents: list[FiledDocument]


@dataclass(frozen=True)
class Placement:
    """Where a new document is filed: its Akte and Vorgang (both None when filed nowhere yet)."""

    akte: AkteView | None
    vorgang_id: str | None


class FilingService:
    def __init__(self, file_plan: FilePlan) -> None:
        self.file_plan = file_plan

    def _class(self, number: str) -> FilePlanClass:
        plan_class = self.file_plan.get(number)
        if plan_class is None:
            raise FilingRefused("unknown_file_plan_class", f"file plan class {number!r} does not exist")
        return plan_class

    def open_akte(
        self, uow: IngestUnitOfWork, file_plan_class: str, title: str, user: str, org_units: Sequence[str] = ()
    ) -> AkteView:
        """Open an Akte; its reference is the class number, this year and the next running number.

        It belongs to its class's org unit, else to its creator's first org unit (`org_units` from the token).
        """
        plan_class = self._class(file_plan_class)
        year = utcnow().year
        for _attempt in range(OPEN_ATTEMPTS):
            with uow:
                seq = uow.filing.last_seq(plan_class.number, year) + 1
                row = AkteRow(
                    aktenzeichen=format_aktenzeichen(plan_class.number, year, seq),
                    file_plan_class=plan_class.number,
                    year=year,
                    seq=seq,
                    title=title,
                    created_by=user,
                    created_at=utcnow(),
                    org_unit=owning_org_unit(plan_class.org_unit, org_units) or None,
                )
                if uow.filing.add_akte(row):
                    return self._view(row)
        raise RuntimeError(f"could not assign a running number after {OPEN_ATTEMPTS} attempts")

    def find_or_open(
        self,
        uow: IngestUnitOfWork,
        aktenzeichen: str,
        file_plan_class: str,
        title: str,
        user: str,
        org_units: Sequence[str] = (),
    ) -> AkteView:
        """Backlog import: the named Akte, opened with exactly that Aktenzeichen when it is not there yet; or,
        by file plan class and title, that class's Akte of the title, opened once. Callers serialise calls.

        Opened by a row without a title, the Akte is titled with its Aktenzeichen until a row names its title."""
        if not aktenzeichen:
            with uow:
                row = uow.filing.akte_titled(self._class(file_plan_class).number, title)
                if row is not None:
                    return self._view(row)
            return self.open_akte(uow, file_plan_class, title, user, org_units)
        with uow:
            existing = uow.filing.akte(aktenzeichen)
            if existing is not None:
                if title and existing.title == aktenzeichen:  # opened by a row that named no title
                    existing.title = title
                return self._view(existing)
        plan_class = self._class(self._class_of(aktenzeichen))
        parts = parse_aktenzeichen(aktenzeichen)
        assert parts is not None  # _class_of refused any other
        with uow:
            row = AkteRow(
                aktenzeichen=aktenzeichen,
                file_plan_class=plan_class.number,
                year=parts.year,
                seq=parts.seq,
                title=title or aktenzeichen,
                created_by=user,
                created_at=utcnow(),
                org_unit=owning_org_unit(plan_class.org_unit, org_units) or None,
            )
            if uow.filing.add_akte(row):
                return self._view(row)
        opened_meanwhile = self.akte(uow, aktenzeichen)  # by another replica, between our look and our insert
        if opened_meanwhile is not None:
            return opened_meanwhile
        raise FilingRefused("aktenzeichen_taken", f"the running number of {aktenzeichen!r} is taken by another Akte")

    @staticmethod
    def _class_of(aktenzeichen: str) -> str:
        parts = parse_aktenzeichen(aktenzeichen)
        if parts is None:
            raise FilingRefused("invalid_aktenzeichen", f"{aktenzeichen!r} is not an Aktenzeichen like 50.10-2019/0042")
        return parts.class_number

    def akte(self, uow: IngestUnitOfWork, aktenzeichen: str) -> AkteView | None:
        with uow:
            row = uow.filing.akte(aktenzeichen)
            return self._view(row) if row else None

    def akten(
        self,
        uow: IngestUnitOfWork,
        file_plan_class: str | None,
        limit: int,
        offset: int,
        org_units: frozenset[str] | None = None,
    ) -> tuple[int, list[AkteView]]:
        """A page of Akten, only those of `org_units` unless None (need-to-know, see services.ingest.access)."""
        with uow:
            total, rows = uow.filing.akten(file_plan_class, limit, offset, org_units)
            return total, [self._view(row) for row in rows]

    def contents(
        self, uow: IngestUnitOfWork, aktenzeichen: str, keep: Callable[[DocumentRow], bool] = lambda _row: True
    ) -> list[VorgangView]:
        """The Akte's Vorgänge, each with its documents (those `keep` lets through: need-to-know), oldest first."""
        with uow:
            vorgaenge = uow.filing.vorgaenge_of(aktenzeichen)
            documents = [(row.vorgang_id, _filed(row)) for row in uow.documents.in_akte(aktenzeichen) if keep(row)]
        return [
            VorgangView(
                v.vorgang_id, v.title, v.created_at, [d for vorgang_id, d in documents if vorgang_id == v.vorgang_id]
            )
            for v in vorgaenge
        ]

    def place(
        self,
        uow: IngestUnitOfWork,
        aktenzeichen: str,
        vorgang_id: str,
        new_akte: AkteView | None,
        title: str,
        vorgang_title: str = "",
    ) -> Placement:
        """Resolve where an upload goes, inside the upload's (open) unit of work.

        `aktenzeichen` names an existing Akte; `new_akte` was opened for it; neither files it nowhere for now.
        A document joins the named Vorgang (by id, or by `vorgang_title` within the Akte), or starts a new one.
        """
        if new_akte:
            akte = new_akte
        elif aktenzeichen:
            row = uow.filing.akte(aktenzeichen)
            if row is None:
                raise FilingRefused("unknown_aktenzeichen", f"Aktenzeichen {aktenzeichen!r} does not exist")
            akte = self._view(row)
        else:
            return Placement(None, None)
        if vorgang_id:
            vorgang = uow.filing.vorgang(vorgang_id)
            if vorgang is None or vorgang.aktenzeichen != akte.aktenzeichen:
                raise FilingRefused("unknown_vorgang", f"Vorgang {vorgang_id!r} is not in {akte.aktenzeichen}")
            return Placement(akte, vorgang.vorgang_id)
        titled = uow.filing.vorgang_titled(akte.aktenzeichen, vorgang_title) if vorgang_title else None
        if titled is not None:
            return Placement(akte, titled.vorgang_id)
        vorgang = VorgangRow(
            vorgang_id=str(uuid.uuid4()), aktenzeichen=akte.aktenzeichen, title=vorgang_title or title or "Vorgang"
        )
        uow.filing.add_vorgang(vorgang)
        return Placement(akte, vorgang.vorgang_id)

    def check_request(
        self, uow: IngestUnitOfWork, aktenzeichen: str, file_plan_class: str, open_missing: bool = False
    ) -> None:
        """Refuse unknown references before any bytes are read (`open_missing`: a missing Akte is opened with
        its Aktenzeichen, which must then be well-formed and of a class of the file plan)."""
        if aktenzeichen and open_missing:
            self._class(self._class_of(aktenzeichen))
        elif aktenzeichen and self.akte(uow, aktenzeichen) is None:
            raise FilingRefused("unknown_aktenzeichen", f"Aktenzeichen {aktenzeichen!r} does not exist")
        if file_plan_class:
            self._class(file_plan_class)

    def _view(self, row: AkteRow) -> AkteView:
        # A class removed from the plan later: keep its records (archive), never destroy by default.
        plan_class = self.file_plan.get(row.file_plan_class) or FilePlanClass(
            row.file_plan_class, "(nicht mehr im Aktenplan)", 0, Disposal.ARCHIVE
        )
        return AkteView(row.aktenzeichen, row.title, plan_class, row.created_by, row.created_at, row.org_unit or "")


def _filed(row: DocumentRow) -> FiledDocument:
    history = tuple(StatusChange(DocumentStatus(h.status), h.at, h.by) for h in row.history)
    return FiledDocument(
        row.document_id,
        row.title,
        row.filename,
        row.sha256,
        row.content_type,
        row.created_at,
        status=furthest_status([h.status for h in history]),
        version=row.version,
        source=row.source,
        document_type=row.document_type,
        history=history,
    )
