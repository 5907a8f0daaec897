"""The one ACL table (shared.kafka_acl) matches what the services' handlers consume and what they publish."""

import re
from pathlib import Path

from shared import events
from shared.kafka_acl import PRINCIPALS, all_rules, rules_for

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = re.compile(r'@(?:batch_)?consumer\(broker, (\w+), group="([^"]+)"[,)]')


def _consumed_by_handlers() -> dict[str, set[tuple[str, str]]]:
    """service -> {(topic, group)} of each `@consumer` and `@batch_consumer` in `services/<service>/handlers.py`."""
    found: dict[str, set[tuple[str, str]]] = {}
    for handlers in ROOT.glob("services/*/handlers.py"):
        for event_name, group in CONSUMER.findall(handlers.read_text()):
            topic = getattr(events, event_name).TOPIC
            found.setdefault(handlers.parent.name, set()).add((topic, group))
    return found


def test_every_consumer_group_may_read_its_topic_and_use_its_group() -> None:
    consumed = _consumed_by_handlers()
    assert consumed, "no @consumer found"
    for service, pairs in consumed.items():
        grants = PRINCIPALS[service]
        for topic, group in pairs:
            assert topic in grants.consumes, (service, topic)
            assert grants.group_prefix and group.startswith(grants.group_prefix), (service, group)
            assert events.dead_letter_topic(topic) in grants.writes(), (service, topic)
    assert {topic for pairs in consumed.values() for topic, _ in pairs} == {
        topic for grants in PRINCIPALS.values() for topic in grants.consumes
    }, "the table grants reads no handler needs"


def test_every_topic_has_exactly_one_owner() -> None:
    owners = [topic for grants in PRINCIPALS.values() for topic in grants.owns]
    assert sorted(owners) == sorted(event.TOPIC for event in events.EVENT_TYPES)


def test_the_portal_only_describes() -> None:
    portal = rules_for("portal", PRINCIPALS["portal"])
    assert portal and {rule.operation for rule in portal} == {"DESCRIBE"}
    assert not any(rule.operation in ("WRITE", "READ") and rule.principal == "portal" for rule in all_rules())


def test_no_service_may_write_another_services_topic() -> None:
    ingest = {rule.name for rule in rules_for("ingest", PRINCIPALS["ingest"]) if rule.operation == "WRITE"}
    assert "documents.destroyed" not in ingest and "documents.approved" not in ingest
    assert "documents.ingested" in ingest and "documents.destroyed.dlq" in ingest
