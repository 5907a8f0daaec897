"""A poison row never stops the line: upload texts are bounded by one rule, dead letters never outgrow the broker."""

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from eakte_cli import main
from services.ingest.domain import IDENTIFIER_LIMITS, TEXT_LIMITS, bounded_text, overlong_identifier
from services.ingest.hotfolder import HotFolder
from services.ingest.uploads import Upload
from shared.events import DEAD_LETTER_PAYLOAD_BYTES, DeadLetter

BROKER_MESSAGE_BYTES = 1024 * 1024


def test_descriptive_texts_are_cut_to_their_limits_whoever_made_the_upload() -> None:
    upload = Upload(
        filename="x" * 5000 + ".pdf",
        submitted_by="scanner",
        title="T" * 3_000_000,
        sender="S" * 10_000,
        document_type="D" * 1000,
        new_akte_title="A" * 1000,
        source="hotfolder",
    )
    assert len(upload.title) == TEXT_LIMITS["title"] == 500
    assert len(upload.sender) == TEXT_LIMITS["sender"]
    assert len(upload.document_type) == TEXT_LIMITS["document_type"]
    assert len(upload.new_akte_title) == TEXT_LIMITS["new_akte_title"]
    assert len(upload.filename) == TEXT_LIMITS["filename"]
    assert upload.title == "T" * 500


def test_short_texts_pass_unchanged() -> None:
    assert bounded_text("title", "Bauantrag Müller") == "Bauantrag Müller"
    assert bounded_text("unknown_field", "x" * 10_000) == "x" * 10_000
    upload = Upload(filename="a.pdf", submitted_by="anna", title="Antrag", aktenzeichen="AZ-1")
    assert (upload.title, upload.aktenzeichen) == ("Antrag", "AZ-1")


def test_an_overlong_identifier_is_refused_with_a_clear_reason() -> None:
    assert overlong_identifier({"aktenzeichen": "AZ-1", "title": "x" * 10_000}) is None
    reason = overlong_identifier({"vorgang_id": "V" * 101})
    assert reason == f"vorgang_id is 101 characters long; at most {IDENTIFIER_LIMITS['vorgang_id']} are allowed"


def test_a_dead_letter_of_a_huge_message_stays_below_the_broker_limit() -> None:
    payload = json.dumps({"title": "T" * 3_000_000}).encode()
    letter = DeadLetter.of("documents.ingested", "workflow", "r" * 100_000, payload, document_id="d")
    wire = letter.model_dump_json().encode()
    assert len(wire) < BROKER_MESSAGE_BYTES
    assert letter.payload_truncated
    assert letter.payload_size == len(payload)
    assert letter.payload_sha256 == hashlib.sha256(payload).hexdigest()
    assert len(letter.payload.encode()) <= DEAD_LETTER_PAYLOAD_BYTES + 3  # a cut multi-byte character at most


def test_a_small_dead_letter_keeps_its_whole_payload() -> None:
    letter = DeadLetter.of("documents.approved", "archive", "unreadable", b'{"a": 1}')
    assert (letter.payload, letter.payload_truncated, letter.payload_size) == ('{"a": 1}', False, 8)


def test_a_hotfolder_sidecar_with_a_3_mb_title_is_taken_with_the_title_cut(tmp_path: Path) -> None:
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4")
    (tmp_path / "scan.json").write_text(json.dumps({"title": "T" * 3_000_000, "aktenzeichen": "AZ-1"}))
    upload, problem = HotFolder._upload_for(_bare_hotfolder(), scan, "scan.pdf")
    assert problem == ""
    assert len(upload.title) == 500 and upload.aktenzeichen == "AZ-1"
    (tmp_path / "scan.json").write_text(json.dumps({"aktenzeichen": "A" * 5000}))
    _upload, problem = HotFolder._upload_for(_bare_hotfolder(), scan, "scan.pdf")
    assert problem.startswith("field_too_long: aktenzeichen is 5000 characters long")


def _bare_hotfolder() -> HotFolder:
    """A hot-folder object for reading sidecars only (no queue, no folders)."""
    folder = HotFolder.__new__(HotFolder)
    folder.user = "scanner"
    return folder


def test_eakte_outbox_lists_the_dead_letters_of_each_service(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    letter = {
        "id": 7,
        "moved_at": "2026-01-01T00:00:00Z",
        "topic": "documents.ingested",
        "key": "d1",
        "size": 3_000_123,
        "payload_sha256": "ab" * 32,
        "reason": "MessageSizeTooLargeError: too large",
    }
    asked: list[str] = []

    def get(url: str, **_kwargs: object) -> httpx.Response:
        asked.append(url)
        items = [letter] if ":8081" in url else []
        if url.endswith("/api/v1/outbox"):
            summary = {"pending": 2, "oldest_seconds": 4.2, "set_aside": len(items)}
            return httpx.Response(200, json=summary, request=httpx.Request("GET", url))
        return httpx.Response(200, json={"total": len(items), "items": items}, request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx, "get", get)
    assert main(["outbox"]) == 3
    out = capsys.readouterr().out
    assert "ingest: 2 pending, oldest 4 s, 1 set aside" in out and "workflow: 2 pending, oldest 4 s, 0 set aside" in out
    assert "ingest/7 2026-01-01T00:00:00Z documents.ingested key=d1 3000123 bytes" in out
    assert "MessageSizeTooLargeError" in out
    assert sum(url.endswith("/api/v1/outbox/dead-letters") for url in asked) == 3
