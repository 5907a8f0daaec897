"""Two replicas on one PostgreSQL database, in one process: two outbox relays and two deadline schedulers.

Each side has its own engine (its own connections, as two processes would); no Kafka is needed: the relays
publish into a list, the schedulers' reminders are counted in the workflow's outbox.
"""

import asyncio
import json
import shutil
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Iterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from devstack.postgres import PostgresServer
from devstack.processes import free_port
from services.ingest.repositories import OcrJobRepository
from services.ingest.tables import DocumentRow, IngestBase, OcrJobRow
from services.workflow.bootstrap import Workflow, bootstrap
from services.workflow.clock import ControllableClock
from services.workflow.domain import (
    AssigneeSpec,
    Organisation,
    OrgUnit,
    Registry,
    StepDefinition,
    StepType,
    WorkflowDefinition,
)
from services.workflow.tables import WorkflowBase
from services.workflow.unit_of_work import WorkflowUnitOfWork
from shared import events
from shared.db import OutboxMessage, make_engine, make_sessions
from shared.outbox import OutboxRelay

# (documents, rows each): few documents with long histories make the relays contend for one key's order;
# many documents let both relays send side by side.
SHAPES = {"contended": (12, 40), "spread": (50, 10)}


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    # Not under pytest's tmp dir: as root, the server runs as `postgres`, which cannot enter that one.
    data_dir = Path(tempfile.mkdtemp(prefix="eakte-pg-claims-"))
    server = PostgresServer(data_dir, free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _two_sides(postgres: PostgresServer, *bases: type) -> Iterator[tuple[sessionmaker[Session], sessionmaker[Session]]]:
    url = postgres.create_database(f"claims_{uuid.uuid4().hex[:8]}")
    engines: list[Engine] = [make_engine(url), make_engine(url)]
    try:
        yield make_sessions(engines[0], *bases), make_sessions(engines[1], *bases)
    finally:
        for engine in engines:
            engine.dispose()


@pytest.fixture
def outbox_sides(postgres: PostgresServer) -> Iterator[tuple[sessionmaker[Session], sessionmaker[Session]]]:
    yield from _two_sides(postgres)


def _fill(sessions: sessionmaker[Session], keys: int, rows_per_key: int) -> None:
    """Rows of many documents interleaved, as concurrent requests write them: key k, sequence number n."""
    with sessions() as session:
        for n in range(rows_per_key):
            for k in range(keys):
                session.add(OutboxMessage(topic="t", key=f"doc-{k}".encode(), payload=f"{k}:{n}".encode()))
        session.commit()


def _unpublished(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(OutboxMessage.published_at.is_(None))) or 0


async def _drain(relays: list[OutboxRelay], sessions: sessionmaker[Session]) -> None:
    async def one(relay: OutboxRelay) -> None:
        while await asyncio.to_thread(_unpublished, sessions):  # both relays work until the outbox is empty
            await relay.publish_pending(batch=20)
            await relay.marked()
            await asyncio.sleep(0.005)

    await asyncio.wait_for(asyncio.gather(*(one(relay) for relay in relays)), 120)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("pipelined", [False, True], ids=["one-by-one", "pipelined"])
def test_two_relays_never_publish_one_row_twice_and_keep_each_documents_order(
    outbox_sides, pipelined: bool, shape: str
) -> None:
    first, second = outbox_sides
    keys, rows_per_key = SHAPES[shape]
    _fill(first, keys, rows_per_key)
    published: list[tuple[str, bytes]] = []  # (which relay, payload), in the order the broker got them

    def relay(name: str, sessions: sessionmaker[Session]) -> OutboxRelay:
        async def publish(_topic: str, _key: bytes, payload: bytes) -> None:
            published.append((name, payload))
            await asyncio.sleep(0.001)  # the broker's round trip: the other relay runs meanwhile

        async def enqueue(_topic: str, _key: bytes, payload: bytes) -> Awaitable[None]:
            published.append((name, payload))
            return asyncio.sleep(0.002)

        return OutboxRelay(sessions, publish, enqueue=enqueue if pipelined else None)

    asyncio.run(_drain([relay("a", first), relay("b", second)], first))

    payloads = [payload for _name, payload in published]
    assert len(payloads) == keys * rows_per_key and len(set(payloads)) == len(payloads)  # each row exactly once
    if shape == "spread":
        assert {name for name, _ in published} == {"a", "b"}  # both replicas really worked
    for k in range(keys):
        sequence = [int(p.split(b":")[1]) for p in payloads if p.startswith(f"{k}:".encode())]
        assert sequence == list(range(rows_per_key)), f"document {k} published out of order"
    assert _unpublished(first) == 0


def test_a_dead_relays_rows_are_taken_over_when_its_lease_runs_out(outbox_sides) -> None:
    first, second = outbox_sides
    keys, rows_per_key = SHAPES["spread"]
    _fill(first, keys, rows_per_key)

    async def never(_topic: str, _key: bytes, _payload: bytes) -> None:
        raise AssertionError("not called")

    dead = OutboxRelay(first, never, lease_s=1.0)
    taken = dead._pending(batch=1000)  # claimed, then the process "dies" before publishing
    assert len(taken) == keys * rows_per_key
    survivor = OutboxRelay(second, never)
    assert survivor._pending(batch=1000) == []  # within the lease nothing is sent twice

    def after_lease() -> list:
        threading.Event().wait(0.2)
        return survivor._pending(batch=1000)

    rows: list = []
    for _attempt in range(50):
        rows = after_lease()
        if rows:
            break
    assert sorted(r[0] for r in rows) == sorted(r[0] for r in taken)


# --- the deadline scheduler ---------------------------------------------------------------------------

ORG = Organisation({"50": OrgUnit("50", "Sozialamt", "sabine", frozenset({"anton"}))})
REGISTRY = Registry(
    definitions={
        "boss": WorkflowDefinition(
            "boss",
            "Amtsleitung",
            (
                StepDefinition(
                    "Schlusszeichnung",
                    StepType.SIGNOFF,
                    (AssigneeSpec(org_unit="50"),),
                    timedelta(days=3),
                    timedelta(days=1),
                ),
            ),
        )
    },
    default="boss",
)


@pytest.fixture
def workflow_sides(postgres: PostgresServer) -> Iterator[tuple[sessionmaker[Session], sessionmaker[Session]]]:
    yield from _two_sides(postgres, WorkflowBase)


def _replica(sessions: sessionmaker[Session], clock: ControllableClock) -> Workflow:
    digests = {name: f"sha-{name}" for name in REGISTRY.definitions}
    return bootstrap(lambda: WorkflowUnitOfWork(sessions), clock, REGISTRY, ORG, digests, zone=UTC)


def _ingested() -> events.DocumentIngested:
    return events.DocumentIngested(
        document_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        original=events.StoredObject(bucket="inbox", key=f"{uuid.uuid4()}.pdf", size=3, sha256="0" * 64),
        metadata=events.DocumentMetadata(title="Bescheid", aktenzeichen="50.1/2026"),
        workflow="boss",
        submitted_by="clara",
        version=1,
    )


def _ticks_side_by_side(replicas: list[Workflow]) -> int:
    """Both schedulers tick at the same moment, three rounds each; returns how many changes they reported."""
    start = threading.Barrier(len(replicas))
    changed: list[int] = []

    def run(replica: Workflow) -> None:
        start.wait()
        changed.extend(replica.scheduler.tick(replica.uow()) for _ in range(3))

    threads = [threading.Thread(target=run, args=(replica,)) for replica in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(changed)


def _per_document(sessions: sessionmaker[Session], topic: str) -> dict[str, int]:
    with sessions() as session:
        payloads = session.scalars(select(OutboxMessage.payload).where(OutboxMessage.topic == topic)).all()
    counts: dict[str, int] = {}
    for payload in payloads:
        document_id = json.loads(payload)["document_id"]
        counts[document_id] = counts.get(document_id, 0) + 1
    return counts


def test_two_schedulers_remind_and_escalate_each_task_once(workflow_sides) -> None:
    first, second = workflow_sides
    clock = ControllableClock()
    replicas = [_replica(first, clock), _replica(second, clock)]
    documents = set()
    for _ in range(20):
        event = _ingested()
        replicas[0].starting.start(replicas[0].uow(), event)
        documents.add(str(event.document_id))

    clock.advance(timedelta(days=2, hours=1).total_seconds())  # the reminder is due a day before the deadline
    assert _ticks_side_by_side(replicas) == 20
    assert _per_document(first, events.DeadlineReminder.TOPIC) == dict.fromkeys(documents, 1)

    clock.advance(timedelta(days=1).total_seconds())  # the deadline passed
    assert _ticks_side_by_side(replicas) == 20
    assert _per_document(first, events.TaskEscalated.TOPIC) == dict.fromkeys(documents, 1)
    assert _per_document(first, events.DeadlineReminder.TOPIC) == dict.fromkeys(documents, 1)


# --- OCR jobs -----------------------------------------------------------------------------------------


@pytest.fixture
def ingest_sides(postgres: PostgresServer) -> Iterator[tuple[sessionmaker[Session], sessionmaker[Session]]]:
    yield from _two_sides(postgres, IngestBase)


def test_two_ingest_replicas_claim_each_ocr_job_once(ingest_sides) -> None:
    first, second = ingest_sides
    with first() as session:
        for index in range(30):
            document_id = str(uuid.uuid4())
            session.add(
                DocumentRow(
                    document_id=document_id,
                    correlation_id=document_id,
                    sha256=f"{index:064d}",
                    size=3,
                    bucket="inbox",
                    object_key=f"{document_id}.pdf",
                    filename="scan.pdf",
                    workflow="default",
                    pages=1,
                    submitted_by="scanner",
                )
            )
            session.flush()
            session.add(OcrJobRow(document_id=document_id, pages=1, event={}))
        session.commit()
    claims: dict[str, list[str]] = {"replica-1": [], "replica-2": []}
    start = threading.Barrier(2)

    def work(owner: str, sessions: sessionmaker[Session]) -> None:
        start.wait()
        while True:
            with sessions() as session:
                job = OcrJobRepository(session).next_pending(owner)
                if job is not None and job in claims[owner]:
                    session.execute(update(OcrJobRow).where(OcrJobRow.document_id == job).values(state="done"))
                session.commit()
            if job is None:
                return
            if job not in claims[owner]:
                claims[owner].append(job)  # "runs" it; the next round finishes it

    threads = [threading.Thread(target=work, args=args) for args in (("replica-1", first), ("replica-2", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    taken = claims["replica-1"] + claims["replica-2"]
    assert len(taken) == 30 and len(set(taken)) == 30  # every job run by exactly one replica
