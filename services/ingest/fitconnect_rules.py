"""The rules of an online application (OZG) arriving through FIT-Connect: what makes a submission acceptable,
which problem codes a rejection names, which online service a LeiKa key means, how its form data reads.

A domain module: it imports nothing of HTTP, Kafka, MinIO or the database (the JOSE decryption is the adapter's,
services.ingest.fitconnect_client; JSON schemas are checked here with `jsonschema`, a plain library).
"""

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from jsonschema import Draft202012Validator

from shared.reserved_names import FITCONNECT

# FITKO's problem types of a `reject-submission` event share this prefix.
PROBLEM_PREFIX = "https://schema.fitko.de/fit-connect/events/problems/"
METADATA_SCHEMA_PATTERN = re.compile(
    r"^https://schema\.fitko\.de/fit-connect/metadata/(\d+\.\d+\.\d+)/metadata\.schema\.json$"
)
ACCEPT_EVENT = "https://schema.fitko.de/fit-connect/events/accept-submission"
REJECT_EVENT = "https://schema.fitko.de/fit-connect/events/reject-submission"
SET_PAYLOAD_SCHEMA = "https://schema.fitko.de/fit-connect/set-payload/1.0.0/set-payload.schema.json"
HASH_TYPE = "sha512"
# A taken submission's states: claimed and being checked, its files in the intake queue, decided (event sent).
SUBMISSION_STATES = ("taking", "filing", "accepted", "rejected")
SUBMITTED_BY = FITCONNECT  # who a filed online application's documents are "submitted by" (the channel: reserved)


class ProblemCode(StrEnum):
    """Why a submission is rejected; the value ends the problem type URI sent to the sender."""

    ENCRYPTION_ISSUE = "encryption-issue"
    UNSUPPORTED_METADATA_SCHEMA = "unsupported-metadata-schema"
    METADATA_SCHEMA_VIOLATION = "metadata-schema-violation"
    INCORRECT_DATA_HASH = "incorrect-data-hash"
    INCORRECT_ATTACHMENT_HASH = "incorrect-attachment-hash"
    MISSING_ATTACHMENT = "missing-attachment"
    UNEXPECTED_ATTACHMENT = "unexpected-attachment"
    UNSUPPORTED_SERVICE = "unsupported-service"
    INVALID_DATA = "invalid-data"
    DATA_SCHEMA_VIOLATION = "data-schema-violation"


PROBLEM_TITLES: dict[ProblemCode, str] = {
    ProblemCode.ENCRYPTION_ISSUE: "Entschlüsselung fehlgeschlagen",
    ProblemCode.UNSUPPORTED_METADATA_SCHEMA: "Metadatenschema nicht unterstützt",
    ProblemCode.METADATA_SCHEMA_VIOLATION: "Metadaten entsprechen nicht dem Schema",
    ProblemCode.INCORRECT_DATA_HASH: "Prüfsumme der Fachdaten stimmt nicht",
    ProblemCode.INCORRECT_ATTACHMENT_HASH: "Prüfsumme einer Anlage stimmt nicht",
    ProblemCode.MISSING_ATTACHMENT: "Anlage fehlt",
    ProblemCode.UNEXPECTED_ATTACHMENT: "Anlage nicht in den Metadaten angekündigt",
    ProblemCode.UNSUPPORTED_SERVICE: "Verwaltungsleistung wird hier nicht angenommen",
    ProblemCode.INVALID_DATA: "Fachdaten sind kein JSON-Objekt",
    ProblemCode.DATA_SCHEMA_VIOLATION: "Fachdaten entsprechen nicht dem Schema der Leistung",
}


@dataclass(frozen=True)
class Problem:
    code: ProblemCode
    detail: str
    instance: str = "submission"  # `submission`, `metadata`, `data` or `attachment:<id>`

    def as_event(self) -> dict[str, str]:
        """The problem as FIT-Connect's `reject-submission` event carries it (RFC 7807 members)."""
        return {
            "type": PROBLEM_PREFIX + self.code.value,
            "title": PROBLEM_TITLES[self.code],
            "detail": self.detail[:500],
            "instance": self.instance,
        }


class SubmissionRejected(Exception):
    """The submission cannot be taken in; the problems go back to the sender with `reject-submission`."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{p.code.value}: {p.detail}" for p in problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class OnlineService:
    """An online service a destination receives: its LeiKa key, form schema, file plan class and workflow."""

    name: str
    title: str
    leika: str
    schema: Mapping[str, Any]
    file_plan_class: str
    workflow: str


# --- metadata ------------------------------------------------------------------------------------------------


def metadata_version(metadata: Mapping[str, Any], supported: Mapping[str, Mapping[str, Any]]) -> str:
    """The metadata schema version the submission names, if it is one of ours (`supported`: version -> schema)."""
    named = metadata.get("$schema")
    match = METADATA_SCHEMA_PATTERN.match(named) if isinstance(named, str) else None
    if match is None or match.group(1) not in supported:
        known = ", ".join(sorted(supported)) or "none"
        raise SubmissionRejected(
            [
                Problem(
                    ProblemCode.UNSUPPORTED_METADATA_SCHEMA,
                    f"metadata schema {named!r} is not supported here (supported versions: {known})",
                    "metadata",
                )
            ]
        )
    return match.group(1)


def check_metadata(metadata: Any, supported: Mapping[str, Mapping[str, Any]]) -> None:
    """The metadata is an object of a supported schema version and valid against it."""
    if not isinstance(metadata, dict):
        problem = Problem(ProblemCode.METADATA_SCHEMA_VIOLATION, "metadata is no JSON object", "metadata")
        raise SubmissionRejected([problem])
    version = metadata_version(metadata, supported)
    errors = _schema_errors(supported[version], metadata)
    if errors:
        raise SubmissionRejected([Problem(ProblemCode.METADATA_SCHEMA_VIOLATION, e, "metadata") for e in errors])


def announced_attachments(metadata: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The attachments the metadata announces, by their id."""
    entries = metadata.get("contentStructure", {}).get("attachments", [])
    return {str(entry["attachmentId"]): entry for entry in entries}


def check_attachment_ids(announced: Sequence[str], delivered: Sequence[str]) -> None:
    """Every attachment announced in the metadata was delivered, and none came unannounced."""
    problems = [
        Problem(ProblemCode.MISSING_ATTACHMENT, "announced in the metadata but not delivered", f"attachment:{a}")
        for a in announced
        if a not in delivered
    ]
    problems += [
        Problem(ProblemCode.UNEXPECTED_ATTACHMENT, "delivered but not announced in the metadata", f"attachment:{a}")
        for a in delivered
        if a not in announced
    ]
    if problems:
        raise SubmissionRejected(problems)


def hash_problem(
    expected: Mapping[str, Any] | None, content: bytes, code: ProblemCode, instance: str
) -> Problem | None:
    """A problem if the content's SHA-512 is not the one the metadata states (other hash types are refused)."""
    if not expected or expected.get("type") != HASH_TYPE:
        return Problem(code, f"the metadata states no {HASH_TYPE} hash", instance)
    if hashlib.sha512(content).hexdigest() != str(expected.get("content", "")).lower():
        return Problem(code, "the SHA-512 of the decrypted content differs from the metadata", instance)
    return None


def check_data_hash(metadata: Mapping[str, Any], data: bytes) -> None:
    expected = metadata.get("contentStructure", {}).get("data", {}).get("hash")
    problem = hash_problem(expected, data, ProblemCode.INCORRECT_DATA_HASH, "data")
    if problem:
        raise SubmissionRejected([problem])


def check_attachment_hashes(metadata: Mapping[str, Any], attachments: Mapping[str, bytes]) -> None:
    announced = announced_attachments(metadata)
    problems = [
        problem
        for attachment_id, content in attachments.items()
        if (
            problem := hash_problem(
                announced[attachment_id].get("hash"),
                content,
                ProblemCode.INCORRECT_ATTACHMENT_HASH,
                f"attachment:{attachment_id}",
            )
        )
    ]
    if problems:
        raise SubmissionRejected(problems)


# --- the online service and its form data ---------------------------------------------------------------------


def service_for(leika: str, services: Sequence[OnlineService]) -> OnlineService:
    """The online service of a LeiKa key (the submission's `serviceType.identifier`)."""
    for service in services:
        if service.leika == leika:
            return service
    detail = f"no online service with LeiKa key {leika!r} is received by this destination"
    raise SubmissionRejected([Problem(ProblemCode.UNSUPPORTED_SERVICE, detail)])


def check_form_data(service: OnlineService, raw: bytes) -> dict[str, Any]:
    """The form data (Fachdaten) as an object valid against the service's schema, with a valid IBAN if any."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SubmissionRejected([Problem(ProblemCode.INVALID_DATA, f"not JSON: {exc}", "data")]) from exc
    if not isinstance(data, dict):
        raise SubmissionRejected([Problem(ProblemCode.INVALID_DATA, "not a JSON object", "data")])
    errors = _schema_errors(service.schema, data)
    iban = data.get("bankverbindung", {}).get("iban") if isinstance(data.get("bankverbindung"), dict) else None
    if isinstance(iban, str) and not errors and not iban_valid(iban):
        errors.append("bankverbindung.iban: the IBAN's check digits are wrong")
    if errors:
        raise SubmissionRejected([Problem(ProblemCode.DATA_SCHEMA_VIOLATION, e, "data") for e in errors])
    return data


def iban_valid(iban: str) -> bool:
    """ISO 13616 check digits (mod 97 == 1)."""
    compact = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", compact):
        return False
    digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return int(digits) % 97 == 1


def _schema_errors(schema: Mapping[str, Any], instance: Any, limit: int = 10) -> list[str]:
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"[:300] for e in errors[:limit]]


def applicant_akte_title(service: OnlineService, data: Mapping[str, Any]) -> str:
    """The applicant's Akte in the service's class: one per person (name and date of birth)."""
    person = data.get("antragsteller") or {}
    name = f"{person.get('nachname', '')}, {person.get('vorname', '')}".strip(", ")
    born = person.get("geburtsdatum")
    return f"{service.title}: {name} (geb. {german_date(str(born))})" if born else f"{service.title}: {name}"


def vorgang_title(service: OnlineService, submission_id: str, received: date) -> str:
    """One Vorgang per submission: the submission id makes the title unique within the Akte."""
    return f"Online-Antrag {service.title} vom {received.strftime('%d.%m.%Y')} (FIT-Connect {submission_id})"


def german_date(text: str) -> str:
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
    return f"{match.group(3)}.{match.group(2)}.{match.group(1)}" if match else text


# --- the form data as a reader sees it ------------------------------------------------------------------------


@dataclass(frozen=True)
class FormSection:
    heading: str
    rows: list[tuple[str, str]] = field(default_factory=list)


def form_sections(schema: Mapping[str, Any], data: Mapping[str, Any]) -> list[FormSection]:
    """The form data as labelled sections: each top-level field a section (a list: one per entry), labels
    from the schema's German titles; the `$schema` member is left out."""
    sections: list[FormSection] = []
    properties = schema.get("properties", {})
    loose = FormSection("Angaben")
    for key, value in data.items():
        if key == "$schema":
            continue
        spec = properties.get(key, {})
        title = str(spec.get("title", key))
        if isinstance(value, dict):
            sections.append(FormSection(title, _rows(spec, value)))
        elif isinstance(value, list):
            item_spec = spec.get("items", {})
            if not value:
                sections.append(FormSection(title, [("", "keine Angaben")]))
            for number, entry in enumerate(value, start=1):
                rows = _rows(item_spec, entry) if isinstance(entry, dict) else [("", _text(item_spec, entry))]
                sections.append(FormSection(f"{title} ({number})", rows))
        else:
            loose.rows.append((title, _text(spec, value)))
    return [loose, *sections] if loose.rows else sections


def _rows(schema: Mapping[str, Any], data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    properties = schema.get("properties", {})
    for key, value in data.items():
        spec = properties.get(key, {})
        label = f"{prefix}{spec.get('title', key)}"
        if isinstance(value, dict):
            rows += _rows(spec, value, f"{label}: ")
        elif isinstance(value, list):
            rows.append((label, "; ".join(_text(spec.get("items", {}), v) for v in value)))
        else:
            rows.append((label, _text(spec, value)))
    return rows


def _text(schema: Mapping[str, Any], value: Any) -> str:
    if isinstance(value, bool):
        return "Ja" if value else "Nein"
    if isinstance(value, int | float):
        if "EUR" in str(schema.get("title", "")):
            return f"{value:,.2f} €".replace(",", "X").replace(".", ",").replace("X", ".")
        return f"{value:g}".replace(".", ",")
    if isinstance(value, str) and schema.get("format") == "date":
        return german_date(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text({}, v)}" for k, v in value.items())
    return "" if value is None else str(value)


def event_payload(
    event: str,
    destination_id: str,
    submission_id: str,
    case_id: str,
    jti: str,
    issued_at: int,
    problems: Sequence[Mapping[str, str]] = (),
    tags: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The Security Event Token (RFC 8417) a subscriber signs to accept or reject a submission (`problems`:
    those of a rejection, as `Problem.as_event` gives them; `tags`: an acceptance names the authentication tags of
    what it received, see `authentication_tags`)."""
    if event == REJECT_EVENT:
        content: dict[str, Any] = {"problems": list(problems)}
    else:
        content = {"authenticationTags": dict(tags)} if tags else {}
    return {
        "$schema": SET_PAYLOAD_SCHEMA,
        "jti": jti,
        "iss": destination_id,
        "iat": issued_at,
        "sub": f"submission:{submission_id}",
        "txn": f"case:{case_id}",
        "events": {event: content},
    }


def authentication_tags(metadata: str, data: str | None, attachments: Mapping[str, str]) -> dict[str, Any]:
    """The authentication tags (the last part of each compact JWE) of the metadata, data and attachments received:
    an acceptance names them, so the sender knows exactly what was accepted."""

    def tag(token: str) -> str:
        return token.rsplit(".", 1)[-1]

    tags: dict[str, Any] = {"metadata": tag(metadata)}
    if data:
        tags["data"] = tag(data)
    if attachments:
        tags["attachments"] = {attachment_id: tag(token) for attachment_id, token in attachments.items()}
    return tags
