"""Disposal to the state archive (Aussonderung) in xdomea's four steps, at the level of case files (Akten).

offer (0501, metadata only) → evaluation (0502: archive or destroy per object) → transfer (0503, XML plus
the primary documents, for what the archive chose; everything offered where no evaluation came) →
confirmation (0506): what was taken over is marked handed over and deleted here once its lock allows.
"""

import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.archive import xdomea
from services.archive.domain import DisposalRefused
from services.archive.service import ArchiveService
from services.archive.tables import ArchivedDocumentRow, XdomeaProcessRow
from shared.errors import Refused
from shared.events import utcnow
from shared.settings import Settings

# Akten are identified in xdomea by a UUID; ours is derived from the Aktenzeichen, so it is stable.
AKTE_NAMESPACE = uuid.UUID("6f1f3b7e-7c1e-4d38-9a55-5b1f2f1d4e10")


class AussonderungRefused(Refused):
    """A disposal step to the state archive that cannot be taken (nothing offered, unknown process, ...)."""


@dataclass(frozen=True)
class Package:
    """A ZIP to hand out: its file name, the process id and the entries (name, bytes or file path)."""

    process_id: str
    zip_name: str
    path: Path


@dataclass(frozen=True)
class ConfirmationResult:
    process_id: str
    handed_over: list[str]
    deleted: list[str]
    waiting_for_lock: list[str]
    failed: list[str]


def akte_object_id(aktenzeichen: str) -> str:
    return str(uuid.uuid5(AKTE_NAMESPACE, aktenzeichen))


class AussonderungService:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], archive: ArchiveService) -> None:
        self._settings = settings
        self._sessions = sessions
        self._archive = archive
        self._schema = settings.xdomea_schema or None
        self._sender = xdomea.Institution(name=settings.xdomea_sender)
        self._receiver = xdomea.Institution(name=settings.xdomea_receiver)

    # --- step 1: offer ----------------------------------------------------------------------------------
    def offer(self, aktenzeichen: list[str], user: str, workdir: Path) -> Package:
        files = self._file_records(aktenzeichen)
        process_id = str(uuid.uuid4())
        message = xdomea.build_offer(process_id, self._sender, self._receiver, files, schema=self._schema)
        with self._sessions() as session:
            session.add(
                XdomeaProcessRow(
                    process_id=process_id,
                    aktenzeichen=sorted(set(aktenzeichen)),
                    state="offered",
                    created_by=user,
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
            session.commit()
        zip_path = workdir / xdomea.offer_zip_name(process_id)
        with zip_path.open("wb") as out:
            xdomea.write_zip(out, [(xdomea.offer_xml_name(process_id), message)])
        return Package(process_id, zip_path.name, zip_path)

    # --- step 2: evaluation -----------------------------------------------------------------------------
    def evaluation(self, message: bytes) -> tuple[str, dict[str, str]]:
        """Record the archive's answer (0502); raises xdomea.XdomeaError for an invalid message."""
        process_id = xdomea.parse_evaluation(message, schema=self._schema).process_id  # which process it answers
        process = self._process(process_id)
        known = self._object_ids(self._file_records(process.aktenzeichen))
        evaluation = xdomea.parse_evaluation(message, process_id=process_id, known_ids=known, schema=self._schema)
        decisions = {object_id: disposal.value for object_id, disposal in evaluation.decisions.items()}
        with self._sessions() as session:
            row = session.get_one(XdomeaProcessRow, process_id)
            row.decisions, row.state, row.updated_at = decisions, "evaluated", utcnow()
            session.commit()
        return process_id, decisions

    # --- step 3: transfer -------------------------------------------------------------------------------
    def transfer(self, aktenzeichen: list[str], workdir: Path) -> Package:
        process = self._latest_process(aktenzeichen)
        files = self._file_records(process.aktenzeichen)
        if process.decisions:
            evaluation = xdomea.Evaluation(
                process_id=process.process_id,
                created_at=process.updated_at,
                sender=self._receiver,
                decisions={k: xdomea.Disposal(v) for k, v in process.decisions.items()},
            )
            chosen = xdomea.select_for_transfer(files, evaluation)
        else:
            chosen = files  # the two-step procedure: no evaluation came, everything offered goes over
        if not chosen:
            raise AussonderungRefused("nothing_chosen", "the state archive chose none of the offered objects")
        message, entries = xdomea.build_transfer(
            process.process_id, self._sender, self._receiver, chosen, schema=self._schema
        )
        document_ids = [document_id for _, document_id in entries]
        zip_entries: list[tuple[str, bytes | Path]] = [(xdomea.transfer_xml_name(process.process_id), message)]
        for name, document_id in entries:
            local = workdir / f"{document_id}.bin"
            row = self._archive.get(document_id)
            with local.open("wb") as out:
                for chunk in self._archive.verified_content(row):  # only bytes that still match their SHA-256
                    out.write(chunk)
            zip_entries.append((name, local))
        zip_path = workdir / xdomea.transfer_zip_name(process.process_id)
        with contextlib.ExitStack() as files, zip_path.open("wb") as out:
            opened = [
                (name, files.enter_context(src.open("rb")) if isinstance(src, Path) else src)
                for name, src in zip_entries
            ]
            xdomea.write_zip(out, opened)
        with self._sessions() as session:
            row = session.get_one(XdomeaProcessRow, process.process_id)
            row.transferred, row.state, row.updated_at = document_ids, "transferred", utcnow()
            session.commit()
        return Package(process.process_id, zip_path.name, zip_path)

    # --- step 4: confirmation ---------------------------------------------------------------------------
    def confirmation(self, message: bytes, user: str) -> ConfirmationResult:
        process_id = xdomea.parse_confirmation(message, schema=self._schema).process_id
        process = self._process(process_id)
        if process.state not in ("transferred", "confirmed"):
            raise AussonderungRefused("not_transferred", f"process {process_id} has not been transferred yet")
        known = self._object_ids(self._file_records(process.aktenzeichen))
        confirmation = xdomea.parse_confirmation(message, process_id=process_id, known_ids=known, schema=self._schema)
        succeeded = set(confirmation.succeeded_ids())
        transferred = set(process.transferred or [])
        # A document counts as taken over when it, its Vorgang or its Akte is confirmed as imported.
        handed = sorted(d for d in transferred if succeeded & self._lineage(d))
        failed = sorted(transferred - set(handed))
        deleted, waiting = [], []
        now = utcnow()
        for document_id in handed:
            self._mark_handed_over(document_id)
            try:
                self._archive.destroy(document_id, user, now, handed_over=True)
                deleted.append(document_id)
            except DisposalRefused:
                waiting.append(document_id)  # deleted here once the retention lock allows it
        with self._sessions() as session:
            row = session.get_one(XdomeaProcessRow, process_id)
            row.state, row.updated_at = "confirmed", utcnow()
            session.commit()
        return ConfirmationResult(process_id, handed, deleted, waiting, failed)

    # --- helpers ----------------------------------------------------------------------------------------
    def _process(self, process_id: str) -> XdomeaProcessRow:
        with self._sessions() as session:
            row = session.get(XdomeaProcessRow, process_id)
        if row is None:
            raise AussonderungRefused("unknown_process", f"no disposal process {process_id} was offered here")
        return row

    def _latest_process(self, aktenzeichen: list[str]) -> XdomeaProcessRow:
        wanted = sorted(set(aktenzeichen))
        with self._sessions() as session:
            rows = session.scalars(select(XdomeaProcessRow).order_by(XdomeaProcessRow.created_at.desc())).all()
        for row in rows:
            if row.aktenzeichen == wanted and row.state in ("offered", "evaluated"):
                return row
        raise AussonderungRefused("not_offered", "offer these Akten first (POST /api/v1/archive/xdomea/offer)")

    def _documents(self, aktenzeichen: list[str]) -> dict[str, list[ArchivedDocumentRow]]:
        if not aktenzeichen:
            raise AussonderungRefused("no_akten", "name at least one Aktenzeichen")
        with self._sessions() as session:
            rows = session.scalars(
                select(ArchivedDocumentRow)
                .where(ArchivedDocumentRow.aktenzeichen.in_(aktenzeichen), ArchivedDocumentRow.state == "archived")
                .order_by(ArchivedDocumentRow.received_at)
            ).all()
        grouped: dict[str, list[ArchivedDocumentRow]] = {}
        for row in rows:
            grouped.setdefault(row.aktenzeichen, []).append(row)
        missing = sorted(set(aktenzeichen) - set(grouped))
        if missing:
            raise AussonderungRefused("unknown_aktenzeichen", f"no archived documents in {', '.join(missing)}")
        return grouped

    def _file_records(self, aktenzeichen: list[str]) -> list[xdomea.FileRecord]:
        return [_file_record(az, rows) for az, rows in sorted(self._documents(aktenzeichen).items())]

    @staticmethod
    def _object_ids(files: list[xdomea.FileRecord]) -> set[str]:
        ids = set()
        for akte in files:
            ids.add(akte.object_id)
            for process in akte.processes:
                ids.add(process.object_id)
                ids.update(d.object_id for d in process.documents)
        return ids

    def _lineage(self, document_id: str) -> set[str]:
        row = self._archive.get(document_id)
        return {document_id, row.vorgang_id or _default_vorgang(row.aktenzeichen), akte_object_id(row.aktenzeichen)}

    def _mark_handed_over(self, document_id: str) -> None:
        with self._sessions() as session:
            row = session.get_one(ArchivedDocumentRow, document_id)
            row.state = "handed_over"
            session.commit()


def _default_vorgang(aktenzeichen: str) -> str:
    return str(uuid.uuid5(AKTE_NAMESPACE, f"{aktenzeichen}#vorgang"))


def _file_record(aktenzeichen: str, rows: list[ArchivedDocumentRow]) -> xdomea.FileRecord:
    first = rows[0]
    processes: dict[str, list[ArchivedDocumentRow]] = {}
    for row in rows:
        processes.setdefault(row.vorgang_id or _default_vorgang(aktenzeichen), []).append(row)
    return xdomea.FileRecord(
        object_id=akte_object_id(aktenzeichen),
        aktenzeichen=aktenzeichen,
        title=first.akte_title or aktenzeichen,
        file_plan_class=first.file_plan_class,
        file_plan_class_title=first.file_plan_title or first.file_plan_class,
        retention_years=first.retention_years,
        disposal=xdomea.Disposal(first.disposal or "archive"),
        opened_on=min(r.received_at for r in rows).date(),
        closed_on=max(r.archived_at for r in rows).date(),
        processes=[
            xdomea.ProcessRecord(
                object_id=vorgang_id,
                title=docs[0].title or "Vorgang",
                documents=[
                    xdomea.DocumentRecord(
                        object_id=d.document_id,
                        title=d.title or d.filename,
                        filename=d.filename or "dokument",
                        content_type=d.content_type,
                        size=d.size,
                        sha256=d.sha256,
                        created_at=d.received_at,
                    )
                    for d in docs
                ],
            )
            for vorgang_id, docs in processes.items()
        ],
    )


def stream_file(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            yield chunk


def new_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="eakte-xdomea-"))
