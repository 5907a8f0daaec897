"""The real stack for integration and end-to-end tests: Kafka, MinIO and the services on free loopback ports,
started once per test session; the HTTP client and topic reader the tests use; waiting on a condition."""

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from devstack.stack import Ports, Stack
from shared.messaging import kafka_python_auth
from shared.settings import Settings
from tests.conftest import token, unique_bytes

T = TypeVar("T")
JWT_SECRET = "integration-test-secret-0123456789abcdef"
# Open311 client apps of the test stack (tests/integration/test_open311.py): one reports, one exhausts its rate limit.
OPEN311_KEYS = ("kiel-meldet-integration-0001", "drossel-app-integration-0002")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Kafka + MinIO + the three services on SQLite, all real, on free ports."""
    data_dir = tmp_path_factory.mktemp("stack")
    running = Stack(
        data_dir,
        Ports.free(),
        jwt_secret=JWT_SECRET,
        hotfolder=data_dir / "hotfolder",
        # OCR takes seconds per page; test_ocr.py turns it on, the other tests need no text layer.
        base_env={
            "ingest": {"EAKTE_OCR_ENABLED": "false"},
            # A real COMPLIANCE lock, but for an hour, not for the file plan's years.
            "archive": {"EAKTE_ARCHIVE_RETENTION_OVERRIDE_S": "3600"},
        },
    )
    running.base_env["ingest"]["EAKTE_OPEN311_API_KEYS"] = ",".join(OPEN311_KEYS)
    try:
        running.start_infra()
        running.start_services()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def settings(stack: Stack) -> Settings:
    return stack.settings()


class Api:
    """HTTP calls the way a client of the three services makes them."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = httpx.Client(timeout=30)

    def headers(self, user: str, *roles: str, org_units: Iterable[str] = ()) -> dict[str, str]:
        """A bearer token; `org_units` make the person a member (need-to-know: a member of none without)."""
        return token(user, *roles, secret=JWT_SECRET, org_units=org_units)

    def upload(self, path: Path, user: str = "clara", workflow: str = "default", **fields: str) -> httpx.Response:
        with path.open("rb") as handle:
            return self.http.post(
                f"{self.stack.url('ingest')}/api/v1/documents",
                headers=self.headers(user, "clerk"),
                files={"file": (path.name, handle, "application/pdf")},
                data={"workflow": workflow, **fields},
            )

    def document(self, document_id: str, user: str = "clara", org_units: Iterable[str] = ()) -> dict:
        response = self.http.get(
            f"{self.stack.url('ingest')}/api/v1/documents/{document_id}",
            headers=self.headers(user, "clerk", org_units=org_units),
        )
        response.raise_for_status()
        return response.json()

    def tasks(self, user: str = "anton", *roles: str) -> list[dict]:
        response = self.http.get(
            f"{self.stack.url('workflow')}/api/v1/tasks", headers=self.headers(user, *(roles or ("approver",)))
        )
        response.raise_for_status()
        return response.json()

    def task_for(self, document_id: str, user: str = "anton", timeout_s: float = 30) -> dict:
        found = wait_for(
            lambda: next((t for t in self.tasks(user) if t["document_id"] == document_id), None), timeout_s
        )
        return found

    def decide(
        self, task_id: str, decision: str, user: str = "anton", comment: str = "", *roles: str
    ) -> httpx.Response:
        return self.http.post(
            f"{self.stack.url('workflow')}/api/v1/tasks/{task_id}/decision",
            headers=self.headers(user, *(roles or ("approver",))),
            json={"decision": decision, "comment": comment},
        )

    def archived(self, document_id: str, user: str = "rita") -> httpx.Response:
        return self.http.get(
            f"{self.stack.url('archive')}/api/v1/archive/{document_id}", headers=self.headers(user, "records_officer")
        )

    def archived_content(self, document_id: str, user: str = "rita") -> httpx.Response:
        return self.http.get(
            f"{self.stack.url('archive')}/api/v1/archive/{document_id}/content",
            headers=self.headers(user, "records_officer"),
        )

    def wait_status(
        self, document_id: str, status: str, timeout_s: float = 30, user: str = "clara", org_units: Iterable[str] = ()
    ) -> dict:
        """Read as a clerk: the submitter, or a member of the document's org unit (need-to-know)."""
        return wait_for(lambda: (d := self.document(document_id, user, org_units))["status"] == status and d, timeout_s)


def wait_for(probe: Callable[[], T], timeout_s: float = 30, interval_s: float = 0.2) -> T:
    """Poll until `probe` returns something truthy; fail with a clear message otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s (last value: {value!r})")
        time.sleep(interval_s)


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[Api]:
    client = Api(stack)
    yield client
    client.http.close()


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    """A real one-page PDF from the corpus, unique to this test."""
    path = tmp_path / "brief.pdf"
    path.write_bytes(unique_bytes("sf__minimal-document.pdf"))
    return path


class TopicReader:
    """Reads what is on a topic, from the beginning, as IT would when inspecting it."""

    def __init__(self, bootstrap: str, auth: dict[str, str] | None = None) -> None:
        self.bootstrap = bootstrap
        # kafka-python SASL arguments (`shared.messaging.kafka_python_auth`); the tests read as the admin.
        self.auth = auth or {}

    def messages(self, topic: str, timeout_ms: int = 3000) -> list[dict]:
        return [json.loads(record.value) for record in self._records(topic, timeout_ms)]

    def _records(self, topic: str, timeout_ms: int) -> list[ConsumerRecord]:
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap,
            group_id=f"test-reader-{uuid.uuid4()}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=timeout_ms,
            **self.auth,
        )
        try:
            return list(consumer)
        finally:
            consumer.close()

    def position_of(self, topic: str, document_id: str) -> tuple[int, int]:
        """(partition, offset) of the latest message about `document_id` on `topic` (events are keyed by it)."""
        found = [r for r in self._records(topic, 3000) if r.key == document_id.encode()]
        assert found, f"no message about {document_id} on {topic}"
        return found[-1].partition, found[-1].offset

    def about(self, topic: str, document_id: str) -> list[dict]:
        return [m for m in self.messages(topic) if m.get("document_id") == document_id]

    about_dead_letters = about  # dead letters carry document_id too

    def publish(self, topic: str, key: str, payload: bytes) -> tuple[int, int]:
        """Publish a raw message; return its (partition, offset)."""
        return self.publish_many(topic, [(key, payload)])[0]

    def publish_many(self, topic: str, messages: list[tuple[str, bytes]]) -> list[tuple[int, int]]:
        """Publish raw messages back to back (consumers fetch them together); return their (partition, offset)s."""
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=20, **self.auth)
        try:
            sending = [producer.send(topic, key=key.encode(), value=payload) for key, payload in messages]
            sent = [future.get(timeout=30) for future in sending]
        finally:
            producer.close()
        return [(record.partition, record.offset) for record in sent]

    def wait_consumed(self, group: str, topic: str, partition: int, offset: int, timeout_s: float = 30) -> None:
        """Wait until consumer group `group` has committed past `offset`: the message was handled."""
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, **self.auth)
        try:

            def committed() -> bool:
                offsets = admin.list_group_offsets(group).get(group, {})
                position = offsets.get(TopicPartition(topic, partition))
                return position is not None and position.offset > offset

            wait_for(committed, timeout_s)
        finally:
            admin.close()


@pytest.fixture(scope="session")
def topics(settings: Settings) -> TopicReader:
    return TopicReader(settings.kafka_bootstrap, kafka_python_auth(settings.kafka_username, settings.kafka_password))
