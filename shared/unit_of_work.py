"""The unit of work: one place per service where a transaction begins and ends.

A service-layer function takes the unit of work it needs, opens it with `with uow:`, works through the
repositories it offers and adds the events it announces (they go to the transactional outbox). The block is
the transaction: it commits when the block ends normally and rolls back when it raises (a refusal, a crash),
so service code never calls `commit()` itself. Each service subclasses `SqlUnitOfWork` with its own
repositories (its tables); tests use a fake with in-memory repositories.

`consume_once` is the one path every Kafka handler takes: the processed-event row, the effect and the outbox
messages it adds are one transaction, so a redelivered event changes nothing.
"""

import abc
import contextlib
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar, cast
from uuid import UUID

from sqlalchemy import Table, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from shared.db import OutboxMessage, ProcessedEvent, insert_values
from shared.delivery import source_position
from shared.events import DeadLetter, Event, dead_letter_topic, utcnow
from shared.metrics import note_duplicate
from shared.tracing import current_traceparent, span


class UnitOfWork(abc.ABC):
    """What every service's unit of work offers beside its repositories: outbox, processed events, commit."""

    # Whether this block kept an event as a dead letter (`consume_once` then does not mark the event processed).
    dead_lettered: bool = False

    def __enter__(self) -> Self:
        self.dead_lettered = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()

    @abc.abstractmethod
    def commit(self) -> None:
        """Commit now; only for work that must commit in steps (batches). Normally the block's end commits."""

    @abc.abstractmethod
    def rollback(self) -> None: ...

    @abc.abstractmethod
    def add_event(self, event: Event) -> None:
        """Announce `event` once this unit of work commits (transactional outbox)."""

    @abc.abstractmethod
    def add_dead_letter(self, letter: DeadLetter) -> None:
        """Keep an event no rule can place, with the reason, on its topic's dead-letter topic."""

    @abc.abstractmethod
    def was_processed(self, consumer: str, event_id: UUID) -> bool: ...

    def processed_among(self, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
        """Which of `event_ids` this consumer has applied already."""
        return {event_id for event_id in event_ids if self.was_processed(consumer, event_id)}

    @abc.abstractmethod
    def mark_processed(self, consumer: str, event_id: UUID, note: str = "") -> None: ...

    @abc.abstractmethod
    def commit_once(self, consumer: str, event_id: UUID) -> bool:
        """Commit an event's effect; False when a concurrent delivery of the same event committed it first."""


# The rows every transaction may write, inserted as plain statements (one executemany each) when it commits: they
# are never read back in the transaction that writes them, and as ORM objects their flush was a tenth of a
# service's Python time under load.
_OUTBOX = cast(Table, OutboxMessage.__table__)
_PROCESSED = cast(Table, ProcessedEvent.__table__)
_WAS_PROCESSED = select(_PROCESSED.c.event_id).where(
    _PROCESSED.c.consumer == bindparam("consumer"), _PROCESSED.c.event_id == bindparam("event_id")
)
_PROCESSED_AMONG = select(_PROCESSED.c.event_id).where(
    _PROCESSED.c.consumer == bindparam("consumer"), _PROCESSED.c.event_id.in_(bindparam("event_ids", expanding=True))
)


class SqlUnitOfWork(UnitOfWork):
    """A unit of work over one SQLAlchemy session; subclasses add repositories in `_open_repositories`."""

    def __init__(self, sessions: sessionmaker[Session], notify: Callable[[], None] = lambda: None) -> None:
        """`notify` wakes the outbox relay after a commit that added messages."""
        self._sessions = sessions
        self._notify = notify
        self._outbox_rows: list[dict[str, Any]] = []
        self._processed_rows: list[dict[str, Any]] = []
        self._session: Session | None = None
        self._span: contextlib.AbstractContextManager[Any] | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use it in a `with` block")
        return self._session

    def __enter__(self) -> Self:
        # A span per transaction (tracing on): its traceparent goes with the outbox rows the block adds.
        self._span = span("db.transaction", unit_of_work=type(self).__name__)
        self._span.__enter__()
        self._session = self._sessions()
        self._outbox_rows, self._processed_rows = [], []
        self._open_repositories(self._session)
        return super().__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            super().__exit__(exc_type, exc, traceback)
        finally:
            self.session.close()
            self._session = None
            if self._span is not None:
                self._span.__exit__(exc_type, exc, traceback)
                self._span = None

    def _open_repositories(self, session: Session) -> None:
        """Build the service's repositories over the new session."""

    def commit(self) -> None:
        outbox, processed = self._outbox_rows, self._processed_rows
        self._outbox_rows, self._processed_rows = [], []
        if processed:  # first: a concurrent delivery's row makes this one fail before anything else is written
            insert_values(self.session, _PROCESSED, processed)
        if outbox:
            insert_values(self.session, _OUTBOX, outbox)
        self.session.commit()
        if outbox:
            self._notify()

    def rollback(self) -> None:
        self.session.rollback()
        self._outbox_rows, self._processed_rows = [], []

    def add_event(self, event: Event) -> None:
        self._outbox_rows.append(_outbox_row(event.TOPIC, event.key, event.model_dump_json().encode()))

    def add_dead_letter(self, letter: DeadLetter) -> None:
        position = source_position(letter.source_topic)
        if letter.source_offset is None and position is not None:
            letter = letter.model_copy(update={"source_partition": position[0], "source_offset": position[1]})
        key = (letter.document_id or "").encode()
        self._outbox_rows.append(
            _outbox_row(dead_letter_topic(letter.source_topic), key, letter.model_dump_json().encode())
        )
        self.dead_lettered = True

    def was_processed(self, consumer: str, event_id: UUID) -> bool:
        # On the connection: processed-event rows are never pending in the session (they go in at commit), so the
        # ORM's execution path and its flush are not needed.
        found = self.session.connection().scalar(_WAS_PROCESSED, {"consumer": consumer, "event_id": str(event_id)})
        return found is not None

    def processed_among(self, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
        wanted = {str(event_id): event_id for event_id in event_ids}
        found = self.session.connection().scalars(_PROCESSED_AMONG, {"consumer": consumer, "event_ids": list(wanted)})
        return {wanted[event_id] for event_id in found}

    def mark_processed(self, consumer: str, event_id: UUID, note: str = "") -> None:
        self._processed_rows.append(
            {"consumer": consumer, "event_id": str(event_id), "note": note, "processed_at": utcnow()}
        )

    def commit_once(self, consumer: str, event_id: UUID) -> bool:
        # Any other integrity error is a bug and is raised, never swallowed.
        try:
            self.commit()
        except IntegrityError:
            self.rollback()
            if self.was_processed(consumer, event_id):
                return False
            raise
        return True


def _outbox_row(topic: str, key: bytes, payload: bytes) -> dict[str, Any]:
    return {
        "topic": topic,
        "key": key,
        "payload": payload,
        "created_at": utcnow(),
        "traceparent": current_traceparent(),
    }


UowT = TypeVar("UowT", bound=UnitOfWork)

# The effect of one event: works through the unit of work, returns a note for the processed-event row.
Effect = Callable[[UowT], str | None]


def consume_once(uow: UowT, consumer: str, event_id: UUID, effect: Effect[UowT]) -> bool:
    """Apply `effect` for event `event_id` at most once per `consumer`; True when it was applied now.

    The processed-event row, the effect's changes and the outbox messages it adds commit together: a crash
    before the commit leaves nothing behind, and the redelivered event is applied then.

    An event the effect keeps as a dead letter is not marked processed: replayed after the fix
    (`eakte dlq replay`), it is applied then, once; the consumer groups that did process it see a duplicate.
    """
    with uow:
        if uow.was_processed(consumer, event_id):
            note_duplicate()  # the subscriber counts it as `duplicate` (shared.metrics)
            return False
        note = effect(uow) or ""
        if uow.dead_lettered:
            return True  # the dead letter commits at the block's end, without the processed-event row
        uow.mark_processed(consumer, event_id, note)
        applied = uow.commit_once(consumer, event_id)
        if not applied:
            note_duplicate()
        return applied


class NotPlainEffect(Exception):
    """An effect in `consume_many` kept an event as a dead letter: such events are taken one at a time."""


ItemT = TypeVar("ItemT")

# The effect of a batch: applies the events not processed before (each once) through the unit of work together;
# returns the note for their processed-event rows.
BatchEffect = Callable[[UowT, list[ItemT]], str | None]


def consume_many(
    uow: UowT, consumer: str, items: Sequence[tuple[UUID, ItemT]], effect: BatchEffect[UowT, ItemT]
) -> int:
    """`consume_once` for a batch of events (`items`: each event's id and what the effect needs of it) in one
    transaction: one processed-event lookup, one effect for the new ones (one query for all of them where each
    event on its own paid its own), one commit. Returns how many were applied now (the rest were duplicates).

    All or nothing: when the effect raises or keeps an event as a dead letter (`NotPlainEffect`), or a concurrent
    delivery committed one of the events first (IntegrityError at the commit), nothing is applied and the error is
    raised. The caller then takes the events one at a time through `consume_once`, which knows each of those cases.
    """
    if len(items) == 1:
        event_id, item = items[0]
        return int(consume_once(uow, consumer, event_id, lambda work: effect(work, [item])))
    with uow:
        done = uow.processed_among(consumer, [event_id for event_id, _ in items])
        new: dict[UUID, ItemT] = {}
        for event_id, item in items:
            if event_id in done or event_id in new:  # processed before, or twice in this batch (a redelivery)
                note_duplicate()
            else:
                new[event_id] = item
        note = (effect(uow, list(new.values())) if new else None) or ""
        if uow.dead_lettered:
            raise NotPlainEffect(f"{consumer}: an event of the batch was kept as a dead letter")
        for event_id in new:
            uow.mark_processed(consumer, event_id, note)
    return len(new)
