"""EAKTE_ENV=production: a process with development secrets refuses to start, before it connects to anything.

Kafka and the object store are stood in for by one listening loopback socket: whether a process connected to it
shows whether it got past the check. No broker is needed.
"""

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import DEV_JWT_SECRET, DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY, dev_kafka_password
from tests.stack import wait_for

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ("ingest", "workflow", "archive", "portal")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """Where the process would find Kafka and MinIO: it accepts connections and records them."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


def connected(server: socket.socket) -> bool:
    try:
        client, _ = server.accept()
    except BlockingIOError:
        return False
    client.close()
    return True


def environment(tmp_path: Path, listener: socket.socket, **values: str) -> dict[str, str]:
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EAKTE_")}
    env.update(
        PYTHONPATH=str(ROOT),
        EAKTE_DATA_DIR=str(tmp_path),
        EAKTE_KAFKA_BOOTSTRAP=address,
        EAKTE_S3_ENDPOINT=address,
        EAKTE_DATABASE_URL=f"sqlite:///{tmp_path / 'service.db'}",
        EAKTE_INGEST_PORT="0",
        EAKTE_WORKFLOW_PORT="0",
        EAKTE_ARCHIVE_PORT="0",
        EAKTE_PORTAL_PORT="0",
    )
    env.update(values)
    return env


@pytest.mark.parametrize("process", PROCESSES)
def test_production_with_development_secrets_refuses_to_start_and_names_every_variable(
    process: str, tmp_path: Path, listener: socket.socket
) -> None:
    env = environment(
        tmp_path,
        listener,
        EAKTE_ENV="production",
        EAKTE_JWT_SECRET=DEV_JWT_SECRET,
        EAKTE_S3_ACCESS_KEY=DEV_S3_ACCESS_KEY,
        EAKTE_S3_SECRET_KEY=DEV_S3_SECRET_KEY,
        EAKTE_KAFKA_USERNAME=process,
        EAKTE_KAFKA_PASSWORD=dev_kafka_password(process),
        EAKTE_PORTAL_AUTH="dev",
    )
    done = subprocess.run(
        [sys.executable, "-m", f"services.{process}"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    expected = ["EAKTE_JWT_SECRET", "EAKTE_KAFKA_PASSWORD"]
    expected += ["EAKTE_PORTAL_AUTH", "EAKTE_PORTAL_SESSION_SECRET"] if process == "portal" else []
    expected += [] if process == "portal" else ["EAKTE_S3_ACCESS_KEY", "EAKTE_S3_SECRET_KEY"]
    for variable in expected:
        assert variable in done.stderr, done.stderr
    assert not connected(listener), f"{process} connected to Kafka/S3 before refusing"


def test_an_unknown_environment_is_refused(tmp_path: Path, listener: socket.socket) -> None:
    env = environment(tmp_path, listener, EAKTE_ENV="prod")
    done = subprocess.run(
        [sys.executable, "-m", "services.workflow"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "EAKTE_ENV" in done.stderr and "'prod'" in done.stderr
    assert not connected(listener)


def test_production_with_its_own_secrets_gets_past_the_check(tmp_path: Path, listener: socket.socket) -> None:
    env = environment(
        tmp_path,
        listener,
        EAKTE_ENV="production",
        EAKTE_JWT_SECRET="prod-jwt-4f1c9a0e7b2d-integration",
        EAKTE_S3_ACCESS_KEY="eakte-prod",
        EAKTE_S3_SECRET_KEY="prod-s3-8d2e6b1a9c-integration",
        EAKTE_KAFKA_USERNAME="ingest",
        EAKTE_KAFKA_PASSWORD="prod-kafka-1b7e4c-integration",
        EAKTE_OCR_ENABLED="false",
    )
    started = subprocess.Popen(
        [sys.executable, "-m", "services.ingest"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # It goes on to reach the object store / Kafka (here: the listening socket), as a healthy start would.
        wait_for(lambda: connected(listener) or started.poll() is not None, timeout_s=60)
        assert started.poll() is None, started.stderr.read() if started.stderr else ""
    finally:
        started.kill()
        started.wait(10)
