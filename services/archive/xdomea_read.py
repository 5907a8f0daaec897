"""Reading the messages the state archive sends: 0502 (evaluation) and 0506 (import confirmation)."""

import re
from collections.abc import Collection, Iterable
from datetime import datetime
from pathlib import Path

from lxml import etree

from services.archive.xdomea_model import (
    Confirmation,
    Disposal,
    Evaluation,
    ImportedObject,
    Institution,
    XdomeaError,
    object_uuid,
)
from services.archive.xdomea_xml import NS_PREFIX, read_message


def _text(element: etree._Element, path: str) -> str:
    return (element.findtext(path) or "").strip()


def _institution(head: etree._Element, name: str) -> Institution:
    contact = head.find(NS_PREFIX + name)
    if contact is None:  # the schema makes it mandatory
        return Institution(name="")
    return Institution(
        name=_text(contact, f"{NS_PREFIX}Institution/{NS_PREFIX}Name"),
        abbreviation=_text(contact, f"{NS_PREFIX}Institution/{NS_PREFIX}Kurzbezeichnung"),
        authority_key=_text(contact, f"{NS_PREFIX}Behoerdenkennung/{NS_PREFIX}Behoerdenschluessel/code"),
        authority_prefix=_text(contact, f"{NS_PREFIX}Behoerdenkennung/{NS_PREFIX}Praefix/code"),
        org_unit=_text(contact, f"{NS_PREFIX}Organisationseinheit/{NS_PREFIX}Name"),
    )


def _parse_datetime(value: str) -> datetime:
    # xs:dateTime may carry more than six fractional digits; Python takes at most six.
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", value)
    try:
        return datetime.fromisoformat(trimmed)
    except ValueError as exc:
        raise XdomeaError(f"Erstellungszeitpunkt {value!r} cannot be read") from exc


def _head(root: etree._Element, process_id: str | None) -> tuple[str, datetime, Institution]:
    head = root.find(NS_PREFIX + "Kopf")
    assert head is not None  # guaranteed by the schema
    found = object_uuid(_text(head, NS_PREFIX + "ProzessID"), "ProzessID")
    if process_id is not None and found != object_uuid(process_id, "process_id"):
        raise XdomeaError(f"ProzessID {found} does not belong to this disposal (expected {process_id})")
    return found, _parse_datetime(_text(head, NS_PREFIX + "Erstellungszeitpunkt")), _institution(head, "Absender")


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
    root = read_message(xml, "0502", schema)
    found_process, created_at, sender = _head(root, process_id)
    decisions: dict[str, Disposal] = {}
    for item in root.iterfind(NS_PREFIX + "BewertetesObjekt"):
        object_id = object_uuid(_text(item, NS_PREFIX + "ID"), "BewertetesObjekt ID")
        art = item.find(NS_PREFIX + "Aussonderungsart")
        assert art is not None  # guaranteed by the schema
        code = _text(art, f"{NS_PREFIX}Aussonderungsart/code")
        if not code:
            configured = _text(art, NS_PREFIX + "AussonderungsartKonfigurierbar")
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
    root = read_message(xml, "0506", schema)
    found_process, created_at, sender = _head(root, process_id)
    objects: list[ImportedObject] = []
    seen: set[str] = set()
    for item in root.iterfind(NS_PREFIX + "AusgesondertesSGO"):
        object_id = object_uuid(_text(item, NS_PREFIX + "IDSGO"), "AusgesondertesSGO IDSGO")
        if object_id in seen:
            raise XdomeaError(f"object {object_id} is confirmed twice")
        seen.add(object_id)
        objects.append(
            ImportedObject(
                object_id=object_id,
                success=_text(item, NS_PREFIX + "Erfolgreich") in ("true", "1"),
                errors=tuple((e.text or "").strip() for e in item.iterfind(NS_PREFIX + "Fehlermeldung")),
                error_codes=tuple(_text(e, "code") for e in item.iterfind(NS_PREFIX + "FehlermeldungCode")),
                archive_id=_text(item, NS_PREFIX + "Archivkennung") or None,
            )
        )
    _unknown(seen, known_ids, "transferred")
    return Confirmation(process_id=found_process, created_at=created_at, sender=sender, objects=tuple(objects))
