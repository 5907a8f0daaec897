"""The pipelined outbox relay and the SQLite writer queue, on a real SQLite file (no broker needed)."""

import asyncio
import contextlib
import threading
from collections.abc import Awaitable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shared.db import OutboxMessage, ProcessedEvent, make_engine, make_sessions, serialize_sqlite_writers
from shared.outbox import OutboxRelay


def _sessions(tmp_path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.db'}")
    serialize_sqlite_writers(engine)
    return make_sessions(engine)


def _add(sessions: sessionmaker[Session], count: int) -> None:
    with sessions() as session:
        for index in range(count):
            session.add(OutboxMessage(topic="t", key=b"k", payload=str(index).encode()))
        session.commit()


def _unpublished(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(OutboxMessage.published_at.is_(None))) or 0


async def _never(_topic: str, _key: bytes, _payload: bytes) -> None:
    raise AssertionError("the pipelined relay must not publish one by one")


def test_pipelined_relay_sends_in_order_and_marks_everything(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    _add(sessions, 250)
    sent: list[bytes] = []

    async def enqueue(_topic: str, _key: bytes, payload: bytes) -> Awaitable[None]:
        sent.append(payload)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def run() -> None:
        relay = OutboxRelay(sessions, _never, enqueue=enqueue)
        while await relay.publish_pending():
            pass
        await asyncio.gather(*relay._marking)

    asyncio.run(run())
    assert sent == [str(i).encode() for i in range(250)]
    assert _unpublished(sessions) == 0


def test_pipelined_relay_resends_from_the_first_failed_ack(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    _add(sessions, 5)
    sent: list[bytes] = []

    async def enqueue(_topic: str, _key: bytes, payload: bytes) -> Awaitable[None]:
        sent.append(payload)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if payload == b"2" and sent.count(b"2") == 1:
            done.set_exception(ConnectionError("broker away"))
        else:
            done.set_result(None)
        return done

    async def run() -> None:
        relay = OutboxRelay(sessions, _never, enqueue=enqueue)
        with contextlib.suppress(ConnectionError):
            await relay.publish_pending()
        await asyncio.gather(*relay._marking)
        assert _unpublished(sessions) == 3  # 0 and 1 are marked; 2, 3, 4 wait for the next round
        await relay.publish_pending()
        await asyncio.gather(*relay._marking)

    asyncio.run(run())
    assert sent == [b"0", b"1", b"2", b"3", b"4", b"2", b"3", b"4"]  # order kept, nothing lost
    assert _unpublished(sessions) == 0


def test_sqlite_writers_take_turns_instead_of_failing(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for index in range(50):
                with sessions() as session:
                    session.add(ProcessedEvent(consumer=f"w{worker}", event_id=str(index)))
                    session.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ProcessedEvent)) == 400
    # A failed transaction gives its turn back: the next writer is not blocked.
    with sessions() as session:
        session.add(ProcessedEvent(consumer="w0", event_id="0"))
        try:
            session.commit()
        except Exception:
            session.rollback()
    with sessions() as session:
        session.add(ProcessedEvent(consumer="after", event_id="1"))
        session.commit()
