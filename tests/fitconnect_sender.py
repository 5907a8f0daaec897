"""A FIT-Connect sender for the tests: FITKO's Python SDK (PyPI `fitconnect` 0.4.2) pointed at the local Submission
API. Its own `encrypt` (jwcrypto: RSA-OAEP-256 + A256GCM, DEF-compressed, the destination's key fetched from the API),
`upload_attachment` and `submit_submission` do the work; only the announcement of the attachments is made here,
with one id per attachment (the SDK's all-in-one `submission()` repeats one id for all of them)."""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import jsonschema
from fitconnect import Environment, FITConnectClient

from devstack.fitconnect_server import LocalFitConnect

METADATA_SCHEMA = "https://schema.fitko.de/fit-connect/metadata/1.0.0/metadata.schema.json"
WOHNGELD_LEIKA = "urn:de:fim:leika:leistung:99108008000000"
WOHNGELD_SCHEMA = "urn:eakte:online-service:wohngeld:1.0.0"


@dataclass(frozen=True)
class Sent:
    submission_id: str
    case_id: str


class Sender:
    def __init__(self, server: LocalFitConnect, client_id: str, client_secret: str) -> None:
        self.server = server
        self.sdk = FITConnectClient(Environment.TESTING, client_id, client_secret)
        self.sdk.token_url = f"{server.url}/token"
        self.sdk.submission_api_url = f"{server.url}/v1"

    def send(
        self,
        data: dict[str, Any],
        attachments: list[tuple[str, bytes]],
        leika: str = WOHNGELD_LEIKA,
        metadata_schema: str = METADATA_SCHEMA,
        tamper_attachment: int | None = None,
    ) -> Sent:
        """Send a submission; `tamper_attachment`: the metadata states a wrong hash for that attachment."""
        destination = self.server.destination_id
        ids = [str(uuid.uuid4()) for _ in attachments]
        announcement = {
            "destinationId": destination,
            "announcedAttachments": ids,
            "serviceType": {"name": "Wohngeld", "identifier": leika},
        }
        created = self.sdk._authorized_post("/submissions", json=announcement).json()
        submission_id = created["submissionId"]
        entries = []
        for number, (attachment_id, (name, content)) in enumerate(zip(ids, attachments, strict=True)):
            stated = content + b"tampered" if number == tamper_attachment else content
            entries.append(
                {
                    "attachmentId": attachment_id,
                    "hash": {"type": "sha512", "content": hashlib.sha512(stated).hexdigest()},
                    "mimeType": "application/pdf",
                    "purpose": "attachment",
                    "filename": name,
                    "description": f"Nachweis: {name}",
                }
            )
            self.sdk.upload_attachment(destination, submission_id, attachment_id, attachment=content)
        metadata = {
            "$schema": metadata_schema,
            "contentStructure": {
                "attachments": entries,
                "data": {
                    "hash": {"type": "sha512", "content": hashlib.sha512(self.sdk.convert_to_bytes(data)).hexdigest()},
                    "submissionSchema": {"schemaUri": data["$schema"], "mimeType": "application/json"},
                },
            },
            "additionalReferenceInfo": {"submissionDate": date.today().isoformat()},
        }
        if metadata_schema == METADATA_SCHEMA:
            jsonschema.validate(metadata, self.sdk.latest_metadata_schema(major=1, minor=0))
        self.sdk.submit_submission(destination, submission_id, metadata=metadata, data=data)
        return Sent(submission_id, created["caseId"])


def wohngeld_form(surname: str) -> dict[str, Any]:
    return {
        "$schema": WOHNGELD_SCHEMA,
        "antragsteller": {
            "vorname": "Erika",
            "nachname": surname,
            "geburtsdatum": "1984-03-12",
            "anschrift": {"strasse": "Holstenstraße", "hausnummer": "12a", "postleitzahl": "24103", "ort": "Kiel"},
            "email": "erika@example.org",
        },
        "haushaltsmitglieder": [
            {"vorname": "Lena", "nachname": surname, "geburtsdatum": "2015-09-01", "verhaeltnis": "Kind"}
        ],
        "einkommen": [{"person": f"Erika {surname}", "art": "Erwerbstätigkeit", "betrag_monatlich": 1850.5}],
        "miete": {"kaltmiete": 620, "nebenkosten": 140.25, "heizkosten": 85, "wohnflaeche": 58.5},
        "bankverbindung": {"kontoinhaber": f"Erika {surname}", "iban": "DE89370400440532013000"},
        "einwilligung": {"angaben_richtig": True, "datenverarbeitung": True},
    }
