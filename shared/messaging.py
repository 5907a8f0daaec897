"""Kafka adapter: topic creation (kafka-python admin) and FastStream subscribers with at-least-once delivery."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, ProducerClosed
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from kafka.admin import KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError
from pydantic import ValidationError

from shared.events import DeadLetter, Event, dead_letter_topic

log = logging.getLogger(__name__)

EventT = TypeVar("EventT", bound=Event)

# A message that fails this many times in a row is a poison message: it goes to the dead-letter topic.
MAX_ATTEMPTS = 5
RETRY_PAUSE_S = 1.0


def _record_of(message: KafkaMessage) -> ConsumerRecord:
    """The Kafka record of a message from a single-message subscriber (never a batch here)."""
    raw = message.raw_message
    assert isinstance(raw, ConsumerRecord), "subscribers here take one message at a time"
    return raw


def create_topics(bootstrap: str, topics: Iterable[str], partitions: int) -> list[str]:
    """Create the topics that are missing; return the names created."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="eakte-admin")
    try:
        existing = set(admin.list_topics())
        missing = [name for name in topics if name not in existing]
        if missing:
            # Another service may create the same topic at the same moment.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics({name: {"num_partitions": partitions, "replication_factor": 1} for name in missing})
        return missing
    finally:
        admin.close()


def make_broker(bootstrap: str, client_id: str) -> KafkaBroker:
    return KafkaBroker(bootstrap, client_id=client_id, enable_idempotence=True, acks="all")


_AWAY = (KafkaConnectionError, KafkaTimeoutError, ProducerClosed, TimeoutError, ConnectionError)


def broker_away(exc: BaseException) -> bool:
    """Whether a publish error says the broker is unreachable for a moment rather than refusing this message.

    Such errors never count against an outbox row; authorization errors neither (a configuration to fix, not a
    poison row), so a misconfigured ACL never empties the outbox into its dead letters.
    """
    if isinstance(exc, _AWAY):
        return True
    if isinstance(exc, KafkaError):
        return bool(exc.retriable) or "Authorization" in type(exc).__name__
    return False


def publisher_for(broker: KafkaBroker) -> Callable[[str, bytes, bytes], Awaitable[None]]:
    async def publish(topic: str, key: bytes, payload: bytes) -> None:
        await broker.publish(payload, topic, key=key, headers={"content-type": "application/json"})

    return publish


def enqueuer_for(broker: KafkaBroker) -> Callable[[str, bytes, bytes], Awaitable[Awaitable[Any]]]:
    """Like `publisher_for`, but returns once the producer has the message, with a future of the broker's ack."""

    async def enqueue(topic: str, key: bytes, payload: bytes) -> Awaitable[Any]:
        return await broker.publish(
            payload, topic, key=key, headers={"content-type": "application/json"}, no_confirm=True
        )

    return enqueue


Handler = Callable[[EventT], Awaitable[None]]


def consumer(broker: KafkaBroker, event_type: type[EventT], group: str) -> Callable[[Handler[EventT]], Handler[EventT]]:
    """Decorate the one handler of `event_type`'s topic in consumer group `group` (FastStream's subscriber shape).

    Write the group name out at the decorator, so that grep finds every consumer of a topic.
    """

    def register(handle: Handler[EventT]) -> Handler[EventT]:
        subscribe(broker, event_type, group, handle)
        return handle

    return register


def subscribe(
    broker: KafkaBroker,
    event_type: type[EventT],
    consumer: str,
    handle: Callable[[EventT], Awaitable[None]],
) -> None:
    """Consume `event_type` in consumer group `consumer`; commit the offset only after `handle` returned.

    Unreadable messages and messages that keep failing go to `<topic>.dlq` with the reason.
    """
    topic = event_type.TOPIC
    failures: dict[tuple[int, int], int] = {}

    async def dead_letter(message: KafkaMessage, reason: str) -> None:
        raw = _record_of(message)
        # Cut to stay below the broker's message size, whatever the refused message's size (SHA-256 kept).
        letter = DeadLetter.of(
            source_topic=topic,
            consumer=consumer,
            reason=reason,
            payload=message.body,
            document_id=raw.key.decode("utf-8", errors="replace") if raw.key else None,
        )
        await broker.publish(letter.model_dump_json().encode(), dead_letter_topic(topic), key=raw.key)
        log.warning(
            "%s: message at %s/%s sent to %s: %s", consumer, raw.partition, raw.offset, dead_letter_topic(topic), reason
        )

    @broker.subscriber(
        topic,
        group_id=consumer,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def consume(message: KafkaMessage) -> None:
        raw = _record_of(message)
        position = (raw.partition, raw.offset)
        try:
            event = event_type.model_validate_json(message.body)
        except ValidationError as exc:
            await dead_letter(message, f"unreadable {event_type.__name__}: {exc.errors(include_url=False)}")
            return
        try:
            await handle(event)
        except Exception as exc:
            attempts = failures.get(position, 0) + 1
            failures[position] = attempts
            if attempts >= MAX_ATTEMPTS:
                failures.pop(position, None)
                await dead_letter(message, f"failed {attempts} times: {exc!r}")
                return
            log.exception("%s: handling %s failed (attempt %d); will retry", consumer, topic, attempts)
            await asyncio.sleep(RETRY_PAUSE_S)
            raise
        failures.pop(position, None)
