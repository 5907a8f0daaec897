"""xdomea 3.0.0 messages for disposal (`Aussonderung`) to the state archive: build, read, validate, package.

The process (xdomea "Aussonderung durchführen"), one `ProzessID` (UUID) throughout:
  0501 Aussonderung.Anbieteverzeichnis   we offer files (metadata only)              -> `build_offer`
  0502 Aussonderung.Bewertungsverzeichnis the archive answers A (archive) / V (destroy) -> `parse_evaluation`
  0503 Aussonderung.Aussonderung         we transfer the chosen objects with files    -> `build_transfer`
  0506 Aussonderung.AussonderungImportBestaetigen  the archive confirms the import    -> `parse_confirmation`

Every message built here is validated against the official schema before it is returned, and every
message read is validated before it is trusted. Pure: the standard library and lxml, nothing of Kafka,
MinIO or HTTP. The schema is `xdomea.xsd` from the xdomea 3.0.0 distribution; where it lies comes from the
`schema` argument, else `EAKTE_XDOMEA_SCHEMA`, else `../shared/xdomea/xdomea_3.0.0/xdomea.xsd` beside the
project root.
"""

import os
import re
import shutil
import threading
import unicodedata
import zipfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from functools import lru_cache
from importlib import metadata
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from services.archive.xdomea_model import (
    Confirmation,
    Disposal,
    DocumentRecord,
    Evaluation,
    FileRecord,
    ImportedObject,
    Institution,
    ProcessRecord,
    XdomeaError,
    XdomeaSchemaUnavailable,
    object_uuid,
)

__all__ = [
    "MESSAGES",
    "NS",
    "Confirmation",
    "Disposal",
    "DocumentRecord",
    "Evaluation",
    "FileRecord",
    "ImportedObject",
    "Institution",
    "ProcessRecord",
    "XdomeaError",
    "XdomeaSchemaUnavailable",
    "build_confirmation",
    "build_evaluation",
    "build_offer",
    "build_transfer",
    "build_zip",
    "message_file_name",
    "offer_xml_name",
    "offer_zip_name",
    "parse_confirmation",
    "parse_evaluation",
    "primary_file_name",
    "schema_path",
    "select_for_transfer",
    "transfer_xml_name",
    "transfer_zip_name",
    "validate",
    "write_zip",
]

NS = "urn:xoev-de:xdomea:schema:3.0.0"
_X = f"{{{NS}}}"
SCHEMA_ENV = "EAKTE_XDOMEA_SCHEMA"
DEFAULT_SCHEMA_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "xdomea" / "xdomea_3.0.0" / "xdomea.xsd"

# Message type code (code list Nachrichtentyp 2.0) -> root element name.
MESSAGES: dict[str, str] = {
    "0501": "Aussonderung.Anbieteverzeichnis.0501",
    "0502": "Aussonderung.Bewertungsverzeichnis.0502",
    "0503": "Aussonderung.Aussonderung.0503",
    "0504": "Aussonderung.AnbietungEmpfangBestaetigen.0504",
    "0505": "Aussonderung.BewertungEmpfangBestaetigen.0505",
    "0506": "Aussonderung.AussonderungImportBestaetigen.0506",
    "0507": "Aussonderung.AussonderungEmpfangBestaetigen.0507",
}

# Code lists: (listURI, listVersionID) exactly as the schema fixes them.
NACHRICHTENTYP = ("urn:xoev-de:xdomea:codeliste:nachrichtentyp", "2.0")
AUSSONDERUNGSART = ("urn:xoev-de:xdomea:codeliste:aussonderungsart", "1.0")
BEWERTUNGSVORSCHLAG = ("urn:xoev-de:xdomea:codeliste:bewertungsvorschlag", "1.0")
MEDIUM = ("urn:xoev-de:xdomea:codeliste:medium", "1.0")
DATEIFORMAT = ("urn:xoev-de:xdomea:codeliste:dateiformat", "1.0")
DATENTYP = ("urn:xoev-de:xdomea:codeliste:datentyp", "1.1")
MEDIUM_ELECTRONIC = "001"
DATEIFORMAT_OTHER = "100"

# Code list Dateiformat 1.0: file extension -> code (044 is PDF/A, chosen by DocumentRecord.pdf_a).
DATEIFORMAT_BY_EXTENSION: dict[str, str] = {
    "bmp": "001", "csv": "002", "doc": "003", "eml": "006", "htm": "007", "html": "008", "jpe": "009",
    "jpeg": "010", "jpg": "011", "msg": "012", "odp": "013", "ods": "014", "odt": "015", "otp": "016",
    "ots": "017", "pdf": "018", "png": "019", "ppt": "020", "ps": "021", "rtf": "022", "tif": "023",
    "tiff": "024", "wps": "025", "xlc": "026", "xlm": "027", "xls": "028", "xlw": "029", "xml": "030",
    "xsd": "031", "dot": "032", "pot": "033", "xlt": "034", "docx": "035", "xlsx": "036", "pptx": "037",
    "dotx": "038", "xltx": "039", "potx": "040", "dtd": "041", "mpp": "042", "ott": "043", "txt": "045",
}  # fmt: skip
DATEIFORMAT_PDF_A = "044"
EXTENSION_BY_CONTENT_TYPE: dict[str, str] = {
    "application/pdf": "pdf",
    "image/tiff": "tif",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/bmp": "bmp",
    "text/plain": "txt",
    "text/csv": "csv",
    "text/html": "html",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/rtf": "rtf",
    "message/rfc822": "eml",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.presentation": "odp",
}

PRODUCT_NAME = "E-Akte"
EXTENSION_ID = "urn:eakte:xdomea:erweiterung:integritaet:1.0"

_SCHEMA_LOCK = threading.Lock()
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _product_version() -> str:
    try:
        return metadata.version("eakte")
    except metadata.PackageNotFoundError:
        return "0.0.0"


# --- names ------------------------------------------------------------------------------------------------


def message_name(message: str) -> str:
    """`0502` or `Aussonderung.Bewertungsverzeichnis.0502` -> `Aussonderung.Bewertungsverzeichnis.0502`."""
    if message in MESSAGES:
        return MESSAGES[message]
    if message in MESSAGES.values():
        return message
    raise XdomeaError(f"unknown disposal message {message!r}; known: {', '.join(MESSAGES.values())}")


def message_file_name(process_id: str, message: str, suffix: str = "xml") -> str:
    """`<ProzessID>_<message>.<suffix>`, e.g. `<uuid>_Aussonderung.Aussonderung.0503.zip`."""
    return f"{object_uuid(process_id, 'process_id')}_{message_name(message)}.{suffix}"


def offer_zip_name(process_id: str) -> str:
    return message_file_name(process_id, "0501", "zip")


def offer_xml_name(process_id: str) -> str:
    return message_file_name(process_id, "0501", "xml")


def transfer_zip_name(process_id: str) -> str:
    return message_file_name(process_id, "0503", "zip")


def transfer_xml_name(process_id: str) -> str:
    return message_file_name(process_id, "0503", "xml")


_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})


def _extension(document: DocumentRecord) -> str:
    name = document.filename.replace("\\", "/").rsplit("/", 1)[-1]
    if "." in name.strip("."):
        return name.rsplit(".", 1)[1].lower()
    return EXTENSION_BY_CONTENT_TYPE.get(document.content_type.split(";", 1)[0].strip().lower(), "")


def primary_file_name(document: DocumentRecord) -> str:
    """The primary file's name in the 0503 package: `<document UUID>_<safe original name>`.

    xdomea's `stringDateinameType` wants a UUID first; the rest is the original name in plain ASCII
    (umlauts spelled out, anything else unusual replaced by `_`), so any archive's unzip copes with it.
    """
    name = document.filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem.strip("."):
        stem, ext = name, ""
    ext = re.sub(r"[^A-Za-z0-9]", "", ext)[:10].lower() or _extension(document)
    ascii_stem = unicodedata.normalize("NFKD", stem.translate(_UMLAUTS)).encode("ascii", "ignore").decode()
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_stem).strip("._-")[:100] or "dokument"
    return f"{document.object_id}_{safe}.{ext}" if ext else f"{document.object_id}_{safe}"


# --- schema and validation --------------------------------------------------------------------------------


def schema_path(schema: Path | str | None = None) -> Path:
    """Where `xdomea.xsd` is: the argument, else `EAKTE_XDOMEA_SCHEMA`, else `../shared/xdomea` beside the project."""
    if schema:
        return Path(schema)
    configured = os.environ.get(SCHEMA_ENV, "").strip()
    return Path(configured) if configured else DEFAULT_SCHEMA_PATH


@lru_cache(maxsize=4)
def _load_schema(path: Path) -> etree.XMLSchema:
    if not path.is_file():
        raise XdomeaSchemaUnavailable(f"xdomea schema not found at {path} (set {SCHEMA_ENV} to xdomea.xsd)")
    try:
        parser = etree.XMLParser(no_network=True, resolve_entities=False)
        return etree.XMLSchema(etree.parse(str(path), parser))
    except (etree.XMLSyntaxError, etree.XMLSchemaParseError, OSError) as exc:
        raise XdomeaSchemaUnavailable(f"xdomea schema at {path} cannot be loaded: {exc}") from exc


def _schema(schema: Path | str | None) -> etree.XMLSchema:
    return _load_schema(schema_path(schema).resolve())


def _parse(xml: bytes) -> etree._ElementTree:
    if not isinstance(xml, bytes | bytearray):
        raise XdomeaError(f"expected the message as bytes, got {type(xml).__name__}")
    if not xml.strip():
        raise XdomeaError("the message is empty")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=False
    )
    try:
        tree = etree.ElementTree(etree.fromstring(bytes(xml), parser))
    except etree.XMLSyntaxError as exc:
        raise XdomeaError(f"not well-formed XML: {exc}") from exc
    if tree.docinfo.doctype:
        raise XdomeaError("a DOCTYPE is not allowed in an xdomea message")
    return tree


def _check_root(tree: etree._ElementTree, expected: str) -> etree._Element:
    root = tree.getroot()
    qname = etree.QName(root)
    if qname.namespace != NS:
        raise XdomeaError(
            f"not an xdomea 3.0.0 message: root element {qname.localname!r} is in namespace "
            f"{qname.namespace or '(none)'!r}, expected {NS!r} and {expected}"
        )
    if qname.localname != expected:
        raise XdomeaError(f"wrong message type: expected {expected}, got {qname.localname}")
    return root


def _schema_check(tree: etree._ElementTree, expected: str, schema: Path | str | None) -> None:
    xsd = _schema(schema)
    # One validation at a time: an lxml schema object keeps its error log on itself.
    with _SCHEMA_LOCK:
        ok = xsd.validate(tree)
        errors = [f"line {e.line}: {e.message}" for e in list(xsd.error_log)[:5]]
    if not ok:
        raise XdomeaError(f"{expected} is not valid against the xdomea 3.0.0 schema: " + "; ".join(errors))


def _check_message_code(root: etree._Element, expected: str) -> None:
    code = (root.findtext(f"{_X}Kopf/{_X}Nachrichtentyp/code") or "").strip()
    if code != expected.rsplit(".", 1)[1]:
        raise XdomeaError(f"Nachrichtentyp code {code!r} in the Kopf does not match the message {expected}")


def validate(xml: bytes, expected_message: str, *, schema: Path | str | None = None) -> None:
    """Check that `xml` is the message `expected_message` (`0502` or its element name) and valid per the schema.

    Raises XdomeaError naming the problem (not XML, other message, schema errors with line numbers),
    XdomeaSchemaUnavailable when the schema itself cannot be loaded.
    """
    _read(xml, expected_message, schema)


def _read(xml: bytes, message: str, schema: Path | str | None) -> etree._Element:
    expected = message_name(message)
    tree = _parse(xml)
    root = _check_root(tree, expected)
    _schema_check(tree, expected, schema)
    _check_message_code(root, expected)
    return root


# --- building blocks --------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return _INVALID_XML_CHARS.sub("", text)


def _el(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _X + name)
    if text is not None:
        element.text = _clean(text)
    return element


def _code(
    parent: etree._Element, name: str, code: str, code_list: tuple[str, str] | None = None, label: str = ""
) -> etree._Element:
    element = _el(parent, name)
    if code_list:
        element.set("listURI", code_list[0])
        element.set("listVersionID", code_list[1])
    etree.SubElement(element, "code").text = code  # xoev-code: code and name are unqualified
    if label:
        etree.SubElement(element, "name").text = _clean(label)
    return element


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _datetime(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def _contact(parent: etree._Element, name: str, who: Institution) -> None:
    contact = _el(parent, name)
    if who.authority_key:
        authority = _el(contact, "Behoerdenkennung")
        key = _el(authority, "Behoerdenschluessel")
        if who.authority_key_list_uri:
            key.set("listURI", who.authority_key_list_uri)
        if who.authority_key_list_version:
            key.set("listVersionID", who.authority_key_list_version)
        etree.SubElement(key, "code").text = _clean(who.authority_key)
    institution = _el(contact, "Institution")
    _el(institution, "Name", who.name)
    if who.abbreviation:
        _el(institution, "Kurzbezeichnung", who.abbreviation)
    if who.org_unit:
        _el(_el(contact, "Organisationseinheit"), "Name", who.org_unit)


def _new_message(
    code: str,
    process_id: str,
    sender: Institution,
    receiver: Institution,
    created_at: datetime | None,
    note: str | None,
) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(_X + MESSAGES[code], nsmap={"xdomea": NS})
    head = _el(root, "Kopf")
    _el(head, "ProzessID", object_uuid(process_id, "process_id"))
    _code(head, "Nachrichtentyp", code, NACHRICHTENTYP)
    _el(head, "Erstellungszeitpunkt", _datetime(created_at or datetime.now(UTC)))
    _contact(head, "Absender", sender)
    _contact(head, "Empfaenger", receiver)
    system = _el(head, "SendendesSystem")
    _el(system, "Produktname", PRODUCT_NAME)
    _el(system, "Version", _product_version())
    if note:
        _el(head, "Hinweis", note)
    return root, head


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


def _serialize(root: etree._Element, code: str, schema: Path | str | None, check: bool) -> bytes:
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    if check:
        validate(xml, code, schema=schema)
    return xml


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


def _text(element: etree._Element, path: str) -> str:
    return (element.findtext(path) or "").strip()


def _institution(head: etree._Element, name: str) -> Institution:
    contact = head.find(_X + name)
    if contact is None:  # the schema makes it mandatory
        return Institution(name="")
    return Institution(
        name=_text(contact, f"{_X}Institution/{_X}Name"),
        abbreviation=_text(contact, f"{_X}Institution/{_X}Kurzbezeichnung"),
        authority_key=_text(contact, f"{_X}Behoerdenkennung/{_X}Behoerdenschluessel/code"),
        org_unit=_text(contact, f"{_X}Organisationseinheit/{_X}Name"),
    )


def _parse_datetime(value: str) -> datetime:
    # xs:dateTime may carry more than six fractional digits; Python takes at most six.
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", value)
    try:
        return datetime.fromisoformat(trimmed)
    except ValueError as exc:
        raise XdomeaError(f"Erstellungszeitpunkt {value!r} cannot be read") from exc


def _head(root: etree._Element, process_id: str | None) -> tuple[str, datetime, Institution]:
    head = root.find(_X + "Kopf")
    assert head is not None  # guaranteed by the schema
    found = object_uuid(_text(head, _X + "ProzessID"), "ProzessID")
    if process_id is not None and found != object_uuid(process_id, "process_id"):
        raise XdomeaError(f"ProzessID {found} does not belong to this disposal (expected {process_id})")
    return found, _parse_datetime(_text(head, _X + "Erstellungszeitpunkt")), _institution(head, "Absender")


def _unknown(ids: Iterable[str], known_ids: Collection[str] | None, what: str) -> None:
    if known_ids is None:
        return
    known = {object_uuid(k) for k in known_ids}
    unknown = sorted(set(ids) - known)
    if unknown:
        raise XdomeaError(f"the message names objects that were not {what}: {', '.join(unknown)}")


def parse_evaluation(
    xml: bytes,
    *,
    process_id: str | None = None,
    known_ids: Collection[str] | None = None,
    schema: Path | str | None = None,
) -> Evaluation:
    """Read 0502 Aussonderung.Bewertungsverzeichnis: the archive's decision per object (A archive, V destroy).

    Raises XdomeaError for anything that is not a schema-valid 0502, for a ProzessID other than
    `process_id` (when given), for objects outside `known_ids` (when given), for an object decided twice
    in different ways, and for entries without a decision (`B`, or a configurable Aussonderungsart).
    """
    root = _read(xml, "0502", schema)
    found_process, created_at, sender = _head(root, process_id)
    decisions: dict[str, Disposal] = {}
    for item in root.iterfind(_X + "BewertetesObjekt"):
        object_id = object_uuid(_text(item, _X + "ID"), "BewertetesObjekt ID")
        art = item.find(_X + "Aussonderungsart")
        assert art is not None  # guaranteed by the schema
        code = _text(art, f"{_X}Aussonderungsart/code")
        if not code:
            configured = _text(art, _X + "AussonderungsartKonfigurierbar")
            raise XdomeaError(
                f"object {object_id}: configurable Aussonderungsart {configured!r} is not supported; "
                "expected code A (archive) or V (destroy)"
            )
        if code == "B":
            raise XdomeaError(
                f"object {object_id}: Aussonderungsart B (to be evaluated) is no decision; expected A or V"
            )
        decision = Disposal.from_code(code)
        if decisions.get(object_id, decision) is not decision:
            raise XdomeaError(f"object {object_id} is evaluated twice with different decisions")
        decisions[object_id] = decision
    _unknown(decisions, known_ids, "offered")
    return Evaluation(process_id=found_process, created_at=created_at, sender=sender, decisions=decisions)


def parse_confirmation(
    xml: bytes,
    *,
    process_id: str | None = None,
    known_ids: Collection[str] | None = None,
    schema: Path | str | None = None,
) -> Confirmation:
    """Read 0506 Aussonderung.AussonderungImportBestaetigen: per transferred object, taken over or not.

    Raises XdomeaError for anything that is not a schema-valid 0506, for a ProzessID other than
    `process_id` (when given), for objects outside `known_ids` (when given) and for an object listed twice.
    """
    root = _read(xml, "0506", schema)
    found_process, created_at, sender = _head(root, process_id)
    objects: list[ImportedObject] = []
    seen: set[str] = set()
    for item in root.iterfind(_X + "AusgesondertesSGO"):
        object_id = object_uuid(_text(item, _X + "IDSGO"), "AusgesondertesSGO IDSGO")
        if object_id in seen:
            raise XdomeaError(f"object {object_id} is confirmed twice")
        seen.add(object_id)
        objects.append(
            ImportedObject(
                object_id=object_id,
                success=_text(item, _X + "Erfolgreich") in ("true", "1"),
                errors=tuple((e.text or "").strip() for e in item.iterfind(_X + "Fehlermeldung")),
                error_codes=tuple(_text(e, "code") for e in item.iterfind(_X + "FehlermeldungCode")),
                archive_id=_text(item, _X + "Archivkennung") or None,
            )
        )
    _unknown(seen, known_ids, "transferred")
    return Confirmation(process_id=found_process, created_at=created_at, sender=sender, objects=tuple(objects))


# --- the archive's side, for tests and a simulated state archive ------------------------------------------


def build_evaluation(
    process_id: str,
    sender: Institution,
    receiver: Institution,
    decisions: Mapping[str, Disposal | str],
    *,
    created_at: datetime | None = None,
    request_receipt: bool = False,
    schema: Path | str | None = None,
    check: bool = True,
) -> bytes:
    """0502 as a state archive would send it (for tests and a simulated archive)."""
    if not decisions:
        raise XdomeaError("a Bewertungsverzeichnis needs at least one evaluated object")
    root, head = _new_message("0502", process_id, sender, receiver, created_at, None)
    _el(head, "Empfangsbestaetigung", _bool(request_receipt))
    for object_id, decision in decisions.items():
        item = _el(root, "BewertetesObjekt")
        _el(item, "ID", object_uuid(object_id))
        _code(_el(item, "Aussonderungsart"), "Aussonderungsart", Disposal(decision).code, AUSSONDERUNGSART)
    return _serialize(root, "0502", schema, check)


def build_confirmation(
    process_id: str,
    sender: Institution,
    receiver: Institution,
    objects: Sequence[ImportedObject],
    *,
    created_at: datetime | None = None,
    schema: Path | str | None = None,
    check: bool = True,
) -> bytes:
    """0506 as a state archive would send it (for tests and a simulated archive). Error codes are left out."""
    if not objects:
        raise XdomeaError("an import confirmation needs at least one object")
    root, _ = _new_message("0506", process_id, sender, receiver, created_at, None)
    for obj in objects:
        item = _el(root, "AusgesondertesSGO")
        _el(item, "IDSGO", object_uuid(obj.object_id))
        _el(item, "Erfolgreich", _bool(obj.success))
        for error in obj.errors:
            _el(item, "Fehlermeldung", error)
        if obj.archive_id:
            _el(item, "Archivkennung", obj.archive_id)
    return _serialize(root, "0506", schema, check)


# --- packages ---------------------------------------------------------------------------------------------


def _check_entry_name(name: str) -> None:
    parts = name.split("/")
    if not name or name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise XdomeaError(f"unsafe file name for the package: {name!r}")


def write_zip(target: BinaryIO, entries: Iterable[tuple[str, bytes | BinaryIO]]) -> None:
    """Write a package: each entry is a name and its bytes or a readable binary file (copied in chunks)."""
    seen: set[str] = set()
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            _check_entry_name(name)
            if name in seen:
                raise XdomeaError(f"file name {name!r} appears twice in the package")
            seen.add(name)
            info = zipfile.ZipInfo(name, date_time=datetime.now().timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            if isinstance(content, bytes | bytearray):
                archive.writestr(info, bytes(content))
            else:
                with archive.open(info, "w", force_zip64=True) as out:
                    shutil.copyfileobj(content, out, 1024 * 1024)


def build_zip(entries: Iterable[tuple[str, bytes | BinaryIO]]) -> bytes:
    """The package in memory: e.g. `[(transfer_xml_name(pid), xml), (file name, document bytes), ...]`."""
    buffer = BytesIO()
    write_zip(buffer, entries)
    return buffer.getvalue()
