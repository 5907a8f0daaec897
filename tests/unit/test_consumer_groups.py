"""The consumer groups of shared.kafka_acl.CONSUMER_GROUPS (the AsyncAPI document's receivers) are exactly the
groups each service's handlers subscribe with, and the broker's ACLs let each service use its own."""

import importlib
import inspect
from typing import Any

import pytest

import shared.messaging
from shared.events import EVENT_TYPES
from shared.kafka_acl import CONSUMER_GROUPS, PRINCIPALS

SERVICES = ("ingest", "workflow", "archive")


def _subscriptions(monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, str, str]]:
    """(service, group, topic) of every `@consumer(...)` and `@batch_consumer(...)` in services/<service>/handlers.py,
    as registered."""
    seen: set[tuple[str, str, str]] = set()
    service = ""

    def record(_broker: Any, event_type: Any, consumer: str, _handle: Any, *_batch_tuning: Any) -> None:
        seen.add((service, consumer, event_type.TOPIC))

    monkeypatch.setattr(shared.messaging, "subscribe", record)
    monkeypatch.setattr(shared.messaging, "subscribe_batches", record)
    for service in SERVICES:
        register = importlib.import_module(f"services.{service}.handlers").register
        register(*(None for _ in inspect.signature(register).parameters))  # the handlers never run here
    return seen


def test_the_handlers_subscribe_with_exactly_the_groups_of_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {(group.service, group.name, group.topic) for group in CONSUMER_GROUPS}
    assert len(table) == len(CONSUMER_GROUPS) == len({group.name for group in CONSUMER_GROUPS})
    registered = _subscriptions(monkeypatch)
    assert registered == table, (
        f"only in the handlers: {sorted(registered - table)}; only in shared.kafka_acl.CONSUMER_GROUPS: "
        f"{sorted(table - registered)}"
    )


def test_every_group_reads_a_topic_its_service_may_read_under_its_own_prefix() -> None:
    topics = {event.TOPIC for event in EVENT_TYPES}
    for group in CONSUMER_GROUPS:
        grants = PRINCIPALS[group.service]
        assert group.topic in topics and group.topic in grants.consumes, group
        assert grants.group_prefix and group.name.startswith(grants.group_prefix), group
    for service, grants in PRINCIPALS.items():
        read = {group.topic for group in CONSUMER_GROUPS if group.service == service}
        assert read == set(grants.consumes), f"{service} may read topics no handler of it reads, or the reverse"
