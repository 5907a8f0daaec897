"""Kafka adapter: topic creation (kafka-python admin) and FastStream subscribers with at-least-once delivery."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, ProducerClosed
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.security import SASLScram512
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)
from kafka.errors import TopicAlreadyExistsError
from pydantic import ValidationError

from shared.delivery import REPLAYED_FROM, Delivery, delivered
from shared.events import DeadLetter, Event, dead_letter_topic
from shared.kafka_acl import Rule
from shared.logs import log_context
from shared.metrics import HandlerMetrics
from shared.tracing import consumed, consuming, handling_batch, trace_headers

log = logging.getLogger(__name__)

EventT = TypeVar("EventT", bound=Event)

# A message that fails this many times in a row is a poison message: it goes to the dead-letter topic.
MAX_ATTEMPTS = 5
RETRY_PAUSE_S = 1.0

# Consumers per subscription (`EAKTE_KAFKA_CONSUMER_WORKERS`, set by `shared.service_app.build_runtime`): partitions
# are handled concurrently, each partition in order. One consumer handled every document of a service in turn.
_consumer_workers = 1


def handle_partitions_concurrently(workers: int) -> None:
    global _consumer_workers
    _consumer_workers = workers


# Test aid (`EAKTE_KAFKA_HANDLER_DELAY_S`, set by `shared.service_app.build_runtime`): a slow handler.
_handler_delay_s = 0.0


def slow_handlers_down(seconds: float) -> None:
    global _handler_delay_s
    _handler_delay_s = seconds


async def _slow_down(consumer: str, topic: str, position: tuple[int, int]) -> None:
    if _handler_delay_s:
        log.warning("%s: handling %s at %s/%s, slowed down by %.1f s", consumer, topic, *position, _handler_delay_s)
        await asyncio.sleep(_handler_delay_s)


def _record_of(message: KafkaMessage) -> ConsumerRecord:
    """The Kafka record of a message from a single-message subscriber."""
    raw = message.raw_message
    assert isinstance(raw, ConsumerRecord), "a single-message subscriber takes one record at a time"
    return raw


def _records_of(message: KafkaMessage) -> tuple[ConsumerRecord, ...]:
    """The Kafka records of a message from a batch subscriber."""
    raw = message.raw_message
    assert isinstance(raw, tuple), "a batch subscriber takes a tuple of records"
    return raw


def _log_dead_letter(consumer: str, raw: ConsumerRecord, to: str, reason: str) -> None:
    # The reason's details may quote the message (a title): they stay in the dead letter, out of the log.
    short = reason.split(":", 1)[0]
    log.warning("%s: message at %s/%s sent to %s: %s", consumer, raw.partition, raw.offset, to, short)


def _ids_of(event: Event) -> tuple[str, str]:
    return str(event.document_id), str(event.correlation_id)


def kafka_python_auth(username: str, password: str) -> dict[str, str]:
    """kafka-python client arguments for a SASL/SCRAM-SHA-512 principal (none without a user name)."""
    if not username:
        return {}
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": username,
        "sasl_plain_password": password,
    }


def _admin_client(bootstrap: str, username: str, password: str) -> KafkaAdminClient:
    auth = kafka_python_auth(username, password)
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="eakte-admin", **auth)


def create_topics(
    bootstrap: str, topics: Iterable[str], partitions: int, username: str = "", password: str = ""
) -> list[str]:
    """Create the topics that are missing; return the names created (the admin principal's job)."""
    admin = _admin_client(bootstrap, username, password)
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


def _acl(rule: Rule) -> ACL:
    pattern = ACLResourcePatternType.PREFIXED if rule.prefixed else ACLResourcePatternType.LITERAL
    return ACL(
        principal=f"User:{rule.principal}",
        host="*",
        operation=ACLOperation[rule.operation],
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePattern(ResourceType[rule.resource], rule.name, pattern),
    )


def apply_acls(bootstrap: str, rules: Iterable[Rule], username: str, password: str) -> int:
    """Create the ALLOW bindings of `rules` (idempotent: existing ones stay); return how many were sent."""
    rules_list = list(rules)
    acls = [_acl(rule) for rule in rules_list]
    admin = _admin_client(bootstrap, username, password)
    try:
        result = admin.create_acls(acls)
        if result.get("failed"):
            raise RuntimeError(f"Kafka refused ACLs: {result['failed']}")
        _wait_until_in_force(admin, len(set(rules_list)))
        return len(acls)
    finally:
        admin.close()


def _wait_until_in_force(admin: KafkaAdminClient, expected: int, timeout_s: float = 30.0) -> None:
    """ACLs reach the authorizer through the metadata log a moment after they were accepted: wait for them."""
    everything = ACLFilter(
        principal=None,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    deadline = time.monotonic() + timeout_s
    while len(admin.describe_acls(everything)[0]) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the broker did not put {expected} ACLs in force within {timeout_s} s")
        time.sleep(0.1)


def make_broker(bootstrap: str, client_id: str, username: str = "", password: str = "") -> KafkaBroker:
    """The service's FastStream broker, authenticated as its own SASL/SCRAM principal when one is set."""
    security = SASLScram512(username=username, password=password) if username else None
    # A plain logger: FastStream's lines go through the process's formatter (shared.logs), not a handler of its own.
    # Its "Received"/"Processed" lines per message are debug lines: they name nothing (our "handled" line names
    # the consumer, topic, position, document and trace) and were two of every three log lines under load.
    return KafkaBroker(
        bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        security=security,
        logger=logging.getLogger("faststream.kafka"),
        log_level=logging.DEBUG,
    )


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
        # `traceparent`: the span the outbox relay publishes the row in (shared.tracing.publishing), if tracing is on.
        await broker.publish(payload, topic, key=key, headers={"content-type": "application/json", **trace_headers()})

    return publish


def enqueuer_for(broker: KafkaBroker) -> Callable[[str, bytes, bytes], Awaitable[Awaitable[Any]]]:
    """Like `publisher_for`, but returns once the producer has the message, with a future of the broker's ack."""

    async def enqueue(topic: str, key: bytes, payload: bytes) -> Awaitable[Any]:
        return await broker.publish(
            payload, topic, key=key, headers={"content-type": "application/json", **trace_headers()}, no_confirm=True
        )

    return enqueue


Handler = Callable[[EventT], Awaitable[None]]
BatchHandler = Callable[[list[EventT]], Awaitable[None]]


# A batch subscriber takes what the consumer has fetched, up to BATCH_MAX_RECORDS; with nothing there it waits
# BATCH_WAIT_MS for a message, then (FastStream) as long again. After a batch that was not full it pauses for
# BATCH_GATHER_S, so that the next one gathers what arrives meanwhile: under load a batch held one or two messages
# without it (they were handled as fast as they came). A message is handled at most that much later.
BATCH_MAX_RECORDS = 200
BATCH_WAIT_MS = 100
BATCH_GATHER_S = 0.25
# A batch subscriber is one consumer for all its partitions, and aiokafka sends no new fetch to a broker while one is
# in flight; that one leaves out the partitions whose records were still being handled when it was sent. A message
# arriving on such a partition waited for it: up to FETCH_MAX_WAIT_MS (10 s) when the others stayed quiet (the end of
# a burst: bench-pipeline's last documents were archived 10 s late). So a batch subscriber's fetch waits at most this
# long: a few empty fetches a second while nothing happens.
BATCH_FETCH_MAX_WAIT_MS = 500


def consumer(broker: KafkaBroker, event_type: type[EventT], group: str) -> Callable[[Handler[EventT]], Handler[EventT]]:
    """Decorate the one handler of `event_type`'s topic in consumer group `group` (FastStream's subscriber shape).

    Write the group name out at the decorator, so that grep finds every consumer of a topic.
    """

    def register(handle: Handler[EventT]) -> Handler[EventT]:
        subscribe(broker, event_type, group, handle)
        return handle

    return register


def batch_consumer(
    broker: KafkaBroker,
    event_type: type[EventT],
    group: str,
    gather_s: float = BATCH_GATHER_S,
    max_records: int = BATCH_MAX_RECORDS,
) -> Callable[[BatchHandler[EventT]], BatchHandler[EventT]]:
    """Like `consumer`, for a handler that takes a list of events and applies them together (`subscribe_batches`)."""

    def register(handle_many: BatchHandler[EventT]) -> BatchHandler[EventT]:
        subscribe_batches(broker, event_type, group, handle_many, gather_s, max_records)
        return handle_many

    return register


DeadLetterer = Callable[[ConsumerRecord, str], Awaitable[None]]


def _dead_letterer(broker: KafkaBroker, topic: str, consumer: str, measured: HandlerMetrics) -> DeadLetterer:
    """What sends a message this consumer gives up on to `<topic>.dlq`, with the reason."""

    async def dead_letter(raw: ConsumerRecord, reason: str) -> None:
        # Cut to stay below the broker's message size, whatever the refused message's size (SHA-256 kept).
        letter = DeadLetter.of(
            source_topic=topic,
            consumer=consumer,
            reason=reason,
            payload=raw.value or b"",
            document_id=raw.key.decode("utf-8", errors="replace") if raw.key else None,
            source=(raw.partition, raw.offset),
        )
        await broker.publish(letter.model_dump_json().encode(), dead_letter_topic(topic), key=raw.key)
        measured.count("dead_lettered")
        _log_dead_letter(consumer, raw, dead_letter_topic(topic), reason)

    return dead_letter


Attempt = Callable[[ConsumerRecord], Awaitable[None]]


def _attempter(
    event_type: type[EventT],
    consumer: str,
    handle: Callable[[EventT], Awaitable[None]],
    measured: HandlerMetrics,
    dead_letter: DeadLetterer,
) -> Attempt:
    """One try at a message: returns when it is done with (handled, or dead-lettered), raises to have it retried."""
    topic = event_type.TOPIC
    failures: dict[tuple[int, int], int] = {}

    async def attempt(raw: ConsumerRecord) -> None:
        position = (raw.partition, raw.offset)
        try:
            event = event_type.model_validate_json(raw.value or b"")
        except ValidationError as exc:
            await dead_letter(raw, f"unreadable {event_type.__name__}: {exc.errors(include_url=False)}")
            return
        # Log lines name the event's document and correlation; the handling span continues the producer's trace.
        with log_context(*_ids_of(event)), delivered(_delivery_of(raw, consumer)):
            try:
                with consuming(topic, consumer, raw.headers), measured.handling():  # ok, or duplicate
                    await _slow_down(consumer, topic, position)
                    await handle(event)
                    log.info("%s: handled %s at %s/%s", consumer, topic, *position)  # names document, trace
            except Exception as exc:
                attempts = failures.get(position, 0) + 1
                failures[position] = attempts
                if attempts >= MAX_ATTEMPTS:
                    failures.pop(position, None)
                    await dead_letter(raw, f"failed {attempts} times: {exc!r}")
                    return
                log.exception("%s: handling %s failed (attempt %d); will retry", consumer, topic, attempts)
                measured.count("retried")
                await asyncio.sleep(RETRY_PAUSE_S)
                raise
        failures.pop(position, None)

    return attempt


def _batch_attempter(
    event_type: type[EventT],
    consumer: str,
    handle_many: BatchHandler[EventT],
    measured: HandlerMetrics,
    attempt: Attempt,
) -> Callable[[tuple[ConsumerRecord, ...]], Awaitable[None]]:
    """One try at a batch: its events go to `handle_many` together; when that raises (or a message is unreadable),
    every message of the batch takes the single-message path (`attempt`: retries, dead letters) in order."""
    topic = event_type.TOPIC

    async def attempt_all(records: tuple[ConsumerRecord, ...]) -> None:
        try:
            events = [event_type.model_validate_json(raw.value or b"") for raw in records]
            started = time.time_ns()
            headers = ((str(event.event_id), raw.headers) for raw, event in zip(records, events, strict=True))
            with measured.handling(len(events)), handling_batch(headers):
                await _slow_down(consumer, topic, (records[0].partition, records[0].offset))
                await handle_many(events)
            ended = time.time_ns()
        except Exception as exc:  # an unreadable message, a failing handler, a concurrent delivery: one at a time
            log.info(
                "%s: %d messages of %s taken one at a time (%s)", consumer, len(records), topic, type(exc).__name__
            )
            for raw in records:
                await attempt(raw)
            return
        for raw, event in zip(records, events, strict=True):
            with log_context(*_ids_of(event)), consumed(topic, consumer, raw.headers, (started, ended)):
                origin = _replayed_from(raw)
                replayed = f", replayed from {origin}" if origin else ""
                log.info("%s: handled %s at %s/%s%s", consumer, topic, raw.partition, raw.offset, replayed)

    return attempt_all


class OffsetCommits:
    """Commits the offsets of handled messages at most every COMMIT_EVERY_S per consumer, not after each message.

    Only offsets of messages already handled are committed (explicitly, per partition), never the position of one
    still being handled: a crash repeats at most the last moment's messages, which `consume_once` recognises as
    duplicates. One commit per message was a round trip and a write on the broker for every event.
    """

    def __init__(self) -> None:
        self._pending: dict[Any, dict[TopicPartition, int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._at_once = False  # while the service drains: each offset as soon as its message is handled

    async def handled(self, message: KafkaMessage, records: Iterable[ConsumerRecord]) -> None:
        consumer = getattr(message, "consumer", None)
        if consumer is None:  # a test broker without a Kafka consumer
            return
        waiting = consumer in self._pending
        pending = self._pending.setdefault(consumer, {})
        for raw in records:  # in offset order within each partition
            pending[TopicPartition(raw.topic, raw.partition)] = raw.offset + 1
        if self._at_once:
            await self._commit(consumer)
        elif not waiting:
            task = asyncio.get_running_loop().create_task(self._commit_soon(consumer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _commit_soon(self, consumer: Any) -> None:
        await asyncio.sleep(COMMIT_EVERY_S)
        await self._commit(consumer)

    async def _commit(self, consumer: Any) -> None:
        offsets = self._pending.pop(consumer, None)
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (KafkaError, AssertionError) as exc:  # e.g. a partition revoked meanwhile: its new owner repeats them
            log.info("offsets not committed (%s): the messages will be delivered again", type(exc).__name__)

    async def drain(self) -> None:
        """The consumers are about to stop: commit what is handled, and from now on each offset at once."""
        self._at_once = True
        await asyncio.gather(*(self._commit(consumer) for consumer in list(self._pending)), return_exceptions=True)


COMMIT_EVERY_S = 0.2
# How long the broker holds a fetch that finds nothing new. A message arriving meanwhile is answered at once
# (fetch.min.bytes is 1), so this adds no latency; at aiokafka's 500 ms the 30-odd idle consumers of a stack
# made the broker answer some 66 empty fetches a second, half of its CPU while nothing happens.
FETCH_MAX_WAIT_MS = 10_000
_commits = OffsetCommits()


async def commit_handled_offsets() -> None:
    """SIGTERM: what is handled is committed now, what the running handlers finish as they return."""
    await _commits.drain()


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
    measured = HandlerMetrics(consumer, topic)
    attempt = _attempter(event_type, consumer, handle, measured, _dead_letterer(broker, topic, consumer, measured))

    @broker.subscriber(
        topic,
        group_id=consumer,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,  # committed by `_commits` once handled (or dead-lettered), a moment later
        max_workers=_consumer_workers,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )
    async def consume(message: KafkaMessage) -> None:
        raw = _record_of(message)
        try:
            await attempt(raw)
        except Exception:
            await message.nack()  # the consumer reads this message again: the retry
            raise
        await _commits.handled(message, (raw,))


def subscribe_batches(
    broker: KafkaBroker,
    event_type: type[EventT],
    consumer: str,
    handle_many: BatchHandler[EventT],
    gather_s: float = BATCH_GATHER_S,
    max_records: int = BATCH_MAX_RECORDS,
) -> None:
    """Like `subscribe`, for a handler that applies the events of a batch together (one transaction for all, see
    `shared.unit_of_work.consume_many`): for the many small events whose effect is a row or two, where the
    transaction around each one was most of its cost. A failing batch is taken one message at a time (a list of
    one for `handle_many`), with the retries and dead letters of `subscribe`; offsets are committed once handled.
    After a batch of fewer than `max_records` the subscriber pauses `gather_s` (0: the next batch at once).
    """
    topic = event_type.TOPIC
    measured = HandlerMetrics(consumer, topic)
    dead_letter = _dead_letterer(broker, topic, consumer, measured)

    async def handle_one(event: EventT) -> None:
        await handle_many([event])

    attempt = _attempter(event_type, consumer, handle_one, measured, dead_letter)
    attempt_all = _batch_attempter(event_type, consumer, handle_many, measured, attempt)

    @broker.subscriber(
        topic,
        group_id=consumer,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=BATCH_WAIT_MS,
        fetch_max_wait_ms=BATCH_FETCH_MAX_WAIT_MS,
    )
    async def consume(message: KafkaMessage) -> None:
        records = _records_of(message)
        try:
            await attempt_all(records)
        except Exception:
            await message.nack()  # each partition is read again from its first record of the batch: the retry
            raise
        await _commits.handled(message, records)
        if len(records) < max_records and gather_s > 0:
            await asyncio.sleep(gather_s)


def _delivery_of(raw: ConsumerRecord, consumer: str) -> Delivery:
    """The message being handled; a replayed dead letter (`eakte dlq replay`) is logged as such."""
    origin = _replayed_from(raw)
    if origin:
        log.info("%s: handling %s at %s/%s, replayed from %s", consumer, raw.topic, raw.partition, raw.offset, origin)
    return Delivery(raw.topic, raw.partition, raw.offset, origin)


def _replayed_from(raw: ConsumerRecord) -> str | None:
    """The dead letter a replayed message was (its `REPLAYED_FROM` header), else None."""
    replayed = next((value for name, value in raw.headers or () if name == REPLAYED_FROM), None)
    return replayed.decode("utf-8", errors="replace") if isinstance(replayed, bytes) else replayed
