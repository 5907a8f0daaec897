"""Consumer lag read from Kafka: for each consumer group, topic and partition, how many events wait.

Blocking (kafka-python's admin client): call it in a worker thread. The portal reads every group (its principal
may describe all groups and topics); a service reads only its own groups, which its READ grants on its group
prefix and its consumed topics already allow to describe (Kafka: READ implies DESCRIBE), see `shared.kafka_acl`.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import OffsetSpec

from shared.messaging import kafka_python_auth


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    lag: int


def admin_client(bootstrap: str, username: str, password: str, client_id: str, timeout_ms: int) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=timeout_ms,
        client_id=client_id,
        **kafka_python_auth(username, password),
    )


def partition_lags(admin: KafkaAdminClient, groups: Iterable[str]) -> list[PartitionLag]:
    """The lag of each partition a group has committed an offset on (a group that never committed has no row)."""
    wanted = list(dict.fromkeys(groups))
    committed = admin.list_group_offsets(dict.fromkeys(wanted)) if wanted else {}
    partitions = {tp for offsets in committed.values() for tp in offsets}
    ends = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.LATEST)) if partitions else {}
    end = {tp: ends[tp].offset if tp in ends else 0 for tp in partitions}
    lags = [
        PartitionLag(group, tp.topic, tp.partition, max(0, end[tp] - max(offset.offset, 0)))
        for group, offsets in committed.items()
        for tp, offset in offsets.items()
    ]
    return sorted(lags, key=lambda lag: (lag.group, lag.topic, lag.partition))


class GroupLagReader:
    """Reads the lag of a fixed set of groups, keeping one admin client open between readings (re-opened on error).

    Not thread-safe: one reading at a time (`shared.metrics.CachedReading` serialises them).
    """

    def __init__(self, bootstrap: str, username: str, password: str, client_id: str, timeout_ms: int = 3000) -> None:
        self._where = (bootstrap, username, password, client_id)
        self._timeout_ms = timeout_ms
        self._admin: KafkaAdminClient | None = None

    def read(self, groups: Iterable[str]) -> list[PartitionLag]:
        if self._admin is None:
            self._admin = admin_client(*self._where, self._timeout_ms)
        try:
            return partition_lags(self._admin, groups)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            admin.close()
