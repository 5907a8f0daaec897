"""Hot-folder and multi-file intake: every file exactly once, across restarts, with a progress figure."""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from devstack.stack import Stack
from tests.conftest import corpus_file, unique_bytes
from tests.integration.conftest import JWT_SECRET, Api, TopicReader, wait_for


def _hotfolder(stack: Stack) -> Path:
    assert stack.hotfolder is not None
    return stack.hotfolder


def _receipts(folder: Path) -> dict[str, dict]:
    return {p.name.removesuffix(".receipt.json"): json.loads(p.read_text()) for p in folder.glob("*.receipt.json")}


def test_dropped_files_are_taken_in_with_their_sidecar(api: Api, stack: Stack) -> None:
    root = _hotfolder(stack)
    tag = uuid.uuid4().hex[:8]
    good, bad = f"post-{tag}.pdf", f"kaputt-{tag}.pdf"
    (root / f"post-{tag}.json").write_text(json.dumps({"title": "Widerspruch", "file_plan_class": "50.10"}))
    (root / good).write_bytes(unique_bytes("sf__minimal-document.pdf"))
    (root / bad).write_bytes(corpus_file("qpdf__bad11.pdf").read_bytes())
    # A scanner still writing: the .part file is left alone until it is renamed.
    (root / f"spaeter-{tag}.pdf.part").write_bytes(unique_bytes("qpdf__minimal.pdf"))

    receipt = wait_for(lambda: _receipts(root / "processed").get(good))
    # Need-to-know: the scanner submitted it into an Akte of org unit 50; clara reads it as a clerk of 50.
    document = api.wait_status(receipt["document_id"], "in_review", org_units=["50"])
    assert document["title"] == "Widerspruch" and document["aktenzeichen"].startswith("50.10-")
    assert (root / "processed" / f"post-{tag}.json").exists()

    reason = wait_for(lambda: (root / "failed" / f"{bad}.reason.json").exists())
    assert reason
    note = json.loads((root / "failed" / f"{bad}.reason.json").read_text())
    assert note["reason"].startswith("unreadable") and note["quarantine_id"]
    assert (root / "failed" / bad).read_bytes() == corpus_file("qpdf__bad11.pdf").read_bytes()

    os.rename(root / f"spaeter-{tag}.pdf.part", root / f"spaeter-{tag}.pdf")
    assert wait_for(lambda: _receipts(root / "processed").get(f"spaeter-{tag}.pdf"))
    assert not list(root.glob(f"*{tag}*"))  # nothing left behind in the drop directory


def test_done_marker_and_broken_sidecar(stack: Stack) -> None:
    root = _hotfolder(stack)
    tag = uuid.uuid4().hex[:8]
    (root / f"markiert-{tag}.pdf").write_bytes(unique_bytes("qpdf__minimal.pdf"))
    (root / f"markiert-{tag}.pdf.done").write_bytes(b"")
    assert wait_for(lambda: _receipts(root / "processed").get(f"markiert-{tag}.pdf"))
    assert not (root / f"markiert-{tag}.pdf.done").exists()

    (root / f"falsch-{tag}.json").write_text("{not json")
    (root / f"falsch-{tag}.pdf").write_bytes(unique_bytes("qpdf__minimal.pdf"))
    reason = wait_for(
        lambda: (
            (root / "failed" / f"falsch-{tag}.pdf.reason.json").exists()
            and json.loads((root / "failed" / f"falsch-{tag}.pdf.reason.json").read_text())
        )
    )
    assert reason["reason"].startswith("invalid_sidecar")


def test_restart_in_the_middle_takes_nothing_twice_and_forgets_nothing(
    api: Api, stack: Stack, topics: TopicReader
) -> None:
    root = _hotfolder(stack)
    tag = uuid.uuid4().hex[:8]
    names = [f"stapel-{tag}-{i:02d}.pdf" for i in range(20)]
    for name in names:
        (root / name).write_bytes(unique_bytes("sf__minimal-document.pdf"))
        (root / f"{name}.done").write_bytes(b"")
    # A crash right after a file was moved to processing/ but before it was registered:
    orphan_id = str(uuid.uuid4())
    (root / "processing" / f"{orphan_id}__verwaist-{tag}.pdf").write_bytes(unique_bytes("qpdf__minimal.pdf"))

    wait_for(lambda: len([n for n in _receipts(root / "processed") if tag in n]) >= 3, timeout_s=60)
    stack.services["ingest"].kill()
    stack.start_service("ingest")

    expected = {*names, f"verwaist-{tag}.pdf"}
    receipts = wait_for(
        lambda: (r := {n: v for n, v in _receipts(root / "processed").items() if tag in n}).keys() == expected and r,
        timeout_s=120,
    )
    document_ids = [r["document_id"] for r in receipts.values()]
    assert len(set(document_ids)) == len(expected)
    assert not any(r.get("duplicate") for r in receipts.values())
    ingested = {
        m["document_id"] for m in topics.messages("documents.ingested") if m["metadata"]["filename"] in expected
    }
    assert ingested == set(document_ids)  # one document each, no second one from a retry
    assert not list((root / "processing").glob(f"*{tag}*"))


def test_multi_file_upload_is_queued_and_followed(api: Api, stack: Stack) -> None:
    ingest = stack.url("ingest")
    clerk = api.headers("clara", "clerk")
    good = [(f"brief-{i}.pdf", unique_bytes("sf__minimal-document.pdf")) for i in range(25)]
    files = [("files", (name, data, "application/pdf")) for name, data in good]
    files.append(("files", ("kaputt.pdf", corpus_file("qpdf__bad35.pdf").read_bytes(), "application/pdf")))
    files.append(("files", ("nochmal.pdf", good[0][1], "application/pdf")))
    response = api.http.post(
        f"{ingest}/api/v1/documents/batch",
        headers=clerk,
        files=files,
        data={"workflow": "none", "title": "Posteingang"},
    )
    assert response.status_code == 202, response.text
    batch_id = response.json()["batch_id"]
    assert response.json()["files"] == 27

    def finished() -> dict | None:
        body = api.http.get(f"{ingest}/api/v1/intake/batches/{batch_id}", headers=clerk).json()
        return body if body["progress"]["pending"] == 0 else None

    batch = wait_for(finished, timeout_s=120)
    assert batch["progress"] == {"total": 27, "done": 25, "pending": 0, "failed": 1, "duplicates": 1}
    by_name = {item["filename"]: item for item in batch["items"]}
    assert by_name["kaputt.pdf"]["state"] == "failed" and by_name["kaputt.pdf"]["quarantine_id"]
    assert by_name["nochmal.pdf"]["document_id"] == by_name["brief-0.pdf"]["document_id"]
    assert api.document(by_name["brief-7.pdf"]["document_id"])["title"] == "Posteingang"

    overall = api.http.get(f"{ingest}/api/v1/intake/progress", headers=clerk).json()
    assert overall["total"] >= 27 and overall["done"] >= 25
    cli = subprocess.run(
        [sys.executable, "-m", "eakte_cli", "status", "--url", ingest],
        env={**os.environ, "EAKTE_JWT_SECRET": JWT_SECRET},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert cli.returncode == 0, cli.stderr
    assert f"{overall['pending']} pending" in cli.stdout or "pending" in cli.stdout
    assert "done" in cli.stdout and "failed" in cli.stdout


def test_batch_routes_check_the_caller(api: Api, stack: Stack) -> None:
    ingest = stack.url("ingest")
    assert api.http.get(f"{ingest}/api/v1/intake/progress").status_code == 401
    records = api.headers("rita", "records_officer")
    assert api.http.get(f"{ingest}/api/v1/intake/progress", headers=records).status_code == 403
    started = time.monotonic()
    refused = api.http.post(
        f"{ingest}/api/v1/documents/batch",
        headers=records,
        files=[("files", ("a.pdf", b"%PDF-1.4", "application/pdf"))],
    )
    assert refused.status_code == 403 and time.monotonic() - started < 10
