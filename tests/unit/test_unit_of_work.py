"""The shared unit of work on a real SQLite database: one transaction per block, outbox and processed events in it."""

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shared.db import OutboxMessage, ProcessedEvent, make_engine, make_sessions
from shared.events import DeadLetter, DocumentDestroyed, utcnow
from shared.unit_of_work import NotPlainEffect, SqlUnitOfWork, consume_many, consume_once
from tests.unit.fakes import FakeUnitOfWork


class Woken:
    def __init__(self) -> None:
        self.times = 0

    def __call__(self) -> None:
        self.times += 1


@pytest.fixture
def sessions(tmp_path: Path):
    return make_sessions(make_engine(f"sqlite:///{tmp_path / 'uow.db'}"))


def destroyed() -> DocumentDestroyed:
    return DocumentDestroyed(
        document_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        aktenzeichen="01.02",
        rule="test",
        deleted_at=utcnow(),
    )


def outbox_count(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def test_a_block_that_ends_normally_commits_its_events_and_wakes_the_relay(sessions) -> None:
    woken = Woken()
    with SqlUnitOfWork(sessions, woken) as uow:
        uow.add_event(destroyed())
    assert outbox_count(sessions) == 1
    assert woken.times == 1


def test_a_block_that_raises_leaves_nothing_behind(sessions) -> None:
    woken = Woken()
    with pytest.raises(RuntimeError), SqlUnitOfWork(sessions, woken) as uow:
        uow.add_event(destroyed())
        raise RuntimeError("the rules said no")
    assert outbox_count(sessions) == 0
    assert woken.times == 0


def test_a_block_without_events_does_not_wake_the_relay(sessions) -> None:
    woken = Woken()
    with SqlUnitOfWork(sessions, woken) as uow:
        uow.mark_processed("test", uuid.uuid4())
    assert woken.times == 0


def test_dead_letters_go_to_the_topics_dead_letter_topic(sessions) -> None:
    letter = DeadLetter(source_topic="documents.approved", consumer="archive", reason="x", payload="{}")
    with SqlUnitOfWork(sessions) as uow:
        uow.add_dead_letter(letter)
    with sessions() as session:
        assert session.scalars(select(OutboxMessage.topic)).all() == ["documents.approved.dlq"]


def test_the_session_is_only_there_inside_the_block(sessions) -> None:
    uow = SqlUnitOfWork(sessions)
    with pytest.raises(RuntimeError, match="not open"):
        _ = uow.session


def test_consume_once_applies_an_event_once_with_its_note(sessions) -> None:
    event_id = uuid.uuid4()
    applied: list[str] = []

    def effect(uow: SqlUnitOfWork) -> str:
        applied.append("done")
        uow.add_event(destroyed())
        return "purged"

    assert consume_once(SqlUnitOfWork(sessions), "test.purge", event_id, effect) is True
    assert consume_once(SqlUnitOfWork(sessions), "test.purge", event_id, effect) is False
    assert applied == ["done"]
    assert outbox_count(sessions) == 1
    with sessions() as session:
        row = session.get_one(ProcessedEvent, ("test.purge", str(event_id)))
        assert row.note == "purged"


def test_consume_once_keeps_consumers_apart(sessions) -> None:
    event_id = uuid.uuid4()
    assert consume_once(SqlUnitOfWork(sessions), "ingest", event_id, lambda _uow: None)
    assert consume_once(SqlUnitOfWork(sessions), "workflow", event_id, lambda _uow: None)


def test_a_failing_effect_is_not_marked_processed_and_runs_again(sessions) -> None:
    event_id = uuid.uuid4()
    attempts: list[int] = []

    def effect(uow: SqlUnitOfWork) -> None:
        attempts.append(1)
        uow.add_event(destroyed())
        if len(attempts) == 1:
            raise ConnectionError("object store away")

    with pytest.raises(ConnectionError):
        consume_once(SqlUnitOfWork(sessions), "test", event_id, effect)
    assert outbox_count(sessions) == 0
    assert consume_once(SqlUnitOfWork(sessions), "test", event_id, effect)
    assert len(attempts) == 2
    assert outbox_count(sessions) == 1


def test_a_concurrent_delivery_that_committed_first_wins(sessions) -> None:
    """Two deliveries of one event both pass the check; the second commit finds the first and reports False."""
    event_id = uuid.uuid4()
    first, second = SqlUnitOfWork(sessions), SqlUnitOfWork(sessions)
    with first, second:
        assert not first.was_processed("test", event_id)
        assert not second.was_processed("test", event_id)
        first.mark_processed("test", event_id)
        assert first.commit_once("test", event_id)
        second.mark_processed("test", event_id)
        second.add_event(destroyed())
        assert second.commit_once("test", event_id) is False
    assert outbox_count(sessions) == 0


class Counting(SqlUnitOfWork):
    """Counts its commits."""

    commits = 0

    def commit(self) -> None:
        Counting.commits += 1
        super().commit()


def announce(uow: SqlUnitOfWork) -> str:
    uow.add_event(destroyed())
    return "announced"


def announce_each(uow: SqlUnitOfWork, items: list[str]) -> str:
    for _ in items:
        uow.add_event(destroyed())
    return "announced"


def test_consume_many_applies_a_batch_in_one_commit_and_each_event_once(sessions) -> None:
    done_before, new = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]
    consume_once(SqlUnitOfWork(sessions), "test", done_before, announce)
    Counting.commits = 0
    applied: list[list[str]] = []

    def effect(uow: SqlUnitOfWork, items: list[str]) -> str:
        applied.append(items)
        return announce_each(uow, items)

    batch = [(done_before, "a"), *((event_id, f"new-{n}") for n, event_id in enumerate(new)), (new[0], "again")]
    assert consume_many(Counting(sessions), "test", batch, effect) == 3
    assert applied == [["new-0", "new-1", "new-2"]]  # once each, the duplicates left out
    assert Counting.commits == 1
    assert outbox_count(sessions) == 1 + 3
    assert consume_many(Counting(sessions), "test", batch, effect) == 0  # redelivered: nothing again
    assert outbox_count(sessions) == 4 and len(applied) == 1
    with sessions() as session:
        assert session.get_one(ProcessedEvent, ("test", str(new[2]))).note == "announced"


def test_consume_many_applies_nothing_when_the_effect_fails(sessions) -> None:
    def refuse(uow: SqlUnitOfWork, items: list[str]) -> None:
        announce_each(uow, items)
        raise ConnectionError("database away")

    first, second = uuid.uuid4(), uuid.uuid4()
    with pytest.raises(ConnectionError):
        consume_many(SqlUnitOfWork(sessions), "test", [(first, "a"), (second, "b")], refuse)
    assert outbox_count(sessions) == 0
    assert consume_once(SqlUnitOfWork(sessions), "test", first, announce)  # one at a time, as the caller does next


def test_consume_many_refuses_an_effect_that_keeps_an_event_as_a_dead_letter(sessions) -> None:
    """Dead letters name their event's position in the topic: only the one-at-a-time path knows it."""

    def set_aside(uow: SqlUnitOfWork, items: list[str]) -> None:
        announce_each(uow, items)
        uow.add_dead_letter(
            DeadLetter.of(source_topic="documents.destroyed", consumer="test", reason="no", payload=b"{}")
        )

    with pytest.raises(NotPlainEffect):
        consume_many(SqlUnitOfWork(sessions), "test", [(uuid.uuid4(), "a"), (uuid.uuid4(), "b")], set_aside)
    assert outbox_count(sessions) == 0


def test_the_fake_unit_of_work_keeps_only_what_was_committed() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(ValueError), uow:
        uow.add_event(destroyed())
        raise ValueError("refused")
    assert uow.events == []
    assert consume_once(uow, "test", uuid.UUID(int=1), lambda u: u.add_event(destroyed()))
    assert consume_once(uow, "test", uuid.UUID(int=1), lambda u: u.add_event(destroyed())) is False
    assert len(uow.events) == 1


def test_a_replay_is_applied_by_the_group_that_dead_lettered_it_and_a_duplicate_for_the_others(sessions) -> None:
    """`eakte dlq replay` reaches every consumer group of the topic: each applies an event once, in all."""
    event = destroyed()
    fixed = {"done": False}
    applied: list[str] = []

    def picky(uow: SqlUnitOfWork) -> str:
        if not fixed["done"]:
            uow.add_dead_letter(DeadLetter.of(event.TOPIC, "picky", "not yet", event.model_dump_json().encode()))
            return "kept"
        applied.append("picky")
        return "done"

    def easy(_uow: SqlUnitOfWork) -> str:
        applied.append("easy")
        return "done"

    for consumer, effect in (("picky", picky), ("easy", easy)):
        consume_once(SqlUnitOfWork(sessions), consumer, event.event_id, effect)
    assert applied == ["easy"] and outbox_count(sessions) == 1  # the dead letter
    fixed["done"] = True
    for _replay in range(2):
        for consumer, effect in (("picky", picky), ("easy", easy)):
            consume_once(SqlUnitOfWork(sessions), consumer, event.event_id, effect)
    assert applied == ["easy", "picky"]


def test_a_dead_letter_written_while_handling_a_message_names_its_source_position(sessions) -> None:
    from shared.delivery import Delivery, current_delivery

    event = destroyed()
    token = current_delivery.set(Delivery(event.TOPIC, 4, 1234))
    try:
        with SqlUnitOfWork(sessions) as uow:
            uow.add_dead_letter(DeadLetter.of(event.TOPIC, "x", "refused", event.model_dump_json().encode()))
    finally:
        current_delivery.reset(token)
    with sessions() as session:
        letter = DeadLetter.model_validate_json(session.scalars(select(OutboxMessage.payload)).one())
    assert (letter.source_partition, letter.source_offset) == (4, 1234)
