"""Transactional outbox: services add messages inside their transaction; the relay publishes them.

A crash between commit and publish loses nothing: the row stays unpublished and goes out on restart.
A crash between publish and marking it published sends it twice; consumers are idempotent by event_id.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared.db import OutboxMessage
from shared.events import DeadLetter, Event, dead_letter_topic, utcnow

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, bytes], Awaitable[None]]


def add_event(session: Session, event: Event) -> None:
    session.add(OutboxMessage(topic=event.TOPIC, key=event.key, payload=event.model_dump_json().encode()))


def add_dead_letter(session: Session, letter: DeadLetter) -> None:
    session.add(
        OutboxMessage(
            topic=dead_letter_topic(letter.source_topic),
            key=(letter.document_id or "").encode(),
            payload=letter.model_dump_json().encode(),
        )
    )


class OutboxRelay:
    """Publishes committed outbox rows in order, oldest first."""

    def __init__(self, sessions: sessionmaker[Session], publish: Publish, poll_interval_s: float = 0.1) -> None:
        self._sessions = sessions
        self._publish = publish
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
        rows = await asyncio.to_thread(self._pending, batch)
        for row_id, topic, key, payload in rows:
            await self._publish(topic, key, payload)
            await asyncio.to_thread(self._mark_published, row_id)
        return len(rows)

    def _pending(self, batch: int) -> list[tuple[int, str, bytes, bytes]]:
        with self._sessions() as session:
            rows = session.execute(
                select(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.key, OutboxMessage.payload)
                .where(OutboxMessage.published_at.is_(None))
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
