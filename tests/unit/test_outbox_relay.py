"""The pipelined outbox relay and the SQLite writer queue, on a real SQLite file (no broker needed)."""

import asyncio
import contextlib
import hashlib
import threading
from collections.abc import Awaitable
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from shared.db import (
    OutboxDeadLetter,
    OutboxMessage,
    ProcessedEvent,
    make_engine,
    make_sessions,
    serialize_sqlite_writers,
)
from shared.outbox import MARK_AFTER_S, MAX_ATTEMPTS, PREFIX_CHARS, OutboxRelay
from tests.unit.outbox_helpers import acking_enqueue


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

    enqueue = acking_enqueue(sent)

    async def run() -> None:
        relay = OutboxRelay(sessions, _never, enqueue=enqueue)
        while await relay.publish_pending():
            pass
        await relay.marked()

    asyncio.run(run())
    assert sent == [str(i).encode() for i in range(250)]
    assert _unpublished(sessions) == 0


def test_the_running_relay_marks_what_it_sent_soon_after_and_before_it_stops(tmp_path: Path) -> None:
    """Sent rows are marked together a moment later, without a further commit to wake the relay; a stop marks the
    rest at once."""
    sessions = _sessions(tmp_path)
    sent: list[bytes] = []

    enqueue = acking_enqueue(sent)

    async def unpublished_once_idle(relay: OutboxRelay, count: int) -> int:
        await asyncio.to_thread(_add, sessions, count)
        relay.notify()
        deadline = asyncio.get_running_loop().time() + 10 * MARK_AFTER_S
        while asyncio.get_running_loop().time() < deadline and _unpublished(sessions):
            await asyncio.sleep(0.02)
        return _unpublished(sessions)

    async def run() -> tuple[int, int, int]:
        relay = OutboxRelay(sessions, _never, enqueue=enqueue, poll_interval_s=60.0)
        running = asyncio.create_task(relay.run())
        idle = await unpublished_once_idle(relay, 3)
        await asyncio.to_thread(_add, sessions, 2)
        relay.notify()

        async def all_sent() -> None:
            while len(sent) < 5:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(all_sent(), 10)
        relay.stop()
        await running
        return idle, len(sent), _unpublished(sessions)

    idle, sent_count, after_stop = asyncio.run(run())
    assert idle == 0  # marked although the poll was a minute away
    assert sent_count == 5 and after_stop == 0  # each row sent once; the stop marked the last ones


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
        await relay.marked()
        assert _unpublished(sessions) == 3  # 0 and 1 are marked; 2, 3, 4 wait for the next round
        await relay.publish_pending()
        await relay.marked()

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


class TooLarge(Exception):
    """Stands in for the broker's MessageSizeTooLargeError."""


def _dead_letters(sessions: sessionmaker[Session]) -> list[OutboxDeadLetter]:
    with sessions() as session:
        return list(session.scalars(select(OutboxDeadLetter)).all())


async def _drain(relay: OutboxRelay, rounds: int) -> None:
    for _ in range(rounds):
        with contextlib.suppress(TooLarge):
            await relay.publish_pending()
        await relay.marked()


def test_a_refused_row_moves_aside_after_a_few_tries_and_later_rows_flow_on(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    _add(sessions, 4)
    with sessions() as session:  # row 2 becomes the poison row
        session.execute(update(OutboxMessage).where(OutboxMessage.payload == b"1").values(payload=b"P" * 5000))
        session.commit()
    sent: list[bytes] = []

    async def publish(_topic: str, _key: bytes, payload: bytes) -> None:
        if len(payload) > 1000:
            raise TooLarge("message too large for the broker")
        sent.append(payload)

    relay = OutboxRelay(sessions, publish)
    asyncio.run(_drain(relay, MAX_ATTEMPTS + 1))
    assert sent == [b"0", b"2", b"3"]  # the others in their order, the refused one skipped
    assert _unpublished(sessions) == 0
    [letter] = _dead_letters(sessions)
    assert (letter.topic, letter.size, letter.attempts) == ("t", 5000, MAX_ATTEMPTS)
    assert letter.payload_sha256 == hashlib.sha256(b"P" * 5000).hexdigest()
    assert len(letter.payload_prefix) <= PREFIX_CHARS
    assert "TooLarge" in letter.reason
    total, views = relay.dead_letters()
    assert total == 1 and views[0].payload_sha256 == letter.payload_sha256


def test_the_pipelined_relay_moves_a_refused_row_aside_too(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    _add(sessions, 4)
    sent: list[bytes] = []

    async def enqueue(_topic: str, _key: bytes, payload: bytes) -> Awaitable[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if payload == b"1":
            done.set_exception(TooLarge("too large"))
        else:
            sent.append(payload)
            done.set_result(None)
        return done

    relay = OutboxRelay(sessions, _never, enqueue=enqueue)
    asyncio.run(_drain(relay, MAX_ATTEMPTS + 1))
    assert _unpublished(sessions) == 0
    assert [letter.payload for letter in _dead_letters(sessions)] == [b"1"]
    assert sent[0] == b"0" and sent[-2:] == [b"2", b"3"]


def test_a_row_the_producer_refuses_at_once_is_moved_aside_by_the_pipelined_relay(tmp_path: Path) -> None:
    """aiokafka refuses a message over its size limit while it is handed over, not in the ack: the row still goes
    to the dead letters and the rows behind it are published."""
    sessions = _sessions(tmp_path)
    _add(sessions, 4)
    sent: list[bytes] = []

    async def enqueue(_topic: str, _key: bytes, payload: bytes) -> Awaitable[None]:
        if payload == b"1":
            raise TooLarge("too large")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        sent.append(payload)
        done.set_result(None)
        return done

    relay = OutboxRelay(sessions, _never, enqueue=enqueue)
    asyncio.run(_drain(relay, MAX_ATTEMPTS + 1))
    assert _unpublished(sessions) == 0
    assert [letter.payload for letter in _dead_letters(sessions)] == [b"1"]
    assert sent[0] == b"0" and sent[-2:] == [b"2", b"3"]


def test_a_broker_that_is_away_never_sends_rows_to_the_dead_letters(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    _add(sessions, 2)

    async def publish(_topic: str, _key: bytes, _payload: bytes) -> None:
        raise ConnectionError("broker away")

    relay = OutboxRelay(sessions, publish, transient=lambda exc: isinstance(exc, ConnectionError))

    async def run() -> None:
        for _ in range(MAX_ATTEMPTS * 2):
            with contextlib.suppress(ConnectionError):
                await relay.publish_pending()

    asyncio.run(run())
    assert _unpublished(sessions) == 2
    assert _dead_letters(sessions) == []


def test_the_broker_classifier_counts_refusals_not_outages() -> None:
    from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError, TopicAuthorizationFailedError

    from shared.messaging import broker_away

    assert broker_away(KafkaConnectionError())
    assert broker_away(TopicAuthorizationFailedError())
    assert not broker_away(MessageSizeTooLargeError())
    assert not broker_away(ValueError("unexpected"))


def test_a_set_aside_row_put_back_is_published_once_the_broker_takes_it(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    _add(sessions, 2)
    limit = {"bytes": 0}  # the broker refuses everything first, then (its limit raised) takes it
    sent: list[bytes] = []

    async def publish(_topic: str, _key: bytes, payload: bytes) -> None:
        if len(payload) > limit["bytes"]:
            raise TooLarge("message too large for the broker")
        sent.append(payload)

    relay = OutboxRelay(sessions, publish)
    asyncio.run(_drain(relay, 2 * MAX_ATTEMPTS))  # one row after the other
    summary = relay.summary()
    assert (summary.pending, summary.set_aside) == (0, 2)
    first, second = sorted(letter.id for letter in _dead_letters(sessions))

    limit["bytes"] = 100
    assert relay.retry(first) is not None
    assert relay.retry(first) is None  # no longer set aside: nothing to put back twice
    assert relay.summary().pending == 1
    asyncio.run(_drain(relay, 1))
    assert sent == [b"0"]
    assert (relay.summary().pending, relay.summary().set_aside) == (0, 1)
    assert [letter.id for letter in _dead_letters(sessions)] == [second]


def test_the_summary_tells_the_age_of_the_oldest_pending_row(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    relay = OutboxRelay(sessions, _never)
    assert relay.summary().pending == 0 and relay.summary().oldest_seconds == 0.0
    _add(sessions, 3)
    with sessions() as session:
        session.execute(update(OutboxMessage).values(created_at=func.datetime("now", "-90 seconds")))
        session.commit()
    summary = relay.summary()
    assert summary.pending == 3 and 89 <= summary.oldest_seconds < 120
