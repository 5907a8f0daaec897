"""The records office's archive on real MinIO with object lock and real Kafka."""

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from minio.error import S3Error

from devstack.stack import Stack
from shared.storage import ObjectStore
from tests.conftest import unique_bytes
from tests.integration.conftest import JWT_SECRET, Api, TopicReader, wait_for
from tests.integration.package_files import package_file


def _archive_document(api: Api, file_plan_class: str = "63.01", decision: str = "approve", **fields: str) -> str:
    """A document filed in a new Akte of the class, decided by an approver, and (if kept) archived."""
    data = unique_bytes("sf__minimal-document.pdf")
    response = api.http.post(
        f"{api.stack.url('ingest')}/api/v1/documents",
        headers=api.headers("clara", "clerk"),
        files={"file": ("antrag.pdf", data, "application/pdf")},
        # `standard` (one sign-off by any approver) whatever the class would select otherwise.
        data={"file_plan_class": file_plan_class, "akte_title": "Akte", "workflow": "standard", **fields},
    )
    assert response.status_code == 201, response.text
    document_id = response.json()["document_id"]
    task = api.task_for(document_id)
    comment = "Angaben unvollständig" if decision == "reject" else "ok"
    assert api.decide(task["task_id"], decision, comment=comment).status_code == 200
    return document_id


def _records(api: Api) -> dict[str, str]:
    return api.headers("rita", "records_officer")


def _archived(api: Api, document_id: str) -> dict:
    return wait_for(lambda: (r := api.archived(document_id)).status_code == 200 and r.json(), timeout_s=60)


def test_approved_document_becomes_a_locked_bagit_package(api: Api, stack: Stack) -> None:
    document_id = _archive_document(api, title="Bauantrag Schmidt", sender="Architekturbüro Nord")
    archived = _archived(api, document_id)
    assert archived["aktenzeichen"].startswith("63.01-") and archived["retention_years"] == 30

    package = api.http.get(f"{stack.url('archive')}/api/v1/archive/{document_id}/package", headers=_records(api))
    assert package.status_code == 200
    objects = {o["path"]: o for o in package.json()["objects"]}
    assert set(objects) == {
        "bagit.txt",
        "bag-info.txt",
        "manifest-sha256.txt",
        "tagmanifest-sha256.txt",
        "data/original.pdf",
        "data/metadata.json",
        "data/audit.json",
    }
    # The original is an object of its own; the six small files share one, the bag's bundle (bag.tar).
    assert objects["data/original.pdf"]["offset"] is None
    assert {o["key"] for o in objects.values() if o["offset"] is not None} == {f"packages/{document_id}/bag.tar"}
    for obj in objects.values():
        assert obj["retention_mode"] == "COMPLIANCE" and obj["version_id"] and obj["sha256"]
        retain = datetime.fromisoformat(obj["retain_until"])
        assert timedelta(minutes=50) < retain - datetime.now(UTC) < timedelta(minutes=70)

    client = ObjectStore(stack.settings()).client
    bucket = package.json()["bucket"]

    def read(path: str) -> bytes:
        o = objects[path]
        data = package_file(client, bucket, o)
        if o["offset"] is not None:  # in the bundle: the same bytes as `tar -x` of that object gives
            whole = client.get_object(bucket, o["key"], version_id=o["version_id"]).read()
            with tarfile.open(fileobj=io.BytesIO(whole)) as tar:
                assert tar.extractfile(path).read() == data  # type: ignore[union-attr]
        return data

    assert read("bagit.txt").startswith(b"BagIt-Version: 1.0")
    manifest = dict(reversed(line.split(maxsplit=1)) for line in read("manifest-sha256.txt").decode().splitlines())
    assert set(manifest) == {"data/original.pdf", "data/metadata.json", "data/audit.json"}
    for path, checksum in manifest.items():
        assert hashlib.sha256(read(path)).hexdigest() == checksum
    assert hashlib.sha256(read("data/original.pdf")).hexdigest() == archived["sha256"]
    assert "Payload-Oxum:" in read("bag-info.txt").decode()
    metadata = json.loads(read("data/metadata.json"))
    assert metadata["akte"]["aktenzeichen"] == archived["aktenzeichen"] and metadata["sender"] == "Architekturbüro Nord"
    assert metadata["approvals"][0]["decided_by"] == "anton"
    audit = json.loads(read("data/audit.json"))
    assert isinstance(audit, list) and audit and all("hash" in entry for entry in audit)


def test_locked_versions_can_be_neither_deleted_nor_overwritten(api: Api, stack: Stack) -> None:
    document_id = _archive_document(api)
    _archived(api, document_id)
    package = api.http.get(f"{stack.url('archive')}/api/v1/archive/{document_id}/package", headers=_records(api))
    original = next(o for o in package.json()["objects"] if o["path"] == "data/original.pdf")
    bucket = package.json()["bucket"]
    client = ObjectStore(stack.settings()).client
    before = client.get_object(bucket, original["key"], version_id=original["version_id"]).read()

    with pytest.raises(S3Error) as refused:
        client.remove_object(bucket, original["key"], version_id=original["version_id"])
    assert refused.value.code in ("AccessDenied", "ObjectLocked", "InvalidRequest") or "WORM" in str(refused.value)
    # An "overwrite" only adds a newer version: the locked one stays as it was, and the archive serves it.
    client.put_object(bucket, original["key"], io.BytesIO(b"forged"), 6)
    assert client.get_object(bucket, original["key"], version_id=original["version_id"]).read() == before
    assert api.archived_content(document_id).content == before


def test_rejection_is_kept_where_the_file_plan_says_so(api: Api, topics: TopicReader) -> None:
    kept = _archive_document(api, "63.01", decision="reject")
    assert _archived(api, kept)["outcome"] == "rejected"
    dropped = _archive_document(api, "50.10", decision="reject")
    api.wait_status(dropped, "rejected")
    # The archive has handled the rejection (its consumer group committed past it) and did not take it.
    partition, offset = topics.position_of("documents.rejected", dropped)
    topics.wait_consumed("archive.documents.rejected", "documents.rejected", partition, offset)
    assert api.archived(dropped).status_code == 404


def test_search_by_reference_title_sender_dates_and_text_with_paging(api: Api, stack: Stack) -> None:
    tag = uuid.uuid4().hex[:6]
    ids = [
        _archive_document(api, "66.10", title=f"Straßensanierung Lindenweg {tag}", sender=f"Tiefbau {tag} GmbH"),
        _archive_document(api, "66.10", title=f"Straßensanierung Ahornweg {tag}", sender="Bürgerverein"),
        _archive_document(api, "66.10", title=f"Gehwegplatten {tag}", sender=f"Tiefbau {tag} GmbH"),
    ]
    rows = [_archived(api, d) for d in ids]
    url = f"{stack.url('archive')}/api/v1/archive/search"

    def find(**params: str | int) -> dict:
        response = api.http.get(url, headers=_records(api), params=params)
        assert response.status_code == 200, response.text
        return response.json()

    assert {i["document_id"] for i in find(aktenzeichen=rows[0]["aktenzeichen"])["items"]} == {ids[0]}
    assert find(aktenzeichen="66.10-")["total"] >= 3
    assert {i["document_id"] for i in find(title="straßensanierung", q=tag)["items"]} == set(ids[:2])
    assert {i["document_id"] for i in find(sender=f"tiefbau {tag}")["items"]} == {ids[0], ids[2]}
    assert {i["document_id"] for i in find(q=f"Gehwegplatten {tag}")["items"]} == {ids[2]}
    today = datetime.now(UTC).date()
    assert find(q=tag, received_from=str(today), received_to=str(today))["total"] == 3
    assert find(q=tag, received_to=str(today - timedelta(days=1)))["total"] == 0
    first, second = find(q=tag, limit=2, offset=0), find(q=tag, limit=2, offset=2)
    assert first["total"] == 3 and len(first["items"]) == 2 and len(second["items"]) == 1
    assert {i["document_id"] for i in first["items"] + second["items"]} == set(ids)
    clerk = api.http.get(url, headers=api.headers("clara", "clerk"), params={"q": tag})
    assert clerk.status_code == 403


def test_download_link_and_access_log(api: Api, stack: Stack) -> None:
    document_id = _archive_document(api)
    archived = _archived(api, document_id)
    base = f"{stack.url('archive')}/api/v1/archive"
    content = api.archived_content(document_id)
    assert hashlib.sha256(content.content).hexdigest() == archived["sha256"]

    link = api.http.get(f"{base}/{document_id}/link", headers=_records(api)).json()
    expires = datetime.fromisoformat(link["expires_at"])
    assert timedelta(minutes=4) < expires - datetime.now(UTC) <= timedelta(minutes=5)
    assert "X-Amz-Expires=300" in link["url"]
    assert httpx.get(link["url"], timeout=30).content == content.content

    log = api.http.get(f"{base}/access-log", headers=_records(api), params={"document_id": document_id}).json()
    actions = [(e["user"], e["action"]) for e in log["items"]]
    assert ("rita", "download") in actions and ("rita", "link") in actions and ("rita", "metadata") in actions


def test_verify_reports_a_corrupted_unlocked_object(api: Api, stack: Stack) -> None:
    """A package written without a lock (a store without WORM) can be changed; verification must notice."""
    stack.restart_service(
        "archive",
        EAKTE_ARCHIVE_OBJECT_LOCK="false",
        EAKTE_ARCHIVE_BUCKET="eakte-archive-plain",
        EAKTE_ARCHIVE_RETENTION_OVERRIDE_S="3600",
    )
    try:
        changed, removed, intact = (_archive_document(api) for _ in range(3))
        for document_id in (changed, removed, intact):
            _archived(api, document_id)
        client = ObjectStore(stack.settings()).client
        key = f"packages/{changed}/data/original.pdf"
        client.put_object("eakte-archive-plain", key, io.BytesIO(b"%PDF-1.4 altered"), 16)
        client.remove_object("eakte-archive-plain", f"packages/{removed}/bag.tar")  # the six small files

        url = f"{stack.url('archive')}/api/v1/archive/verify"
        report = api.http.post(url, headers=_records(api), json={"document_ids": [changed, removed, intact]}).json()
        results = {r["document_id"]: r for r in report["results"]}
        assert results[changed]["result"] == "mismatch" and "data/original.pdf" in results[changed]["problems"][0]
        assert results[removed]["result"] == "missing"
        assert "data/audit.json: missing" in results[removed]["problems"]
        assert results[intact]["result"] == "ok"
        assert (report["ok"], report["mismatch"], report["missing"]) == (1, 1, 1)
        cli = subprocess.run(
            [sys.executable, "-m", "eakte_cli", "archive", "verify", "--url", stack.url("archive")],
            env={**os.environ, "EAKTE_JWT_SECRET": JWT_SECRET},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 2, cli.stderr  # not all packages are ok
        assert f"{changed}  mismatch" in cli.stdout and f"{removed}  missing" in cli.stdout
        shown = api.archived(changed).json()
        assert shown["last_verify_result"] == "mismatch" and shown["last_verified_at"]
        assert api.archived_content(changed).status_code == 409  # not handed out when it no longer matches
    finally:
        stack.restart_service("archive")


def test_legal_hold_retention_and_destroy(api: Api, stack: Stack) -> None:
    stack.restart_service("archive", EAKTE_ARCHIVE_RETENTION_OVERRIDE_S="4")
    try:
        destroyable = _archive_document(api, "50.10", title="Hilfe zum Lebensunterhalt Meier")
        to_offer = _archive_document(api, "63.01")
        for document_id in (destroyable, to_offer):
            _archived(api, document_id)
        base = f"{stack.url('archive')}/api/v1/archive"
        records = _records(api)

        early = api.http.post(f"{base}/{destroyable}/destroy", headers=records)
        assert early.status_code == 409 and early.json()["error"] == "retention_running"
        held = api.http.post(f"{base}/{destroyable}/hold", headers=records)
        assert held.status_code == 200 and held.json()["legal_hold"] is True
        package = api.http.get(f"{base}/{destroyable}/package", headers=records).json()
        assert all(o["legal_hold"] for o in package["objects"])

        # The real S3 lock must run out (there is no clock to move in the object store): wait until it is due.
        due = wait_for(
            lambda: (
                (found := {d["document_id"]: d for d in api.http.get(f"{base}/due", headers=records).json()})
                and destroyable in found
                and to_offer in found
                and found
            ),
            timeout_s=30,
        )
        assert due[destroyable]["disposal"] == "destroy" and due[destroyable]["legal_hold"] is True
        assert due[to_offer]["disposal"] == "archive"
        blocked = api.http.post(f"{base}/{destroyable}/destroy", headers=records)
        assert blocked.status_code == 409 and blocked.json()["error"] == "legal_hold"
        not_ours = api.http.post(f"{base}/{to_offer}/destroy", headers=records)
        assert not_ours.status_code == 409 and not_ours.json()["error"] == "not_destroy"

        assert api.http.delete(f"{base}/{destroyable}/hold", headers=records).json()["legal_hold"] is False
        destroyed = api.http.post(f"{base}/{destroyable}/destroy", headers=records)
        assert destroyed.status_code == 200, destroyed.text
        record = destroyed.json()
        assert record["deleted_by"] == "rita" and "50.10" in record["rule"] and len(record["objects"]) == 7
        assert "Meier" not in json.dumps(record)  # no title, sender or content of the person's record

        assert api.archived(destroyable).status_code == 404
        client = ObjectStore(stack.settings()).client
        left = list(
            client.list_objects(
                package["bucket"], prefix=f"packages/{destroyable}/", include_version=True, recursive=True
            )
        )
        assert left == []
        search = api.http.get(f"{base}/search", headers=records, params={"q": "Meier"}).json()
        assert destroyable not in {i["document_id"] for i in search["items"]}
        assert api.http.get(f"{base}/deletions/{destroyable}", headers=records).json()["aktenzeichen"]

        # Nothing else of the person's data stays behind: ingest and workflow remove theirs too.
        ingest_doc = f"{stack.url('ingest')}/api/v1/documents/{destroyable}"
        wait_for(lambda: api.http.get(ingest_doc, headers=api.headers("clara", "clerk")).status_code == 404)
        inbox = stack.settings().inbox_bucket
        assert list(client.list_objects(inbox, prefix=f"documents/{destroyable}/", recursive=True)) == []
        workflow = f"{stack.url('workflow')}/api/v1/workflows/{destroyable}"
        wait_for(lambda: api.http.get(workflow, headers=api.headers("anton", "approver")).status_code == 404)
        assert (
            api.http.get(
                f"{stack.url('ingest')}/api/v1/documents/{to_offer}", headers=api.headers("clara", "clerk")
            ).status_code
            == 200
        )  # others untouched
    finally:
        stack.restart_service("archive")
