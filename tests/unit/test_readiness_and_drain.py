"""`/ready`'s check runner and the outbox relay's drain (real SQLite, no broker)."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shared import readiness
from shared.db import OutboxMessage, make_engine, make_sessions, serialize_sqlite_writers
from shared.outbox import OutboxRelay
from shared.readiness import run_checks
from tests.unit.outbox_helpers import acking_enqueue


async def _ok() -> str | None:
    return None


async def _refused() -> str | None:
    return "unreachable (ConnectionRefusedError)"


async def _raises() -> str | None:
    raise OSError("secret host name and path")


async def _hangs() -> str | None:
    await asyncio.sleep(60)
    return None


def test_ready_is_ok_only_when_every_check_is_and_names_the_one_that_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readiness, "CHECK_TIMEOUT_S", 0.2)
    assert asyncio.run(run_checks({"database": _ok, "kafka": _ok})) == (True, {"database": "ok", "kafka": "ok"})
    ok, outcome = asyncio.run(
        run_checks({"database": _ok, "object_store": _refused, "kafka": _hangs, "consumers": _raises})
    )
    assert not ok
    assert outcome == {
        "database": "ok",
        "object_store": "unreachable (ConnectionRefusedError)",
        "kafka": "no answer within 0.2 s",
        "consumers": "OSError",  # the type only: no host names, paths or data in an open answer
    }


def _sessions(tmp_path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    serialize_sqlite_writers(engine)
    return make_sessions(engine)


def _add(sessions: sessionmaker[Session], payload: bytes) -> None:
    with sessions() as session:
        session.add(OutboxMessage(topic="t", key=b"k", payload=payload))
        session.commit()


def _unpublished(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(OutboxMessage.published_at.is_(None))) or 0


def test_a_stopped_relay_sends_what_was_committed_before_the_stop_marks_it_and_returns(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    _add(sessions, b"before")
    sent: list[bytes] = []

    enqueue = acking_enqueue(sent)

    async def scenario() -> None:
        relay = OutboxRelay(sessions, _unused, poll_interval_s=30.0, enqueue=enqueue)
        running = asyncio.create_task(relay.run())
        while not sent:
            await asyncio.sleep(0.01)
        # A drained handler commits its outbox row just before the stop; the relay is asleep (30 s poll).
        await asyncio.to_thread(_add, sessions, b"by the last handler")
        relay.stop()
        await asyncio.wait_for(running, 5)

    asyncio.run(scenario())
    assert sent == [b"before", b"by the last handler"]
    assert _unpublished(sessions) == 0


async def _unused(_topic: str, _key: bytes, _payload: bytes) -> None:
    raise AssertionError("pipelined")
