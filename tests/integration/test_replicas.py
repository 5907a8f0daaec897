"""Two replicas of each service on one PostgreSQL, one Kafka consumer group per subscription: documents flow
upload -> approval -> archive while one replica is killed with SIGKILL, and nothing is doubled.

Its own stack (Kafka, MinIO, PostgreSQL, 2 x ingest, workflow, archive): the SQLite stack never sees these.
"""

import hashlib
import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kafka import KafkaAdminClient

from devstack.stack import Ports, Stack
from shared.messaging import kafka_python_auth
from tests.conftest import unique_bytes
from tests.integration.conftest import JWT_SECRET, Api, TopicReader, wait_for

DOCUMENTS = 16


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("replica-stack")
    # Not under pytest's tmp dir: as root, the server runs as `postgres`, which cannot enter that one.
    pg_dir = Path(tempfile.mkdtemp(prefix="eakte-pg-replicas-"))
    stack = Stack(
        data_dir,
        Ports.free(replicas=2),
        jwt_secret=JWT_SECRET,
        hotfolder=data_dir / "hotfolder",
        replicas=2,
        base_env={
            "ingest": {"EAKTE_OCR_ENABLED": "false", "EAKTE_HOTFOLDER_POLL_S": "0.2"},
            "archive": {"EAKTE_ARCHIVE_RETENTION_OVERRIDE_S": "3600"},
        },
    )
    try:
        stack.start_infra()
        stack.start_postgres(pg_dir)
        stack.start_services()
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)


def _upload(api: Api, ingest: str, content: bytes) -> str:
    response = api.http.post(
        f"{api.stack.url(ingest)}/api/v1/documents",
        headers=api.headers("clara", "clerk"),
        files={"file": ("brief.pdf", content, "application/pdf")},
        data={"workflow": "default", "title": "Antrag"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["document_id"])


def _open_task(api: Api, workflow: str, document_id: str) -> dict | None:
    response = api.http.get(f"{api.stack.url(workflow)}/api/v1/tasks", headers=api.headers("anton", "approver"))
    response.raise_for_status()
    return next((t for t in response.json() if t["document_id"] == document_id), None)


def _approve(api: Api, workflow: str, document_id: str) -> None:
    task = wait_for(lambda: _open_task(api, workflow, document_id), 90)
    decided = api.http.post(
        f"{api.stack.url(workflow)}/api/v1/tasks/{task['task_id']}/decision",
        headers=api.headers("anton", "approver"),
        json={"decision": "approve", "comment": "passt"},
    )
    assert decided.status_code == 200, decided.text


def _archived(api: Api, archive: str, document_id: str) -> httpx.Response:
    return api.http.get(
        f"{api.stack.url(archive)}/api/v1/archive/{document_id}/content", headers=api.headers("rita", "records_officer")
    )


def _members(stack: Stack, group: str) -> int:
    """How many consumers are in `group` right now (its partitions are spread over them)."""
    settings = stack.settings()
    auth = kafka_python_auth(settings.kafka_username, settings.kafka_password)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **auth)
    try:
        return len(admin.describe_groups([group])[group].get("members") or [])
    finally:
        admin.close()


def _events_per_document(reader: TopicReader, topic: str, documents: set[str]) -> dict[str, set[str]]:
    """Distinct event ids per document on `topic` (a redelivered event keeps its id; a doubled one has a new one)."""
    found: dict[str, set[str]] = {document_id: set() for document_id in documents}
    for message in reader.messages(topic, timeout_ms=5000):
        if message.get("document_id") in found:
            found[message["document_id"]].add(message["event_id"])
    return found


def test_two_replicas_of_each_service_archive_every_document_once_while_one_is_killed(replicas: Stack) -> None:
    api = Api(replicas)
    contents = {}
    uploaded: list[str] = []
    for index in range(DOCUMENTS):
        content = unique_bytes("sf__minimal-document.pdf")
        document_id = _upload(api, ("ingest", "ingest-2")[index % 2], content)  # both replicas take uploads
        contents[document_id] = content
        uploaded.append(document_id)
    # Side by side: both replicas of the workflow and of the archive are members of their consumer groups, each
    # with the one consumer that takes its documents in batches (the archive writes a batch's packages side by side).
    members = {"workflow": 2, "archive": 2}
    for group, count in members.items():
        wait_for(lambda g=group, n=count: _members(replicas, g) == n, 60)
    for index, document_id in enumerate(uploaded):
        if index == DOCUMENTS // 2:
            # Mid-run, with approvals flowing to the archive: the dead replicas' partitions (and outbox rows)
            # move to the surviving ones.
            replicas.services["workflow-2"].kill()
            replicas.services["archive-2"].kill()
        workflow = "workflow" if index >= DOCUMENTS // 2 else ("workflow", "workflow-2")[index % 2]
        _approve(api, workflow, document_id)

    for document_id in uploaded:
        archive = "archive"  # the surviving replica answers for every document, whoever archived it
        content = wait_for(lambda a=archive, d=document_id: (r := _archived(api, a, d)).status_code == 200 and r, 120)
        assert content.headers["x-content-sha256"] == hashlib.sha256(contents[document_id]).hexdigest()
        assert content.content == contents[document_id]

    settings = replicas.settings()
    reader = TopicReader(settings.kafka_bootstrap, kafka_python_auth(settings.kafka_username, settings.kafka_password))
    documents = set(uploaded)
    for topic in ("documents.ingested", "documents.review_started", "documents.approved", "documents.archived"):
        per_document = _events_per_document(reader, topic, documents)
        assert {d: len(ids) for d, ids in per_document.items()} == dict.fromkeys(documents, 1), topic
    # No doubled task: each document's one step had exactly one task, approved once, and nothing is open.
    for document_id in uploaded:
        response = api.http.get(
            f"{replicas.url('workflow')}/api/v1/workflows/{document_id}", headers=api.headers("adam", "admin")
        )
        assert response.status_code == 200, response.text
        state = response.json()
        assert [(s["approvals"], len(s["tasks"])) for s in state["steps"]] == [(1, 1)], state
        assert state["open"] == [] and state["earlier_runs"] == []
    api.http.close()


def test_the_hot_folder_takes_each_file_once_with_two_ingest_replicas(replicas: Stack) -> None:
    assert replicas.hotfolder is not None
    names = [f"scan-{uuid.uuid4().hex[:8]}.pdf" for _ in range(12)]
    for name in names:
        partial = replicas.hotfolder / f"{name}.part"
        partial.write_bytes(unique_bytes("sf__minimal-document.pdf"))
        partial.rename(replicas.hotfolder / name)
        (replicas.hotfolder / f"{name}.done").touch()  # complete: both replicas may take it at the next poll

    processed = replicas.hotfolder / "processed"
    wait_for(lambda: all((processed / f"{name}.receipt.json").exists() for name in names), 90)
    receipts = [json.loads((processed / f"{name}.receipt.json").read_text()) for name in names]
    assert all(r["document_id"] and not r.get("duplicate") for r in receipts)
    assert len({r["document_id"] for r in receipts}) == len(names)
    failed = replicas.hotfolder / "failed"
    assert not [p for p in failed.iterdir() if p.name.split(".")[0] in {n.split(".")[0] for n in names}]
    # Nothing taken twice: no second copy of any file in processed/ (a second take would be renamed beside it).
    taken = [p.name for p in processed.iterdir() if not p.name.endswith(".json")]
    assert sorted(n for n in taken if n.startswith("scan-")) == sorted(names)
