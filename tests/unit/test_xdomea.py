"""xdomea 3.0.0 disposal messages: 0501/0503 built valid against the official schema, 0502/0506 read back."""

import io
import re
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from lxml import etree

from services.archive import xdomea
from services.archive.xdomea import (
    DEFAULT_SCHEMA_PATH,
    Disposal,
    DocumentRecord,
    FileRecord,
    ImportedObject,
    Institution,
    ProcessRecord,
    XdomeaError,
    XdomeaSchemaUnavailable,
    build_confirmation,
    build_evaluation,
    build_offer,
    build_transfer,
    build_zip,
    offer_xml_name,
    offer_zip_name,
    parse_confirmation,
    parse_evaluation,
    primary_file_name,
    select_for_transfer,
    transfer_xml_name,
    transfer_zip_name,
    validate,
)

SAMPLES = Path(__file__).parent / "xdomea_samples"
NS = {"x": "urn:xoev-de:xdomea:schema:3.0.0"}

# The same IDs are in the sample answers under xdomea_samples/.
PROCESS_ID = "e4a50cff-4250-4e8b-a2be-1d7023afb05e"
AKTE_SOCIAL = "f7e7aff3-91d0-4fe6-938d-69ca5efb52cd"
AKTE_BUILDING = "f9f17167-7201-4bf9-ba6d-5e3d6f6a7bef"
VORGANG_SOCIAL = "66b75f62-c103-4197-a474-9e8dc84d6f98"
VORGANG_BUILDING = "55a3dca1-f360-49da-9131-6bbfb737aed8"
DOC_APPLICATION = "4155fe48-2d78-4473-b324-9ca902fabee8"
DOC_NOTICE = "030e5b5e-b4c4-4b93-9bad-f9d9ffb63933"
DOC_PLAN = "598111d8-4b98-4a48-8576-02c155109634"

CITY = Institution(name="Stadt Musterstadt", abbreviation="MS", org_unit="Registratur")
ARCHIVE = Institution(name="Landesarchiv Musterland", abbreviation="LAML", authority_key="LAML")
NOW = datetime(2026, 4, 1, 8, 30, tzinfo=UTC)


def _doc(object_id: str, title: str, filename: str, content_type: str = "application/pdf", **kw) -> DocumentRecord:
    return DocumentRecord(
        object_id=object_id,
        title=title,
        filename=filename,
        content_type=content_type,
        size=48_213,
        sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        created_at=datetime(2026, 2, 3, 10, 15, tzinfo=UTC),
        **kw,
    )


def _files() -> list[FileRecord]:
    social = FileRecord(
        object_id=AKTE_SOCIAL,
        aktenzeichen="50.10-2026/0042",
        title="Hilfe zum Lebensunterhalt – Familie Müller",
        file_plan_class="50.10",
        file_plan_class_title="Sozialhilfe",
        retention_years=10,
        disposal=Disposal.DESTROY,
        opened_on=date(2026, 1, 12),
        closed_on=date(2026, 3, 31),
        processes=[
            ProcessRecord(
                object_id=VORGANG_SOCIAL,
                title="Antrag auf Leistungen",
                documents=[
                    _doc(
                        DOC_APPLICATION, "Antrag vom 12.01.2026", "Antrag Müller.pdf", pdf_a=True, format_version="2b"
                    ),
                    _doc(DOC_NOTICE, "Bewilligungsbescheid", "bescheid-2026-0042.pdf"),
                ],
            )
        ],
    )
    building = FileRecord(
        object_id=AKTE_BUILDING,
        aktenzeichen="63.01-2019/0007",
        title="Neubau Rathausplatz 1",
        file_plan_class="63.01",
        file_plan_class_title="Bauaufsicht, Baugenehmigungen",
        retention_years=None,
        disposal="archive",
        opened_on=date(2019, 5, 2),
        closed_on=date(2025, 11, 30),
        processes=[
            ProcessRecord(
                object_id=VORGANG_BUILDING,
                title="Baugenehmigung",
                documents=[_doc(DOC_PLAN, "Lageplan", "Lageplan.TIF", content_type="image/tiff")],
            )
        ],
    )
    return [social, building]


@pytest.fixture(scope="module")
def official_schema() -> etree.XMLSchema:
    """The official schema loaded here with lxml directly, independent of the module's own cache."""
    return etree.XMLSchema(etree.parse(str(DEFAULT_SCHEMA_PATH)))


def _assert_valid(schema: etree.XMLSchema, xml: bytes, message: str) -> etree._Element:
    root = etree.fromstring(xml)
    assert schema.validate(root), "\n".join(str(e) for e in schema.error_log)
    assert etree.QName(root).localname == xdomea.MESSAGES[message]
    validate(xml, message)
    return root


def _texts(root: etree._Element, path: str) -> list[str]:
    return [str(v) for v in root.xpath(path, namespaces=NS)]


def test_offer_0501_is_valid_and_describes_files_processes_and_documents(official_schema: etree.XMLSchema) -> None:
    xml = build_offer(PROCESS_ID, CITY, ARCHIVE, _files(), created_at=NOW)
    root = _assert_valid(official_schema, xml, "0501")

    assert _texts(root, "x:Kopf/x:ProzessID/text()") == [PROCESS_ID]
    assert _texts(root, "x:Kopf/x:Nachrichtentyp/code/text()") == ["0501"]
    assert _texts(root, "x:Kopf/x:Nachrichtentyp/@listURI") == ["urn:xoev-de:xdomea:codeliste:nachrichtentyp"]
    assert _texts(root, "x:Kopf/x:Erstellungszeitpunkt/text()") == ["2026-04-01T08:30:00+00:00"]
    assert _texts(root, "x:Kopf/x:Absender/x:Institution/x:Name/text()") == ["Stadt Musterstadt"]
    assert _texts(root, "x:Kopf/x:Empfaenger/x:Behoerdenkennung/x:Behoerdenschluessel/code/text()") == ["LAML"]
    assert _texts(root, "x:Kopf/x:SendendesSystem/x:Produktname/text()") == ["E-Akte"]
    assert _texts(root, "x:Kopf/x:Empfangsbestaetigung/text()") == ["true"]

    akten = root.xpath("x:Schriftgutobjekt/x:Akte", namespaces=NS)
    assert [a.findtext("x:Identifikation/x:ID", namespaces=NS) for a in akten] == [AKTE_SOCIAL, AKTE_BUILDING]
    assert _texts(root, "//x:Akte/x:AllgemeineMetadaten/x:Kennzeichen/text()") == ["50.10-2026/0042", "63.01-2019/0007"]
    assert _texts(root, "//x:Akte/x:AllgemeineMetadaten/x:Aktenplaneinheit/x:Kennzeichen/text()") == ["50.10", "63.01"]
    assert _texts(root, "//x:Akte/x:ArchivspezifischeMetadaten/x:Aussonderungsart/x:Aussonderungsart/code/text()") == [
        "V",
        "A",
    ]
    assert _texts(root, "//x:Akte/x:ArchivspezifischeMetadaten/x:Bewertungsvorschlag/code/text()") == ["V", "A"]
    assert (
        _texts(root, "//x:Akte/x:ArchivspezifischeMetadaten/x:Aussonderungsart/x:Aussonderungsart/@listURI")
        == ["urn:xoev-de:xdomea:codeliste:aussonderungsart"] * 2
    )
    social, building = akten
    assert _texts(social, "x:ArchivspezifischeMetadaten/x:Aufbewahrungsdauer/x:AnzahlJahre/text()") == ["10"]
    assert _texts(social, "x:ArchivspezifischeMetadaten/x:Aufbewahrungsende/text()") == ["2036-12-31"]
    assert _texts(building, "x:ArchivspezifischeMetadaten/x:Aufbewahrungsdauer/x:Unbefristet/text()") == ["1"]
    assert _texts(social, "x:Laufzeit/x:Beginn/text()") == ["2026-01-12"]
    assert _texts(social, "x:Laufzeit/x:Ende/text()") == ["2026-03-31"]
    assert _texts(social, "x:ZdADatum/text()") == ["2026-03-31"]

    assert _texts(root, "//x:Akteninhalt/x:Vorgang/x:Identifikation/x:ID/text()") == [VORGANG_SOCIAL, VORGANG_BUILDING]
    assert _texts(root, "//x:Vorgang/x:Dokument/x:Identifikation/x:ID/text()") == [
        DOC_APPLICATION,
        DOC_NOTICE,
        DOC_PLAN,
    ]
    # An offer carries metadata only: no primary documents.
    assert root.xpath("//x:Primaerdokument", namespaces=NS) == []
    # The intake fingerprint travels in an application-specific extension.
    assert _texts(root, "//x:Dokument[1]//x:Feld[x:Name='SHA256']/x:Wert/text()")[0].startswith("9f86d081")


def test_transfer_0503_is_valid_and_references_every_primary_document(official_schema: etree.XMLSchema) -> None:
    xml, entries = build_transfer(PROCESS_ID, CITY, ARCHIVE, _files(), created_at=NOW)
    root = _assert_valid(official_schema, xml, "0503")

    assert _texts(root, "x:Kopf/x:Nachrichtentyp/code/text()") == ["0503"]
    assert _texts(root, "x:Kopf/x:Importbestaetigung/text()") == ["1"]
    assert _texts(root, "//x:Akte/x:AllgemeineMetadaten/x:Kennzeichen/text()") == ["50.10-2026/0042", "63.01-2019/0007"]
    assert [doc_id for _, doc_id in entries] == [DOC_APPLICATION, DOC_NOTICE, DOC_PLAN]
    assert _texts(root, "//x:Primaerdokument/x:Dateiname/text()") == [name for name, _ in entries]
    assert [name for name, _ in entries] == [
        f"{DOC_APPLICATION}_Antrag_Mueller.pdf",
        f"{DOC_NOTICE}_bescheid-2026-0042.pdf",
        f"{DOC_PLAN}_Lageplan.tif",
    ]
    assert _texts(root, "//x:Primaerdokument/x:DateinameOriginal/text()")[0] == "Antrag Müller.pdf"
    # Dateiformat codes: 044 PDF/A, 018 PDF, 023 tif; with the code list's URI and version.
    assert _texts(root, "//x:Version/x:Format/x:Name/code/text()") == ["044", "018", "023"]
    assert set(_texts(root, "//x:Version/x:Format/x:Name/@listVersionID")) == {"1.0"}
    assert _texts(root, "//x:Version/x:Format/x:Version/text()")[:1] == ["2b"]
    assert _texts(root, "//x:Dokument/x:Version/x:Nummer/text()") == ["1", "1", "1"]


def test_transfer_package_holds_the_message_and_the_primary_files() -> None:
    xml, entries = build_transfer(PROCESS_ID, CITY, ARCHIVE, _files())
    content = {doc_id: f"bytes of {doc_id}".encode() for _, doc_id in entries}
    package = build_zip([(transfer_xml_name(PROCESS_ID), xml)] + [(n, io.BytesIO(content[d])) for n, d in entries])
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        assert archive.namelist() == [f"{PROCESS_ID}_Aussonderung.Aussonderung.0503.xml"] + [n for n, _ in entries]
        assert archive.read(entries[2][0]) == content[DOC_PLAN]
        validate(archive.read(transfer_xml_name(PROCESS_ID)), "0503")
    with pytest.raises(XdomeaError, match="twice"):
        build_zip([("a.xml", b"1"), ("a.xml", b"2")])
    with pytest.raises(XdomeaError, match="unsafe"):
        build_zip([("../a.xml", b"1")])


def test_transfer_needs_every_stored_primary_document() -> None:
    files = _files()
    stored = {d.object_id: d for f in files for p in f.processes for d in p.documents}
    renamed = DocumentRecord(**{**stored[DOC_PLAN].__dict__, "filename": "Lageplan_v2.tif", "version": 2})
    xml, entries = build_transfer(PROCESS_ID, CITY, ARCHIVE, files, {**stored, DOC_PLAN: renamed})
    assert entries[-1] == (f"{DOC_PLAN}_Lageplan_v2.tif", DOC_PLAN)
    assert b"<xdomea:Nummer>2</xdomea:Nummer>" in xml

    del stored[DOC_NOTICE]
    with pytest.raises(XdomeaError, match=f"document {DOC_NOTICE} .*no stored primary file"):
        build_transfer(PROCESS_ID, CITY, ARCHIVE, files, stored)


def test_evaluation_0502_sample_round_trip_selects_what_the_archive_keeps(official_schema: etree.XMLSchema) -> None:
    files = _files()
    offered = {AKTE_SOCIAL, AKTE_BUILDING, VORGANG_SOCIAL, VORGANG_BUILDING, DOC_APPLICATION, DOC_NOTICE, DOC_PLAN}
    answer = (SAMPLES / "Aussonderung.Bewertungsverzeichnis.0502.xml").read_bytes()
    _assert_valid(official_schema, answer, "0502")

    evaluation = parse_evaluation(answer, process_id=PROCESS_ID, known_ids=offered)
    assert evaluation.process_id == PROCESS_ID
    assert evaluation.decisions == {AKTE_BUILDING: Disposal.ARCHIVE, AKTE_SOCIAL: Disposal.DESTROY}
    assert evaluation.archive_ids() == {AKTE_BUILDING} and evaluation.destroy_ids() == {AKTE_SOCIAL}
    assert evaluation.sender.name == "Landesarchiv Musterland"
    assert evaluation.created_at == datetime(2026, 4, 14, 7, 12, 30, tzinfo=UTC)

    chosen = select_for_transfer(files, evaluation)
    assert [f.object_id for f in chosen] == [AKTE_BUILDING]
    xml, entries = build_transfer(PROCESS_ID, CITY, ARCHIVE, chosen)
    _assert_valid(official_schema, xml, "0503")
    assert entries == [(f"{DOC_PLAN}_Lageplan.tif", DOC_PLAN)]


def test_evaluation_built_with_lxml_and_per_process_decisions(official_schema: etree.XMLSchema) -> None:
    """An answer written here with plain lxml (not with the module), deciding one Vorgang against its Akte."""
    x = "{urn:xoev-de:xdomea:schema:3.0.0}"
    root = etree.Element(x + "Aussonderung.Bewertungsverzeichnis.0502", nsmap={"xdomea": NS["x"]})
    head = etree.SubElement(root, x + "Kopf")
    etree.SubElement(head, x + "ProzessID").text = PROCESS_ID
    etree.SubElement(etree.SubElement(head, x + "Nachrichtentyp"), "code").text = "0502"
    etree.SubElement(head, x + "Erstellungszeitpunkt").text = "2026-04-14T09:12:30"
    for name, who in (("Absender", "Landesarchiv Musterland"), ("Empfaenger", "Stadt Musterstadt")):
        etree.SubElement(etree.SubElement(etree.SubElement(head, x + name), x + "Institution"), x + "Name").text = who
    etree.SubElement(head, x + "Empfangsbestaetigung").text = "0"
    for object_id, code in ((AKTE_SOCIAL, "V"), (VORGANG_SOCIAL, "A"), (DOC_NOTICE, "V"), (AKTE_BUILDING, "V")):
        item = etree.SubElement(root, x + "BewertetesObjekt")
        etree.SubElement(item, x + "ID").text = object_id
        art = etree.SubElement(etree.SubElement(item, x + "Aussonderungsart"), x + "Aussonderungsart")
        etree.SubElement(art, "code").text = code
    answer = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    _assert_valid(official_schema, answer, "0502")

    evaluation = parse_evaluation(answer)
    assert evaluation.decisions == {
        AKTE_SOCIAL: Disposal.DESTROY,
        VORGANG_SOCIAL: Disposal.ARCHIVE,
        DOC_NOTICE: Disposal.DESTROY,
        AKTE_BUILDING: Disposal.DESTROY,
    }
    chosen = select_for_transfer(_files(), evaluation)
    assert [(f.object_id, [p.object_id for p in f.processes]) for f in chosen] == [(AKTE_SOCIAL, [VORGANG_SOCIAL])]
    assert [d.object_id for d in chosen[0].processes[0].documents] == [DOC_APPLICATION]
    xml, entries = build_transfer(PROCESS_ID, CITY, ARCHIVE, chosen)
    _assert_valid(official_schema, xml, "0503")
    assert entries == [(f"{DOC_APPLICATION}_Antrag_Mueller.pdf", DOC_APPLICATION)]


def test_evaluation_and_confirmation_builders_round_trip(official_schema: etree.XMLSchema) -> None:
    answer = build_evaluation(PROCESS_ID, ARCHIVE, CITY, {AKTE_SOCIAL: "destroy", AKTE_BUILDING: Disposal.ARCHIVE})
    _assert_valid(official_schema, answer, "0502")
    assert parse_evaluation(answer).decisions == {AKTE_SOCIAL: Disposal.DESTROY, AKTE_BUILDING: Disposal.ARCHIVE}

    objects = [ImportedObject(AKTE_BUILDING, True, archive_id="LAML 17"), ImportedObject(DOC_PLAN, False, ("kaputt",))]
    confirmation = build_confirmation(PROCESS_ID, ARCHIVE, CITY, objects)
    _assert_valid(official_schema, confirmation, "0506")
    assert parse_confirmation(confirmation).objects == tuple(objects)


def test_confirmation_0506_sample_round_trip(official_schema: etree.XMLSchema) -> None:
    answer = (SAMPLES / "Aussonderung.AussonderungImportBestaetigen.0506.xml").read_bytes()
    _assert_valid(official_schema, answer, "0506")

    confirmation = parse_confirmation(
        answer, process_id=PROCESS_ID, known_ids={AKTE_BUILDING, VORGANG_BUILDING, DOC_PLAN}
    )
    assert confirmation.succeeded_ids() == {AKTE_BUILDING, VORGANG_BUILDING}
    assert confirmation.failed_ids() == {DOC_PLAN}
    by_id = confirmation.by_id()
    assert by_id[AKTE_BUILDING].archive_id == "LAML 5-63/2026 Nr. 17"
    assert by_id[DOC_PLAN].errors == ("Prüfsumme der Primärdatei stimmt nicht mit den Metadaten überein.",)
    assert by_id[DOC_PLAN].error_codes == ("IMP-017",)
    assert confirmation.created_at == datetime(2026, 5, 2, 14, 3, 11, 250000, tzinfo=UTC)


def _sample_0502() -> str:
    return (SAMPLES / "Aussonderung.Bewertungsverzeichnis.0502.xml").read_text(encoding="utf-8")


def _sample_0506() -> str:
    return (SAMPLES / "Aussonderung.AussonderungImportBestaetigen.0506.xml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"this is not xml", "not well-formed XML"),
        (b"<xdomea:Aussonderung.Bewertungsverzeichnis.0502", "not well-formed XML"),
        (b"<evaluation><object id='1'>A</object></evaluation>", "not an xdomea 3.0.0 message"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>',
            "DOCTYPE is not allowed",
        ),
        # Schema-invalid: the decision is missing, the object id is no UUID, the code is not in the code list.
        (
            _sample_0502().replace("<code>V</code>", "").encode(),
            "not valid against the xdomea 3.0.0 schema",
        ),
        (
            _sample_0502().replace("f9f17167-7201-4bf9-ba6d-5e3d6f6a7bef", "Akte-17").encode(),
            "Element '{urn:xoev-de:xdomea:schema:3.0.0}ID': .*'Akte-17'",
        ),
        (
            _sample_0502().replace("<code>A</code>", "<code>X</code>").encode(),
            "line 42: Element 'code'.*'X' is not an element of the set",
        ),
        (_sample_0502().replace("<code>0502</code>", "<code>0503</code>").encode(), "Nachrichtentyp code '0503'"),
        (_sample_0502().replace("<code>A</code>", "<code>B</code>").encode(), "B \\(to be evaluated\\) is no decision"),
    ],
)
def test_invalid_evaluation_is_refused_with_a_clear_message(payload: bytes, message: str) -> None:
    with pytest.raises(XdomeaError, match=message):
        parse_evaluation(payload)


def test_evaluation_refuses_other_message_types_and_foreign_processes() -> None:
    offer = build_offer(PROCESS_ID, CITY, ARCHIVE, _files())
    with pytest.raises(
        XdomeaError,
        match=re.escape("expected Aussonderung.Bewertungsverzeichnis.0502, got Aussonderung.Anbieteverzeichnis.0501"),
    ):
        parse_evaluation(offer)
    confirmation = _sample_0506().encode()
    with pytest.raises(XdomeaError, match=re.escape("got Aussonderung.AussonderungImportBestaetigen.0506")):
        parse_evaluation(confirmation)
    with pytest.raises(XdomeaError, match=re.escape("got Aussonderung.Bewertungsverzeichnis.0502")):
        parse_confirmation(_sample_0502().encode())
    with pytest.raises(XdomeaError, match=r"ProzessID .* does not belong"):
        parse_evaluation(_sample_0502().encode(), process_id="00000000-0000-4000-8000-000000000000")
    with pytest.raises(XdomeaError, match=f"not offered: {AKTE_SOCIAL}"):
        parse_evaluation(_sample_0502().encode(), known_ids={AKTE_BUILDING})
    twice = _sample_0502().replace("F7E7AFF3-91D0-4FE6-938D-69CA5EFB52CD", AKTE_BUILDING).encode()
    with pytest.raises(XdomeaError, match="evaluated twice with different decisions"):
        parse_evaluation(twice)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x89PNG\r\n", "not well-formed XML"),
        (_sample_0506().replace("<xdomea:Erfolgreich>1<", "<xdomea:Erfolgreich>ja<").encode(), "Erfolgreich"),
        (
            _sample_0506().replace(' listURI="urn:de:landesarchiv-musterland:codeliste:importfehler"', "").encode(),
            "listURI",
        ),
        (
            _sample_0506()
            .replace("55a3dca1-f360-49da-9131-6bbfb737aed8", "f9f17167-7201-4bf9-ba6d-5e3d6f6a7bef")
            .encode(),
            "confirmed twice",
        ),
    ],
)
def test_invalid_confirmation_is_refused_with_a_clear_message(payload: bytes, message: str) -> None:
    with pytest.raises(XdomeaError, match=message):
        parse_confirmation(payload)


def test_zip_and_message_file_names_follow_the_standard() -> None:
    assert offer_zip_name(PROCESS_ID) == f"{PROCESS_ID}_Aussonderung.Anbieteverzeichnis.0501.zip"
    assert offer_xml_name(PROCESS_ID) == f"{PROCESS_ID}_Aussonderung.Anbieteverzeichnis.0501.xml"
    assert transfer_zip_name(PROCESS_ID) == f"{PROCESS_ID}_Aussonderung.Aussonderung.0503.zip"
    assert transfer_xml_name(PROCESS_ID) == f"{PROCESS_ID}_Aussonderung.Aussonderung.0503.xml"
    assert xdomea.message_file_name(PROCESS_ID.upper(), "0506") == (
        f"{PROCESS_ID}_Aussonderung.AussonderungImportBestaetigen.0506.xml"
    )
    with pytest.raises(XdomeaError, match="not a UUID"):
        offer_zip_name("2026-04")


def test_primary_file_names_start_with_the_document_uuid_and_are_plain_ascii() -> None:
    doc = _doc(DOC_PLAN, "Bericht", "C:\\Scans\\../Bericht Übersicht (final).PDF")
    assert primary_file_name(doc) == f"{DOC_PLAN}_Bericht_Uebersicht_final.pdf"
    assert primary_file_name(_doc(DOC_PLAN, "Scan", "scan-0001", content_type="image/tiff")) == (
        f"{DOC_PLAN}_scan-0001.tif"
    )
    assert primary_file_name(_doc(DOC_PLAN, "?", "???.pdf")) == f"{DOC_PLAN}_dokument.pdf"


def test_records_refuse_data_xdomea_cannot_carry() -> None:
    with pytest.raises(XdomeaError, match="not a UUID"):
        _doc("42", "x", "x.pdf")
    with pytest.raises(XdomeaError, match="sha256"):
        DocumentRecord(
            object_id=DOC_PLAN, title="x", filename="x.pdf", content_type="application/pdf", size=1, sha256="abc",
            created_at=NOW,
        )  # fmt: skip
    with pytest.raises(XdomeaError, match="disposal"):
        FileRecord(**{**_files()[0].__dict__, "disposal": "shred"})
    twice = [_files()[0], FileRecord(**{**_files()[1].__dict__, "object_id": AKTE_SOCIAL})]
    with pytest.raises(XdomeaError, match=f"object id {AKTE_SOCIAL} appears twice"):
        build_offer(PROCESS_ID, CITY, ARCHIVE, twice)
    with pytest.raises(XdomeaError, match="at least one"):
        build_offer(PROCESS_ID, CITY, ARCHIVE, [])


def test_text_with_control_characters_still_gives_a_valid_message(official_schema: etree.XMLSchema) -> None:
    files = _files()
    dirty = FileRecord(**{**files[0].__dict__, "title": "Scan\x0cSeite 2\x00"})
    root = _assert_valid(official_schema, build_offer(PROCESS_ID, CITY, ARCHIVE, [dirty]), "0501")
    assert _texts(root, "//x:Akte/x:AllgemeineMetadaten/x:Betreff/text()") == ["ScanSeite 2"]


def test_schema_location_comes_from_the_argument_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    xml = build_offer(PROCESS_ID, CITY, ARCHIVE, _files())
    with pytest.raises(XdomeaSchemaUnavailable, match="not found"):
        validate(xml, "0501", schema="/nonexistent/xdomea.xsd")
    monkeypatch.setenv("EAKTE_XDOMEA_SCHEMA", "/nonexistent/env/xdomea.xsd")
    with pytest.raises(XdomeaSchemaUnavailable, match=re.escape("/nonexistent/env/xdomea.xsd")):
        validate(xml, "0501")
    monkeypatch.setenv("EAKTE_XDOMEA_SCHEMA", str(DEFAULT_SCHEMA_PATH))
    validate(xml, "Aussonderung.Anbieteverzeichnis.0501")
    with pytest.raises(XdomeaError, match=re.escape("expected Aussonderung.Aussonderung.0503")):
        validate(xml, "0503")


def test_file_format_table_matches_the_code_list() -> None:
    code_list = etree.parse(str(DEFAULT_SCHEMA_PATH.parent / "code_lists" / "Dateiformat_1.0.xml"))
    rows = {}
    for row in code_list.iter("Row"):
        code, description = (v.findtext("SimpleValue") for v in row.iter("Value"))
        rows[code] = description
    for extension, code in xdomea.DATEIFORMAT_BY_EXTENSION.items():
        assert rows[code].split(" - ", 1)[0] == extension
    assert rows[xdomea.DATEIFORMAT_PDF_A].startswith("pdf - Portable Document Format (Archival)")
    assert rows[xdomea.DATEIFORMAT_OTHER] == "Sonstiges"


def test_module_is_pure_of_kafka_minio_and_http() -> None:
    import subprocess
    import sys

    code = (
        "import sys, services.archive.xdomea; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('kafka', 'faststream', 'minio', 'fastapi', 'starlette', 'httpx', 'sqlalchemy', 'shared')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
