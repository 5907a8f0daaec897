"""Transactional outbox: units of work add messages inside their transaction; the relay publishes them.

A crash between commit and publish loses nothing: the row stays unpublished and goes out on restart.
A crash between publish and marking it published sends it twice; consumers are idempotent by event_id.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from shared.db import OutboxMessage
from shared.events import utcnow

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, bytes], Awaitable[None]]
# Hands a message to the producer in order and returns at once with an awaitable of the broker's ack.
Enqueue = Callable[[str, bytes, bytes], Awaitable[Awaitable[Any]]]


class OutboxRelay:
    """Publishes committed outbox rows in order, oldest first."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        publish: Publish,
        poll_interval_s: float = 0.1,
        enqueue: Enqueue | None = None,
    ) -> None:
        """With `enqueue`, a batch is pipelined: all handed to the producer in order, acks awaited together,
        marked published in one transaction (much faster under load than one round trip per message)."""
        self._sessions = sessions
        self._publish = publish
        self._enqueue = enqueue
        self._in_flight: set[int] = set()
        self._marking: set[asyncio.Task[None]] = set()
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def notify(self) -> None:
        """Wake the relay after a commit; safe to call from worker threads."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            try:
                sent = await self.publish_pending()
            except Exception:  # the broker or database is away for a moment: retry, never drop
                log.exception("outbox relay failed; retrying")
                sent = 0
                await asyncio.sleep(1.0)
            if sent == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)

    async def publish_pending(self, batch: int = 100) -> int:
        rows = await asyncio.to_thread(self._pending, batch, list(self._in_flight))
        if self._enqueue is not None and rows:
            return await self._publish_pipelined(rows)
        for row_id, topic, key, payload in rows:
            await self._publish(topic, key, payload)
            await asyncio.to_thread(self._mark_published, row_id)
        return len(rows)

    async def _publish_pipelined(self, rows: list[tuple[int, str, bytes, bytes]]) -> int:
        assert self._enqueue is not None
        acks = [await self._enqueue(topic, key, payload) for _row_id, topic, key, payload in rows]
        results = await asyncio.gather(*acks, return_exceptions=True)
        # Keep the acknowledged prefix; from the first failure on, everything is sent again (consumers are
        # idempotent by event_id), so the order of the outbox is kept.
        done: list[int] = []
        failure: BaseException | None = None
        for (row_id, *_rest), result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                failure = result
                break
            done.append(row_id)
        # Marking waits for a write turn; the next batch need not wait for it. Until the mark is committed the
        # rows are skipped by `_pending`; should the mark fail they are sent again.
        self._in_flight.update(done)
        mark = asyncio.create_task(self._mark_in_background(done))
        self._marking.add(mark)
        mark.add_done_callback(self._marking.discard)
        if failure is not None:
            raise failure
        return len(done)

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
            session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(row_ids)).values(published_at=utcnow()))
            session.commit()

    def _pending(self, batch: int, skip: list[int] | None = None) -> list[tuple[int, str, bytes, bytes]]:
        with self._sessions() as session:
            rows = session.execute(
                select(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.key, OutboxMessage.payload)
                .where(OutboxMessage.published_at.is_(None), OutboxMessage.id.not_in(skip or []))
                .order_by(OutboxMessage.id)
                .limit(batch)
            ).all()
        return [(r.id, r.topic, r.key, r.payload) for r in rows]

    def _mark_published(self, row_id: int) -> None:
        with self._sessions() as session:
            row = session.get(OutboxMessage, row_id)
            if row is not None:
                row.published_at = utcnow()
                session.commit()
