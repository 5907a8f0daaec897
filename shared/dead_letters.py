"""IT's repair of Kafka dead letters: list, show, replay and purge the letters in the `<topic>.dlq` topics.

Used by `eakte dlq` and by the portal's system page, as the `operator` principal (shared.kafka_acl): it reads
the dead-letter topics, writes a replayed message to its source topic and deletes old records (purge).

A letter's id is `<dlq topic>/<partition>/<offset>`, e.g. `documents.ingested.dlq/0/12`: stable as long as the
record is kept, printable, and the same text as the `eakte-replayed-from` header a replayed message carries.
Within a known topic, `0/12` and `0-12` name the same letter.

Replay re-publishes the original payload with the letter's key to the source topic, with the headers
`content-type: application/json` and `eakte-replayed-from: <letter id>`. A letter whose payload was cut (or whose
text is not the original's bytes) is replayed from the original, read at `source_partition`/`source_offset` of the
source topic and checked against `payload_sha256`; when the source topic no longer holds it, replay is refused.
Every consumer group of the source topic gets the replay: the ones that processed the event count it as a
duplicate (`shared.unit_of_work.consume_once` by event id); the one that dead-lettered it applies it now.
"""

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaTimeoutError
from pydantic import ValidationError

from shared.delivery import REPLAYED_FROM
from shared.events import DeadLetter, dead_letter_topic
from shared.kafka_acl import consumed_topics
from shared.messaging import kafka_python_auth
from shared.settings import Settings, dev_kafka_password

DLQ_SUFFIX = ".dlq"
# A broker that does not answer within this time is reported, not waited for (the portal page, the CLI).
REQUEST_TIMEOUT_MS = 15_000
_POSITION = re.compile(r"^(\d+)[/-](\d+)$")


class LetterNotFound(LookupError):
    """No dead letter has this id (never written, or purged)."""


class NotReplayable(RuntimeError):
    """The letter's original cannot be had any more: its payload was cut and the source topic no longer holds it."""


@dataclass(frozen=True, order=True)
class LetterId:
    topic: str  # the dead-letter topic
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of `topic`, which may name the source topic or the dead-letter topic itself."""
    return topic if topic.endswith(DLQ_SUFFIX) else dead_letter_topic(topic)


def source_of(dlq: str) -> str:
    return dlq.removesuffix(DLQ_SUFFIX)


def parse_letter_id(text: str, topic: str | None = None) -> LetterId:
    """`<dlq topic>/<partition>/<offset>`; with `topic` known also `<partition>/<offset>` or `<partition>-<offset>`.

    Raises ValueError with a message for a person.
    """
    text = text.strip()
    position = _POSITION.match(text)
    if position and topic:
        return LetterId(dlq_topic(topic), int(position[1]), int(position[2]))
    name, _, rest = text.rpartition("/")
    name, _, partition = name.rpartition("/")
    if not name or not partition.isdigit() or not rest.isdigit():
        raise ValueError(f"not a dead-letter id: {text!r} (expected <topic>.dlq/<partition>/<offset>)")
    found = LetterId(dlq_topic(name), int(partition), int(rest))
    if topic and found.topic != dlq_topic(topic):
        raise ValueError(f"dead letter {text} is not one of {dlq_topic(topic)}")
    return found


def parse_before(text: str) -> datetime:
    """A date (`2026-11-30`, midnight UTC) or an ISO date-time (without a zone: UTC); ValueError otherwise."""
    text = text.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date: {text!r} (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM])") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class StoredLetter:
    """A dead letter as it lies in its topic: id, the broker's time, the record's key and the letter."""

    id: LetterId
    time: datetime
    key: bytes | None
    letter: DeadLetter

    @property
    def replayable(self) -> bool:
        """Whether the original may still be had (from the source topic this is only known when trying)."""
        return _original_in_letter(self.letter) is not None or self.letter.source_offset is not None


@dataclass(frozen=True)
class Replayed:
    letter: LetterId
    topic: str
    partition: int
    offset: int


def operator_auth(settings: Settings) -> dict[str, str]:
    """kafka-python arguments for the operator principal (the development password unless one is set)."""
    username = settings.kafka_operator_username
    password = settings.kafka_operator_password
    if not password and settings.env != "production":
        password = dev_kafka_password(username)
    return kafka_python_auth(username, password)


def _original_in_letter(letter: DeadLetter) -> bytes | None:
    """The letter's payload when it is the whole original (its SHA-256 matches), else None."""
    payload = letter.payload.encode()
    if letter.payload_truncated or (
        letter.payload_sha256 and hashlib.sha256(payload).hexdigest() != letter.payload_sha256
    ):
        return None
    return payload


def _letter_of(value: bytes | None) -> DeadLetter:
    try:
        return DeadLetter.model_validate_json(value or b"")
    except ValidationError:
        # Not written by us (someone produced garbage to the topic): shown, never replayed.
        text = (value or b"").decode("utf-8", errors="replace")
        return DeadLetter(
            source_topic="", consumer="", reason="unreadable dead letter", payload=text[:2000], payload_truncated=True
        )


class DeadLetters:
    """The dead-letter topics on one broker, as the operator principal sees them."""

    def __init__(self, bootstrap: str, auth: dict[str, str], topics: tuple[str, ...] | None = None) -> None:
        self._bootstrap = bootstrap
        self._auth = auth
        self.topics = topics or tuple(dead_letter_topic(topic) for topic in consumed_topics())

    @classmethod
    def from_settings(cls, settings: Settings) -> "DeadLetters":
        return cls(settings.kafka_bootstrap, operator_auth(settings))

    @contextmanager
    def _consumer(self) -> Iterator[KafkaConsumer]:
        consumer = KafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id="eakte-operator",
            request_timeout_ms=REQUEST_TIMEOUT_MS,
            **self._auth,
        )
        try:
            yield consumer
        finally:
            consumer.close()

    def _partitions(self, consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise LetterNotFound(f"no topic {topic} on the broker")
        return [TopicPartition(topic, p) for p in sorted(partitions)]

    def read(self, topic: str) -> list[StoredLetter]:
        """Every letter still in `topic` (source or dead-letter topic name), oldest offset first per partition."""
        topic = dlq_topic(topic)
        with self._consumer() as consumer:
            partitions = self._partitions(consumer, topic)
            return list(self._records(consumer, partitions, consumer.end_offsets(partitions)))

    def newest(self, topic: str, count: int) -> list[StoredLetter]:
        """The `count` newest letters of `topic`, newest first (reads only the last `count` of each partition)."""
        topic = dlq_topic(topic)
        with self._consumer() as consumer:
            partitions = self._partitions(consumer, topic)
            begin, end = consumer.beginning_offsets(partitions), consumer.end_offsets(partitions)
            starts = {tp: max(begin[tp], end[tp] - count) for tp in partitions}
            found = list(self._records(consumer, partitions, end, starts))
        return sorted(found, key=lambda stored: (stored.time, stored.id), reverse=True)[:count]

    def _records(
        self,
        consumer: KafkaConsumer,
        partitions: list[TopicPartition],
        ends: dict[TopicPartition, int],
        starts: dict[TopicPartition, int] | None = None,
    ) -> Iterator[StoredLetter]:
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        for tp, offset in (starts or {}).items():
            consumer.seek(tp, offset)
        left = {tp for tp in partitions if consumer.position(tp) < ends[tp]}
        while left:
            for tp, records in _poll(consumer).items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield _stored(record)
                if consumer.position(tp) >= ends[tp]:
                    left.discard(tp)

    def counts(self) -> dict[str, int]:
        """How many letters each dead-letter topic holds now (end minus beginning offsets)."""
        with self._consumer() as consumer:
            partitions = [tp for topic in self.topics for tp in self._partitions(consumer, topic)]
            begin, end = consumer.beginning_offsets(partitions), consumer.end_offsets(partitions)
        totals = dict.fromkeys(self.topics, 0)
        for tp in partitions:
            totals[tp.topic] += end[tp] - begin[tp]
        return totals

    def get(self, letter_id: LetterId) -> StoredLetter:
        with self._consumer() as consumer:
            return self._get(consumer, letter_id)

    def _get(self, consumer: KafkaConsumer, letter_id: LetterId) -> StoredLetter:
        tp = TopicPartition(letter_id.topic, letter_id.partition)
        if tp not in self._partitions(consumer, letter_id.topic):
            raise LetterNotFound(f"no dead letter {letter_id}: the topic has no partition {letter_id.partition}")
        record = _record_at(consumer, tp, letter_id.offset)
        if record is None:
            raise LetterNotFound(f"no dead letter {letter_id} (never written, or purged)")
        return _stored(record)

    @contextmanager
    def _producer(self) -> Iterator[KafkaProducer]:
        producer = KafkaProducer(
            bootstrap_servers=self._bootstrap, acks="all", client_id="eakte-operator", **self._auth
        )
        try:
            yield producer
        finally:
            producer.close()

    def replay(self, letter_id: LetterId) -> Replayed:
        """Publish the letter's original to its source topic, marked as replayed; wait for the broker's ack."""
        with self._consumer() as consumer, self._producer() as producer:
            stored = self._get(consumer, letter_id)
            return _send(producer, stored, self._original(consumer, stored))

    def replay_all(
        self, topic: str, progress: Callable[[int, int], None] = lambda _done, _total: None
    ) -> tuple[list[Replayed], list[NotReplayable]]:
        """Replay every letter of `topic` in offset order; `progress(done, total)` after each.

        Returns the replayed letters and the refusals of those that cannot be replayed (they are skipped).
        """
        letters = self.read(topic)
        done: list[Replayed] = []
        refused: list[NotReplayable] = []
        with self._consumer() as consumer, self._producer() as producer:
            for stored in letters:
                try:
                    done.append(_send(producer, stored, self._original(consumer, stored)))
                except NotReplayable as exc:
                    refused.append(exc)
                progress(len(done) + len(refused), len(letters))
        return done, refused

    def _original(self, consumer: KafkaConsumer, stored: StoredLetter) -> bytes:
        letter = stored.letter
        whole = _original_in_letter(letter)
        if whole is not None:
            return whole
        if letter.source_partition is None or letter.source_offset is None or not letter.source_topic:
            raise NotReplayable(f"dead letter {stored.id}: its payload was cut and its source position is not known")
        tp = TopicPartition(letter.source_topic, letter.source_partition)
        record = _record_at(consumer, tp, letter.source_offset)
        if record is None or hashlib.sha256(record.value or b"").hexdigest() != letter.payload_sha256:
            raise NotReplayable(
                f"dead letter {stored.id}: its payload was cut and {letter.source_topic} no longer holds the original "
                f"at {letter.source_partition}/{letter.source_offset}"
            )
        return bytes(record.value)

    def purge(self, topic: str, before: datetime) -> int:
        """Delete the letters of `topic` written before `before` (per partition up to the first one at/after it)."""
        topic = dlq_topic(topic)
        with self._consumer() as consumer:
            partitions = self._partitions(consumer, topic)
            begin, end = consumer.beginning_offsets(partitions), consumer.end_offsets(partitions)
            at = consumer.offsets_for_times({tp: int(before.timestamp() * 1000) for tp in partitions})
        cut = {tp: (at[tp].offset if at.get(tp) else end[tp]) for tp in partitions}
        cut = {tp: offset for tp, offset in cut.items() if offset > begin[tp]}
        if cut:
            admin = KafkaAdminClient(bootstrap_servers=self._bootstrap, client_id="eakte-operator", **self._auth)
            try:
                admin.delete_records(cut)
            finally:
                admin.close()
        return sum(offset - begin[tp] for tp, offset in cut.items())


def _send(producer: KafkaProducer, stored: StoredLetter, payload: bytes) -> Replayed:
    """The original back to its source topic, with the same key and the replay header; waits for the ack."""
    source = stored.letter.source_topic or source_of(stored.id.topic)
    headers = [("content-type", b"application/json"), (REPLAYED_FROM, str(stored.id).encode())]
    sent = producer.send(source, key=stored.key, value=payload, headers=headers).get(timeout=30)
    return Replayed(stored.id, source, sent.partition, sent.offset)


def _poll(consumer: KafkaConsumer, attempts: int = 10) -> dict[TopicPartition, list[ConsumerRecord]]:
    """The next records; KafkaTimeoutError when the broker sends none for a while although some are due."""
    for _attempt in range(attempts):
        found: dict[TopicPartition, list[ConsumerRecord]] = consumer.poll(timeout_ms=2000)
        if found:
            return found
    raise KafkaTimeoutError("the broker sent no records for 20 s although the partition holds more")


def _record_at(consumer: KafkaConsumer, tp: TopicPartition, offset: int) -> ConsumerRecord | None:
    """The record at `offset` of `tp`, or None when the partition does not hold it (any more)."""
    begin, end = consumer.beginning_offsets([tp])[tp], consumer.end_offsets([tp])[tp]
    if not begin <= offset < end:
        return None
    consumer.assign([tp])
    consumer.seek(tp, offset)
    while consumer.position(tp) < end:
        for record in _poll(consumer).get(tp, []):
            if record.offset == offset:
                return record
            if record.offset > offset:
                return None
    return None


def _stored(record: ConsumerRecord) -> StoredLetter:
    moment = datetime.fromtimestamp(record.timestamp / 1000, UTC)
    return StoredLetter(
        LetterId(record.topic, record.partition, record.offset), moment, record.key, _letter_of(record.value)
    )
