"""Two archive replicas on one PostgreSQL database run the scheduled fixity check side by side: one holds the turn,
every package is checked once per cycle, none twice; when the holder stops, the other goes on where it stood.

Each side has its own engine (its own connections, as two processes would); the packages lie in an in-memory
object store (what is under test is the claim on the database, not MinIO).
"""

import shutil
import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from devstack.postgres import PostgresServer
from devstack.processes import free_port
from services.archive import archiving, fixity
from services.archive.archiving import Intake
from services.archive.search import SearchIndex
from services.archive.tables import ArchiveBase, FixityResultRow
from services.archive.unit_of_work import SqlArchiveUnitOfWork
from shared import events
from shared.db import make_engine, make_sessions
from tests.stack import wait_for
from tests.unit.fakes_archive import FakePackages, FakeSources
from tests.unit.test_archive_service_layer import _approved

PACKAGES = 12
CYCLE_S = 3.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    # Not under pytest's tmp dir: as root, the server runs as `postgres`, which cannot enter that one.
    data_dir = Path(tempfile.mkdtemp(prefix="eakte-pg-fixity-"))
    server = PostgresServer(data_dir, free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def engines(postgres: PostgresServer) -> Iterator[list[Engine]]:
    url = postgres.create_database(f"fixity_{uuid.uuid4().hex[:8]}")
    made = [make_engine(url), make_engine(url)]
    yield made
    for engine in made:
        engine.dispose()


def _side(engine: Engine) -> Callable[[], SqlArchiveUnitOfWork]:
    """One replica's units of work: a fresh one per use, over its own engine (as in the service)."""
    sessions, index = make_sessions(engine, ArchiveBase), SearchIndex(engine)
    return lambda: SqlArchiveUnitOfWork(sessions, index)


def test_two_replicas_check_every_package_once_and_take_over_from_each_other(engines: list[Engine]) -> None:
    sides = [_side(engine) for engine in engines]
    sources, packages = FakeSources(), FakePackages()
    for _ in range(PACKAGES):
        assert archiving.archive(sides[0](), _approved(sources), Intake(sources, packages, None))
    schedules = [fixity.Schedule(CYCLE_S, "host:1"), fixity.Schedule(CYCLE_S, "host:2")]
    held = Counter[str]()
    stops = [threading.Event(), threading.Event()]

    def run(index: int) -> None:
        while not stops[index].is_set():
            wait_s = fixity.fixity_step(sides[index](), packages, schedules[index], events.utcnow())
            if wait_s < fixity.rules.MAX_WAIT_S:
                held[schedules[index].replica] += 1
            stops[index].wait(0.02)  # the pace of a replica's loop; a stop ends it at once

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    try:
        # Both replicas contend while the holder checks part of the cycle.
        wait_for(lambda: _checked(sides[0]()) >= PACKAGES // 3, timeout_s=4 * CYCLE_S, interval_s=0.05)
        assert len(held) == 1  # one replica holds the check, the other waits
        # The holder stops (a replica shut down): it gives its turn up, and the other goes on after its cursor.
        stopping = next(i for i, s in enumerate(schedules) if s.replica in held)
        stops[stopping].set()
        threads[stopping].join(timeout=30)
        fixity.release_turn(sides[stopping](), schedules[stopping])
        wait_for(lambda: _finished(sides[0]()), timeout_s=4 * CYCLE_S, interval_s=0.1)
    finally:
        for index, thread in enumerate(threads):
            stops[index].set()
            thread.join(timeout=30)

    with sides[0]() as uow:
        progress = uow.fixity.progress(events.utcnow())
        last = progress.last_cycle
    assert last is not None and last["cycle"] == 1 and last["checked"] == PACKAGES == last["ok"]
    with make_sessions(engines[0], ArchiveBase)() as session:
        checked = Counter(session.scalars(select(FixityResultRow.document_id).where(FixityResultRow.cycle == 1)))
    assert len(checked) == PACKAGES and set(checked.values()) == {1}  # every package once, none twice
    assert len(held) == 2  # both replicas did part of the cycle, one after the other


def _checked(uow: SqlArchiveUnitOfWork) -> int:
    """Packages checked so far in the first cycle."""
    with uow:
        return len(list(uow.session.scalars(select(FixityResultRow.document_id).where(FixityResultRow.cycle == 1))))


def _finished(uow: SqlArchiveUnitOfWork) -> bool:
    with uow:
        return uow.fixity.progress(events.utcnow()).last_cycle is not None
