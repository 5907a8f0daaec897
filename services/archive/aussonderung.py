"""Disposal to the state archive (Aussonderung) in xdomea's four steps, at the level of case files (Akten).

offer (0501, metadata only) → evaluation (0502: archive or destroy per object) → transfer (0503, XML plus
the primary documents, for what the archive chose; everything offered where no evaluation came) →
confirmation (0506): what was taken over is marked handed over and deleted here once its lock allows.
"""

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, TypeVar

from services.archive import disposal, retrieval, xdomea
from services.archive.access import facts_of
from services.archive.domain import AussonderungRefused, DisposalRefused, InvalidXdomea, XdomeaSchemaMissing
from services.archive.ports import Packages
from services.archive.tables import ArchivedDocumentRow, XdomeaProcessRow
from services.archive.unit_of_work import ArchiveUnitOfWork
from shared.errors import Refused
from shared.events import utcnow
from shared.need_to_know import Reader, may_open

# Akten are identified in xdomea by a UUID; ours is derived from the Aktenzeichen, so it is stable.
AKTE_NAMESPACE = uuid.UUID("6f1f3b7e-7c1e-4d38-9a55-5b1f2f1d4e10")
T = TypeVar("T")


@dataclass(frozen=True)
class Parties:
    """Who offers (this authority), who receives (the state archive), and the schema messages are checked with."""

    sender: xdomea.Institution
    receiver: xdomea.Institution
    schema: str | None = None


@dataclass(frozen=True)
class Package:
    """A ZIP to hand out: the process id, its file name and where it lies (in a directory of its own)."""

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


@dataclass(frozen=True)
class Process:
    """A disposal procedure as read from its row."""

    process_id: str
    aktenzeichen: list[str]
    state: str
    decisions: dict[str, str] | None
    transferred: list[str] | None
    updated_at: datetime


def akte_object_id(aktenzeichen: str) -> str:
    return str(uuid.uuid5(AKTE_NAMESPACE, aktenzeichen))


# --- step 1: offer ----------------------------------------------------------------------------------------
def offer(uow: ArchiveUnitOfWork, parties: Parties, aktenzeichen: list[str], user: str) -> Package:
    """The offer list (0501) for these Akten, as a ZIP in a new working directory."""
    _require_schema(parties)
    process_id = str(uuid.uuid4())
    with uow:
        files = _file_records(uow, aktenzeichen)
        message = xdomea.build_offer(process_id, parties.sender, parties.receiver, files, schema=parties.schema)
        now = utcnow()
        uow.processes.add(
            XdomeaProcessRow(
                process_id=process_id,
                aktenzeichen=sorted(set(aktenzeichen)),
                state="offered",
                created_by=user,
                created_at=now,
                updated_at=now,
            )
        )
    return _in_workdir(lambda workdir: _offer_zip(workdir, process_id, message))


def _offer_zip(workdir: Path, process_id: str, message: bytes) -> Package:
    zip_path = workdir / xdomea.offer_zip_name(process_id)
    with zip_path.open("wb") as out:
        xdomea.write_zip(out, [(xdomea.offer_xml_name(process_id), message)])
    return Package(process_id, zip_path.name, zip_path)


# --- step 2: evaluation -----------------------------------------------------------------------------------
def evaluation(uow: ArchiveUnitOfWork, parties: Parties, message: bytes) -> tuple[str, dict[str, str]]:
    """Record the archive's answer (0502): archive or destroy per object offered."""
    _require_schema(parties)
    process_id = _readable(lambda: xdomea.parse_evaluation(message, schema=parties.schema)).process_id
    with uow:
        row = _process_row(uow, process_id)
        known = _object_ids(_file_records(uow, row.aktenzeichen))
        answer = _readable(
            lambda: xdomea.parse_evaluation(message, process_id=process_id, known_ids=known, schema=parties.schema)
        )
        decisions = {object_id: decision.value for object_id, decision in answer.decisions.items()}
        row.decisions, row.state, row.updated_at = decisions, "evaluated", utcnow()
    return process_id, decisions


# --- step 3: transfer -------------------------------------------------------------------------------------
def transfer(
    uow: ArchiveUnitOfWork, packages: Packages, parties: Parties, aktenzeichen: list[str], reader: Reader
) -> Package:
    """The transfer package (0503: XML plus the primary documents) for what the archive chose.

    It carries originals: whoever asks must be allowed to open every one of them (confidential classes are
    the owning org unit's and the records office's, not an admin's).
    """
    _require_schema(parties)
    with uow:
        process = _latest_process(uow, aktenzeichen)
        files = _file_records(uow, process.aktenzeichen)
        if not all(may_open(reader, facts_of(row)) for row in uow.documents.archived_in(process.aktenzeichen)):
            raise Refused("forbidden", "the transfer carries confidential originals that only the records office opens")
    chosen = _chosen(process, files, parties)
    if not chosen:
        raise AussonderungRefused("nothing_chosen", "the state archive chose none of the offered objects")
    message, entries = xdomea.build_transfer(
        process.process_id, parties.sender, parties.receiver, chosen, schema=parties.schema
    )
    package = _in_workdir(lambda workdir: _transfer_zip(uow, packages, workdir, process.process_id, message, entries))
    with uow:
        row = _process_row(uow, process.process_id)
        row.transferred = [document_id for _, document_id in entries]
        row.state, row.updated_at = "transferred", utcnow()
    return package


def _chosen(process: Process, files: list[xdomea.FileRecord], parties: Parties) -> list[xdomea.FileRecord]:
    if not process.decisions:
        return files  # the two-step procedure: no evaluation came, everything offered goes over
    answer = xdomea.Evaluation(
        process_id=process.process_id,
        created_at=process.updated_at,
        sender=parties.receiver,
        decisions={k: xdomea.Disposal(v) for k, v in process.decisions.items()},
    )
    return xdomea.select_for_transfer(files, answer)


def _transfer_zip(
    uow: ArchiveUnitOfWork,
    packages: Packages,
    workdir: Path,
    process_id: str,
    message: bytes,
    entries: list[tuple[str, str]],
) -> Package:
    documents: list[tuple[str, Path]] = []
    for name, document_id in entries:
        local = workdir / f"{document_id}.bin"
        content = retrieval.verified_content(uow, packages, document_id)  # only bytes that still match
        with local.open("wb") as out:
            for chunk in content.chunks:
                out.write(chunk)
        documents.append((name, local))
    zip_path = workdir / xdomea.transfer_zip_name(process_id)
    with contextlib.ExitStack() as opened, zip_path.open("wb") as out:
        zip_entries: list[tuple[str, bytes | BinaryIO]] = [(xdomea.transfer_xml_name(process_id), message)]
        zip_entries += [(name, opened.enter_context(local.open("rb"))) for name, local in documents]
        xdomea.write_zip(out, zip_entries)
    return Package(process_id, zip_path.name, zip_path)


# --- step 4: confirmation ---------------------------------------------------------------------------------
def confirmation(
    uow: ArchiveUnitOfWork, packages: Packages, parties: Parties, message: bytes, user: str
) -> ConfirmationResult:
    """Record the import confirmation (0506): what was taken over is marked handed over and deleted here once
    its lock allows it."""
    _require_schema(parties)
    process_id = _readable(lambda: xdomea.parse_confirmation(message, schema=parties.schema)).process_id
    with uow:
        process = _process(_process_row(uow, process_id))
        if process.state not in ("transferred", "confirmed"):
            raise AussonderungRefused("not_transferred", f"process {process_id} has not been transferred yet")
        known = _object_ids(_file_records(uow, process.aktenzeichen))
        answer = _readable(
            lambda: xdomea.parse_confirmation(message, process_id=process_id, known_ids=known, schema=parties.schema)
        )
        succeeded = set(answer.succeeded_ids())
        transferred = set(process.transferred or [])
        # A document counts as taken over when it, its Vorgang or its Akte is confirmed as imported.
        handed = sorted(d for d in transferred if succeeded & _lineage(uow, d))
        for document_id in handed:
            retrieval.get_row(uow, document_id).state = "handed_over"
    deleted, waiting = _delete_handed_over(uow, packages, handed, user)
    with uow:
        row = _process_row(uow, process_id)
        row.state, row.updated_at = "confirmed", utcnow()
    return ConfirmationResult(process_id, handed, deleted, waiting, sorted(transferred - set(handed)))


def _delete_handed_over(
    uow: ArchiveUnitOfWork, packages: Packages, handed: list[str], user: str
) -> tuple[list[str], list[str]]:
    """(deleted now, waiting for their retention lock)."""
    deleted, waiting = [], []
    now = utcnow()
    for document_id in handed:
        try:
            disposal.destroy(uow, packages, document_id, user, now, handed_over=True)
            deleted.append(document_id)
        except DisposalRefused:
            waiting.append(document_id)  # deleted here once the retention lock allows it
    return deleted, waiting


# --- the schema every message is checked against ----------------------------------------------------------
SCHEMA_ADVICE = (
    "EAKTE_XDOMEA_SCHEMA names xdomea.xsd of the official xdomea 3.0.0 distribution "
    "(docker compose: see .env.example and deploy/xdomea/README.md)"
)


def schema_warning(parties: Parties) -> str | None:
    """What the archive says at start when xdomea disposal cannot run here (None: the schema loads)."""
    problem = xdomea.schema_problem(parties.schema)
    if problem is None:
        return None
    configured = parties.schema or os.environ.get(xdomea.SCHEMA_ENV, "").strip()
    why = problem if configured else f"no xdomea schema is configured ({xdomea.SCHEMA_ENV} is empty; {problem})"
    return (
        f"xdomea disposal to the state archive (/api/v1/archive/xdomea/...) is NOT available: {why}. "
        f"Every xdomea step answers 503 xdomea_schema_missing until {SCHEMA_ADVICE}."
    )


def _require_schema(parties: Parties) -> None:
    """Every message is checked against the schema: without it no disposal step runs (503, not unchecked)."""
    problem = xdomea.schema_problem(parties.schema)
    if problem is not None:
        raise XdomeaSchemaMissing(f"xdomea disposal is not available here: {problem}; {SCHEMA_ADVICE}")


# --- helpers ----------------------------------------------------------------------------------------------
def _readable(read: Callable[[], T]) -> T:
    """Read a message from the state archive; an unreadable one is refused as `invalid_xdomea`."""
    try:
        return read()
    except xdomea.XdomeaError as exc:
        raise InvalidXdomea(str(exc)) from exc


def _in_workdir(build: Callable[[Path], Package]) -> Package:
    """Build a package in a new working directory, which is removed again when building fails."""
    workdir = Path(tempfile.mkdtemp(prefix="eakte-xdomea-"))
    try:
        return build(workdir)
    except BaseException:
        shutil.rmtree(workdir, True)
        raise


def _process_row(uow: ArchiveUnitOfWork, process_id: str) -> XdomeaProcessRow:
    row = uow.processes.get(process_id)
    if row is None:
        raise AussonderungRefused("unknown_process", f"no disposal process {process_id} was offered here")
    return row


def _process(row: XdomeaProcessRow) -> Process:
    return Process(row.process_id, row.aktenzeichen, row.state, row.decisions, row.transferred, row.updated_at)


def _latest_process(uow: ArchiveUnitOfWork, aktenzeichen: list[str]) -> Process:
    wanted = sorted(set(aktenzeichen))
    for row in uow.processes.newest_first():
        if row.aktenzeichen == wanted and row.state in ("offered", "evaluated"):
            return _process(row)
    raise AussonderungRefused("not_offered", "offer these Akten first (POST /api/v1/archive/xdomea/offer)")


def _file_records(uow: ArchiveUnitOfWork, aktenzeichen: list[str]) -> list[xdomea.FileRecord]:
    if not aktenzeichen:
        raise AussonderungRefused("no_akten", "name at least one Aktenzeichen")
    grouped: dict[str, list[ArchivedDocumentRow]] = {}
    for row in uow.documents.archived_in(aktenzeichen):
        grouped.setdefault(row.aktenzeichen, []).append(row)
    missing = sorted(set(aktenzeichen) - set(grouped))
    if missing:
        raise AussonderungRefused("unknown_aktenzeichen", f"no archived documents in {', '.join(missing)}")
    return [_file_record(az, rows) for az, rows in sorted(grouped.items())]


def _object_ids(files: list[xdomea.FileRecord]) -> set[str]:
    ids = set()
    for akte in files:
        ids.add(akte.object_id)
        for process in akte.processes:
            ids.add(process.object_id)
            ids.update(d.object_id for d in process.documents)
    return ids


def _lineage(uow: ArchiveUnitOfWork, document_id: str) -> set[str]:
    row = retrieval.get_row(uow, document_id)
    return {document_id, row.vorgang_id or _default_vorgang(row.aktenzeichen), akte_object_id(row.aktenzeichen)}


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
