"""Transactional outbox: units of work add messages inside their transaction; the relay publishes them.

A crash between commit and publish loses nothing: the row stays unpublished and goes out on restart.
A crash between publish and marking it published sends it twice; consumers are idempotent by event_id.

Replicas (PostgreSQL): each relay claims the rows it sends in a short transaction (`FOR UPDATE SKIP LOCKED`,
then a lease in `claimed_by`/`claimed_until`), so two replicas never send the same row while both are alive;
a dead replica's rows are taken over when its lease runs out. Per-key order (events are keyed by document)
is kept: a row is only claimed when no earlier unpublished row of its key is held by anyone else.
SQLite is one process: it reads the unpublished rows as they are.
"""

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from shared.db import OutboxDeadLetter, OutboxMessage
from shared.events import utcnow
from shared.tracing import publishing

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, bytes], Awaitable[None]]
# Hands a message to the producer in order and returns at once with an awaitable of the broker's ack.
Enqueue = Callable[[str, bytes, bytes], Awaitable[Awaitable[Any]]]
# Whether a publish error says the broker is away for a moment (it counts against no row) rather than refusing it.
Transient = Callable[[BaseException], bool]

# A row the broker refuses this many times (errors that are not transient) is moved aside to the dead letters.
MAX_ATTEMPTS = 5
PREFIX_CHARS = 2000

# id, topic, key, payload, and the traceparent the row was written under (published as the Kafka header).
Row = tuple[int, str, bytes, bytes, str | None]

_ROW_COLUMNS = (
    OutboxMessage.id,
    OutboxMessage.topic,
    OutboxMessage.key,
    OutboxMessage.payload,
    OutboxMessage.traceparent,
)

# The relay's two statements of every turn, built once (building and keying them was most of their cost), on the
# table: marking rows published needs none of the ORM's bookkeeping.
_OUTBOX = cast(Table, OutboxMessage.__table__)
_PENDING = (
    select(*_ROW_COLUMNS)
    .where(OutboxMessage.published_at.is_(None), OutboxMessage.id.not_in(bindparam("skip", expanding=True)))
    .order_by(OutboxMessage.id)
    .limit(bindparam("batch"))
)
_MARK_PUBLISHED = (
    update(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True))).values(published_at=bindparam("at"))
)

# How long a replica's claim on outbox rows holds before another replica may take them over (a crashed replica).
LEASE_S = 30.0


def replica_id() -> str:
    """This process among the replicas: host, PID and a random part (a restarted process is a new claimant)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class DeadLetterView:
    """What an admin sees of an outbox row moved aside: never the whole payload, its SHA-256 and a cut prefix."""

    id: int
    topic: str
    key: str
    size: int
    payload_sha256: str
    payload_prefix: str
    reason: str
    attempts: int
    created_at: datetime
    moved_at: datetime


@dataclass(frozen=True)
class OutboxSummary:
    pending: int
    oldest_seconds: float
    set_aside: int


def _never_transient(_exc: BaseException) -> bool:
    return False


# Rows per read of the outbox, and how long the relay waits after a commit's notice for more rows to batch with it.
BATCH = 100
LINGER_S = 0.003
# A commit in this process wakes the relay at once (`notify`); the poll only finds rows written elsewhere (an
# administrator's `outbox retry`, a replica that stopped). Every 0.1 s was ten queries a second per idle service.
POLL_INTERVAL_S = 1.0
# Rows the broker acknowledged are marked published together: at most this long after the first of them was
# acknowledged, or at once when this many wait. (A mark per batch was a transaction for every one or two rows
# under load.) A crash before the mark sends them again, as any crash between ack and mark: consumers are
# idempotent by event_id.
MARK_AFTER_S = 0.25
MARK_MAX_ROWS = 100


class OutboxRelay:
    """Publishes committed outbox rows in order, oldest first."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        publish: Publish,
        poll_interval_s: float = POLL_INTERVAL_S,
        enqueue: Enqueue | None = None,
        transient: Transient = _never_transient,
        lease_s: float = LEASE_S,
    ) -> None:
        """With `enqueue`, a batch is pipelined: all handed to the producer in order, acks awaited together,
        marked published in one transaction (much faster under load than one round trip per message)."""
        self._sessions = sessions
        self._publish = publish
        self._enqueue = enqueue
        self._transient = transient
        self._failures: dict[int, int] = {}
        self._in_flight: set[int] = set()
        self._marking: set[asyncio.Task[None]] = set()
        self._unmarked: list[int] = []  # acknowledged, not yet being marked
        self._unmarked_since: float | None = None  # time.monotonic() of the first of them
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self.replica = replica_id()
        self._lease = timedelta(seconds=lease_s)
        self._claims = sessions.kw["bind"].dialect.name == "postgresql"

    def stop(self) -> None:
        """Drain: the relay finishes the batch it is publishing, sends one more, marks them, then `run` returns."""
        self._stopping = True
        self._wake.set()

    def notify(self) -> None:
        """Wake the relay after a commit; safe to call from worker threads."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            last_pass = self._stopping  # after `stop()`: one more batch, for what the drained handlers wrote
            try:
                sent = await self.publish_pending(BATCH)
            except Exception:  # the broker or database is away for a moment: retry, never drop
                log.exception("outbox relay failed; retrying")
                sent = 0
                if not last_pass:
                    await asyncio.sleep(1.0)
            if last_pass:
                break
            if sent < BATCH and not self._stopping:
                await self._next_turn()
        await self.marked()  # what was sent is marked before the exit

    async def marked(self) -> None:
        """Mark every row sent so far published now, and wait until the marks are written."""
        self._start_marking()
        await asyncio.gather(*self._marking, return_exceptions=True)

    async def _next_turn(self) -> None:
        """Wait for a commit's notice (or the poll interval), then a moment more: the rows committed meanwhile go
        out in the same batch, so a busy service reads its outbox once per batch, not once per row. Meanwhile the
        rows sent are marked when their time is up."""
        poll_at = time.monotonic() + self._poll_interval_s
        while not self._wake.is_set():
            wake_at = poll_at if self._unmarked_since is None else min(poll_at, self._unmarked_since + MARK_AFTER_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, wake_at - time.monotonic()))
            self._mark_when_due()
            if time.monotonic() >= poll_at:
                break
        self._wake.clear()  # before reading: a notice from now on wakes the next turn
        await asyncio.sleep(LINGER_S)

    async def publish_pending(self, batch: int = 100) -> int:
        """Publish up to `batch` unpublished rows; how many were dealt with."""
        rows = await asyncio.to_thread(self._pending, batch, list(self._in_flight))
        if self._enqueue is not None and rows:
            return await self._publish_pipelined(rows)
        for row in rows:
            row_id, topic, key, payload, traceparent = row
            try:
                with publishing(topic, traceparent):
                    await self._publish(topic, key, payload)
            except Exception as exc:
                if not await self._moved_aside(row, exc):
                    raise
                continue
            self._failures.pop(row_id, None)
            await asyncio.to_thread(self._mark_published, row_id)
        return len(rows)

    async def _moved_aside(self, row: Row, exc: BaseException) -> bool:
        """Count a refusal of `row`; after MAX_ATTEMPTS it goes to the dead letters and later rows flow on."""
        if self._transient(exc):
            return False
        row_id, topic, _key, payload, _traceparent = row
        attempts = self._failures.get(row_id, 0) + 1
        self._failures[row_id] = attempts
        if attempts < MAX_ATTEMPTS:
            log.warning(
                "outbox row %d (%s, %d bytes) refused (attempt %d): %r", row_id, topic, len(payload), attempts, exc
            )
            return False
        await asyncio.to_thread(self._move_aside, row, f"{type(exc).__name__}: {exc}", attempts)
        self._failures.pop(row_id, None)
        log.error(
            "outbox row %d (%s, %d bytes) moved to the dead letters after %d attempts: %r",
            row_id,
            topic,
            len(payload),
            attempts,
            exc,
        )
        return True

    def _move_aside(self, row: Row, reason: str, attempts: int) -> None:
        row_id, topic, key, payload, _traceparent = row
        with self._sessions() as session:
            original = session.get(OutboxMessage, row_id)
            if original is None or original.published_at is not None:
                return
            session.add(
                OutboxDeadLetter(
                    outbox_id=row_id,
                    topic=topic,
                    key=key,
                    size=len(payload),
                    payload_sha256=hashlib.sha256(payload).hexdigest(),
                    payload_prefix=payload[: PREFIX_CHARS * 4].decode("utf-8", errors="replace")[:PREFIX_CHARS],
                    payload=payload,
                    reason=reason[:2000],
                    attempts=attempts,
                    created_at=original.created_at,
                )
            )
            session.delete(original)
            session.commit()

    def dead_letters(self, limit: int = 100, offset: int = 0) -> tuple[int, list[DeadLetterView]]:
        """The rows moved aside, newest first, and how many there are."""
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(OutboxDeadLetter)) or 0
            rows = session.scalars(
                select(OutboxDeadLetter).order_by(OutboxDeadLetter.id.desc()).limit(limit).offset(offset)
            ).all()
        views = [
            DeadLetterView(
                id=r.id,
                topic=r.topic,
                key=r.key.decode("utf-8", errors="replace"),
                size=r.size,
                payload_sha256=r.payload_sha256,
                payload_prefix=r.payload_prefix,
                reason=r.reason,
                attempts=r.attempts,
                created_at=r.created_at,
                moved_at=r.moved_at,
            )
            for r in rows
        ]
        return total, views

    def summary(self) -> "OutboxSummary":
        """How many rows wait to be published, how old the oldest is, how many were set aside."""
        with self._sessions() as session:
            pending, oldest = session.execute(
                select(func.count(), func.min(OutboxMessage.created_at)).where(OutboxMessage.published_at.is_(None))
            ).one()
            set_aside = session.scalar(select(func.count()).select_from(OutboxDeadLetter)) or 0
        age = max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0
        return OutboxSummary(pending=pending, oldest_seconds=round(age, 3), set_aside=set_aside)

    def retry(self, dead_letter_id: int) -> int | None:
        """Put a set-aside row back into the outbox (at its end) for the relay to publish; its new outbox id.

        None when there is no such set-aside row. Moving it back and removing it from the set-aside rows is one
        transaction: the row is never in both places, nor lost.
        """
        with self._sessions() as session, session.begin():
            letter = session.get(OutboxDeadLetter, dead_letter_id, with_for_update=True)
            if letter is None:
                return None
            topic = letter.topic
            row = OutboxMessage(topic=topic, key=letter.key, payload=letter.payload, created_at=utcnow())
            session.add(row)
            session.delete(letter)
            session.flush()
            outbox_id = row.id
        log.warning("outbox dead letter %d (%s) put back into the outbox as row %d", dead_letter_id, topic, outbox_id)
        self.notify()
        return outbox_id

    async def _publish_pipelined(self, rows: list[Row]) -> int:
        results = await self._hand_over(rows)
        # Keep the acknowledged prefix; from the first failure on, everything is sent again (consumers are
        # idempotent by event_id), so the order of the outbox is kept.
        done: list[int] = []
        failure: BaseException | None = None
        failed: Row | None = None
        for row, result in zip(rows, results, strict=False):
            if isinstance(result, BaseException):
                failure, failed = result, row
                break
            done.append(row[0])
            self._failures.pop(row[0], None)
        # Marking waits for its time and a write turn; the next batch need not wait for it. Until the mark is
        # committed the rows are skipped by `_pending`; should the mark fail they are sent again.
        self._in_flight.update(done)
        if done and self._unmarked_since is None:
            self._unmarked_since = time.monotonic()
        self._unmarked.extend(done)
        self._mark_when_due()
        if failure is not None and failed is not None:
            if not await self._moved_aside(failed, failure):
                raise failure
            return len(done) + 1  # the rows after it were sent too; they go out again (idempotent consumers)
        return len(done)

    async def _hand_over(self, rows: list[Row]) -> list[object]:
        """Each row's outcome in order: the broker's ack, or the error. A row the producer refuses at once (e.g. too
        large) ends the batch there: its error is its outcome, and the rows after it are not handed over."""
        assert self._enqueue is not None
        acks = []
        refused: BaseException | None = None
        for _row_id, topic, key, payload, traceparent in rows:
            try:
                with publishing(topic, traceparent):  # the span covers the hand-over to the producer
                    acks.append(await self._enqueue(topic, key, payload))
            except Exception as exc:
                refused = exc
                break
        results: list[object] = list(await asyncio.gather(*acks, return_exceptions=True))
        return results if refused is None else [*results, refused]

    def _mark_when_due(self) -> None:
        since = self._unmarked_since
        if len(self._unmarked) >= MARK_MAX_ROWS or (since is not None and time.monotonic() - since >= MARK_AFTER_S):
            self._start_marking()

    def _start_marking(self) -> None:
        row_ids, self._unmarked, self._unmarked_since = self._unmarked, [], None
        if row_ids:
            mark = asyncio.create_task(self._mark_in_background(row_ids))
            self._marking.add(mark)
            mark.add_done_callback(self._marking.discard)

    async def _mark_in_background(self, row_ids: list[int]) -> None:
        try:
            await asyncio.to_thread(self._mark_published_many, row_ids)
        except Exception:
            log.exception("outbox relay could not mark %d messages published; they will be sent again", len(row_ids))
        finally:
            self._in_flight.difference_update(row_ids)

    def _mark_published_many(self, row_ids: list[int]) -> None:
        if not row_ids:
            return
        with self._sessions() as session:
            session.execute(_MARK_PUBLISHED, {"ids": row_ids, "at": utcnow()})
            session.commit()

    def _pending(self, batch: int, skip: list[int] | None = None) -> list[Row]:
        if self._claims:
            return self._claim(batch, skip or [])
        with self._sessions() as session:
            # On the connection: the session's ORM execution path cost half as much again as the query.
            rows = session.connection().execute(_PENDING, {"skip": skip or [], "batch": batch}).all()
        return [(r.id, r.topic, r.key, r.payload, r.traceparent) for r in rows]

    def _mark_published(self, row_id: int) -> None:
        with self._sessions() as session:
            row = session.get(OutboxMessage, row_id)
            if row is not None:
                row.published_at = utcnow()
                session.commit()

    def _claim(self, batch: int, skip: list[int]) -> list[Row]:
        """Claim up to `batch` unpublished rows for this replica (PostgreSQL, replicas side by side).

        Free rows are unclaimed, claimed by this replica, or whose lease ran out; rows another relay is claiming
        right now are skipped (SKIP LOCKED). A row whose key has an earlier unpublished row that this relay does
        not hold (claimed or being claimed elsewhere) waits, so two replicas never reorder one document's events.
        """
        now = utcnow()
        with self._sessions() as session:
            free = or_(
                OutboxMessage.claimed_until.is_(None),
                OutboxMessage.claimed_until < now,
                OutboxMessage.claimed_by == self.replica,
            )
            candidates = session.execute(
                select(*_ROW_COLUMNS)
                .where(OutboxMessage.published_at.is_(None), OutboxMessage.id.not_in(skip), free)
                .order_by(OutboxMessage.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).all()
            if not candidates:
                return []
            held = [r.id for r in candidates] + skip
            first_elsewhere = dict(
                session.execute(
                    select(OutboxMessage.key, func.min(OutboxMessage.id))
                    .where(
                        OutboxMessage.published_at.is_(None),
                        OutboxMessage.key.in_({r.key for r in candidates}),
                        OutboxMessage.id.not_in(held),
                    )
                    .group_by(OutboxMessage.key)
                ).all()
            )
            mine = [r for r in candidates if r.key not in first_elsewhere or r.id < first_elsewhere[r.key]]
            if mine:
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_([r.id for r in mine]))
                    .values(claimed_by=self.replica, claimed_until=now + self._lease)
                )
            session.commit()
        return [(r.id, r.topic, r.key, r.payload, r.traceparent) for r in mine]
