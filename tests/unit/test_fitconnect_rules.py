"""The rules of an online application arriving through FIT-Connect (services.ingest.fitconnect_rules), the online
service configuration, and the JOSE adapter against FITKO's SDK encryption."""

import ast
import hashlib
import json
from datetime import date
from pathlib import Path

import pytest
from jwcrypto import jwe as sdk_jwe
from jwcrypto import jwk as sdk_jwk

from devstack.fitconnect_schema import metadata_schema
from services.ingest import fitconnect_rules as rules
from services.ingest.fileplan import load_file_plan
from services.ingest.fitconnect_client import DecryptionFailed, FitConnectKeys
from services.ingest.fitconnect_rules import ProblemCode, SubmissionRejected
from services.ingest.online_services import OnlineServicesError, load_metadata_schemas, load_online_services
from shared.settings import CONFIG_DIR
from tests.fitconnect_sender import METADATA_SCHEMA, WOHNGELD_LEIKA, wohngeld_form

ATTACHMENT = "0b8e9a4c-5f2d-4a51-9a57-3c1d2e4f6a7b"
SERVICES = CONFIG_DIR / "online_services" / "services.yaml"


@pytest.fixture(scope="module")
def schemas() -> dict:
    return load_metadata_schemas(metadata_schema())


@pytest.fixture(scope="module")
def wohngeld() -> rules.OnlineService:
    (service,) = load_online_services(SERVICES, load_file_plan(CONFIG_DIR / "aktenplan.yaml"), frozenset({"wohngeld"}))
    return service


def _codes(caught: pytest.ExceptionInfo[SubmissionRejected]) -> list[ProblemCode]:
    return [p.code for p in caught.value.problems]


def _metadata(data: bytes, attachments: dict[str, bytes], schema: str = METADATA_SCHEMA) -> dict:
    return {
        "$schema": schema,
        "contentStructure": {
            "data": {
                "hash": {"type": "sha512", "content": hashlib.sha512(data).hexdigest()},
                "submissionSchema": {
                    "schemaUri": "urn:eakte:online-service:wohngeld:1.0.0",
                    "mimeType": "application/json",
                },
            },
            "attachments": [
                {
                    "attachmentId": a,
                    "hash": {"type": "sha512", "content": hashlib.sha512(c).hexdigest()},
                    "mimeType": "application/pdf",
                    "purpose": "attachment",
                }
                for a, c in attachments.items()
            ],
        },
    }


def test_the_metadata_schema_comes_from_fitkos_package_and_names_version_1_0_0(schemas: dict) -> None:
    assert set(schemas) == {"1.0.0"}
    assert schemas["1.0.0"]["$id"] == METADATA_SCHEMA


def test_valid_metadata_passes(schemas: dict) -> None:
    rules.check_metadata(_metadata(b"{}", {ATTACHMENT: b"pdf"}), schemas)


@pytest.mark.parametrize(
    "named",
    [
        "https://schema.fitko.de/fit-connect/metadata/1.1.0/metadata.schema.json",
        "https://schema.fitko.de/fit-connect/metadata/2.0.0/metadata.schema.json",
        "https://example.org/metadata.schema.json",
        None,
    ],
)
def test_other_metadata_schema_versions_are_refused_with_their_own_code(schemas: dict, named: str | None) -> None:
    metadata = _metadata(b"{}", {})
    if named is None:
        del metadata["$schema"]
    else:
        metadata["$schema"] = named
    with pytest.raises(SubmissionRejected) as caught:
        rules.check_metadata(metadata, schemas)
    assert _codes(caught) == [ProblemCode.UNSUPPORTED_METADATA_SCHEMA]
    assert "1.0.0" in caught.value.problems[0].detail


def test_metadata_against_the_schema(schemas: dict) -> None:
    metadata = _metadata(b"{}", {ATTACHMENT: b"pdf"})
    metadata["contentStructure"]["attachments"][0]["hash"]["type"] = "md5"
    with pytest.raises(SubmissionRejected) as caught:
        rules.check_metadata(metadata, schemas)
    assert set(_codes(caught)) == {ProblemCode.METADATA_SCHEMA_VIOLATION}
    assert any("hash.type" in p.detail for p in caught.value.problems)
    assert caught.value.problems[0].instance == "metadata"


def test_hashes_of_data_and_attachments_must_match() -> None:
    metadata = _metadata(b'{"a": 1}', {"a1": b"first", "a2": b"second"})
    rules.check_data_hash(metadata, b'{"a": 1}')
    rules.check_attachment_hashes(metadata, {"a1": b"first", "a2": b"second"})
    with pytest.raises(SubmissionRejected) as caught:
        rules.check_data_hash(metadata, b'{"a": 2}')
    assert _codes(caught) == [ProblemCode.INCORRECT_DATA_HASH]
    with pytest.raises(SubmissionRejected) as caught:
        rules.check_attachment_hashes(metadata, {"a1": b"first", "a2": b"swapped"})
    assert _codes(caught) == [ProblemCode.INCORRECT_ATTACHMENT_HASH]
    assert caught.value.problems[0].instance == "attachment:a2"


def test_announced_and_delivered_attachments_must_be_the_same() -> None:
    rules.check_attachment_ids(["a1", "a2"], ["a2", "a1"])
    with pytest.raises(SubmissionRejected) as caught:
        rules.check_attachment_ids(["a1", "a2"], ["a1", "a3"])
    assert _codes(caught) == [ProblemCode.MISSING_ATTACHMENT, ProblemCode.UNEXPECTED_ATTACHMENT]


def test_the_leika_key_names_the_service(wohngeld: rules.OnlineService) -> None:
    assert rules.service_for(WOHNGELD_LEIKA, [wohngeld]) is wohngeld
    with pytest.raises(SubmissionRejected) as caught:
        rules.service_for("urn:de:fim:leika:leistung:99000000000000", [wohngeld])
    assert _codes(caught) == [ProblemCode.UNSUPPORTED_SERVICE]


def test_form_data_is_checked_against_the_services_schema(wohngeld: rules.OnlineService) -> None:
    form = wohngeld_form("Musterfrau")
    assert rules.check_form_data(wohngeld, json.dumps(form).encode()) == form
    broken = {**form, "bankverbindung": {"kontoinhaber": "E. M.", "iban": "DE89370400440532013001"}}
    with pytest.raises(SubmissionRejected) as caught:
        rules.check_form_data(wohngeld, json.dumps(broken).encode())
    assert _codes(caught) == [ProblemCode.DATA_SCHEMA_VIOLATION] and "IBAN" in caught.value.problems[0].detail
    without_consent = {**form, "einwilligung": {"angaben_richtig": True, "datenverarbeitung": False}}
    with pytest.raises(SubmissionRejected) as caught:
        rules.check_form_data(wohngeld, json.dumps(without_consent).encode())
    assert "einwilligung.datenverarbeitung" in caught.value.problems[0].detail
    with pytest.raises(SubmissionRejected) as caught:
        rules.check_form_data(wohngeld, b"<antrag/>")
    assert _codes(caught) == [ProblemCode.INVALID_DATA]


def test_iban_check_digits() -> None:
    assert rules.iban_valid("DE89 3704 0044 0532 0130 00")
    assert not rules.iban_valid("DE88370400440532013000")
    assert not rules.iban_valid("not an iban")


def test_the_form_reads_in_german_with_the_schemas_labels(wohngeld: rules.OnlineService) -> None:
    sections = rules.form_sections(wohngeld.schema, wohngeld_form("Musterfrau"))
    headings = [s.heading for s in sections]
    assert headings[0] == "Antragstellerin / Antragsteller"
    assert "Weitere Haushaltsmitglieder (1)" in headings and "Einkommen im Haushalt (1)" in headings
    rows = {label: value for s in reversed(sections) for label, value in s.rows}  # the first section's wins
    assert rows["Geburtsdatum"] == "12.03.1984"
    assert rows["Anschrift: Postleitzahl"] == "24103"
    assert rows["Betrag monatlich brutto (EUR)"] == "1.850,50 €"
    assert rows["Wohnfläche (m²)"] == "58,5"
    assert rows["Einwilligung in die Verarbeitung der Daten"] == "Ja"
    assert "$schema" not in rows and "Schema" not in rows


def test_one_vorgang_per_submission_in_one_akte_per_applicant(wohngeld: rules.OnlineService) -> None:
    form = wohngeld_form("Musterfrau")
    assert rules.applicant_akte_title(wohngeld, form) == "Wohngeld: Musterfrau, Erika (geb. 12.03.1984)"
    first = rules.vorgang_title(wohngeld, "s-1", date(2026, 11, 30))
    assert first == "Online-Antrag Wohngeld vom 30.11.2026 (FIT-Connect s-1)"
    assert first != rules.vorgang_title(wohngeld, "s-2", date(2026, 11, 30))


def test_the_decision_events_name_submission_case_and_problems() -> None:
    problem = rules.Problem(ProblemCode.INCORRECT_ATTACHMENT_HASH, "differs", "attachment:a1")
    rejected = rules.event_payload(rules.REJECT_EVENT, "d", "s", "c", "j", 1, [problem.as_event()])
    assert rejected["sub"] == "submission:s" and rejected["txn"] == "case:c" and rejected["iss"] == "d"
    (sent,) = rejected["events"][rules.REJECT_EVENT]["problems"]
    assert sent["type"] == "https://schema.fitko.de/fit-connect/events/problems/incorrect-attachment-hash"
    assert sent["instance"] == "attachment:a1" and sent["title"]
    tags = rules.authentication_tags("h.k.iv.ct.tag-m", "h.k.iv.ct.tag-d", {"a1": "h.k.iv.ct.tag-a1"})
    assert tags == {"metadata": "tag-m", "data": "tag-d", "attachments": {"a1": "tag-a1"}}
    accepted = rules.event_payload(rules.ACCEPT_EVENT, "d", "s", "c", "j", 1, tags=tags)
    assert accepted["events"] == {rules.ACCEPT_EVENT: {"authenticationTags": tags}}


def test_the_rules_module_imports_no_framework_or_adapter() -> None:
    source = Path(rules.__file__).read_text(encoding="utf-8")
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    forbidden = ("fastapi", "faststream", "kafka", "minio", "sqlalchemy", "httpx", "starlette", "joserfc")
    assert not [name for name in imported if name.split(".")[0] in forbidden]


def test_a_service_with_an_unknown_class_or_workflow_stops_start_up(tmp_path: Path) -> None:
    plan = load_file_plan(CONFIG_DIR / "aktenplan.yaml")
    (tmp_path / "wohngeld.json").write_text((SERVICES.parent / "wohngeld.json").read_text())
    config = tmp_path / "services.yaml"
    entry = "  - {name: w, title: W, leika: 'urn:x', schema: wohngeld.json, file_plan_class: '%s', workflow: %s}\n"
    config.write_text("services:\n" + entry % ("99.99", "wohngeld"))
    with pytest.raises(OnlineServicesError, match=r"99\.99"):
        load_online_services(config, plan, frozenset({"wohngeld"}))
    config.write_text("services:\n" + entry % ("50.30", "nope"))
    with pytest.raises(OnlineServicesError, match="nope"):
        load_online_services(config, plan, frozenset({"wohngeld"}))


def test_the_adapter_decrypts_what_fitkos_sdk_encrypts_and_refuses_tampering(tmp_path: Path) -> None:
    key = sdk_jwk.JWK.generate(kty="RSA", size=2048)
    for name in ("decryption", "signing"):
        (tmp_path / f"{name}.json").write_text(key.export_private())
    keys = FitConnectKeys(tmp_path / "decryption.json", tmp_path / "signing.json")
    public = sdk_jwk.JWK.from_json(key.export_public())
    header = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "zip": "DEF", "cty": "application/json", "kid": key.thumbprint()}
    token = sdk_jwe.JWE(plaintext=b'{"antrag": 1}', protected=header, recipient=public).serialize(compact=True)
    assert keys.decrypt(token) == b'{"antrag": 1}'
    parts = token.split(".")
    parts[3] = parts[3][:-2] + ("AA" if not parts[3].endswith("AA") else "BB")
    with pytest.raises(DecryptionFailed):
        keys.decrypt(".".join(parts))
    weak = {**header, "alg": "RSA-OAEP"}  # SHA-1 key wrap: not what FIT-Connect uses
    other = sdk_jwe.JWE(plaintext=b"x", protected=weak, recipient=public).serialize(compact=True)
    with pytest.raises(DecryptionFailed):
        keys.decrypt(other)


def test_nobody_signs_in_as_the_channel_online_applications_are_filed_under() -> None:
    from shared.reserved_names import is_reserved

    assert rules.SUBMITTED_BY == "fitconnect" and is_reserved("FitConnect")
