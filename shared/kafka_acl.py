"""Who may do what on Kafka: one principal per service, the topics it owns and the topics it consumes.

This is the one table the broker's ACLs are written from (`make up`, the tests and compose's `kafka-init` apply it
with the admin principal through `apply_acls`); see the topic table in `shared.events` for the handlers.

principal  writes (owns)                                   reads (consumes)                    consumer groups
---------  ----------------------------------------------  ----------------------------------  ----------------
ingest     documents.ingested                              documents.review_started,           ingest*
                                                           .approved, .rejected, .archived,
                                                           .returned, .destroyed
workflow   documents.review_started, .approved, .rejected,  documents.ingested,                 workflow*
           .returned, workflow.deadline_reminder,          documents.destroyed
           workflow.escalated, workflow.resubmission_due    documents.archived
archive    documents.archived, documents.destroyed         documents.approved, .rejected       archive*
portal     nothing                                         nothing (describes topics and       describe only
                                                           groups, reads committed offsets)
operator   every consumed topic (replays dead letters there) every dead-letter topic (and       none (reads by
                                                           deletes its old records: purge);    assignment)
                                                           every consumed topic (originals)

Every consumer may also write the dead-letter topic (`<topic>.dlq`) of each topic it consumes. Topics are created
by the admin principal only; no service may create, delete or alter anything. The `operator` principal is IT's
repair tool (`eakte dlq`, the portal's system page; `shared.dead_letters`): it reads and purges the dead-letter
topics and writes a replayed message back to its source topic, nothing else.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from shared.events import ALL_TOPICS, dead_letter_topic

ADMIN = "admin"


@dataclass(frozen=True)
class Grants:
    """What one service principal may do on the broker."""

    owns: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()
    # Consumer groups whose names start with this prefix (the service's name; see `@consumer(group=...)`).
    group_prefix: str | None = None
    # Describe every topic and consumer group and read committed offsets (consumer lag), nothing else.
    observes: bool = False
    # Read and purge (DeleteRecords) every dead-letter topic, read and write every consumed topic (replay); no group.
    repairs: bool = False

    def writes(self) -> tuple[str, ...]:
        return (*self.owns, *(dead_letter_topic(topic) for topic in self.consumes))


PRINCIPALS: dict[str, Grants] = {
    "ingest": Grants(
        owns=("documents.ingested",),
        consumes=(
            "documents.review_started",
            "documents.approved",
            "documents.rejected",
            "documents.archived",
            "documents.returned",
            "documents.destroyed",
        ),
        group_prefix="ingest",
    ),
    "workflow": Grants(
        owns=(
            "documents.review_started",
            "documents.approved",
            "documents.rejected",
            "documents.returned",
            "workflow.deadline_reminder",
            "workflow.escalated",
            "workflow.resubmission_due",
        ),
        consumes=("documents.ingested", "documents.destroyed", "documents.archived"),
        group_prefix="workflow",
    ),
    "archive": Grants(
        owns=("documents.archived", "documents.destroyed"),
        consumes=("documents.approved", "documents.rejected"),
        group_prefix="archive",
    ),
    "portal": Grants(observes=True),
    "operator": Grants(repairs=True),
}

SERVICE_PRINCIPALS: tuple[str, ...] = tuple(PRINCIPALS)


@dataclass(frozen=True)
class Rule:
    """One ALLOW binding: `principal` may do `operation` on the topic/group `name` (or every name starting with it)."""

    principal: str
    operation: str  # READ, WRITE, DESCRIBE, DELETE
    resource: str  # TOPIC, GROUP
    name: str
    prefixed: bool = False


def rules_for(principal: str, grants: Grants, topics: Iterable[str] = ALL_TOPICS) -> list[Rule]:
    rules = [Rule(principal, "WRITE", "TOPIC", topic) for topic in grants.writes()]
    rules += [Rule(principal, "READ", "TOPIC", topic) for topic in grants.consumes]
    if grants.group_prefix:
        # READ implies DESCRIBE (groups and topics): enough for a service's own consumer lag (shared.consumer_lag).
        rules.append(Rule(principal, "READ", "GROUP", grants.group_prefix, prefixed=True))
    if grants.observes:
        rules += [Rule(principal, "DESCRIBE", "TOPIC", topic) for topic in topics]
        rules += [
            Rule(principal, "DESCRIBE", "GROUP", g.group_prefix, prefixed=True)
            for g in PRINCIPALS.values()
            if g.group_prefix
        ]
    if grants.repairs:
        rules += _repair_rules(principal)
    return rules


def consumed_topics() -> tuple[str, ...]:
    """Every topic some service consumes, in table order: the topics that have dead letters to repair."""
    return tuple(dict.fromkeys(topic for g in PRINCIPALS.values() for topic in g.consumes))


def _repair_rules(principal: str) -> list[Rule]:
    rules = []
    for topic in consumed_topics():
        letters = dead_letter_topic(topic)
        rules += [
            Rule(principal, "READ", "TOPIC", letters),
            Rule(principal, "DELETE", "TOPIC", letters),
            # Read: the original of a letter whose payload was cut; write: the replay.
            Rule(principal, "READ", "TOPIC", topic),
            Rule(principal, "WRITE", "TOPIC", topic),
        ]
    return rules


def all_rules() -> list[Rule]:
    return [rule for principal, grants in PRINCIPALS.items() for rule in rules_for(principal, grants)]


@dataclass(frozen=True)
class ConsumerGroup:
    """One consumer group: the service whose `handlers.py` runs it and the topic it reads.

    `CONSUMER_GROUPS` is the one list of them: the AsyncAPI document (`shared.asyncapi`) is written from it, and
    tests/unit/test_consumer_groups.py checks that each service's `@consumer(..., group=...)` names exactly these.
    """

    name: str
    service: str
    topic: str


CONSUMER_GROUPS: tuple[ConsumerGroup, ...] = (
    ConsumerGroup("workflow", "workflow", "documents.ingested"),
    ConsumerGroup("workflow.purge", "workflow", "documents.destroyed"),
    ConsumerGroup("ingest.documents.review_started", "ingest", "documents.review_started"),
    ConsumerGroup("ingest.documents.approved", "ingest", "documents.approved"),
    ConsumerGroup("ingest.documents.rejected", "ingest", "documents.rejected"),
    ConsumerGroup("ingest.documents.archived", "ingest", "documents.archived"),
    ConsumerGroup("ingest.documents.returned", "ingest", "documents.returned"),
    ConsumerGroup("ingest.purge", "ingest", "documents.destroyed"),
    ConsumerGroup("archive", "archive", "documents.approved"),
    ConsumerGroup("archive.documents.rejected", "archive", "documents.rejected"),
    ConsumerGroup("workflow.notify", "workflow", "documents.archived"),
)
