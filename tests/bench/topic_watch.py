"""A benchmark's view of one Kafka topic: every record handed to a callback with the time it was seen.

aiokafka (the services' own client) in a thread of its own, reading all partitions by assignment, without a
consumer group: no group coordination to wait for or to get stuck in (kafka-python 3.0.12's consumer in the
benchmarks now and then never fetched a record in a fresh group).
"""

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.messaging import kafka_python_auth
from shared.settings import Settings

OnRecord = Callable[[bytes, float], None]


class TopicWatch:
    def __init__(self, settings: Settings, topic: str, on_record: OnRecord, *, from_start: bool) -> None:
        self._settings, self._topic, self._on_record, self._from_start = settings, topic, on_record, from_start
        self._ready, self._stop = threading.Event(), threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True, name=f"watch-{topic}")

    def __enter__(self) -> "TopicWatch":
        self._thread.start()
        if not self._ready.wait(60) or self._failure is not None:
            self._stop.set()
            raise RuntimeError(f"could not read {self._topic}: {self._failure!r}")
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(30)

    async def _run(self) -> None:
        auth = kafka_python_auth(self._settings.kafka_username, self._settings.kafka_password)
        consumer = AIOKafkaConsumer(bootstrap_servers=self._settings.kafka_bootstrap, enable_auto_commit=False, **auth)
        try:
            await consumer.start()
            await self._assign_all(consumer)
        except BaseException as error:
            self._failure = error
            self._ready.set()
            await consumer.stop()
            return
        self._ready.set()
        try:
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=50)
                at = time.time()
                for records in batches.values():
                    for record in records:
                        self._on_record(record.value or b"", at)
        finally:
            await consumer.stop()

    async def _assign_all(self, consumer: AIOKafkaConsumer) -> None:
        # The stack made every topic with `kafka_partitions` partitions (shared.messaging.create_topics).
        partitions = [TopicPartition(self._topic, p) for p in range(self._settings.kafka_partitions)]
        consumer.assign(partitions)
        if self._from_start:
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        for partition in partitions:  # the positions are fixed now, before anything is sent
            await consumer.position(partition)
