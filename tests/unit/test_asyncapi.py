"""The AsyncAPI document: written from the code, committed as docs/asyncapi.json, valid AsyncAPI 3.0.0, and served
by every service at GET /asyncapi.json without a token."""

import json
from pathlib import Path
from typing import Any

import jsonschema
from fastapi.testclient import TestClient

from devstack.asyncapi_spec import asyncapi_schema
from shared.asyncapi import REGENERATE, document, render
from shared.events import ALL_TOPICS, EVENT_TYPES, dead_letter_topic
from shared.kafka_acl import CONSUMER_GROUPS, PRINCIPALS
from shared.service_app import ServiceRuntime, build_app
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.json"


def test_the_committed_document_is_the_one_the_code_writes() -> None:
    assert COMMITTED.exists(), f"docs/asyncapi.json is missing: write it with `{REGENERATE}`"
    assert COMMITTED.read_text() == render(), f"docs/asyncapi.json is out of date: regenerate it with `{REGENERATE}`"


def test_the_document_is_valid_asyncapi_3() -> None:
    """Checked against the official JSON schema of the npm package @asyncapi/specs (pinned in devstack)."""
    schema = json.loads(asyncapi_schema().read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(document()), key=lambda e: list(e.path))
    assert [f"{list(e.path)}: {e.message[:200]}" for e in errors] == []


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for token in ref.removeprefix("#/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_resolves_inside_the_document() -> None:
    doc = document()
    refs = _refs(doc)
    assert refs and all(ref.startswith("#/") for ref in refs)
    for ref in refs:
        _resolve(doc, ref)  # KeyError names the dangling reference
    assert "$defs" not in json.dumps(doc), "nested schemas live in components/schemas"


def test_every_topic_is_a_channel_with_its_event_key_and_headers() -> None:
    doc = document()
    assert set(doc["channels"]) == set(ALL_TOPICS)
    for event in EVENT_TYPES:
        message = doc["components"]["messages"][event.__name__]
        payload = _resolve(doc, message["payload"]["$ref"])
        assert set(event.model_fields) <= set(payload["properties"]), event.__name__
        assert "document id" in message["bindings"]["kafka"]["key"]["description"]
        assert {"content-type", "traceparent", "eakte-replayed-from"} <= set(message["headers"]["properties"])
        assert doc["channels"][event.TOPIC]["messages"] == {
            event.__name__: {"$ref": f"#/components/messages/{event.__name__}"}
        }
        dlq = doc["channels"][dead_letter_topic(event.TOPIC)]["messages"]
        assert dlq == {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}}
    assert doc["components"]["securitySchemes"]["scramSha512"]["type"] == "scramSha512"


def test_the_operations_name_who_sends_and_which_group_receives() -> None:
    operations = document()["operations"].values()
    sends = {
        (op["x-eakte-service"], op["channel"]["$ref"].removeprefix("#/channels/"))
        for op in operations
        if op["action"] == "send"
    }
    expected = {(service, topic) for service, grants in PRINCIPALS.items() for topic in grants.writes()}
    assert sends == expected
    receives = {
        (
            op["x-eakte-service"],
            op["bindings"]["kafka"]["groupId"]["enum"][0],
            op["channel"]["$ref"].removeprefix("#/channels/"),
        )
        for op in operations
        if op["action"] == "receive"
    }
    assert receives == {(group.service, group.name, group.topic) for group in CONSUMER_GROUPS}


def test_every_service_serves_the_whole_document_without_a_token() -> None:
    runtime = ServiceRuntime(name="ingest", settings=Settings(), sessions=None, broker=None, relay=None)  # type: ignore[arg-type]
    answer = TestClient(build_app(runtime, [])).get("/asyncapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == json.loads(render())
