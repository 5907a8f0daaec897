"""IT repairs what did not go through, with `eakte dlq` and `eakte outbox`, on the real broker and services.

The poison message: a document for a workflow that is not deployed yet. The workflow service keeps it as a dead
letter; IT deploys the definition and replays the letter (twice, as a hurried person would): the workflow opens
once. The commands run as a person runs them, as processes, with the operator principal's development password.
"""

import hashlib
import io
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from devstack.stack import Stack
from services.workflow.definitions import SHIPPED_DIR
from shared.events import DeadLetter, DocumentIngested, DocumentMetadata, StoredObject
from shared.storage import ObjectStore
from tests.conftest import token
from tests.integration.conftest import JWT_SECRET, TopicReader, wait_for

INGESTED = DocumentIngested.TOPIC
REPLAYED = re.compile(r"^(\S+) -> (\S+)/(\d+)/(\d+)$", re.MULTILINE)


def eakte(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = stack.env_for("portal")
    for name in ("EAKTE_KAFKA_USERNAME", "EAKTE_KAFKA_PASSWORD"):
        env.pop(name, None)  # `eakte dlq` uses the operator principal, never a service's
    return subprocess.run(
        [sys.executable, "-m", "eakte_cli", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _listed(stack: Stack, topic: str, document_id: str) -> list[str]:
    done = eakte(stack, "dlq", "list", "--topic", topic)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if document_id in line]


def _submit(stack: Stack, topics: TopicReader, workflow: str) -> str:
    settings = stack.settings()
    document_id = str(uuid.uuid4())
    data = b"%PDF-1.4\n% nachgereicht " + document_id.encode()
    key = f"documents/{document_id}/original.pdf"
    sha256 = hashlib.sha256(data).hexdigest()
    ObjectStore(settings).client.put_object(
        settings.inbox_bucket, key, io.BytesIO(data), len(data), metadata={"sha256": sha256}
    )
    event = DocumentIngested(
        document_id=uuid.UUID(document_id),
        correlation_id=uuid.uuid4(),
        original=StoredObject(bucket=settings.inbox_bucket, key=key, size=len(data), sha256=sha256),
        metadata=DocumentMetadata(
            title="Nachgereicht", aktenzeichen="50.10-2026/0099", filename="scan.pdf", org_unit="50"
        ),
        workflow=workflow,
        submitted_by="clara",
    )
    topics.publish(INGESTED, document_id, event.model_dump_json().encode())
    return document_id


@pytest.fixture
def deploy(stack: Stack, tmp_path: Path) -> Iterator[object]:
    """Deploys a workflow definition (the shipped ones plus it) by restarting the workflow service; then undoes it."""
    saved = dict(stack.extra_env.get("workflow", {}))
    definitions = tmp_path / "workflows"
    shutil.copytree(SHIPPED_DIR, definitions)

    def deploy_definition(name: str) -> None:
        (definitions / f"{name}.yaml").write_text(
            f"name: {name}\ntitle: Nachgereichter Ablauf\nsteps:\n"
            "  - name: Schlusszeichnung\n    type: signoff\n    assignee: {role: approver}\n    deadline: 5d\n"
        )
        stack.restart_service("workflow", **saved, EAKTE_WORKFLOW_DEFINITIONS_DIR=str(definitions))

    try:
        yield deploy_definition
    finally:
        stack.extra_env["workflow"] = saved
        stack.services["workflow"].stop()
        stack.start_service("workflow")


def test_a_poison_message_is_replayed_after_the_fix_and_processed_once(
    stack: Stack, topics: TopicReader, deploy
) -> None:
    name = f"t_nachgereicht_{uuid.uuid4().hex[:8]}"
    document_id = _submit(stack, topics, name)

    [row] = wait_for(lambda: _listed(stack, INGESTED, document_id), timeout_s=60)
    letter_id, source, consumer = row.split()[:3]
    assert letter_id.startswith(f"{INGESTED}.dlq/") and (source, consumer) == (INGESTED, "workflow")
    assert f"unknown workflow '{name}'" in row
    shown = eakte(stack, "dlq", "show", letter_id)
    assert shown.returncode == 0 and f"document:    {document_id}" in shown.stdout
    assert "replayable:  yes" in shown.stdout

    deploy(name)  # the fix
    replays = [eakte(stack, "dlq", "replay", "--topic", INGESTED, "--id", letter_id) for _ in range(2)]
    # This one among all; other tests' letters on the shared stack may be ones that cannot be replayed (exit 1).
    replays.append(eakte(stack, "dlq", "replay", "--topic", INGESTED, "--all"))
    assert [done.returncode for done in replays][:2] == [0, 0] and replays[2].returncode in (0, 1), replays
    positions = [REPLAYED.findall(done.stdout) for done in replays]
    mine = [found for found in positions for found in found if found[0] == letter_id]
    assert len(mine) == 3 and all(found[1] == INGESTED for found in mine)
    assert "replayed " in replays[-1].stderr  # the progress line
    for found in mine:
        topics.wait_consumed("workflow", INGESTED, int(found[2]), int(found[3]))

    clerk = token("clara", "clerk", secret=JWT_SECRET, org_units=("50",))
    state = httpx.get(f"{stack.url('workflow')}/api/v1/workflows/{document_id}", headers=clerk, timeout=10)
    assert state.status_code == 200 and state.json()["definition"] == name
    assert len(topics.about("documents.review_started", document_id)) == 1  # opened once, not twice
    assert len(_listed(stack, INGESTED, document_id)) == 1  # and not dead-lettered again
    log = stack.services["workflow"].log_path.read_text(errors="replace")
    assert f"replayed from {letter_id}" in log


def test_a_letter_that_does_not_exist_is_refused_with_exit_code_1(stack: Stack) -> None:
    done = eakte(stack, "dlq", "show", f"{INGESTED}.dlq/0/999999999")
    assert done.returncode == 1 and "no dead letter" in done.stderr
    done = eakte(stack, "dlq", "replay", "--topic", INGESTED, "--id", "0/999999999")
    assert done.returncode == 1 and "no dead letter" in done.stderr


def test_a_letter_with_a_cut_payload_is_replayed_from_the_original_in_the_source_topic(
    stack: Stack, topics: TopicReader
) -> None:
    topic = "documents.archived"  # consumed by ingest: an unreadable message is a dead letter at once
    key = f"gross-{uuid.uuid4().hex[:8]}"
    original = json.dumps({"document_id": key, "padding": "x" * 100_000}).encode()  # more than a letter keeps
    topics.publish(topic, key, original)
    # Each consumer group of the topic sets it aside (ingest's, and the workflow's for notifications): take ingest's.
    [row] = wait_for(lambda: [r for r in _listed(stack, topic, key) if " ingest." in r], timeout_s=60)
    letter_id = row.split()[0]
    shown = eakte(stack, "dlq", "show", letter_id)
    assert "(cut; replayed from the source topic)" in shown.stdout and "replayable:  yes" in shown.stdout

    replayed = eakte(stack, "dlq", "replay", "--topic", topic, "--id", letter_id)
    assert replayed.returncode == 0, replayed.stderr
    found = REPLAYED.search(replayed.stdout)
    assert found is not None
    again = topics._records(topic, 3000)
    [copy] = [r for r in again if (r.partition, r.offset) == (int(found[3]), int(found[4]))]
    assert copy.value == original and copy.key == key.encode()  # the whole original, the same key
    assert dict(copy.headers)["eakte-replayed-from"] == letter_id.encode()


def test_purge_deletes_the_letters_written_before_the_date(stack: Stack, topics: TopicReader) -> None:
    topic = "documents.returned"  # consumed by ingest; an unreadable message goes to its dead letters at once
    key = f"kaputt-{uuid.uuid4().hex[:8]}"
    topics.publish(topic, key, json.dumps({"document_id": key, "no": "event"}).encode())
    wait_for(lambda: _listed(stack, topic, key), timeout_s=60)

    kept = eakte(stack, "dlq", "purge", "--topic", topic, "--before", "2000-01-01")
    assert kept.returncode == 0 and ": 0 dead letters before" in kept.stdout
    assert _listed(stack, topic, key)

    before = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    purged = eakte(stack, "dlq", "purge", "--topic", topic, "--before", before)
    assert purged.returncode == 0, purged.stderr
    assert int(re.search(r": (\d+) dead letters", purged.stdout)[1]) >= 1  # type: ignore[index]
    assert not _listed(stack, topic, key)
    assert eakte(stack, "dlq", "purge", "--topic", topic, "--before", "morgen").returncode == 2


def test_a_set_aside_outbox_row_put_back_is_published(stack: Stack, topics: TopicReader) -> None:
    """A row the broker once refused (written straight into ingest's set-aside rows): retried, it goes out."""
    key = f"zurueck-{uuid.uuid4().hex[:8]}"
    letter = DeadLetter.of("documents.archived", "ingest.documents.archived", "test", b"{}", document_id=key)
    payload = letter.model_dump_json().encode()
    with sqlite3.connect(stack.data_dir / "ingest.db", timeout=30) as db:
        cursor = db.execute(
            "INSERT INTO outbox_dead_letters (outbox_id, topic, key, size, payload_sha256, payload_prefix, payload, "
            "reason, attempts, created_at, moved_at) VALUES (0, ?, ?, ?, ?, ?, ?, ?, 5, ?, ?)",
            (
                "documents.archived.dlq",
                key.encode(),
                len(payload),
                hashlib.sha256(payload).hexdigest(),
                payload.decode()[:200],
                payload,
                "KafkaTimeoutError: the broker was away",
                datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
                datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
            ),
        )
        row_id = cursor.lastrowid
    listed = eakte(stack, "outbox")
    assert listed.returncode == 3 and f"ingest/{row_id} " in listed.stdout
    assert re.search(r"^ingest: \d+ pending, oldest \d+ s, [1-9]\d* set aside$", listed.stdout, re.MULTILINE)

    retried = eakte(stack, "outbox", "retry", f"ingest/{row_id}")
    assert retried.returncode == 0, retried.stderr
    assert wait_for(lambda: topics.about("documents.archived.dlq", key), timeout_s=30)
    assert f"ingest/{row_id} " not in eakte(stack, "outbox").stdout
    again = eakte(stack, "outbox", "retry", f"ingest/{row_id}")
    assert again.returncode == 1 and f"no set-aside row {row_id}" in again.stderr
