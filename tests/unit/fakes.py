"""The fake side of `shared.unit_of_work`: what every service's fake unit of work shares.

A service's fake subclasses `FakeUnitOfWork` and adds in-memory repositories; service-layer tests run on it
without Kafka, MinIO or a database.
"""

from uuid import UUID

from shared.events import DeadLetter, Event
from shared.unit_of_work import UnitOfWork


class FakeUnitOfWork(UnitOfWork):
    """Records what a real unit of work would have committed: events, dead letters, processed events."""

    def __init__(self) -> None:
        self.committed = 0
        self.events: list[Event] = []
        self.dead_letters: list[DeadLetter] = []
        self.processed: dict[tuple[str, UUID], str] = {}
        self._pending_events: list[Event] = []
        self._pending_letters: list[DeadLetter] = []
        self._pending_processed: dict[tuple[str, UUID], str] = {}

    def commit(self) -> None:
        self.committed += 1
        self.events += self._pending_events
        self.dead_letters += self._pending_letters
        self.processed |= self._pending_processed
        self._clear()

    def rollback(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self._pending_events = []
        self._pending_letters = []
        self._pending_processed = {}

    def add_event(self, event: Event) -> None:
        self._pending_events.append(event)

    def add_dead_letter(self, letter: DeadLetter) -> None:
        self._pending_letters.append(letter)
        self.dead_lettered = True

    def was_processed(self, consumer: str, event_id: UUID) -> bool:
        return (consumer, event_id) in self.processed or (consumer, event_id) in self._pending_processed

    def mark_processed(self, consumer: str, event_id: UUID, note: str = "") -> None:
        self._pending_processed[(consumer, event_id)] = note

    def commit_once(self, consumer: str, event_id: UUID) -> bool:
        self.commit()
        return True
