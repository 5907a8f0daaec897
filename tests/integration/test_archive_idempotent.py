"""A package write cut short on the real MinIO with a COMPLIANCE lock, then the event delivered again to the
archive service: the package is completed without a second version of any locked object."""

import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from devstack.stack import Stack
from services.archive import archiving, package
from services.archive.archiving import Intake
from services.archive.package import PackageStore, SourceStore
from services.archive.ports import AlreadyStored, StoredFile
from shared.events import DocumentApproved, utcnow
from shared.storage import ObjectStore
from tests.integration.conftest import Api, TopicReader, wait_for
from tests.unit.fakes_archive import FakeArchiveUnitOfWork

PACKAGE_OBJECTS = 2  # the original; bag.tar with metadata.json, audit.json, bagit.txt, bag-info.txt, both manifests


class Killed(Exception):
    """The writer "dies" here: the put that would come next never reaches the store."""


class CutShort(PackageStore):
    """The real package store that lets `puts` writes through and then fails, as an archive killed mid-write."""

    def __init__(self, store: ObjectStore, bucket: str, puts: int) -> None:
        super().__init__(store, bucket, locked=True)
        self.left = puts

    def put(
        self,
        document_id: str,
        path: str,
        source: Path | bytes,
        content_type: str,
        retain: datetime,
        archived_at: datetime,
        only_new: bool = False,
    ) -> StoredFile:
        if self.left == 0:
            raise Killed(path)
        self.left -= 1
        return super().put(document_id, path, source, content_type, retain, archived_at, only_new)


def test_a_package_cut_short_is_completed_on_redelivery_with_one_version_per_key(
    api: Api, pdf: Path, stack: Stack, topics: TopicReader
) -> None:
    settings = stack.settings()
    store = ObjectStore(settings)
    retention_s = int(stack.env_for("archive")["EAKTE_ARCHIVE_RETENTION_OVERRIDE_S"])
    stack.services["archive"].stop()
    try:
        document_id = api.upload(pdf, workflow="none").json()["document_id"]
        approved = wait_for(lambda: topics.about("documents.approved", document_id))
        event = DocumentApproved.model_validate(approved[0])
        # The first attempt, in this process against the stack's MinIO: the original stored, then it dies
        # (before anything is recorded, so the unit of work does not matter here).
        packages = CutShort(store, settings.archive_bucket, puts=1)
        intake = Intake(SourceStore(store, settings.inbox_bucket), packages, retention_s)
        with pytest.raises(Killed):
            archiving.archive(FakeArchiveUnitOfWork(), event, intake)
    finally:
        stack.start_service("archive")  # its consumer group has not committed the event: it is delivered again

    prefix = f"packages/{document_id}/"
    archived = wait_for(lambda: (r := api.archived(document_id)).status_code == 200 and r.json(), timeout_s=60)
    listed = store.client.list_objects(settings.archive_bucket, prefix=prefix, recursive=True, include_version=True)
    versions = Counter(o.object_name for o in listed)
    assert len(versions) == PACKAGE_OBJECTS and set(versions.values()) == {1}, versions
    assert archived["sha256"] == event.original.sha256
    assert api.archived_content(document_id).content == pdf.read_bytes()

    records = api.headers("rita", "records_officer")
    verify = api.http.post(
        f"{stack.url('archive')}/api/v1/archive/verify", headers=records, json={"document_ids": [document_id]}
    )
    assert verify.status_code == 200, verify.text
    # (`evidence` is only checked when asked for: `"evidence": true`)
    expected = {"document_id": document_id, "result": "ok", "problems": [], "evidence": None}
    assert verify.json()["results"] == [expected]
    package = api.http.get(f"{stack.url('archive')}/api/v1/archive/{document_id}/package", headers=records).json()
    assert {o["retention_mode"] for o in package["objects"]} == {"COMPLIANCE"}
    assert len({o["retain_until"] for o in package["objects"]}) == 1  # one lock date: as if written at once


@pytest.mark.parametrize("conditional_put_max", [package.CONDITIONAL_PUT_MAX, 4], ids=["one-request", "large-file"])
def test_a_write_only_if_new_is_refused_where_the_key_holds_a_locked_object(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, conditional_put_max: int
) -> None:
    monkeypatch.setattr(package, "CONDITIONAL_PUT_MAX", conditional_put_max)  # 4: a "large" file is asked for first
    settings = stack.settings()
    store = ObjectStore(settings)
    packages = PackageStore(store, settings.archive_bucket, locked=True)
    document_id, now = str(uuid.uuid4()), utcnow()
    retain = now + timedelta(seconds=60)
    first = tmp_path / "first.pdf"
    first.write_bytes(b"%PDF-1.7 first")
    second = tmp_path / "second.pdf"
    second.write_bytes(b"%PDF-1.7 second")

    written = packages.put(document_id, "data/original.pdf", first, "application/pdf", retain, now, only_new=True)
    with pytest.raises(AlreadyStored):
        packages.put(document_id, "data/original.pdf", second, "application/pdf", retain, now, only_new=True)

    found = packages.found(document_id)
    assert [v.version_id for v in found["data/original.pdf"]] == [written.version_id]
    assert b"".join(packages.stream(written)) == b"%PDF-1.7 first"
    assert packages.state(written).retention_mode == "COMPLIANCE"
