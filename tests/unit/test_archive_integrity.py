"""Scheduled fixity (pace, one replica, resuming, mismatches) and the integrity report's lines, on fakes."""

import io
import logging
import uuid
from datetime import datetime, timedelta

import pypdf
import pytest

from services.archive import archiving, fixity, integrity_report
from services.archive import domain_integrity as rules
from services.archive.archiving import Intake
from services.archive.domain_integrity import EvidenceStatus
from services.archive.ports import StoredFile
from services.archive.retrieval import verify
from shared.audit_chain import chain_entry
from shared.events import DocumentApproved, utcnow
from shared.need_to_know import Reader
from tests.unit.fakes_archive import FakeArchiveUnitOfWork, FakePackages, FakeSources
from tests.unit.test_archive_service_layer import PDF, RITA, _decisions, _metadata

START = datetime.fromisoformat("2026-11-30T06:00:00+00:00")


def _archive(
    uow: FakeArchiveUnitOfWork,
    sources: FakeSources,
    packages: FakePackages,
    audit: bool = True,
    document_id: uuid.UUID | None = None,
) -> str:
    document_id = document_id or uuid.uuid4()
    original = sources.put("inbox", f"documents/{document_id}/antrag.pdf", PDF + document_id.bytes)
    trail = []
    if audit:
        created = chain_entry(None, str(document_id), "created", "clara", None, {"sha256": original.sha256}, START)
        decided = chain_entry(created, str(document_id), "decided", "anna", None, {"decision": "approve"}, START)
        trail = [created.as_dict(), decided.as_dict()]
    event = DocumentApproved(
        document_id=document_id,
        correlation_id=uuid.uuid4(),
        original=original,
        metadata=_metadata(),
        submitted_by="clara",
        decisions=_decisions(),
        audit=trail or None,
    )
    assert archiving.archive(uow, event, Intake(sources, packages, None))
    return str(document_id)


@pytest.fixture
def stores() -> tuple[FakeArchiveUnitOfWork, FakeSources, FakePackages]:
    return FakeArchiveUnitOfWork(), FakeSources(), FakePackages()


# --- pace ---------------------------------------------------------------------------------------------------


def test_the_pace_spreads_every_package_evenly_over_the_cycle() -> None:
    total, cycle_s, checked_at = 10, 1000.0, []
    for second in range(0, 1200, 5):
        due = rules.fixity_due(total, len(checked_at), second, cycle_s)
        checked_at += [second] * due
    assert len(checked_at) == total  # every package once, none twice
    assert checked_at == [k * 100 for k in range(total)]  # the k-th a k-th of the way through
    assert rules.fixity_due(0, 0, 10, cycle_s) == 0


def test_a_backlog_is_worked_off_in_bounded_steps_without_sleeping() -> None:
    assert rules.fixity_due(10_000, 0, 2000, 1000) == rules.MAX_PER_STEP
    assert rules.fixity_wait_s(10_000, 1000, backlog=True) == 0
    assert rules.fixity_wait_s(10, 90 * 86_400, backlog=False) == rules.MAX_WAIT_S
    assert rules.fixity_wait_s(10, 10, backlog=False) == 0.5


# --- the scheduled check ------------------------------------------------------------------------------------


def _run(uow: FakeArchiveUnitOfWork, packages: FakePackages, schedule: fixity.Schedule, until_s: float) -> None:
    _run_between(uow, packages, schedule, 0.0, until_s)


def _run_between(
    uow: FakeArchiveUnitOfWork, packages: FakePackages, schedule: fixity.Schedule, from_s: float, until_s: float
) -> None:
    second = from_s
    while second <= until_s:
        fixity.fixity_step(uow, packages, schedule, START + timedelta(seconds=second))
        second += 0.5


def test_a_cycle_visits_every_package_once_and_keeps_its_figures(stores, caplog: pytest.LogCaptureFixture) -> None:
    uow, sources, packages = stores
    ids = [_archive(uow, sources, packages) for _ in range(6)]
    packages.corrupt(ids[2], "data/original.pdf")
    with caplog.at_level(logging.ERROR, logger="services.archive.fixity"):
        _run(uow, packages, fixity.Schedule(60.0, "replica-a"), until_s=60)

    assert sorted(r.document_id for r in uow.fixity.results) == sorted(ids)  # each once
    view = fixity.fixity_view(uow, 60 / 86_400, RITA)
    last = view.last_cycle
    assert last is not None and (last["checked"], last["ok"], last["mismatch"], last["missing"]) == (6, 5, 1, 0)
    assert [(f.document_id, f.result) for f in view.failures] == [(ids[2], "mismatch")]
    assert [(e.document_id, e.user, e.action) for e in uow.access_log.entries if e.user == "fixity"] == [
        (ids[2], "fixity", "fixity_mismatch")
    ]
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert ids[2] in error.getMessage() and "Bauantrag" not in error.getMessage()
    assert uow.documents.rows[ids[2]].last_verify_result == "mismatch"


def test_the_next_cycle_starts_when_the_last_ones_time_is_up(stores) -> None:
    uow, sources, packages = stores
    for _ in range(3):
        _archive(uow, sources, packages)
    schedule = fixity.Schedule(30.0, "replica-a")
    _run(uow, packages, schedule, until_s=25)
    assert uow.fixity.row is not None and uow.fixity.row.checked == 3 and uow.fixity.row.finished_at is None
    # Archived while the cycle is done but its time not yet up (after the cycle's last package in id order).
    late = _archive(uow, sources, packages, document_id=uuid.UUID("ffffffff-ffff-4fff-bfff-ffffffffffff"))
    _run_between(uow, packages, schedule, 25.5, 29.5)
    assert uow.fixity.row.checked == 4 and late in {r.document_id for r in uow.fixity.results}
    fixity.fixity_step(uow, packages, schedule, START + timedelta(seconds=30))
    assert uow.fixity.row.finished_at is not None and uow.fixity.row.last_cycle is not None
    assert uow.fixity.row.last_cycle["checked"] == 4
    fixity.fixity_step(uow, packages, schedule, START + timedelta(seconds=30.5))
    assert uow.fixity.row.cycle == 2 and uow.fixity.row.checked == 1


def test_one_replica_at_a_time_and_a_restart_goes_on_where_the_cycle_stood(stores) -> None:
    uow, sources, packages = stores
    ids = sorted(_archive(uow, sources, packages) for _ in range(4))
    first = fixity.Schedule(100.0, "replica-a")
    fixity.fixity_step(uow, packages, first, START)
    fixity.fixity_step(uow, packages, first, START + timedelta(seconds=30))
    assert uow.fixity.row is not None and uow.fixity.row.cursor == ids[1]

    other = fixity.Schedule(100.0, "replica-b")
    assert fixity.fixity_step(uow, packages, other, START + timedelta(seconds=55)) == rules.MAX_WAIT_S
    assert uow.fixity.row.checked == 2  # the lease holder's turn: the other replica checked nothing

    # replica-a is gone (a restart is a new replica): once its lease ran out, the cycle goes on after its cursor.
    later = START + timedelta(seconds=30 + rules.lease_seconds(100.0) + 1)
    fixity.fixity_step(uow, packages, other, later)
    assert [r.document_id for r in uow.fixity.results] == ids
    assert uow.fixity.row.cycle == 1 and uow.fixity.row.holder == "replica-b"


# --- the integrity report -----------------------------------------------------------------------------------


def _verified(_document_id: str, _files: list[StoredFile]) -> EvidenceStatus:
    return EvidenceStatus(ok=True, detail="Beweisdatensatz geprüft", time=START, tsa="CN=Test TSA", verified=True)


def test_every_line_is_ok_and_so_is_the_report(stores) -> None:
    uow, sources, packages = stores
    document_id = _archive(uow, sources, packages)
    verify(uow, packages, [document_id], None, RITA)

    report = integrity_report.integrity_report(uow, packages, _verified, document_id, RITA)

    names = [line.name for line in report.lines]
    assert names == [
        "intake_sha256",
        "event:documents.ingested",
        "event:documents.approved",
        "event:documents.archived",
        "audit:1",
        "audit:2",
        "manifest",
        "evidence",
        "fixity",
    ]
    assert all(line.ok for line in report.lines) and report.ok
    assert report.decisions[0]["decided_by"] == "anna" and "data/original.pdf" in report.manifest
    assert ("rita", "integrity_report") in [(e.user, e.action) for e in uow.access_log.entries]


def test_without_an_evidence_record_the_report_is_not_ok(stores) -> None:
    uow, sources, packages = stores
    document_id = _archive(uow, sources, packages)
    verify(uow, packages, [document_id], None, RITA)
    report = integrity_report.integrity_report(uow, packages, integrity_report.no_evidence_yet, document_id, RITA)
    failed = [line.name for line in report.lines if not line.ok]
    assert failed == ["evidence"] and not report.ok


def test_a_changed_original_fails_the_fixity_line(stores) -> None:
    uow, sources, packages = stores
    document_id = _archive(uow, sources, packages)
    packages.corrupt(document_id, "data/original.pdf")
    verify(uow, packages, [document_id], None, RITA)
    report = integrity_report.integrity_report(uow, packages, _verified, document_id, RITA)
    [failed] = [line for line in report.lines if not line.ok]
    assert failed.name == "fixity" and "mismatch" in failed.detail and not report.ok


def test_a_forged_audit_entry_is_named(stores) -> None:
    uow, sources, packages = stores
    document_id = _archive(uow, sources, packages)
    packages.rewrite(document_id, "data/audit.json", lambda data: data.replace(b'"anna"', b'"emma"'))
    report = integrity_report.integrity_report(uow, packages, _verified, document_id, RITA)
    failed = {line.name: line.detail for line in report.lines if not line.ok}
    assert "audit:2" in failed and "hash does not match" in failed["audit:2"]
    assert "audit:1" not in failed


def test_without_an_audit_trail_the_chain_line_fails(stores) -> None:
    uow, sources, packages = stores
    document_id = _archive(uow, sources, packages, audit=False)
    report = integrity_report.integrity_report(uow, packages, _verified, document_id, RITA)
    failed = [line.name for line in report.lines if not line.ok]
    assert "audit" in failed and "event:documents.ingested" in failed


def test_who_may_not_see_the_document_gets_not_archived(stores) -> None:
    uow, sources, packages = stores
    document_id = _archive(uow, sources, packages)
    stranger = Reader("sven", frozenset({"clerk"}), frozenset({"99"}))
    with pytest.raises(Exception, match="not archived"):
        integrity_report.integrity_report(uow, packages, _verified, document_id, stranger)


def test_the_pdf_is_german_and_names_every_line(stores) -> None:
    uow, sources, packages = stores
    document_id = _archive(uow, sources, packages)
    report = integrity_report.integrity_report(uow, packages, integrity_report.no_evidence_yet, document_id, RITA)
    data = integrity_report.report_pdf(report)
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)
    for phrase in ("Integritätsnachweis", "SHA-256 bei Eingang", "Letzte Fixity-Prüfung", "FEHLGESCHLAGEN"):
        assert phrase in text
    assert utcnow() >= report.generated_at


def test_a_replica_that_stops_gives_its_turn_up(stores) -> None:
    uow, sources, packages = stores
    _archive(uow, sources, packages)
    first, other = fixity.Schedule(100.0, "host:1"), fixity.Schedule(100.0, "host:2")
    fixity.fixity_step(uow, packages, first, START)
    fixity.release_turn(uow, first)
    assert fixity.fixity_step(uow, packages, other, START + timedelta(seconds=1)) < rules.MAX_WAIT_S
    assert uow.fixity.row is not None and uow.fixity.row.holder == "host:2"
    assert fixity.Schedule.of(90, 3).replica.endswith(":3")
