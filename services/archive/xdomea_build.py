"""Building the messages we send: 0501 (offer) and 0503 (transfer), and choosing what the 0503 carries."""

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from lxml import etree

from services.archive.xdomea_model import (
    Disposal,
    DocumentRecord,
    Evaluation,
    FileRecord,
    Institution,
    ProcessRecord,
    XdomeaError,
)
from services.archive.xdomea_xml import (
    AUSSONDERUNGSART,
    BEWERTUNGSVORSCHLAG,
    DATEIFORMAT,
    DATEIFORMAT_BY_EXTENSION,
    DATEIFORMAT_OTHER,
    DATEIFORMAT_PDF_A,
    DATENTYP,
    EXTENSION_ID,
    MEDIUM,
    MEDIUM_ELECTRONIC,
    _bool,
    _code,
    _datetime,
    _el,
    _extension,
    _new_message,
    _serialize,
    primary_file_name,
)


def _retention(parent: etree._Element, akte: FileRecord) -> None:
    """ArchivspezifischeMetadaten (MetadatenAussonderung): retention, disposal, proposal, end of retention."""
    meta = _el(parent, "ArchivspezifischeMetadaten")
    duration = _el(meta, "Aufbewahrungsdauer")
    if akte.retention_years is None:
        _el(duration, "Unbefristet", "1")
    else:
        _el(duration, "AnzahlJahre", str(akte.retention_years))
    _code(_el(meta, "Aussonderungsart"), "Aussonderungsart", akte.disposal.code, AUSSONDERUNGSART)
    _code(meta, "Bewertungsvorschlag", akte.disposal.code, BEWERTUNGSVORSCHLAG)
    end = akte.retention_end()
    if end is not None:
        _el(meta, "Aufbewahrungsende", end.isoformat())


def _period(parent: etree._Element, start: date | None, end: date | None) -> None:
    if start is None and end is None:
        return
    period = _el(parent, "Laufzeit")
    if start is not None:
        _el(period, "Beginn", start.isoformat())
    if end is not None:
        _el(period, "Ende", end.isoformat())


def _field(parent: etree._Element, name: str, datatype: str, value: str) -> None:
    field = _el(parent, "Feld")
    _el(field, "Name", name)
    _code(field, "Datentyp", datatype, DATENTYP)
    _el(field, "Wert", value)


def _integrity_extension(parent: etree._Element, document: DocumentRecord) -> None:
    """SHA-256, size, MIME type and intake time of the primary file (xdomea has no element for them)."""
    extension = _el(parent, "AnwendungsspezifischeErweiterung")
    _el(extension, "Kennung", EXTENSION_ID)
    _el(extension, "Name", "E-Akte Integritätsdaten")
    _el(extension, "Beschreibung", "Prüfsumme und Größe der Primärdatei, bei der Erfassung ermittelt (BSI TR-RESISCAN)")
    _field(extension, "SHA256", "018", document.sha256)  # 018 hexBinary
    _field(extension, "Dateigroesse", "043", str(document.size))  # 043 unsignedLong
    _field(extension, "MIMEType", "038", document.content_type)  # 038 string
    _field(extension, "Erfassungszeitpunkt", "006", _datetime(document.created_at))  # 006 dateTime


def _format_code(document: DocumentRecord) -> tuple[str, str]:
    ext = _extension(document)
    if ext == "pdf" and document.pdf_a:
        return DATEIFORMAT_PDF_A, ""
    code = DATEIFORMAT_BY_EXTENSION.get(ext)
    if code:
        return code, ""
    return DATEIFORMAT_OTHER, ext or document.content_type or "unbekannt"


def _document(
    parent: etree._Element, document: DocumentRecord, number: int, with_primary: bool
) -> tuple[str, str] | None:
    element = _el(parent, "Dokument")
    ident = _el(element, "Identifikation")
    _el(ident, "ID", document.object_id)
    _el(ident, "NummerImUebergeordnetenContainer", str(number))
    general = _el(element, "AllgemeineMetadaten")
    _el(general, "Betreff", document.title)
    _code(general, "Medium", MEDIUM_ELECTRONIC, MEDIUM)
    entry = None
    if with_primary:
        version = _el(element, "Version")
        _el(version, "Nummer", str(document.version))
        fmt = _el(version, "Format")
        code, other = _format_code(document)
        _code(fmt, "Name", code, DATEIFORMAT)
        if other:
            _el(fmt, "SonstigerName", other)
        _el(fmt, "Version", document.format_version)
        primary = _el(fmt, "Primaerdokument")
        file_name = primary_file_name(document)
        _el(primary, "Dateiname", file_name)
        _el(primary, "DateinameOriginal", document.filename)
        _el(primary, "DatumUhrzeit", _datetime(document.created_at))
        entry = (file_name, document.object_id)
    _integrity_extension(element, document)
    return entry


def _process(
    parent: etree._Element,
    akte: FileRecord,
    process: ProcessRecord,
    number: int,
    with_primary: bool,
    documents_by_id: Mapping[str, DocumentRecord] | None,
) -> list[tuple[str, str]]:
    element = _el(parent, "Vorgang")
    ident = _el(element, "Identifikation")
    _el(ident, "ID", process.object_id)
    _el(ident, "NummerImUebergeordnetenContainer", str(number))
    general = _el(element, "AllgemeineMetadaten")
    _el(general, "Betreff", process.title)
    _code(general, "Medium", MEDIUM_ELECTRONIC, MEDIUM)
    _retention(element, akte)  # inherited from the Akte, so the archive can decide per Vorgang
    documents = [_resolve(d, documents_by_id) for d in process.documents]
    dates = [d.created_at.date() for d in documents]
    _period(element, min(dates, default=None), max(dates, default=None))
    entries = []
    for index, document in enumerate(documents, start=1):
        entry = _document(element, document, index, with_primary)
        if entry:
            entries.append(entry)
    return entries


def _resolve(document: DocumentRecord, documents_by_id: Mapping[str, DocumentRecord] | None) -> DocumentRecord:
    if documents_by_id is None:
        return document
    found = documents_by_id.get(document.object_id)
    if found is None:
        raise XdomeaError(
            f"document {document.object_id} ({document.title!r}) has no stored primary file for the transfer; "
            "0503 must carry every primary document"
        )
    return found


def _file(
    parent: etree._Element,
    akte: FileRecord,
    with_primary: bool,
    documents_by_id: Mapping[str, DocumentRecord] | None = None,
) -> list[tuple[str, str]]:
    element = _el(_el(parent, "Schriftgutobjekt"), "Akte")
    _el(_el(element, "Identifikation"), "ID", akte.object_id)
    general = _el(element, "AllgemeineMetadaten")
    _el(general, "Betreff", akte.title)
    _el(general, "Kennzeichen", akte.aktenzeichen)
    _code(general, "Medium", MEDIUM_ELECTRONIC, MEDIUM)
    plan_unit = _el(general, "Aktenplaneinheit")
    _el(plan_unit, "Kennzeichen", akte.file_plan_class)
    _el(plan_unit, "Inhaltsangabe", akte.file_plan_class_title)
    _retention(element, akte)
    _period(element, akte.opened_on, akte.closed_on)
    entries: list[tuple[str, str]] = []
    if akte.processes:
        content = _el(element, "Akteninhalt")
        for index, process in enumerate(akte.processes, start=1):
            entries += _process(content, akte, process, index, with_primary, documents_by_id)
    if akte.closed_on is not None:
        _el(element, "ZdA", _bool(True))
        _el(element, "ZdADatum", akte.closed_on.isoformat())
    return entries


def _check_unique(files: Sequence[FileRecord]) -> None:
    if not files:
        raise XdomeaError("no files (Akten) given: a disposal message needs at least one Schriftgutobjekt")
    seen: set[str] = set()
    for akte in files:
        ids = [akte.object_id]
        for process in akte.processes:
            ids.append(process.object_id)
            ids += [d.object_id for d in process.documents]
        for object_id in ids:
            if object_id in seen:
                raise XdomeaError(f"object id {object_id} appears twice; every xdomea object needs its own UUID")
            seen.add(object_id)


# --- the disposal messages --------------------------------------------------------------------------------


def build_offer(
    process_id: str,
    sender: Institution,
    receiver: Institution,
    files: Sequence[FileRecord],
    *,
    created_at: datetime | None = None,
    note: str | None = None,
    request_receipt: bool = True,
    schema: Path | str | None = None,
    check: bool = True,
) -> bytes:
    """0501 Aussonderung.Anbieteverzeichnis: offer `files` (Akten with Vorgänge and Dokumente) to the archive.

    Metadata only, no primary documents. `request_receipt` asks for 0504 (Empfangsbestaetigung).
    The result is validated against the schema (`check`); an invalid message raises XdomeaError.
    """
    _check_unique(files)
    root, head = _new_message("0501", process_id, sender, receiver, created_at, note)
    _el(head, "Empfangsbestaetigung", _bool(request_receipt))
    for akte in files:
        _file(root, akte, with_primary=False)
    return _serialize(root, "0501", schema, check)


def build_transfer(
    process_id: str,
    sender: Institution,
    receiver: Institution,
    files: Sequence[FileRecord],
    documents_by_id: Mapping[str, DocumentRecord] | None = None,
    *,
    created_at: datetime | None = None,
    note: str | None = None,
    request_receipt: bool = True,
    request_archive_ids: bool = True,
    schema: Path | str | None = None,
    check: bool = True,
) -> tuple[bytes, list[tuple[str, str]]]:
    """0503 Aussonderung.Aussonderung: transfer the chosen files with references to their primary documents.

    `files` are the objects to hand over (see `select_for_transfer`). `documents_by_id` are the stored
    primary documents by document id: when given, every document in `files` must be in it (0503 carries
    all primary documents) and its record there is what the message describes. Returns the XML and the
    package entries `(file name in the zip, document id)`; the XML itself goes into the zip as
    `transfer_xml_name(process_id)`.
    """
    _check_unique(files)
    root, head = _new_message("0503", process_id, sender, receiver, created_at, note)
    _el(head, "Importbestaetigung", "1")  # fixed by the schema: the archive always confirms (0506)
    _el(head, "RueckmeldungArchivkennung", _bool(request_archive_ids))
    _el(head, "Empfangsbestaetigung", _bool(request_receipt))
    entries: list[tuple[str, str]] = []
    for akte in files:
        entries += _file(root, akte, with_primary=True, documents_by_id=documents_by_id)
    names = [name for name, _ in entries]
    if len(set(names)) != len(names):
        raise XdomeaError("two primary documents would get the same file name in the package")
    return _serialize(root, "0503", schema, check), entries


def select_for_transfer(files: Sequence[FileRecord], evaluation: Evaluation) -> list[FileRecord]:
    """The objects the archive chose (`A`) in its 0502 answer, ready for `build_transfer`.

    Decisions are inherited downwards: a Vorgang follows its own decision if the archive gave one, else its
    Akte's; a Dokument its own, else its Vorgang's. An Akte is handed over with the Vorgänge (and those with
    the Dokumente) that are to be archived; an Akte nobody chose, or with nothing left, is not.
    """
    decided = evaluation.decisions
    chosen: list[FileRecord] = []
    for akte in files:
        akte_decision = decided.get(akte.object_id)
        processes = []
        for process in akte.processes:
            process_decision = decided.get(process.object_id, akte_decision)
            documents = [d for d in process.documents if decided.get(d.object_id, process_decision) is Disposal.ARCHIVE]
            if process_decision is Disposal.ARCHIVE or documents:
                processes.append(replace(process, documents=documents))
        if processes or (akte_decision is Disposal.ARCHIVE and not akte.processes):
            chosen.append(replace(akte, processes=processes))
    return chosen
