"""Supervision on the real stack: /ready and what it names, a killed service started again, the SIGTERM drain."""

import functools
import signal
import time
from pathlib import Path

import httpx
import pytest

from devstack.stack import SERVICES, Stack
from devstack.supervisor import Supervisor
from tests.integration.conftest import Api, TopicReader, wait_for


def _ready(stack: Stack, name: str) -> httpx.Response:
    return httpx.get(f"{stack.url(name)}/ready", timeout=10)


def _ready_status(stack: Stack, name: str) -> int:
    try:
        return _ready(stack, name).status_code
    except httpx.TransportError:
        return 0


@pytest.mark.parametrize("name", SERVICES)
def test_ready_answers_without_a_token_with_its_checks(stack: Stack, name: str) -> None:
    wait_for(lambda: _ready_status(stack, name) == 200, timeout_s=60)
    body = _ready(stack, name).json()
    assert body["status"] == "ready" and body["service"] == name
    expected = (
        {"ingest", "workflow", "archive"} if name == "portal" else {"database", "kafka", "object_store", "consumers"}
    )
    assert body["checks"] == dict.fromkeys(expected, "ok")


def test_ready_names_the_object_store_while_minio_is_stopped_and_recovers(stack: Stack) -> None:
    assert stack.minio is not None
    wait_for(lambda: _ready_status(stack, "archive") == 200, timeout_s=60)
    stack.minio.stop()
    try:
        wait_for(lambda: _ready_status(stack, "archive") == 503, timeout_s=30)
        checks = _ready(stack, "archive").json()["checks"]
        assert checks["object_store"].startswith("unreachable")
        assert checks["database"] == "ok" and checks["kafka"] == "ok"
        assert _ready(stack, "portal").status_code == 200  # the services still answer; they say what is missing
    finally:
        stack.minio.start()
    wait_for(lambda: _ready_status(stack, "archive") == 200, timeout_s=30)
    wait_for(lambda: _ready_status(stack, "ingest") == 200, timeout_s=30)


def test_a_service_killed_under_supervision_is_started_again_and_ready(stack: Stack, api: Api, pdf: Path) -> None:
    lines: list[str] = []
    supervisor = Supervisor(say=lines.append)
    supervisor.watch(stack.services["workflow"], restart=functools.partial(stack.launch, "workflow"))
    killed_pid = stack.services["workflow"].pid
    assert killed_pid is not None

    killed_at = time.monotonic()
    stack.services["workflow"].process.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
    wait_for(lambda: supervisor.poll() == ["workflow"], timeout_s=30)
    wait_for(lambda: _ready_status(stack, "workflow") == 200, timeout_s=90)
    print(f"workflow killed -> ready again in {time.monotonic() - killed_at:.1f} s")  # measured, not asserted

    assert "workflow died (exit code -9)" in lines[0]
    assert stack.services["workflow"].pid not in (None, killed_pid)
    document_id = api.upload(pdf).json()["document_id"]
    assert api.task_for(document_id)["document_id"] == document_id  # the restarted service works


def _position(topics: TopicReader, topic: str, document_id: str) -> tuple[int, int] | None:
    try:
        return topics.position_of(topic, document_id)
    except AssertionError:  # not there yet
        return None


def _log_has(stack: Stack, name: str, text: str) -> bool:
    return text in stack.services[name].tail(400)


def test_sigterm_during_a_slow_handler_finishes_it_once_and_exits_0(
    stack: Stack, api: Api, pdf: Path, topics: TopicReader
) -> None:
    stack.restart_service("archive", EAKTE_KAFKA_HANDLER_DELAY_S="4")
    try:
        document_id = api.upload(pdf, workflow="none").json()["document_id"]
        partition, offset = wait_for(lambda: _position(topics, "documents.approved", document_id))
        in_flight = f"archive: handling documents.approved at {partition}/{offset}, slowed down"
        wait_for(lambda: _log_has(stack, "archive", in_flight), timeout_s=60)

        archive = stack.services["archive"]
        archive.stop(timeout_s=30)  # SIGTERM while the handler sleeps

        assert archive.process is not None and archive.process.returncode == 0
        assert _log_has(stack, "archive", "archive: drained")
        topics.wait_consumed("archive", "documents.approved", partition, offset, timeout_s=5)  # committed
        assert len(topics.about("documents.archived", document_id)) == 1  # the relay sent what the handler wrote
    finally:
        stack.restart_service("archive")

    assert api.archived(document_id).status_code == 200
    wait_for(lambda: _ready_status(stack, "archive") == 200, timeout_s=60)
    assert len(topics.about("documents.archived", document_id)) == 1
