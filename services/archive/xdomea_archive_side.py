"""The state archive's side of the exchange: 0502 and 0506 as an archive would send them.

Not used by the service itself: tests and a simulated state archive build their answers with these.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from services.archive.xdomea_model import Disposal, ImportedObject, Institution, XdomeaError, object_uuid
from services.archive.xdomea_xml import AUSSONDERUNGSART, add_code, add_element, new_message, serialize, xml_bool


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
    root, head = new_message("0502", process_id, sender, receiver, created_at, None)
    add_element(head, "Empfangsbestaetigung", xml_bool(request_receipt))
    for object_id, decision in decisions.items():
        item = add_element(root, "BewertetesObjekt")
        add_element(item, "ID", object_uuid(object_id))
        add_code(add_element(item, "Aussonderungsart"), "Aussonderungsart", Disposal(decision).code, AUSSONDERUNGSART)
    return serialize(root, "0502", schema, check)


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
    root, _ = new_message("0506", process_id, sender, receiver, created_at, None)
    for obj in objects:
        item = add_element(root, "AusgesondertesSGO")
        add_element(item, "IDSGO", object_uuid(obj.object_id))
        add_element(item, "Erfolgreich", xml_bool(obj.success))
        for error in obj.errors:
            add_element(item, "Fehlermeldung", error)
        if obj.archive_id:
            add_element(item, "Archivkennung", obj.archive_id)
    return serialize(root, "0506", schema, check)
