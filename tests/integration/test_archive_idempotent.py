"""A package write cut short on the real MinIO with a COMPLIANCE lock, then the event delivered again to the
archive service: the package is completed without a second version of any locked object."""

from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from devstack.stack import Stack
from services.archive import archiving
from services.archive.archiving import Intake
from services.archive.package import PackageStore, SourceStore
from services.archive.ports import StoredFile
from shared.events import DocumentApproved
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
    ) -> StoredFile:
        if self.left == 0:
            raise Killed(path)
        self.left -= 1
        return super().put(document_id, path, source, content_type, retain, archived_at)


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
