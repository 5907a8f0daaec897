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
    add_code,
    add_element,
    file_extension,
    new_message,
    primary_file_name,
    serialize,
    xml_bool,
    xml_datetime,
)


def _retention(parent: etree._Element, akte: FileRecord) -> None:
    """ArchivspezifischeMetadaten (MetadatenAussonderung): retention, disposal, proposal, end of retention."""
    meta = add_element(parent, "ArchivspezifischeMetadaten")
    duration = add_element(meta, "Aufbewahrungsdauer")
    if akte.retention_years is None:
        add_element(duration, "Unbefristet", "1")
    else:
        add_element(duration, "AnzahlJahre", str(akte.retention_years))
    add_code(add_element(meta, "Aussonderungsart"), "Aussonderungsart", akte.disposal.code, AUSSONDERUNGSART)
    add_code(meta, "Bewertungsvorschlag", akte.disposal.code, BEWERTUNGSVORSCHLAG)
    end = akte.retention_end()
    if end is not None:
        add_element(meta, "Aufbewahrungsende", end.isoformat())


def _period(parent: etree._Element, start: date | None, end: date | None) -> None:
    if start is None and end is None:
        return
    period = add_element(parent, "Laufzeit")
    if start is not None:
        add_element(period, "Beginn", start.isoformat())
    if end is not None:
        add_element(period, "Ende", end.isoformat())


def _field(parent: etree._Element, name: str, datatype: str, value: str) -> None:
    field = add_element(parent, "Feld")
    add_element(field, "Name", name)
    add_code(field, "Datentyp", datatype, DATENTYP)
    add_element(field, "Wert", value)


def _integrity_extension(parent: etree._Element, document: DocumentRecord) -> None:
    """SHA-256, size, MIME type and intake time of the primary file (xdomea has no element for them)."""
    extension = add_element(parent, "AnwendungsspezifischeErweiterung")
    add_element(extension, "Kennung", EXTENSION_ID)
    add_element(extension, "Name", "E-Akte Integritätsdaten")
    add_element(
        extension, "Beschreibung", "Prüfsumme und Größe der Primärdatei, bei der Erfassung ermittelt (BSI TR-RESISCAN)"
    )
    _field(extension, "SHA256", "018", document.sha256)  # 018 hexBinary
    _field(extension, "Dateigroesse", "043", str(document.size))  # 043 unsignedLong
    _field(extension, "MIMEType", "038", document.content_type)  # 038 string
    _field(extension, "Erfassungszeitpunkt", "006", xml_datetime(document.created_at))  # 006 dateTime


def _format_code(document: DocumentRecord) -> tuple[str, str]:
    ext = file_extension(document)
    if ext == "pdf" and document.pdf_a:
        return DATEIFORMAT_PDF_A, ""
    code = DATEIFORMAT_BY_EXTENSION.get(ext)
    if code:
        return code, ""
    return DATEIFORMAT_OTHER, ext or document.content_type or "unbekannt"


def _document(
    parent: etree._Element, document: DocumentRecord, number: int, with_primary: bool
) -> tuple[str, str] | None:
    element = add_element(parent, "Dokument")
    ident = add_element(element, "Identifikation")
    add_element(ident, "ID", document.object_id)
    add_element(ident, "NummerImUebergeordnetenContainer", str(number))
    general = add_element(element, "AllgemeineMetadaten")
    add_element(general, "Betreff", document.title)
    add_code(general, "Medium", MEDIUM_ELECTRONIC, MEDIUM)
    entry = None
    if with_primary:
        version = add_element(element, "Version")
        add_element(version, "Nummer", str(document.version))
        fmt = add_element(version, "Format")
        code, other = _format_code(document)
        add_code(fmt, "Name", code, DATEIFORMAT)
        if other:
            add_element(fmt, "SonstigerName", other)
        add_element(fmt, "Version", document.format_version)
        primary = add_element(fmt, "Primaerdokument")
        file_name = primary_file_name(document)
        add_element(primary, "Dateiname", file_name)
        add_element(primary, "DateinameOriginal", document.filename)
        add_element(primary, "DatumUhrzeit", xml_datetime(document.created_at))
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
    element = add_element(parent, "Vorgang")
    ident = add_element(element, "Identifikation")
    add_element(ident, "ID", process.object_id)
    add_element(ident, "NummerImUebergeordnetenContainer", str(number))
    general = add_element(element, "AllgemeineMetadaten")
    add_element(general, "Betreff", process.title)
    add_code(general, "Medium", MEDIUM_ELECTRONIC, MEDIUM)
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
    element = add_element(add_element(parent, "Schriftgutobjekt"), "Akte")
    add_element(add_element(element, "Identifikation"), "ID", akte.object_id)
    general = add_element(element, "AllgemeineMetadaten")
    add_element(general, "Betreff", akte.title)
    add_element(general, "Kennzeichen", akte.aktenzeichen)
    add_code(general, "Medium", MEDIUM_ELECTRONIC, MEDIUM)
    plan_unit = add_element(general, "Aktenplaneinheit")
    add_element(plan_unit, "Kennzeichen", akte.file_plan_class)
    # The short title of the file plan class: x-man and other intake software read `BetreffKurz`.
    add_element(plan_unit, "BetreffKurz", akte.file_plan_class_title)
    _retention(element, akte)
    _period(element, akte.opened_on, akte.closed_on)
    entries: list[tuple[str, str]] = []
    if akte.processes:
        content = add_element(element, "Akteninhalt")
        for index, process in enumerate(akte.processes, start=1):
            entries += _process(content, akte, process, index, with_primary, documents_by_id)
    if akte.closed_on is not None:
        add_element(element, "ZdA", xml_bool(True))
        add_element(element, "ZdADatum", akte.closed_on.isoformat())
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
    root, head = new_message("0501", process_id, sender, receiver, created_at, note)
    add_element(head, "Empfangsbestaetigung", xml_bool(request_receipt))
    for akte in files:
        _file(root, akte, with_primary=False)
    return serialize(root, "0501", schema, check)


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
    root, head = new_message("0503", process_id, sender, receiver, created_at, note)
    add_element(head, "Importbestaetigung", "1")  # fixed by the schema: the archive always confirms (0506)
    add_element(head, "RueckmeldungArchivkennung", xml_bool(request_archive_ids))
    add_element(head, "Empfangsbestaetigung", xml_bool(request_receipt))
    entries: list[tuple[str, str]] = []
    for akte in files:
        entries += _file(root, akte, with_primary=True, documents_by_id=documents_by_id)
    names = [name for name, _ in entries]
    if len(set(names)) != len(names):
        raise XdomeaError("two primary documents would get the same file name in the package")
    return serialize(root, "0503", schema, check), entries


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
