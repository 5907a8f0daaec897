"""Structured logs: one JSON object per line with the fields IT's collector indexes, and never a secret."""

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider

from shared import tracing
from shared.logs import CORRELATION_HEADER, CorrelationId, JsonFormatter, log_context, redact

DOCUMENT = "0b6f3a52-5d8e-4c8b-9a57-3b0e2f6d9c11"
CORRELATION = "c7d1e0a4-1f2b-4c3d-8e9f-a0b1c2d3e4f5"


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through the JSON formatter into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter("ingest"))
    logger = logging.getLogger("eakte.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, buffer
    finally:
        logger.removeHandler(handler)


def _parsed(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_every_line_is_one_json_object_with_time_level_service_logger_and_message(lines) -> None:
    logger, buffer = lines
    logger.info("outbox relay started")
    logger.warning("a message\nover two lines")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("handling failed")

    parsed = _parsed(buffer)  # every line parses on its own

    assert len(parsed) == 3
    first = parsed[0]
    assert first["level"] == "INFO" and first["service"] == "ingest" and first["logger"] == "eakte.test.logs"
    assert first["message"] == "outbox relay started"
    assert first["time"].endswith("Z") and "T" in first["time"]  # ISO 8601, UTC
    assert "document_id" not in first and "correlation_id" not in first and "traceparent" not in first
    assert parsed[1]["message"] == "a message\nover two lines"
    assert "RuntimeError: boom" in parsed[2]["exception"]


def test_lines_name_the_document_and_correlation_of_the_work_in_hand(lines) -> None:
    logger, buffer = lines
    with log_context(DOCUMENT, CORRELATION):
        logger.info("documents.ingested handled")
    logger.info("after")

    inside, after = _parsed(buffer)

    assert inside["document_id"] == DOCUMENT and inside["correlation_id"] == CORRELATION
    assert "document_id" not in after


def test_lines_carry_the_traceparent_of_the_current_span(lines) -> None:
    logger, buffer = lines
    provider = TracerProvider()
    tracing.use_provider(provider)
    try:
        with provider.get_tracer("test").start_as_current_span("work") as span:
            logger.info("inside a span")
    finally:
        tracing.use_provider(None)

    [line] = _parsed(buffer)
    context = span.get_span_context()
    assert line["traceparent"] == f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
    assert int(line["traceparent"][-2:], 16) & 1  # sampled


def test_no_secrets_reach_a_line(lines) -> None:
    logger, buffer = lines
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjbGFyYSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    logger.warning("refused: Authorization: Bearer %s", jwt)
    logger.warning("connect failed: postgresql://eakte@db/x?password=hunter2&sslmode=require")
    try:
        raise ValueError(f"token {jwt} expired")
    except ValueError:
        logger.exception("verification failed")

    text = buffer.getvalue()

    assert jwt not in text and "hunter2" not in text
    assert all(json.loads(line) for line in text.splitlines())
    assert redact("Bearer abc.def") == "Bearer [redacted]"


def test_an_http_request_runs_with_the_callers_correlation_id_or_a_fresh_one(lines) -> None:
    logger, buffer = lines
    app = FastAPI()
    app.add_middleware(CorrelationId)

    @app.get("/ping")
    def ping() -> dict[str, str]:
        logger.info("ping")
        return {"ok": "yes"}

    client = TestClient(app)
    given = client.get("/ping", headers={CORRELATION_HEADER: "req-42"})
    fresh = client.get("/ping")
    unsafe = client.get("/ping", headers={CORRELATION_HEADER: "x" * 500})

    assert given.headers[CORRELATION_HEADER] == "req-42"
    assert len(fresh.headers[CORRELATION_HEADER]) == 36
    assert unsafe.headers[CORRELATION_HEADER] != "x" * 500  # an id that does not look like one is replaced
    logged = [line["correlation_id"] for line in _parsed(buffer)]
    assert logged == [
        given.headers[CORRELATION_HEADER],
        fresh.headers[CORRELATION_HEADER],
        unsafe.headers[CORRELATION_HEADER],
    ]
