"""Topic lag at a glance: for each consumer group, how many events wait on each topic (read from Kafka)."""

from dataclasses import dataclass

from kafka.errors import KafkaError

from shared.consumer_lag import admin_client, partition_lags


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
    admin = admin_client(bootstrap, username, password, "eakte-portal", timeout_ms)
    try:
        states = {group["group_id"]: group.get("group_state", "") for group in admin.list_groups()}
        totals: dict[tuple[str, str], int] = {}
        for row in partition_lags(admin, states):
            totals[(row.group, row.topic)] = totals.get((row.group, row.topic), 0) + row.lag
        return [GroupLag(group, states.get(group, ""), topic, lag) for (group, topic), lag in sorted(totals.items())]
    finally:
        admin.close()


__all__ = ["GroupLag", "KafkaError", "consumer_lag"]
