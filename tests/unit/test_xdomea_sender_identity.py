"""xdomea sender identity: every message names the authority by its Behoerdenkennung (key and prefix) and its
organisational unit, the receiver likewise; the file plan class goes in by its short title (BetreffKurz)."""

from datetime import UTC, datetime

import pytest
from lxml import etree

from services.archive import xdomea
from services.archive.aussonderung import Parties
from services.archive.bootstrap import xdomea_parties
from services.archive.xdomea import (
    DEFAULT_SCHEMA_PATH,
    Disposal,
    ImportedObject,
    Institution,
    build_confirmation,
    build_evaluation,
    build_offer,
    build_transfer,
    parse_evaluation,
)
from shared.settings import Settings
from tests.unit.test_xdomea import AKTE_BUILDING, AKTE_SOCIAL, PROCESS_ID, _files

NS = {"x": "urn:xoev-de:xdomea:schema:3.0.0"}
NOW = datetime(2026, 4, 1, 8, 30, tzinfo=UTC)
CITY = Institution(name="Stadt Musterstadt", authority_key="01002000", authority_prefix="ags:", org_unit="Registratur")
STATE_ARCHIVE = Institution(
    name="Landesarchiv Thüringen", authority_key="LATH", authority_prefix="psw:", org_unit="Staatsarchiv Weimar"
)


@pytest.fixture(scope="module")
def official_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(DEFAULT_SCHEMA_PATH)))


def _valid(schema: etree.XMLSchema, xml: bytes) -> etree._Element:
    root = etree.fromstring(xml)
    assert schema.validate(root), "\n".join(str(e) for e in schema.error_log)
    return root


def _identity(root: etree._Element, who: str) -> tuple[list[str], list[str], list[str]]:
    kennung = f"x:Kopf/x:{who}/x:Behoerdenkennung"
    return (
        root.xpath(f"{kennung}/x:Behoerdenschluessel/code/text()", namespaces=NS),
        root.xpath(f"{kennung}/x:Praefix/code/text()", namespaces=NS),
        root.xpath(f"x:Kopf/x:{who}/x:Organisationseinheit/x:Name/text()", namespaces=NS),
    )


def test_every_message_carries_both_behoerdenkennungen_and_stays_valid(official_schema: etree.XMLSchema) -> None:
    decisions = {AKTE_SOCIAL: Disposal.DESTROY, AKTE_BUILDING: Disposal.ARCHIVE}
    ours = [
        build_offer(PROCESS_ID, CITY, STATE_ARCHIVE, _files(), created_at=NOW),
        build_transfer(PROCESS_ID, CITY, STATE_ARCHIVE, _files(), created_at=NOW)[0],
    ]
    theirs = [
        build_evaluation(PROCESS_ID, STATE_ARCHIVE, CITY, decisions),
        build_confirmation(PROCESS_ID, STATE_ARCHIVE, CITY, [ImportedObject(object_id=AKTE_BUILDING, success=True)]),
    ]
    for xml in ours:
        root = _valid(official_schema, xml)
        assert _identity(root, "Absender") == (["01002000"], ["ags:"], ["Registratur"])
        assert _identity(root, "Empfaenger") == (["LATH"], ["psw:"], ["Staatsarchiv Weimar"])
    for xml in theirs:
        assert _identity(_valid(official_schema, xml), "Absender") == (["LATH"], ["psw:"], ["Staatsarchiv Weimar"])


def test_the_state_archive_is_read_back_with_its_prefix() -> None:
    answer = build_evaluation(PROCESS_ID, STATE_ARCHIVE, CITY, {AKTE_SOCIAL: Disposal.DESTROY})
    evaluation = parse_evaluation(answer, process_id=PROCESS_ID)
    assert (evaluation.sender.authority_key, evaluation.sender.authority_prefix) == ("LATH", "psw:")


def test_file_plan_short_title_is_in_betreff_kurz(official_schema: etree.XMLSchema) -> None:
    root = _valid(official_schema, build_offer(PROCESS_ID, CITY, STATE_ARCHIVE, _files(), created_at=NOW))
    unit = "//x:Akte/x:AllgemeineMetadaten/x:Aktenplaneinheit"
    assert root.xpath(f"{unit}/x:BetreffKurz/text()", namespaces=NS) == ["Sozialhilfe", "Bauaufsicht, Baugenehmigungen"]
    assert root.xpath(f"{unit}/x:Inhaltsangabe", namespaces=NS) == []


def test_without_a_key_the_message_has_no_behoerdenkennung(official_schema: etree.XMLSchema) -> None:
    plain = Institution(name="Stadtverwaltung")
    root = _valid(official_schema, build_offer(PROCESS_ID, plain, plain, _files(), created_at=NOW))
    assert root.xpath("x:Kopf/x:Absender/x:Behoerdenkennung", namespaces=NS) == []


def test_settings_name_both_parties(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "EAKTE_XDOMEA_SENDER_KEY": "01002000",
        "EAKTE_XDOMEA_SENDER_PREFIX": "ags:",
        "EAKTE_XDOMEA_SENDER_ORG_UNIT": "Hauptamt",
        "EAKTE_XDOMEA_RECEIVER_KEY": "LATH",
        "EAKTE_XDOMEA_RECEIVER_PREFIX": "psw:",
        "EAKTE_XDOMEA_RECEIVER_ORG_UNIT": "Staatsarchiv Weimar",
    }.items():
        monkeypatch.setenv(name, value)
    parties = xdomea_parties(Settings())
    assert (parties.sender.authority_key, parties.sender.authority_prefix, parties.sender.org_unit) == (
        "01002000",
        "ags:",
        "Hauptamt",
    )
    assert (parties.receiver.authority_key, parties.receiver.authority_prefix) == ("LATH", "psw:")
    assert isinstance(parties, Parties) and xdomea.Institution is Institution
