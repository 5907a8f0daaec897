"""Topic lag at a glance: for each consumer group, how many events wait on each topic (read from Kafka)."""

from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import OffsetSpec
from kafka.errors import KafkaError

from shared.messaging import kafka_python_auth


@dataclass(frozen=True)
class GroupLag:
    group: str
    state: str
    topic: str
    lag: int


def consumer_lag(bootstrap: str, username: str = "", password: str = "", timeout_ms: int = 3000) -> list[GroupLag]:
    """Blocking: call in a thread. Raises KafkaError when the broker cannot be reached.

    The portal's principal may only describe topics and groups and read their committed offsets.

    A group that has not committed anything yet (it never received an event) has no row.
    """
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=timeout_ms,
        client_id="eakte-portal",
        **kafka_python_auth(username, password),
    )
    try:
        states = {group["group_id"]: group.get("group_state", "") for group in admin.list_groups()}
        committed = admin.list_group_offsets(dict.fromkeys(states)) if states else {}
        partitions = {tp for offsets in committed.values() for tp in offsets}
        ends = admin.list_partition_offsets(dict.fromkeys(partitions, OffsetSpec.LATEST)) if partitions else {}
        totals: dict[tuple[str, str], int] = {}
        for group, offsets in committed.items():
            for tp, meta in offsets.items():
                end = ends[tp].offset if tp in ends else 0
                totals[(group, tp.topic)] = totals.get((group, tp.topic), 0) + max(0, end - max(meta.offset, 0))
        return [GroupLag(group, states.get(group, ""), topic, lag) for (group, topic), lag in sorted(totals.items())]
    finally:
        admin.close()


__all__ = ["GroupLag", "KafkaError", "consumer_lag"]
