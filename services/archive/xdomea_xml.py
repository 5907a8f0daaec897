"""Shared XML helpers of the xdomea messages: namespace, code lists, file names, schema validation and
the elements every message is built from. Pure: the standard library and lxml."""

import os
import re
import threading
import unicodedata
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from lxml import etree

from services.archive.xdomea_model import DocumentRecord, Institution, XdomeaError, XdomeaSchemaUnavailable, object_uuid

NS = "urn:xoev-de:xdomea:schema:3.0.0"
NS_PREFIX = f"{{{NS}}}"
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


def file_extension(document: DocumentRecord) -> str:
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
    ext = re.sub(r"[^A-Za-z0-9]", "", ext)[:10].lower() or file_extension(document)
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


def schema_problem(schema: Path | str | None = None) -> str | None:
    """Why the xdomea schema cannot be used, in words; None when it loads (then it stays loaded)."""
    try:
        _schema(schema)
    except XdomeaSchemaUnavailable as exc:
        return str(exc)
    return None


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
    code = (root.findtext(f"{NS_PREFIX}Kopf/{NS_PREFIX}Nachrichtentyp/code") or "").strip()
    if code != expected.rsplit(".", 1)[1]:
        raise XdomeaError(f"Nachrichtentyp code {code!r} in the Kopf does not match the message {expected}")


def validate(xml: bytes, expected_message: str, *, schema: Path | str | None = None) -> None:
    """Check that `xml` is the message `expected_message` (`0502` or its element name) and valid per the schema.

    Raises XdomeaError naming the problem (not XML, other message, schema errors with line numbers),
    XdomeaSchemaUnavailable when the schema itself cannot be loaded.
    """
    read_message(xml, expected_message, schema)


def read_message(xml: bytes, message: str, schema: Path | str | None) -> etree._Element:
    expected = message_name(message)
    tree = _parse(xml)
    root = _check_root(tree, expected)
    _schema_check(tree, expected, schema)
    _check_message_code(root, expected)
    return root


# --- building blocks --------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return _INVALID_XML_CHARS.sub("", text)


def add_element(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, NS_PREFIX + name)
    if text is not None:
        element.text = _clean(text)
    return element


def add_code(
    parent: etree._Element, name: str, code: str, code_list: tuple[str, str] | None = None, label: str = ""
) -> etree._Element:
    element = add_element(parent, name)
    if code_list:
        element.set("listURI", code_list[0])
        element.set("listVersionID", code_list[1])
    etree.SubElement(element, "code").text = code  # xoev-code: code and name are unqualified
    if label:
        etree.SubElement(element, "name").text = _clean(label)
    return element


def xml_bool(value: bool) -> str:
    return "true" if value else "false"


def xml_datetime(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def _contact(parent: etree._Element, name: str, who: Institution) -> None:
    contact = add_element(parent, name)
    if who.authority_key or who.authority_prefix:
        authority = add_element(contact, "Behoerdenkennung")
        if who.authority_key:
            key = add_element(authority, "Behoerdenschluessel")
            if who.authority_key_list_uri:
                key.set("listURI", who.authority_key_list_uri)
            if who.authority_key_list_version:
                key.set("listVersionID", who.authority_key_list_version)
            etree.SubElement(key, "code").text = _clean(who.authority_key)
        if who.authority_prefix:
            etree.SubElement(add_element(authority, "Praefix"), "code").text = _clean(who.authority_prefix)
    institution = add_element(contact, "Institution")
    add_element(institution, "Name", who.name)
    if who.abbreviation:
        add_element(institution, "Kurzbezeichnung", who.abbreviation)
    if who.org_unit:
        add_element(add_element(contact, "Organisationseinheit"), "Name", who.org_unit)


def new_message(
    code: str,
    process_id: str,
    sender: Institution,
    receiver: Institution,
    created_at: datetime | None,
    note: str | None,
) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(NS_PREFIX + MESSAGES[code], nsmap={"xdomea": NS})
    head = add_element(root, "Kopf")
    add_element(head, "ProzessID", object_uuid(process_id, "process_id"))
    add_code(head, "Nachrichtentyp", code, NACHRICHTENTYP)
    add_element(head, "Erstellungszeitpunkt", xml_datetime(created_at or datetime.now(UTC)))
    _contact(head, "Absender", sender)
    _contact(head, "Empfaenger", receiver)
    system = add_element(head, "SendendesSystem")
    add_element(system, "Produktname", PRODUCT_NAME)
    add_element(system, "Version", _product_version())
    if note:
        add_element(head, "Hinweis", note)
    return root, head


def serialize(root: etree._Element, code: str, schema: Path | str | None, check: bool) -> bytes:
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    if check:
        validate(xml, code, schema=schema)
    return xml
