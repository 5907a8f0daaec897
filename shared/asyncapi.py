"""The AsyncAPI 3.0.0 document of every Kafka topic, written from the contracts in `shared/`.

Regenerate the committed copy after changing an event, a topic, a producer or a consumer group:

    .venv/bin/python -m shared.asyncapi > docs/asyncapi.json

(tests/unit/test_asyncapi.py fails while docs/asyncapi.json and the code disagree). Every service serves the same
whole document at `GET /asyncapi.json` (no token: it describes, it reveals no data).

Why from the contracts rather than FastStream's own generator: FastStream describes the subscribers (and declared
publishers) of one broker, i.e. one service's consumers. The services publish through their transactional outbox
(raw bytes to a topic name, no publisher objects), so FastStream knows nothing of who writes a topic; nor of the
other services' consumer groups, the dead-letter topics, the key or the headers. The contracts name all of that in
one place each, so the document is written from them:

- topics and payloads: `shared.events.EVENT_TYPES` (each class's `TOPIC`, its pydantic JSON schema), and the
  dead-letter topic `<topic>.dlq` of each with `shared.events.DeadLetter`;
- who sends: `shared.kafka_acl.PRINCIPALS` (a service owns the topics it writes; every consumer may write the
  dead-letter topic of what it reads);
- who receives: `shared.kafka_acl.CONSUMER_GROUPS` (the groups of the `@consumer(...)` handlers).
"""

import json
import sys
from importlib import metadata
from typing import Any

from pydantic import BaseModel

from shared.delivery import REPLAYED_FROM
from shared.events import EVENT_TYPES, DeadLetter, Event, dead_letter_topic
from shared.kafka_acl import CONSUMER_GROUPS, PRINCIPALS
from shared.tracing import TRACEPARENT

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING = "0.5.0"
SCHEMAS = "#/components/schemas/"
REGENERATE = ".venv/bin/python -m shared.asyncapi > docs/asyncapi.json"

# Kafka record headers (names as on the wire). Producers set content-type; the others where they apply.
CONTENT_TYPE_HEADER = {
    "type": "string",
    "const": "application/json",
    "description": "The payload's media type: JSON (UTF-8), as the outbox relay publishes it.",
}
TRACEPARENT_HEADER = {
    "type": "string",
    "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
    "description": (
        "W3C Trace Context (https://www.w3.org/TR/trace-context/): the trace of the request or handler that "
        "produced the message; the consumer continues it, so one document is one trace across the services."
    ),
}
REPLAYED_FROM_HEADER = {
    "type": "string",
    "pattern": "^.+\\.dlq/[0-9]+/[0-9]+$",
    "description": (
        "Set only on a message re-published from a dead-letter topic by `eakte dlq replay`: where the dead "
        "letter lay, `<dlq topic>/<partition>/<offset>`. The consumer applies the event once however often it is "
        "replayed."
    ),
}


def _payload_schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    """Put `model`'s JSON schema (and its `$defs`) into `schemas`; return the reference to it."""
    schema = model.model_json_schema(mode="serialization", ref_template=SCHEMAS + "{model}")
    for name, definition in {**schema.pop("$defs", {}), model.__name__: schema}.items():
        if schemas.setdefault(name, definition) != definition:
            raise ValueError(f"two different schemas are both called {name!r}")
    return {"$ref": SCHEMAS + model.__name__}


def _event_message(event: type[Event], schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": event.__name__,
        "title": event.__name__,
        "summary": _first_line(event.__doc__) or f"An event on {event.TOPIC}.",
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "required": ["content-type"],
            "properties": {
                "content-type": CONTENT_TYPE_HEADER,
                TRACEPARENT: TRACEPARENT_HEADER,
                REPLAYED_FROM: REPLAYED_FROM_HEADER,
            },
        },
        "payload": _payload_schema(event, schemas),
        "correlationId": {
            "description": "The request that started the document's way (the same on all its events).",
            "location": "$message.payload#/correlation_id",
        },
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "format": "uuid",
                    "description": "The document id (the payload's `document_id`, UTF-8): all events of one "
                    "document land in one partition, in order.",
                },
                "bindingVersion": KAFKA_BINDING,
            }
        },
        "x-eakte-schema-version": event.SCHEMA_VERSION,
    }


def _dead_letter_message(schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": DeadLetter.__name__,
        "title": DeadLetter.__name__,
        "summary": _first_line(DeadLetter.__doc__),
        "description": (
            "Written by a consumer for a message it cannot read, or that failed five times in a row; by workflow "
            "for an unknown workflow; by archive when provenance or fingerprint is refused. Kept for IT: "
            "`eakte dlq list|show|replay|purge`."
        ),
        "contentType": "application/json",
        "headers": {"type": "object", "properties": {TRACEPARENT: TRACEPARENT_HEADER}},
        "payload": _payload_schema(DeadLetter, schemas),
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": "The refused message's key as it was (the document id when it was readable).",
                },
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n")[0]


def _channel(topic: str, message: str, description: str) -> dict[str, Any]:
    return {
        "address": topic,
        "title": topic,
        "description": description,
        "messages": {message: {"$ref": f"#/components/messages/{message}"}},
        "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING}},
    }


def _operation(action: str, topic: str, message: str, service: str, group: str | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{_pointer(topic)}"},
        "messages": [{"$ref": f"#/channels/{_pointer(topic)}/messages/{message}"}],
        "tags": [{"name": service}],
        "x-eakte-service": service,
    }
    if group is None:
        operation["summary"] = f"{service} publishes {message} to {topic}."
    else:
        operation["summary"] = f"{service} consumes {topic} in consumer group {group}."
        operation["bindings"] = {
            "kafka": {"groupId": {"type": "string", "enum": [group]}, "bindingVersion": KAFKA_BINDING}
        }
    return operation


def _pointer(name: str) -> str:
    """`name` as one JSON-pointer token (RFC 6901)."""
    return name.replace("~", "~0").replace("/", "~1")


def _operations() -> dict[str, Any]:
    """`send` by each service that writes a topic; `receive` by each consumer group that reads one."""
    messages = {event.TOPIC: event.__name__ for event in EVENT_TYPES}
    operations: dict[str, Any] = {}
    for service, grants in PRINCIPALS.items():
        for topic in grants.owns:
            operations[f"{service}.send.{topic}"] = _operation("send", topic, messages[topic], service)
        for topic in grants.consumes:
            dlq = dead_letter_topic(topic)
            operations[f"{service}.send.{dlq}"] = _operation("send", dlq, DeadLetter.__name__, service)
    for group in CONSUMER_GROUPS:
        operations[f"{group.name}.receive.{group.topic}"] = _operation(
            "receive", group.topic, messages[group.topic], group.service, group.name
        )
    return operations


def _who(topic: str) -> str:
    """Who writes and who reads `topic`, in words, from the same tables as the operations."""
    senders = [service for service, grants in PRINCIPALS.items() if topic in grants.writes()]
    groups = [group.name for group in CONSUMER_GROUPS if group.topic == topic]
    read = f"consumer group(s) {', '.join(groups)}" if groups else "no consumer here (kept for IT: `eakte dlq`)"
    return f"Sent by {', '.join(senders) or 'nobody (no service consumes its source topic)'}; received by {read}."


def _channels(messages: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    messages[DeadLetter.__name__] = _dead_letter_message(schemas)
    channels: dict[str, Any] = {}
    for event in EVENT_TYPES:
        messages[event.__name__] = _event_message(event, schemas)
        summary = _first_line(event.__doc__) or f"{event.__name__} events."
        channels[event.TOPIC] = _channel(event.TOPIC, event.__name__, f"{summary} {_who(event.TOPIC)}")
        dlq = dead_letter_topic(event.TOPIC)
        channels[dlq] = _channel(dlq, DeadLetter.__name__, f"Dead letters of {event.TOPIC}. {_who(dlq)}")
    return channels


def document() -> dict[str, Any]:
    """The whole AsyncAPI document: every topic, its payload, key and headers, who sends and who receives."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels = _channels(messages, schemas)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "E-Akte events",
            "version": metadata.version("eakte"),
            "description": (
                "Every Kafka topic of the E-Akte services. Messages carry JSON, keyed by the document id; they "
                "never carry file bytes, only where the file lies (claim check). Consumers ignore fields they do "
                f"not know. Generated from the code (shared/asyncapi.py): `{REGENERATE}`."
            ),
            "license": {"name": "EUPL-1.2"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "SASL/SCRAM-SHA-512, one principal per service; ACLs from shared/kafka_acl.py.",
                "variables": {"bootstrap": {"default": "kafka:9092", "description": "EAKTE_KAFKA_BOOTSTRAP"}},
                "security": [{"$ref": "#/components/securitySchemes/scramSha512"}],
            }
        },
        "channels": channels,
        "operations": _operations(),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "messages": messages,
            "securitySchemes": {
                "scramSha512": {"type": "scramSha512", "description": "EAKTE_KAFKA_USERNAME / EAKTE_KAFKA_PASSWORD"}
            },
        },
    }


def render() -> str:
    """The document as committed to docs/asyncapi.json."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
