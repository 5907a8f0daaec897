"""The archive's evidence records on the fake unit of work and store: batching, checking, renewal."""

import pytest

from services.archive import evidence, retrieval
from services.archive.evidence import EvidenceConfig
from services.archive.tsa import TsaUnavailable
from shared.errors import InvalidRequest, Refused
from shared.events import utcnow
from tests.unit.fake_tsa import FakeTsa
from tests.unit.fakes_archive import FakeArchiveUnitOfWork, FakePackages, FakeSources
from tests.unit.test_archive_service_layer import RITA, _archive

PACKAGE_FILES = {
    "bagit.txt",
    "bag-info.txt",
    "manifest-sha256.txt",
    "tagmanifest-sha256.txt",
    "data/original.pdf",
    "data/metadata.json",
    "data/audit.json",
}


class DownTsa:
    def stamp(self, algorithm: str, digest: bytes) -> bytes:
        raise TsaUnavailable("the TSA at http://tsa.invalid does not answer")


@pytest.fixture(scope="module")
def tsa() -> FakeTsa:
    return FakeTsa()


@pytest.fixture
def uow() -> FakeArchiveUnitOfWork:
    return FakeArchiveUnitOfWork()


@pytest.fixture
def packages() -> FakePackages:
    return FakePackages()


def _archived(uow: FakeArchiveUnitOfWork, packages: FakePackages, count: int) -> list[str]:
    sources = FakeSources()
    return [_archive(uow, sources, packages, retention_s=3600, title=f"Antrag {n}") for n in range(count)]


def test_packages_archived_in_a_period_share_one_time_stamp(
    uow: FakeArchiveUnitOfWork, packages: FakePackages, tsa: FakeTsa
) -> None:
    ids = _archived(uow, packages, 5)
    assert uow.evidence.count() == 5  # queued with the package, in the same unit of work
    config = EvidenceConfig(tsa, [tsa.ca])
    before = tsa.requests

    assert evidence.stamp_pending(uow, packages, config) == 5
    assert tsa.requests == before + 1 and uow.evidence.count() == 0
    for document_id in ids:
        assert packages.paths(document_id) == PACKAGE_FILES | {"evidence.ers"}
        row = uow.documents.get(document_id)
        assert row is not None and "evidence.ers" in {f.path for f in row.files}
        status = evidence.evidence_status(uow, packages, config, document_id)
        assert status.ok and status.detail == [] and status.tsa == "CN=Test TSA" and status.time is not None
        assert status.record == "evidence.ers" and status.algorithms == ["sha256"]
    assert evidence.stamp_pending(uow, packages, config) == 0  # nothing waits any more


def test_without_a_tsa_packages_wait_and_say_so(uow: FakeArchiveUnitOfWork, packages: FakePackages) -> None:
    [document_id] = _archived(uow, packages, 1)
    assert evidence.stamp_pending(uow, packages, EvidenceConfig(None)) == 0
    status = evidence.evidence_status(uow, packages, EvidenceConfig(None), document_id)
    assert not status.ok and status.detail[0].startswith("the package has no evidence record yet (queued for")


def test_a_tsa_that_does_not_answer_leaves_the_packages_for_the_next_round(
    uow: FakeArchiveUnitOfWork, packages: FakePackages, tsa: FakeTsa
) -> None:
    _archived(uow, packages, 2)
    with pytest.raises(TsaUnavailable):
        evidence.stamp_pending(uow, packages, EvidenceConfig(DownTsa()))
    assert uow.evidence.count() == 2 and not uow.evidence.claims  # released at once
    assert evidence.stamp_pending(uow, packages, EvidenceConfig(tsa, [tsa.ca])) == 2


def test_a_changed_original_fails_the_evidence_check_with_its_reason(
    uow: FakeArchiveUnitOfWork, packages: FakePackages, tsa: FakeTsa
) -> None:
    changed, intact = _archived(uow, packages, 2)
    config = EvidenceConfig(tsa, [tsa.ca])
    evidence.stamp_pending(uow, packages, config)
    packages.corrupt(changed, "data/original.pdf")

    view = evidence.verify(uow, packages, config, retrieval.verify(uow, packages, [changed, intact], None, RITA))
    results = {r.document_id: r for r in view.results}
    assert (view.evidence_ok, view.evidence_failed) == (1, 1)
    shown = results[changed].evidence
    assert shown is not None and not shown.ok
    assert shown.problems == ["data/original.pdf: SHA-256 differs from manifest-sha256.txt (the file was changed)"]
    assert results[intact].evidence is not None and results[intact].evidence.ok


def test_a_tsa_the_archive_does_not_trust_fails_the_check(
    uow: FakeArchiveUnitOfWork, packages: FakePackages, tsa: FakeTsa
) -> None:
    [document_id] = _archived(uow, packages, 1)
    evidence.stamp_pending(uow, packages, EvidenceConfig(tsa, [tsa.ca]))
    status = evidence.evidence_status(uow, packages, EvidenceConfig(tsa, [FakeTsa("Other").ca]), document_id)
    assert not status.ok
    assert status.detail[0].endswith("the certificate CN=Test TSA does not chain to the configured TSA CA")


def test_renewal_adds_sibling_records_and_touches_no_other_object(
    uow: FakeArchiveUnitOfWork, packages: FakePackages, tsa: FakeTsa
) -> None:
    ids = _archived(uow, packages, 3)
    config = EvidenceConfig(tsa, [tsa.ca])
    evidence.stamp_pending(uow, packages, config)
    first_versions = {d: packages.versions(d) for d in ids}

    stamped = evidence.renew(uow, packages, config, None)
    assert (stamped.kind, stamped.renewed, stamped.time_stamps, stamped.skipped) == ("timestamp", 3, 1, [])
    rehashed = evidence.renew(uow, packages, config, "sha512")
    assert (rehashed.kind, rehashed.algorithm, rehashed.renewed) == ("hashtree", "sha512", 3)

    for document_id in ids:
        assert packages.versions(document_id) == first_versions[document_id] | {
            "evidence-2.ers": 1,
            "evidence-3.ers": 1,
        }
        status = evidence.evidence_status(uow, packages, config, document_id)
        assert status.ok, status.detail
        assert (status.record, status.chains, status.algorithms) == ("evidence-3.ers", 2, ["sha256", "sha512"])


def test_renewal_needs_a_tsa_and_a_known_algorithm(uow: FakeArchiveUnitOfWork, packages: FakePackages) -> None:
    with pytest.raises(Refused) as no_tsa:
        evidence.renew(uow, packages, EvidenceConfig(None), None)
    assert no_tsa.value.code == "no_tsa"
    with pytest.raises(InvalidRequest):
        evidence.renew(uow, packages, EvidenceConfig(FakeTsa()), "md5")


def test_a_record_that_no_longer_holds_is_not_renewed_but_named(
    uow: FakeArchiveUnitOfWork, packages: FakePackages, tsa: FakeTsa
) -> None:
    broken, fine = _archived(uow, packages, 2)
    config = EvidenceConfig(tsa, [tsa.ca])
    evidence.stamp_pending(uow, packages, config)
    packages.corrupt(broken, "tagmanifest-sha256.txt")
    renewal = evidence.renew(uow, packages, config, None)
    assert renewal.renewed == 1 and [s.document_id for s in renewal.skipped] == [broken]
    assert "evidence-2.ers" in packages.paths(fine) and "evidence-2.ers" not in packages.paths(broken)


def test_a_batch_repeated_after_a_crash_records_the_newer_record_once(
    uow: FakeArchiveUnitOfWork, packages: FakePackages, tsa: FakeTsa
) -> None:
    [document_id] = _archived(uow, packages, 1)
    config = EvidenceConfig(tsa, [tsa.ca])
    evidence.stamp_pending(uow, packages, config)
    uow.evidence.add_all({document_id: utcnow()})  # as if the batch's commit had been lost after the store write
    assert evidence.stamp_pending(uow, packages, config) == 1
    row = uow.documents.get(document_id)
    assert row is not None and [f.path for f in row.files].count("evidence.ers") == 1
    assert evidence.evidence_status(uow, packages, config, document_id).ok


def test_a_package_past_its_retention_or_failing_to_store_never_holds_up_the_others(
    uow: FakeArchiveUnitOfWork, packages: FakePackages, tsa: FakeTsa
) -> None:
    expired, failing, fine = _archived(uow, packages, 3)
    row = uow.documents.get(expired)
    assert row is not None
    row.retain_until = utcnow()  # due for disposal: a record could not be locked any more
    config = EvidenceConfig(tsa, [tsa.ca])
    real_put = packages.put

    def put(document_id: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        if document_id == failing:
            raise OSError("the object store refused this one")
        return real_put(document_id, *args, **kwargs)

    packages.put = put  # type: ignore[method-assign]
    assert evidence.stamp_pending(uow, packages, config) == 1
    assert "evidence.ers" in packages.paths(fine) and "evidence.ers" not in packages.paths(expired)
    assert uow.evidence.queued_at(expired) is None  # nothing to protect any more
    assert uow.evidence.queued_at(failing) is not None  # waits for the next round, unclaimed
    packages.put = real_put  # type: ignore[method-assign]
    assert evidence.stamp_pending(uow, packages, config) == 1
    assert "evidence.ers" in packages.paths(failing)


def test_a_package_whose_record_is_gone_is_named_and_the_others_are_renewed(
    uow: FakeArchiveUnitOfWork, packages: FakePackages, tsa: FakeTsa
) -> None:
    gone, fine = _archived(uow, packages, 2)
    config = EvidenceConfig(tsa, [tsa.ca])
    evidence.stamp_pending(uow, packages, config)
    for key in [k for k in packages.objects if k[0] == f"packages/{gone}/evidence.ers"]:
        del packages.objects[key]  # e.g. a store rebuilt without it

    renewal = evidence.renew(uow, packages, config, None)
    assert renewal.renewed == 1 and [(s.document_id, s.reason) for s in renewal.skipped] == [
        (gone, "evidence.ers: missing")
    ]
    assert "evidence-2.ers" in packages.paths(fine)
    status = evidence.evidence_status(uow, packages, config, gone)
    assert not status.ok and "evidence.ers: missing" in status.detail
