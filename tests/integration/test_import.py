"""`eakte import`: a scanning provider's delivery filed through the real stack, as an operator runs it."""

import csv
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from devstack.stack import Stack
from shared.storage import ObjectStore
from tests.conftest import corpus_manifest, unique_bytes
from tests.integration.package_files import package_file
from tests.stack import JWT_SECRET, Api, wait_for

MAPPING = """\
delimiter: ";"
encoding: cp1252
date_format: ["%d.%m.%Y", "%Y-%m-%d"]
columns:
  file: Datei
  aktenzeichen: Aktenzeichen
  file_plan_class: Aktenplan
  akte_title: Aktentitel
  vorgang: Vorgang
  title: Betreff
  document_type: Dokumentart
  sender: Absender
  received_on: Eingang
"""
HEADER = [
    "Datei",
    "Aktenzeichen",
    "Aktenplan",
    "Aktentitel",
    "Vorgang",
    "Betreff",
    "Dokumentart",
    "Absender",
    "Eingang",
]


def _aktenzeichen(cls: str = "50.10") -> str:
    """An old file's Aktenzeichen, unique in this test session."""
    return f"{cls}-2019/{uuid.uuid4().int % 9_000_000 + 1_000_000}"


def _write_index(path: Path, rows: list[list[str]], encoding: str = "cp1252", delimiter: str = ";") -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(HEADER)
        writer.writerows(rows)


def _run(args: list[str], stack: Stack, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "eakte_cli", "import", *args, "--url", stack.url("ingest")],
        env={**os.environ, "EAKTE_JWT_SECRET": JWT_SECRET},
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def _report(path: Path) -> dict[int, dict[str, str]]:
    """The report by row number; a row that appears twice fails the test."""
    rows: dict[int, dict[str, str]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            row = int(record["row"])
            assert row not in rows, f"row {row} is twice in the report"
            rows[row] = record
    return rows


def _akte(api: Api, stack: Stack, aktenzeichen: str) -> dict:
    response = api.http.get(f"{stack.url('ingest')}/api/v1/akten/{aktenzeichen}", headers=api.headers("ada", "admin"))
    assert response.status_code == 200, response.text
    return response.json()


def _filed_by_vorgang(akte: dict) -> dict[str, list[str]]:
    return {v["title"]: sorted(d["filename"] for d in v["documents"]) for v in akte["vorgaenge"]}


def test_a_delivery_is_filed_into_its_akten_and_vorgaenge_and_bad_rows_are_reported(
    api: Api, stack: Stack, tmp_path: Path
) -> None:
    manifest = corpus_manifest()
    accepted = [m["file"] for m in manifest if m["expected"] == "accept" and m["kind"] == "born-digital"][:7]
    encrypted = next(m["file"] for m in manifest if m["kind"] == "encrypted-userpw")
    delivery = tmp_path / "lieferung"
    (delivery / "box1").mkdir(parents=True)
    for name in [*accepted, encrypted]:
        (delivery / "box1" / name).write_bytes(unique_bytes(name))
    (tmp_path / "geheim.pdf").write_bytes(unique_bytes(accepted[0]))
    sozial, bau_title = _aktenzeichen(), f"Bauakte Hauptstraße 5 ({uuid.uuid4().hex[:6]})"
    rows = [
        [
            f"box1/{accepted[0]}",
            sozial,
            "",
            "Hilfe für Müller",
            "Antrag",
            "Antrag auf Hilfe",
            "Antrag",
            "Müller",
            "03.02.2019",
        ],
        [f"box1/{accepted[1]}", sozial, "", "", "Antrag", "Nachweis", "Nachweis", "Müller", "10.02.2019"],
        [f"box1/{accepted[2]}", sozial, "", "", "Widerspruch", "Widerspruch", "Schreiben", "Müller", "01.06.2019"],
        [f"box1/{accepted[3]}", "", "63.01", bau_title, "Bauantrag", "Bauantrag", "Antrag", "Bauherr", "2019-04-01"],
        [f"box1/{accepted[4]}", "", "63.01", bau_title, "Bauantrag", "Pläne", "Plan", "Architekt", ""],
        [f"box1/{accepted[6]}", "", "63.01", bau_title, "Abnahme", "Foto", "Foto", "", ""],
        [f"box1/{encrypted}", sozial, "", "", "Antrag", "Verschlüsselt", "Antrag", "Müller", "04.02.2019"],
        ["box1/fehlt.pdf", sozial, "", "", "Antrag", "Fehlt", "Antrag", "", ""],
        ["../geheim.pdf", sozial, "", "", "Antrag", "Außerhalb", "Antrag", "", ""],
        [f"box1/{accepted[5]}", sozial, "", "", "Antrag", "Falsches Datum", "Antrag", "", "31.02.2019"],
        [f"box1/{accepted[5]}", "", "99.99", "Unbekannt", "", "Klasse fehlt", "Antrag", "", ""],
    ]
    _write_index(tmp_path / "index.csv", rows)
    (tmp_path / "mapping.yaml").write_text(MAPPING, encoding="utf-8")

    result = _run(
        [str(delivery), "--index", str(tmp_path / "index.csv"), "--mapping", str(tmp_path / "mapping.yaml")], stack
    )

    assert result.returncode == 3, result.stderr  # done, with rows to look at
    report = _report(tmp_path / "index.report.csv")
    assert sorted(report) == list(range(1, 12))
    assert [report[r]["outcome"] for r in range(1, 7)] == ["filed"] * 6
    assert report[7]["outcome"] == "quarantined" and report[7]["quarantine_id"]
    assert report[8]["outcome"] == "failed" and report[8]["reason"].startswith("missing_file")
    assert report[9]["outcome"] == "failed" and report[9]["reason"].startswith("outside_delivery")
    assert report[10]["outcome"] == "failed" and report[10]["reason"].startswith("invalid_date")
    assert report[11]["outcome"] == "failed" and report[11]["reason"].startswith("unknown_file_plan_class")
    assert "6 filed" in result.stdout and "1 quarantined" in result.stdout and "4 failed" in result.stdout

    akte = _akte(api, stack, sozial)
    assert akte["title"] == "Hilfe für Müller"
    assert _filed_by_vorgang(akte) == {"Antrag": sorted(accepted[:2]), "Widerspruch": [accepted[2]]}
    bau = report[4]["aktenzeichen"]
    assert bau.startswith("63.01-") and report[5]["aktenzeichen"] == report[6]["aktenzeichen"] == bau
    assert _filed_by_vorgang(_akte(api, stack, bau)) == {"Bauantrag": sorted(accepted[3:5]), "Abnahme": [accepted[6]]}
    document = api.document(report[1]["document_id"], user="eakte-import")
    assert document["title"] == "Antrag auf Hilfe" and document["aktenzeichen"] == sozial
    assert document["workflow"] == "none" and document["document_type"] == "Antrag"

    # Workflow `none`: archived as it is, with where it was filed and when the paper came in.
    wait_for(lambda: api.archived(report[1]["document_id"]).status_code == 200, timeout_s=60)
    package = api.http.get(
        f"{stack.url('archive')}/api/v1/archive/{report[1]['document_id']}/package",
        headers=api.headers("rita", "records_officer"),
    ).json()
    metadata_object = next(o for o in package["objects"] if o["path"] == "data/metadata.json")
    metadata = json.loads(package_file(ObjectStore(stack.settings()).client, package["bucket"], metadata_object))
    assert metadata["received_on"] == "2019-02-03" and metadata["original"]["source"] == "import"
    assert metadata["akte"] == {"aktenzeichen": sozial, "title": "Hilfe für Müller"}

    quarantined = api.http.get(
        f"{stack.url('ingest')}/api/v1/quarantine/{report[7]['quarantine_id']}", headers=api.headers("ada", "admin")
    ).json()
    assert quarantined["original_name"] == encrypted and quarantined["source"] == "import"


def test_an_import_killed_midway_resumes_without_doubles(api: Api, stack: Stack, tmp_path: Path) -> None:
    delivery, files = tmp_path / "scans", 100
    delivery.mkdir()
    aktenzeichen = _aktenzeichen("00.10")
    rows = []
    for number in range(files):
        (delivery / f"scan-{number:03d}.pdf").write_bytes(unique_bytes("sf__minimal-document.pdf"))
        rows.append(
            [f"scan-{number:03d}.pdf", aktenzeichen, "", "Altakte", "Altbestand", f"Blatt {number}", "", "", ""]
        )
    _write_index(tmp_path / "index.csv", rows, encoding="utf-8", delimiter=",")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING.replace('delimiter: ";"\nencoding: cp1252\n', ""), encoding="utf-8")
    args = [str(delivery), "--index", str(tmp_path / "index.csv"), "--mapping", str(mapping), "--concurrency", "2"]
    report_path = tmp_path / "index.report.csv"

    command = [sys.executable, "-m", "eakte_cli", "import", *args, "--url", stack.url("ingest")]
    env = {**os.environ, "EAKTE_JWT_SECRET": JWT_SECRET}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: report_path.exists() and len(report_path.read_text().splitlines()) > 5, 120, 0.02)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    done_before = len(_report(report_path))
    assert 0 < done_before < files, "the kill came after the import had finished"

    second = _run(args, stack)

    assert second.returncode == 0, second.stderr
    report = _report(report_path)
    assert sorted(report) == list(range(1, files + 1))
    outcomes = [r["outcome"] for r in report.values()]
    # A row in flight at the kill was filed, not journaled: the re-run finds it filed (duplicate), never twice.
    assert set(outcomes) <= {"filed", "duplicate"} and outcomes.count("duplicate") <= 2
    filed = _filed_by_vorgang(_akte(api, stack, aktenzeichen))
    assert filed == {"Altbestand": sorted(f"scan-{n:03d}.pdf" for n in range(files))}


def test_doubles_are_refused_and_a_finished_import_files_nothing_new(api: Api, stack: Stack, tmp_path: Path) -> None:
    delivery = tmp_path / "scans"
    delivery.mkdir()
    (delivery / "a.pdf").write_bytes(unique_bytes("sf__minimal-document.pdf"))
    (delivery / "b.pdf").write_bytes(unique_bytes("qpdf__minimal.pdf"))
    aktenzeichen = _aktenzeichen("30.10")
    rows = [[name, aktenzeichen, "", "Satzung", "Entwurf", name, "", "", ""] for name in ("a.pdf", "a.pdf", "b.pdf")]
    _write_index(tmp_path / "index.csv", rows)
    args = [str(delivery), "--index", str(tmp_path / "index.csv"), "--mapping", str(tmp_path / "mapping.yaml")]
    (tmp_path / "mapping.yaml").write_text(MAPPING, encoding="utf-8")

    assert _run([*args, "--concurrency", "1"], stack).returncode == 0
    report = _report(tmp_path / "index.report.csv")
    assert [report[r]["outcome"] for r in (1, 2, 3)] == ["filed", "duplicate", "filed"]
    assert report[2]["document_id"] == report[1]["document_id"]

    again = _run(args, stack)  # the same command: every row is in its report already
    assert again.returncode == 0, again.stderr
    assert _report(tmp_path / "index.report.csv") == report
    fresh = _run([*args, "--report", str(tmp_path / "second.csv")], stack)  # a new report: the bytes are known
    assert fresh.returncode == 0, fresh.stderr
    assert [r["outcome"] for r in _report(tmp_path / "second.csv").values()] == ["duplicate"] * 3
    assert _filed_by_vorgang(_akte(api, stack, aktenzeichen)) == {"Entwurf": ["a.pdf", "b.pdf"]}


def test_the_import_fields_of_an_upload_are_checked_like_the_others(api: Api, pdf: Path) -> None:
    """What `eakte import` sends is an ordinary upload's optional fields: a bad one is a 422 before any bytes."""
    bad_date = api.upload(pdf, aktenzeichen=_aktenzeichen(), find_or_open_akte="true", received_on="03.02.2019")
    assert bad_date.status_code == 422 and bad_date.json()["reason"] == "invalid_date"
    bad_source = api.upload(pdf, source="hotfolder")
    assert bad_source.status_code == 422 and bad_source.json()["reason"] == "unknown_source"
    foreign = api.upload(pdf, aktenzeichen="AZ 4711/19", find_or_open_akte="true")
    assert foreign.status_code == 422 and foreign.json()["reason"] == "invalid_aktenzeichen"
    unknown = api.upload(pdf, aktenzeichen=_aktenzeichen())  # without the flag an unknown Akte stays refused
    assert unknown.status_code == 422 and unknown.json()["reason"] == "unknown_aktenzeichen"
    opened = api.upload(pdf, aktenzeichen=(az := _aktenzeichen()), find_or_open_akte="true", vorgang_title="Antrag")
    assert opened.status_code == 201 and opened.json()["aktenzeichen"] == az
