"""A package write repeated after a crash, or for a redelivered event, never adds a second version of a locked
object: it reuses what an earlier attempt stored (same SHA-256), writes only what is missing, and refuses a key
that already holds other bytes."""

import json
from datetime import timedelta

import pytest

from services.archive import archiving, retrieval
from services.archive.archiving import Intake
from services.archive.domain import FoundVersion, IntegrityFailure, PayloadFile, plan_package_write
from shared.events import DocumentArchived, utcnow
from tests.unit.fakes_archive import Crash, FakeArchiveUnitOfWork, FakePackages, FakeSources
from tests.unit.test_archive_service_layer import RITA, _approved

PACKAGE = {
    "data/original.pdf",
    "data/metadata.json",
    "data/audit.json",
    "bagit.txt",
    "bag-info.txt",
    "manifest-sha256.txt",
    "tagmanifest-sha256.txt",
}
# The objects these files are kept in: the original, and the bundle of the six small files.
OBJECTS = {"data/original.pdf", "bag.tar"}


def test_a_redelivery_after_a_crash_mid_write_completes_the_package_with_one_version_per_key() -> None:
    uow, sources, packages = FakeArchiveUnitOfWork(), FakeSources(), FakePackages()
    intake = Intake(sources, packages, 3600)
    event = _approved(sources)
    document_id = str(event.document_id)

    packages.crash_after(1)  # the original is stored, the bundle is not
    with pytest.raises(Crash):
        archiving.archive(uow, event, intake)
    assert packages.versions(document_id) == {"data/original.pdf": 1}
    first_original = packages.found(document_id)["data/original.pdf"][0]
    assert uow.documents.get(document_id) is None and not uow.processed

    packages.crash_after(None)  # the archive has restarted; Kafka delivers the event again
    assert archiving.archive(uow, event, intake)

    assert packages.versions(document_id) == dict.fromkeys(OBJECTS, 1)
    assert packages.paths(document_id) == PACKAGE
    assert packages.puts == len(OBJECTS)  # what the first attempt wrote was not written again
    row = uow.documents.rows[document_id]
    original = next(f for f in row.files if f.path == "data/original.pdf")
    assert original.version_id == first_original.version_id
    # The repeat kept the first attempt's archiving time: the package reads and is locked as if written once.
    assert row.archived_at == first_original.archived_at
    metadata = json.loads(packages.content(document_id, "data/metadata.json"))
    assert metadata["archived_at"] == row.archived_at.isoformat()
    assert metadata["retain_until"] == row.retain_until.isoformat()
    assert set(packages.locks.values()) == {row.retain_until}
    report = retrieval.verify(uow, packages, [document_id], None, RITA)
    assert (report.checked, report.ok) == (1, 1), report.results
    [announced] = uow.events
    assert isinstance(announced, DocumentArchived) and announced.version_id == first_original.version_id


def test_a_second_delivery_after_a_complete_write_whose_record_was_lost_writes_nothing() -> None:
    sources, packages = FakeSources(), FakePackages()
    intake = Intake(sources, packages)
    event = _approved(sources)
    document_id = str(event.document_id)
    first = FakeArchiveUnitOfWork()
    assert archiving.archive(first, event, intake)
    written = packages.puts

    lost = FakeArchiveUnitOfWork()  # neither the processed-event row nor the archive row survived
    assert archiving.archive(lost, event, intake)

    assert packages.puts == written
    assert packages.versions(document_id) == dict.fromkeys(OBJECTS, 1)
    before, after = first.documents.rows[document_id], lost.documents.rows[document_id]
    assert {(f.path, f.version_id, f.sha256) for f in after.files} == {
        (f.path, f.version_id, f.sha256) for f in before.files
    }
    assert (after.archived_at, after.retain_until) == (before.archived_at, before.retain_until)
    assert retrieval.verify(lost, packages, [document_id], None, RITA).ok == 1


def test_a_key_holding_other_bytes_sends_the_event_to_the_dead_letter_topic_and_records_nothing() -> None:
    uow, sources, packages = FakeArchiveUnitOfWork(), FakeSources(), FakePackages()
    event = _approved(sources)
    document_id = str(event.document_id)
    packages.put(document_id, "data/original.pdf", b"%PDF-1.7 someone else's", "application/pdf", utcnow())

    assert archiving.archive(uow, event, Intake(sources, packages))

    assert packages.versions(document_id) == {"data/original.pdf": 1}  # nothing written beside it
    assert uow.documents.get(document_id) is None and not uow.events
    [letter] = uow.dead_letters
    assert letter.consumer == "archive" and letter.document_id == document_id
    assert f"packages/{document_id}/data/original.pdf" in letter.reason and "not overwritten" in letter.reason


def test_a_package_from_before_the_time_was_recorded_on_objects_takes_it_from_its_metadata_json() -> None:
    uow, sources, packages = FakeArchiveUnitOfWork(), FakeSources(), FakePackages()
    intake = Intake(sources, packages, 3600)
    event = _approved(sources)
    document_id = str(event.document_id)
    # What an older archive version left: the original and metadata.json as objects of their own, no time on them.
    written = FakePackages()
    assert archiving.archive(FakeArchiveUnitOfWork(), event, Intake(sources, written, 3600))
    for path in ("data/original.pdf", "data/metadata.json"):
        packages.put(document_id, path, written.content(document_id, path), "application/octet-stream", utcnow())
    packages.archived_at = dict.fromkeys(packages.archived_at)
    written_at = json.loads(packages.content(document_id, "data/metadata.json"))["archived_at"]

    assert archiving.archive(uow, event, intake)

    assert packages.versions(document_id) == dict.fromkeys(OBJECTS | {"data/metadata.json"}, 1)
    assert uow.documents.rows[document_id].archived_at.isoformat() == written_at
    assert retrieval.verify(uow, packages, [document_id], None, RITA).ok == 1


def test_plan_reuses_the_oldest_matching_version_and_writes_what_is_missing() -> None:
    original = PayloadFile("data/original.pdf", "a" * 64, 10)
    audit = PayloadFile("data/audit.json", "b" * 64, 5)
    at = utcnow() - timedelta(minutes=3)
    found = {
        "data/original.pdf": [FoundVersion("v1", "a" * 64, 10, at), FoundVersion("v2", "a" * 64, 10, None)],
        "data/other.txt": [FoundVersion("v3", "c" * 64, 1, None)],  # not part of this package: left alone
    }
    assert plan_package_write([original, audit], found, "packages/x/") == {
        "data/original.pdf": found["data/original.pdf"][0],
        "data/audit.json": None,
    }
    truncated = {"data/original.pdf": [FoundVersion("v1", "a" * 64, 9, at)]}
    refused = plan_package_write([original, audit], truncated, "packages/x/")
    assert isinstance(refused, IntegrityFailure) and "packages/x/data/original.pdf" in refused.reason


def test_an_unreadable_foreign_metadata_json_is_refused_not_retried() -> None:
    uow, sources, packages = FakeArchiveUnitOfWork(), FakeSources(), FakePackages()
    event = _approved(sources)
    document_id = str(event.document_id)
    # An earlier attempt stored the original; beside it a metadata.json object that no archive version wrote.
    written = FakePackages()
    assert archiving.archive(FakeArchiveUnitOfWork(), event, Intake(sources, written))
    original = written.content(document_id, "data/original.pdf")
    packages.put(document_id, "data/original.pdf", original, "application/pdf", utcnow())
    packages.put(document_id, "data/metadata.json", b"\xff not json", "application/json", utcnow())

    assert archiving.archive(uow, event, Intake(sources, packages))

    assert packages.versions(document_id) == {"data/original.pdf": 1, "data/metadata.json": 1}
    [letter] = uow.dead_letters
    assert f"packages/{document_id}/data/metadata.json" in letter.reason and uow.documents.get(document_id) is None


def test_a_new_package_is_written_without_listing_the_store_and_a_repeat_lists_it_once() -> None:
    sources, packages = FakeSources(), FakePackages()
    event = _approved(sources)
    document_id = str(event.document_id)

    assert archiving.archive(FakeArchiveUnitOfWork(), event, Intake(sources, packages))
    assert (packages.listings, packages.puts) == (0, len(OBJECTS))

    assert archiving.archive(FakeArchiveUnitOfWork(), event, Intake(sources, packages))  # its record was lost
    assert (packages.listings, packages.puts) == (1, len(OBJECTS))
    assert packages.versions(document_id) == dict.fromkeys(OBJECTS, 1)


def test_an_object_under_a_key_the_package_does_not_write_is_left_as_it_is() -> None:
    uow, sources, packages = FakeArchiveUnitOfWork(), FakeSources(), FakePackages()
    event = _approved(sources)
    document_id = str(event.document_id)
    packages.put(document_id, "notes.txt", b"not ours", "text/plain", utcnow())

    assert archiving.archive(uow, event, Intake(sources, packages))

    assert packages.versions(document_id) == dict.fromkeys(OBJECTS | {"notes.txt"}, 1)
    assert packages.paths(document_id) == PACKAGE | {"notes.txt"}
    assert retrieval.verify(uow, packages, [document_id], None, RITA).ok == 1
