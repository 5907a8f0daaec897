"""The Kafka message a handler is working on right now (topic, partition, offset, replay header), if any.

`shared.messaging` sets it around each handler call; code deeper down (a unit of work that dead-letters an event)
reads it without the handler passing it along. `asyncio.to_thread` copies it into the worker thread.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

# The header a replayed dead letter carries: "<dlq topic>/<partition>/<offset>" of the letter it came from.
REPLAYED_FROM = "eakte-replayed-from"


@dataclass(frozen=True)
class Delivery:
    topic: str
    partition: int
    offset: int
    replayed_from: str | None = None


current_delivery: ContextVar[Delivery | None] = ContextVar("current_delivery", default=None)


def source_position(topic: str) -> tuple[int, int] | None:
    """(partition, offset) of the message being handled, when it is a message of `topic`."""
    delivery = current_delivery.get()
    if delivery is None or delivery.topic != topic:
        return None
    return delivery.partition, delivery.offset


@contextmanager
def delivered(delivery: Delivery) -> Iterator[None]:
    """`delivery` is the message being handled inside the block."""
    token = current_delivery.set(delivery)
    try:
        yield
    finally:
        current_delivery.reset(token)
