"""The event contract is open to integrators: each running service answers GET /asyncapi.json without a token with
the whole AsyncAPI document, the one committed as docs/asyncapi.json."""

import json
from pathlib import Path

import httpx
import pytest

from devstack.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("service", ["ingest", "workflow", "archive"])
def test_each_service_serves_the_committed_asyncapi_document_without_a_token(stack: Stack, service: str) -> None:
    answer = httpx.get(f"{stack.url(service)}/asyncapi.json", timeout=10)
    assert answer.status_code == 200, answer.text[:200]
    document = answer.json()
    assert document == json.loads((ROOT / "docs" / "asyncapi.json").read_text())
    assert document["asyncapi"] == "3.0.0"
    receivers = {
        op["bindings"]["kafka"]["groupId"]["enum"][0]
        for op in document["operations"].values()
        if op["action"] == "receive"
    }
    assert {"workflow", "archive", "ingest.purge"} <= receivers  # every service's groups, whichever service answers
