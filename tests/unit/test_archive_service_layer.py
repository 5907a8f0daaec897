"""The archive's service layer on a fake unit of work and an in-memory object store: no Kafka, MinIO or database."""

import json
import shutil
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from services.archive import archiving, aussonderung, disposal, retrieval, xdomea
from services.archive.archiving import CONSUMER, Intake
from services.archive.domain import (
    AussonderungRefused,
    DisposalRefused,
    IntegrityBroken,
    InvalidXdomea,
    NotArchived,
    SearchQuery,
)
from shared.errors import Refused
from shared.events import (
    Decision,
    DocumentApproved,
    DocumentArchived,
    DocumentDestroyed,
    DocumentMetadata,
    DocumentRejected,
    utcnow,
)
from shared.need_to_know import Reader
from shared.unit_of_work import NotPlainEffect
from tests.unit.fakes_archive import FakeArchiveUnitOfWork, FakePackages, FakeSources

PDF = b"%PDF-1.7 the original\n"
RITA = Reader("rita", frozenset({"records_officer"}))


@pytest.fixture
def uow() -> FakeArchiveUnitOfWork:
    return FakeArchiveUnitOfWork()


@pytest.fixture
def sources() -> FakeSources:
    return FakeSources()


@pytest.fixture
def packages() -> FakePackages:
    return FakePackages()


def _intake(sources: FakeSources, packages: FakePackages, retention_s: int | None = None) -> Intake:
    return Intake(sources, packages, retention_s)


def _metadata(**fields: object) -> DocumentMetadata:
    defaults: dict[str, object] = {
        "title": "Bauantrag Schmidt",
        "sender": "Architekturbüro Nord",
        "aktenzeichen": "63.01-2026/0001",
        "file_plan_class": "63.01",
        "retention_years": 30,
        "disposal": "destroy",
        "filename": "antrag.pdf",
    }
    return DocumentMetadata.model_validate(defaults | fields)


def _decisions() -> list[Decision]:
    return [Decision(step=1, decided_by="anna", decision="approve", decided_at=utcnow() - timedelta(hours=1))]


def _approved(sources: FakeSources, data: bytes = PDF, **fields: object) -> DocumentApproved:
    document_id = uuid.uuid4()
    original = sources.put("inbox", f"documents/{document_id}/antrag.pdf", data)
    return DocumentApproved(
        document_id=document_id,
        correlation_id=uuid.uuid4(),
        original=original,
        metadata=_metadata(**fields),
        submitted_by="clara",
        decisions=_decisions(),
    )


def _rejected(sources: FakeSources, archive_rejected: bool) -> DocumentRejected:
    approved = _approved(sources, archive_rejected=archive_rejected)
    return DocumentRejected(**approved.model_dump(exclude={"event_id"}), reason="Angaben unvollständig")


def _archive(
    uow: FakeArchiveUnitOfWork,
    sources: FakeSources,
    packages: FakePackages,
    retention_s: int | None = None,
    **fields: object,
) -> str:
    event = _approved(sources, **fields)
    assert archiving.archive(uow, event, _intake(sources, packages, retention_s))
    return str(event.document_id)


def test_an_approved_document_becomes_a_bagit_package_and_is_announced(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    event = _approved(sources)
    assert archiving.archive(uow, event, _intake(sources, packages))

    document_id = str(event.document_id)
    assert packages.paths(document_id) == {
        "bagit.txt",
        "bag-info.txt",
        "manifest-sha256.txt",
        "tagmanifest-sha256.txt",
        "data/original.pdf",
        "data/metadata.json",
        "data/audit.json",
    }
    assert packages.content(document_id, "data/original.pdf") == PDF
    metadata = json.loads(packages.content(document_id, "data/metadata.json"))
    assert metadata["outcome"] == "approved" and metadata["akte"]["aktenzeichen"] == "63.01-2026/0001"
    assert "Aktenzeichen: 63.01-2026/0001" in packages.content(document_id, "bag-info.txt").decode()
    manifest = packages.content(document_id, "manifest-sha256.txt").decode()
    assert "data/original.pdf" in manifest and "bagit.txt" not in manifest
    [announced] = uow.events
    assert isinstance(announced, DocumentArchived) and announced.archived.sha256 == event.original.sha256
    assert uow.processed == {(CONSUMER, event.event_id): ""}
    assert uow.documents.rows[document_id].received_at == event.decisions[0].decided_at


def test_a_redelivered_event_changes_nothing(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    event = _approved(sources)
    intake = _intake(sources, packages)
    assert archiving.archive(uow, event, intake)
    written = dict(packages.objects)

    assert not archiving.archive(uow, event, intake)
    assert packages.objects == written and len(uow.events) == 1


def test_another_outcome_of_an_archived_document_is_noted_not_archived_twice(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    event = _approved(sources)
    intake = _intake(sources, packages)
    archiving.archive(uow, event, intake)
    again = event.model_copy(update={"event_id": uuid.uuid4()})

    assert archiving.archive(uow, again, intake)
    assert uow.processed[(CONSUMER, again.event_id)] == "already archived" and len(uow.events) == 1


def test_a_rejected_document_is_not_kept_unless_the_file_plan_says_so(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    dropped = _rejected(sources, archive_rejected=False)
    kept = _rejected(sources, archive_rejected=True)

    archiving.archive(uow, dropped, _intake(sources, packages))
    archiving.archive(uow, kept, _intake(sources, packages))

    assert uow.processed[(CONSUMER, dropped.event_id)] == "not kept"
    assert str(dropped.document_id) not in uow.documents.rows
    assert uow.documents.rows[str(kept.document_id)].outcome == "rejected"
    metadata = json.loads(packages.content(str(kept.document_id), "data/metadata.json"))
    assert metadata["rejection_reason"] == "Angaben unvollständig"


def test_a_fingerprint_mismatch_is_dead_lettered_and_nothing_archived(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    event = _approved(sources)
    sources.objects[(event.original.bucket, event.original.key)] = b"tampered after intake"

    assert archiving.archive(uow, event, _intake(sources, packages))

    [letter] = uow.dead_letters
    assert letter.consumer == "archive" and "sha256 mismatch" in letter.reason
    # Not processed: replayed after the fix (`eakte dlq replay`), it is archived then.
    assert (CONSUMER, event.event_id) not in uow.processed
    assert not packages.objects and not uow.documents.rows and not uow.events


def test_a_batch_is_written_side_by_side_and_recorded_in_one_commit(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    intake = Intake(sources, packages, None, ThreadPoolExecutor(3))
    earlier = _approved(sources)
    assert archiving.archive(uow, earlier, intake)
    new = [_approved(sources, data=PDF + bytes([n])) for n in range(3)]
    again = earlier.model_copy(update={"event_id": uuid.uuid4()})  # another outcome of an archived document
    twice = new[0].model_copy(update={"event_id": uuid.uuid4()})  # the same document twice in the batch
    committed = uow.committed

    assert archiving.archive_many(uow, [*new, again, twice], intake) == 5

    assert uow.committed == committed + 1
    for event in new:
        document_id = str(event.document_id)
        assert packages.content(document_id, "data/original.pdf") == sources.read(event.original)
        assert uow.documents.rows[document_id].sha256 == event.original.sha256
    announced = [e.document_id for e in uow.events if isinstance(e, DocumentArchived)]
    assert announced == [earlier.document_id, *(e.document_id for e in new)]
    assert uow.processed[(CONSUMER, again.event_id)] == "already archived"
    assert uow.processed[(CONSUMER, twice.event_id)] == "already archived"
    assert not archiving.archive_many(uow, new, intake)  # a redelivered batch changes nothing


def test_a_batch_with_a_refused_document_is_taken_one_at_a_time_and_the_others_archived(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    intake = Intake(sources, packages, None, ThreadPoolExecutor(2))
    good, bad = _approved(sources), _approved(sources, data=PDF + b"x")
    sources.objects[(bad.original.bucket, bad.original.key)] = b"tampered after intake"

    with pytest.raises(NotPlainEffect):
        archiving.archive_many(uow, [good, bad], intake)
    assert not uow.events and not uow.processed and not uow.dead_letters  # all or nothing: none committed

    # The subscriber then takes each event on its own (on the database the batch's rows were rolled back: a fresh
    # fake stands for that); the good one finds the package the batch stored and writes nothing again.
    written = dict(packages.objects)
    uow = FakeArchiveUnitOfWork()
    assert archiving.archive_many(uow, [good], intake) == 1
    assert archiving.archive_many(uow, [bad], intake) == 1
    assert packages.objects == written and packages.paths(str(bad.document_id)) == set()
    assert list(uow.documents.rows) == [str(good.document_id)]
    [letter] = uow.dead_letters
    assert "sha256 mismatch" in letter.reason and (CONSUMER, bad.event_id) not in uow.processed


def test_a_missing_source_object_is_dead_lettered(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    event = _approved(sources)
    sources.objects.clear()

    archiving.archive(uow, event, _intake(sources, packages))

    [letter] = uow.dead_letters
    assert letter.reason == f"inbox/{event.original.key} is missing (NoSuchKey)"
    assert not uow.documents.rows


def test_destroy_is_refused_while_the_retention_runs(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    document_id = _archive(uow, sources, packages)

    with pytest.raises(DisposalRefused) as refused:
        disposal.destroy(uow, packages, document_id, "rita", utcnow())

    assert refused.value.code == "retention_running"
    assert document_id in uow.documents.rows


def test_destroy_is_refused_under_a_legal_hold(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    document_id = _archive(uow, sources, packages, retention_s=0)
    disposal.set_hold(uow, packages, document_id, True, "rita")

    with pytest.raises(DisposalRefused) as refused:
        disposal.destroy(uow, packages, document_id, "rita", utcnow() + timedelta(seconds=1))

    assert refused.value.code == "legal_hold"


def test_destroy_after_retention_keeps_a_deletion_record_and_announces_it(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    document_id = _archive(uow, sources, packages, retention_s=0)
    now = utcnow() + timedelta(seconds=1)

    record = disposal.destroy(uow, packages, document_id, "rita", now)

    assert record.deleted_by == "rita" and len(record.objects) == 7
    assert record.rule.startswith("file plan class 63.01: keep 30 years, then destroy; retention ended ")
    assert not uow.documents.rows and not packages.objects
    destroyed = uow.events[-1]
    assert isinstance(destroyed, DocumentDestroyed) and not destroyed.handed_over
    assert disposal.deletion_record(uow, document_id, RITA) == record


def test_setting_and_lifting_a_legal_hold_is_logged(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    document_id = _archive(uow, sources, packages)

    assert disposal.set_hold(uow, packages, document_id, True, "rita").legal_hold
    assert len(packages.holds) == 2  # the original and the bundle of the other six files
    assert not disposal.set_hold(uow, packages, document_id, False, "rita").legal_hold

    page = retrieval.access_log(uow, document_id, limit=10, offset=0)
    assert [e.action for e in page.items] == ["hold_off", "hold_on"] and not packages.holds


def test_search_by_aktenzeichen_prefix(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    _archive(uow, sources, packages, aktenzeichen="63.01-2026/0001")
    _archive(uow, sources, packages, aktenzeichen="63.01-2026/0002")
    _archive(uow, sources, packages, aktenzeichen="50.10-2026/0001")

    page = retrieval.search(uow, SearchQuery(aktenzeichen="63.01-"), RITA)

    assert page.total == 2 and {v.aktenzeichen for v in page.items} == {"63.01-2026/0001", "63.01-2026/0002"}
    assert all(v.version_id for v in page.items)
    assert retrieval.search(uow, SearchQuery(text="Architekturbüro"), RITA).total == 3


def test_verify_reports_a_changed_object(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    intact = _archive(uow, sources, packages)
    changed = _archive(uow, sources, packages)
    packages.corrupt(changed, "data/original.pdf")

    report = retrieval.verify(uow, packages, None, None, RITA)

    assert (report.checked, report.ok, report.mismatch, report.missing) == (2, 1, 1, 0)
    [problem] = [r for r in report.results if r.document_id == changed]
    assert problem.result == "mismatch" and problem.problems[0].startswith("data/original.pdf: sha256")
    assert uow.documents.rows[changed].last_verify_result == "mismatch"
    assert uow.documents.rows[intact].last_verify_result == "ok"


def test_a_changed_original_is_not_handed_out(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    document_id = _archive(uow, sources, packages)
    assert b"".join(retrieval.download(uow, packages, document_id, RITA).chunks) == PDF
    packages.corrupt(document_id, "data/original.pdf")

    with pytest.raises(IntegrityBroken):
        retrieval.download(uow, packages, document_id, RITA)
    assert [e.action for e in uow.access_log.entries] == ["download"]


def test_metadata_of_an_unknown_document_is_not_found(uow: FakeArchiveUnitOfWork) -> None:
    with pytest.raises(NotArchived) as refused:
        retrieval.metadata(uow, str(uuid.uuid4()), RITA)
    assert (refused.value.code, str(refused.value)) == ("not_found", "not archived")


def test_handed_over_packages_are_deleted_once_their_lock_expires(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    expired = _archive(uow, sources, packages, retention_s=0)
    locked = _archive(uow, sources, packages)
    kept = _archive(uow, sources, packages, retention_s=0)
    for document_id in (expired, locked):
        uow.documents.rows[document_id].state = "handed_over"

    deleted = disposal.delete_handed_over(uow, packages, utcnow() + timedelta(seconds=1))

    assert deleted == [expired]
    assert set(uow.documents.rows) == {locked, kept}
    destroyed = uow.events[-1]
    assert isinstance(destroyed, DocumentDestroyed) and destroyed.handed_over
    assert uow.deletions.records[expired].deleted_by == "system (Aussonderung)"
    assert "then hand over to the state archive" in uow.deletions.records[expired].rule


def test_link_is_logged_and_expires(uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages) -> None:
    document_id = _archive(uow, sources, packages)
    before = utcnow()

    link = retrieval.link(uow, packages, 300, document_id, RITA)

    assert "expires=300" in link.url and before + timedelta(seconds=299) < link.expires_at
    assert [e.action for e in uow.access_log.entries] == ["link"]


CITY = xdomea.Institution(name="Stadtverwaltung")
STATE_ARCHIVE = xdomea.Institution(name="Landesarchiv")
PARTIES = aussonderung.Parties(sender=CITY, receiver=STATE_ARCHIVE)


def test_aussonderung_hands_over_what_the_state_archive_took_and_deletes_it_when_the_lock_allows(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    expired = _archive(uow, sources, packages, retention_s=0, aktenzeichen="50.10-2016/0001")
    locked = _archive(uow, sources, packages, aktenzeichen="50.10-2016/0001")

    offered = aussonderung.offer(uow, PARTIES, ["50.10-2016/0001"], "rita")
    process_id = offered.process_id
    assert offered.path.name == xdomea.offer_zip_name(process_id)
    answer = xdomea.build_evaluation(process_id, STATE_ARCHIVE, CITY, {expired: "archive", locked: "archive"})
    assert aussonderung.evaluation(uow, PARTIES, answer) == (process_id, {expired: "archive", locked: "archive"})
    transferred = aussonderung.transfer(uow, packages, PARTIES, ["50.10-2016/0001"], RITA)
    with zipfile.ZipFile(transferred.path) as package:
        assert len(package.namelist()) == 3  # the 0503 message and both originals
    imported = [xdomea.ImportedObject(expired, True), xdomea.ImportedObject(locked, True)]
    confirmed = xdomea.build_confirmation(process_id, STATE_ARCHIVE, CITY, imported)
    result = aussonderung.confirmation(uow, packages, PARTIES, confirmed, "rita")

    for built in (offered, transferred):
        shutil.rmtree(built.path.parent)
    assert result.deleted == [expired] and result.waiting_for_lock == [locked] and not result.failed
    assert uow.documents.rows[locked].state == "handed_over"
    assert uow.processes.rows[process_id].state == "confirmed"


def test_aussonderung_refuses_unknown_processes_and_unreadable_messages(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    _archive(uow, sources, packages, aktenzeichen="50.10-2016/0001")
    stranger = xdomea.build_evaluation(str(uuid.uuid4()), STATE_ARCHIVE, CITY, {str(uuid.uuid4()): "archive"})

    with pytest.raises(AussonderungRefused) as unknown:
        aussonderung.evaluation(uow, PARTIES, stranger)
    with pytest.raises(InvalidXdomea):
        aussonderung.evaluation(uow, PARTIES, b"<not-xdomea/>")
    with pytest.raises(AussonderungRefused) as not_offered:
        aussonderung.transfer(uow, packages, PARTIES, ["50.10-2016/0001"], RITA)

    assert unknown.value.code == "unknown_process" and not_offered.value.code == "not_offered"


ADMIN = Reader("adam", frozenset({"admin"}))
CLERK_50 = Reader("sven", frozenset({"clerk"}), frozenset({"50"}))


def test_a_search_is_logged_with_who_what_and_how_many_hits(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    _archive(uow, sources, packages, aktenzeichen="63.01-2026/0001")
    _archive(uow, sources, packages, aktenzeichen="63.01-2026/0002")

    retrieval.search(uow, SearchQuery(aktenzeichen="63.01-", text="Schmidt"), RITA)

    [entry] = retrieval.access_log(uow, None, limit=10, offset=0).items
    assert (entry.user, entry.action, entry.hits) == ("rita", "search", 2)
    assert entry.query == "aktenzeichen=63.01-; q=Schmidt; limit=20; offset=0"


def test_a_package_view_is_logged(uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages) -> None:
    document_id = _archive(uow, sources, packages)

    retrieval.package(uow, packages, document_id, RITA)
    retrieval.metadata(uow, document_id, RITA)

    page = retrieval.access_log(uow, document_id, limit=10, offset=0)
    assert [(e.user, e.action) for e in page.items] == [("rita", "metadata"), ("rita", "package")]


def test_an_admin_sees_a_confidential_package_but_may_not_open_it(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    document_id = _archive(uow, sources, packages, org_unit="10", confidential=True)
    assert uow.documents.rows[document_id].org_unit == "10" and uow.documents.rows[document_id].confidential

    assert retrieval.metadata(uow, document_id, ADMIN).document_id == document_id
    with pytest.raises(NotArchived):
        retrieval.download(uow, packages, document_id, ADMIN)
    with pytest.raises(NotArchived):
        retrieval.link(uow, packages, 300, document_id, ADMIN)
    assert b"".join(retrieval.download(uow, packages, document_id, RITA).chunks) == PDF
    assert [e.action for e in uow.access_log.entries] == ["metadata", "download"]


def test_who_may_not_see_a_package_gets_not_archived_and_finds_nothing(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    document_id = _archive(uow, sources, packages, org_unit="20")

    with pytest.raises(NotArchived):
        retrieval.metadata(uow, document_id, CLERK_50)
    with pytest.raises(NotArchived):
        retrieval.package(uow, packages, document_id, CLERK_50)
    page = retrieval.search(uow, SearchQuery(aktenzeichen="63.01-"), CLERK_50)
    assert (page.total, page.items) == (0, [])
    assert retrieval.verify(uow, packages, [document_id], None, CLERK_50).checked == 0
    assert disposal.due(uow, utcnow() + timedelta(days=365 * 31), CLERK_50) == []
    assert len(disposal.due(uow, utcnow() + timedelta(days=365 * 31), RITA)) == 1


def test_an_admin_may_not_transfer_confidential_originals_the_records_office_may(
    uow: FakeArchiveUnitOfWork, sources: FakeSources, packages: FakePackages
) -> None:
    _archive(uow, sources, packages, retention_s=0, aktenzeichen="10.20-2016/0001", org_unit="10", confidential=True)
    aussonderung.offer(uow, PARTIES, ["10.20-2016/0001"], "rita")

    with pytest.raises(Refused) as refused:
        aussonderung.transfer(uow, packages, PARTIES, ["10.20-2016/0001"], ADMIN)
    transferred = aussonderung.transfer(uow, packages, PARTIES, ["10.20-2016/0001"], RITA)

    shutil.rmtree(transferred.path.parent)
    assert refused.value.code == "forbidden"
