"""The trace context survives the transactional outbox: unit of work → outbox row → Kafka header → consumer span.

Spans are kept by the SDK's in-memory exporter; Kafka is FastStream's in-memory test broker, so the real
`publisher_for` headers and the real `subscribe` consumer run.
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, TestKafkaBroker
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared import tracing
from shared.db import OutboxMessage, make_engine, make_sessions
from shared.events import Event
from shared.messaging import publisher_for, subscribe
from shared.outbox import OutboxRelay
from shared.unit_of_work import SqlUnitOfWork


class Uploaded(Event):
    TOPIC = "test.uploaded"


class Approved(Event):
    TOPIC = "test.approved"


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    """Tracing on, into an in-memory exporter (`provider.exporter`), for this test only."""
    provider = TracerProvider()
    provider.exporter = InMemorySpanExporter()  # type: ignore[attr-defined]
    provider.add_span_processor(SimpleSpanProcessor(provider.exporter))  # type: ignore[attr-defined]
    tracing.use_provider(provider)
    try:
        yield provider
    finally:
        tracing.use_provider(None)


def _sessions(tmp_path: Path) -> sessionmaker[Session]:
    return make_sessions(make_engine(f"sqlite:///{tmp_path / 'outbox.db'}"))


def _rows(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    with sessions() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _trace_id(traceparent: str) -> str:
    return traceparent.split("-")[1]


def _named(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def _relay_through_kafka(sessions: sessionmaker[Session]) -> tuple[list[str | None], list[str]]:
    """Publish the outbox through the in-memory broker; the consumer adds a follow-up event in its own unit of work.

    Returns the `traceparent` headers a spy subscriber saw and the traceparents current in the handler.
    """
    broker = KafkaBroker()
    headers: list[str | None] = []
    in_handler: list[str] = []

    @broker.subscriber(Uploaded.TOPIC, group_id="spy")
    async def spy(message: KafkaMessage) -> None:
        headers.append(message.headers.get("traceparent"))

    async def handle(event: Uploaded) -> None:
        in_handler.append(tracing.current_traceparent() or "")
        with SqlUnitOfWork(sessions) as uow:
            uow.add_event(Approved(document_id=event.document_id, correlation_id=event.correlation_id))

    subscribe(broker, Uploaded, "workflow", handle)

    async def run() -> None:
        async with TestKafkaBroker(broker):
            await OutboxRelay(sessions, publisher_for(broker)).publish_pending()

    asyncio.run(run())
    return headers, in_handler


def test_the_trace_goes_through_the_outbox_row_the_kafka_header_and_the_consumer(
    tmp_path: Path, provider: TracerProvider
) -> None:
    sessions = _sessions(tmp_path)
    # The span of the HTTP request that uploads (the FastAPI instrumentation makes it in the service).
    tracer = provider.get_tracer("test")
    with (
        tracer.start_as_current_span("POST /api/v1/documents", kind=SpanKind.SERVER) as request,
        SqlUnitOfWork(sessions) as uow,
    ):
        uow.add_event(Uploaded(document_id=uuid4(), correlation_id=uuid4()))
    trace_id = f"{request.get_span_context().trace_id:032x}"

    [row] = _rows(sessions)
    assert row.traceparent is not None and _trace_id(row.traceparent) == trace_id

    headers, in_handler = _relay_through_kafka(sessions)

    assert len(headers) == 1 and headers[0] is not None and _trace_id(headers[0]) == trace_id
    assert len(in_handler) == 1 and _trace_id(in_handler[0]) == trace_id
    finished = provider.exporter.get_finished_spans()  # type: ignore[attr-defined]
    producer = _named(finished, "test.uploaded publish")
    consumer = _named(finished, "test.uploaded process")
    assert producer.kind is SpanKind.PRODUCER and consumer.kind is SpanKind.CONSUMER
    assert consumer.parent is not None and consumer.parent.span_id == producer.context.span_id
    assert headers[0].split("-")[2] == f"{producer.context.span_id:016x}"  # the header names the producer's span
    assert {f"{s.context.trace_id:032x}" for s in finished} == {trace_id}
    # The consumer's own outbox row continues the same trace: the next service's spans will join it.
    follow_up = _rows(sessions)[1]
    assert follow_up.topic == Approved.TOPIC
    assert follow_up.traceparent is not None and _trace_id(follow_up.traceparent) == trace_id
    transactions = [s for s in finished if s.name == "db.transaction"]
    assert len(transactions) == 2  # the upload's unit of work and the consumer's


def test_with_tracing_off_nothing_is_stored_or_sent(tmp_path: Path) -> None:
    assert not tracing.enabled()
    sessions = _sessions(tmp_path)
    with SqlUnitOfWork(sessions) as uow:
        uow.add_event(Uploaded(document_id=uuid4(), correlation_id=uuid4()))
    assert _rows(sessions)[0].traceparent is None

    headers, in_handler = _relay_through_kafka(sessions)

    assert headers == [None] and in_handler == [""]


def test_work_done_later_for_a_document_continues_its_stored_trace_linked_to_the_current_request(
    provider: TracerProvider,
) -> None:
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("upload"):
        stored = tracing.current_traceparent()  # kept with the document (a workflow run, an OCR job)
    with (
        tracer.start_as_current_span("POST /api/v1/tasks/{task_id}/decision") as decision,
        tracing.continued(stored, "documents.approved announce"),
    ):
        announced = tracing.current_traceparent()

    assert stored is not None and announced is not None
    assert _trace_id(announced) == _trace_id(stored) != f"{decision.get_span_context().trace_id:032x}"
    finished = provider.exporter.get_finished_spans()  # type: ignore[attr-defined]
    continuation = _named(finished, "documents.approved announce")
    assert continuation.parent is not None and f"{continuation.parent.span_id:016x}" == stored.split("-")[2]
    assert [link.context.span_id for link in continuation.links] == [decision.get_span_context().span_id]


def test_an_event_handled_in_a_batch_continues_the_trace_its_message_came_with(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("documents.ingested publish"):
        sent = tracing.trace_headers()  # the Kafka header of the one message
    with (
        tracing.handling_batch([("in-batch", [(name, value.encode()) for name, value in sent.items()])]),
        tracer.start_as_current_span("db.transaction"),  # the batch's transaction: a trace of its own
    ):
        batch_span = tracing.current_traceparent()
        continued = tracing.traceparent_of_event("in-batch")
        elsewhere = tracing.traceparent_of_event("not-in-batch")
    assert continued == sent["traceparent"]
    assert batch_span is not None and elsewhere == batch_span != continued
