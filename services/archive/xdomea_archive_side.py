"""The state archive's side of the exchange: 0502 and 0506 as an archive would send them.

Not used by the service itself: tests and a simulated state archive build their answers with these.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from services.archive.xdomea_model import Disposal, ImportedObject, Institution, XdomeaError, object_uuid
from services.archive.xdomea_xml import AUSSONDERUNGSART, _bool, _code, _el, _new_message, _serialize


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
