"""Traces (OpenTelemetry): HTTP requests, units of work, S3 calls, Kafka publish and consume, as one trace per document.

Off by default: without `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) no SDK is set up,
no instrumentation is added and every helper here returns after one flag test. With it, spans go by OTLP/HTTP
(protobuf) to that collector, named by `OTEL_SERVICE_NAME` or `eakte-<service>`.

Across Kafka and the transactional outbox: a unit of work stores the current W3C `traceparent` with each outbox
row it adds (`current_traceparent`); the relay publishes the row under that parent (`publishing`: a PRODUCER
span whose context goes out in the Kafka header `traceparent`), and a consumer handles the message in a CONSUMER
span that continues it (`consuming`). So upload → approval → archive is one trace across the three services.
Messages handled together in a batch get a CONSUMER span each over the batch's time (`consumed`); a handler that
records where an event's work continues takes the traceparent its message came with (`traceparent_of_event`).
"""

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"  # the Kafka header (W3C Trace Context), exactly this name
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# Probes and scrapes are not worth a span each.
EXCLUDED_URLS = "/health,/ready,/metrics"

_propagator = TraceContextTextMapPropagator()
_tracer: trace.Tracer | None = None  # None: tracing off


def enabled() -> bool:
    return _tracer is not None


def service_name(service: str) -> str:
    return os.environ.get("OTEL_SERVICE_NAME") or f"eakte-{service}"


def wanted() -> bool:
    """Whether the environment asks for traces (an OTLP endpoint is set and the SDK is not disabled)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def configure_tracing(service: str) -> bool:
    """Export spans by OTLP/HTTP when the environment asks for it; True when tracing is on."""
    if enabled() or not wanted():
        return enabled()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = _provider(service)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    use_provider(provider)
    return True


def _provider(service: str) -> Any:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    return TracerProvider(resource=Resource.create({"service.name": service_name(service)}))


def use_provider(provider: trace.TracerProvider | None) -> None:
    """Trace with `provider` (tests: one with an in-memory exporter); None turns tracing off again."""
    global _tracer
    _tracer = provider.get_tracer("eakte") if provider is not None else None


def instrument_app(app: Any) -> None:
    """Server spans for the app's HTTP requests (FastAPI instrumentation), when tracing is on."""
    if not enabled():
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls=EXCLUDED_URLS, exclude_spans=["receive", "send"])


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span; None when tracing is off or no span is current."""
    if _tracer is None:
        return None
    found = trace.get_current_span().get_span_context()
    if not found.is_valid:
        return None
    return f"00-{found.trace_id:032x}-{found.span_id:016x}-{int(found.trace_flags):02x}"


def trace_headers() -> dict[str, str]:
    """The `traceparent` header of the current span (to publish with a message); empty when there is none."""
    headers: dict[str, str] = {}
    if _tracer is not None:
        _propagator.inject(headers)
    return headers


_NOTHING = contextlib.nullcontext()  # reusable: what every helper here returns when tracing is off


Block = contextlib.AbstractContextManager[Any]
# A Kafka record's headers as the consumer gives them: (name, value) pairs.
Headers = Sequence[tuple[str, bytes]]


def span(name: str, kind: SpanKind = SpanKind.INTERNAL, **attributes: str | int) -> Block:
    """A span around a block (a unit of work, an S3 call), child of the current one; nothing when tracing is off."""
    if _tracer is None:
        return _NOTHING
    return _tracer.start_as_current_span(name, kind=kind, attributes=attributes)


@contextlib.contextmanager
def _under(traceparent: str | None) -> Iterator[None]:
    """Make the span `traceparent` names the current parent (a remote one: stored, or from a header)."""
    if not traceparent:
        yield
        return
    token = otel_context.attach(_propagator.extract({TRACEPARENT: traceparent}))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextlib.contextmanager
def continued(traceparent: str | None, name: str) -> Iterator[None]:
    """Work that belongs to an earlier trace (a document's, stored with it) while another span is current (the
    HTTP request of a decision days later): a span `name` in the stored trace, linked to the current span."""
    if _tracer is None or not traceparent:
        yield
        return
    current = trace.get_current_span().get_span_context()
    if current.is_valid and traceparent.split("-")[1:2] == [f"{current.trace_id:032x}"]:
        yield  # already in that trace
        return
    links = [trace.Link(current)] if current.is_valid else []
    with _under(traceparent), _tracer.start_as_current_span(name, links=links):
        yield


def publishing(topic: str, traceparent: str | None) -> Block:
    """Publish a stored outbox row: a PRODUCER span under the trace the row was written in (`traceparent`)."""
    return _NOTHING if _tracer is None else _publishing(_tracer, topic, traceparent)


@contextlib.contextmanager
def _publishing(tracer: trace.Tracer, topic: str, traceparent: str | None) -> Iterator[None]:
    with (
        _under(traceparent),
        tracer.start_as_current_span(
            f"{topic} publish",
            kind=SpanKind.PRODUCER,
            attributes={"messaging.system": "kafka", "messaging.destination.name": topic},
        ),
    ):
        yield


def consuming(topic: str, group: str, headers: Headers | None) -> Block:
    """Handle a consumed message in a CONSUMER span, child of the producer's span (its `traceparent` header); the
    headers are only read when tracing is on."""
    return _NOTHING if _tracer is None else _consuming(_tracer, topic, group, headers)


def _consumer_attributes(topic: str, group: str) -> dict[str, str]:
    return {"messaging.system": "kafka", "messaging.destination.name": topic, "messaging.consumer.group.name": group}


def _traceparent_of(headers: Headers | None) -> str | None:
    sent = next((value for name, value in headers or () if name == TRACEPARENT), None)
    return sent.decode("latin-1") if isinstance(sent, bytes) else None


@contextlib.contextmanager
def _consuming(tracer: trace.Tracer, topic: str, group: str, headers: Headers | None) -> Iterator[None]:
    with (
        _under(_traceparent_of(headers)),
        tracer.start_as_current_span(
            f"{topic} process", kind=SpanKind.CONSUMER, attributes=_consumer_attributes(topic, group)
        ),
    ):
        yield


def consumed(topic: str, group: str, headers: Headers | None, between_ns: tuple[int, int]) -> Block:
    """A message handled with others in one batch: its CONSUMER span, child of the producer's span, over the batch's
    time (`between_ns`, epoch nanoseconds), current for the block (the line that says it was handled)."""
    return _NOTHING if _tracer is None else _consumed(_tracer, topic, group, headers, between_ns)


@contextlib.contextmanager
def _consumed(
    tracer: trace.Tracer, topic: str, group: str, headers: Headers | None, between_ns: tuple[int, int]
) -> Iterator[None]:
    with _under(_traceparent_of(headers)):
        handled = tracer.start_span(
            f"{topic} process",
            kind=SpanKind.CONSUMER,
            attributes=_consumer_attributes(topic, group),
            start_time=between_ns[0],
        )
        try:
            with trace.use_span(handled, end_on_exit=False):
                yield
        finally:
            handled.end(end_time=between_ns[1])


# While a batch of messages is handled together (shared.messaging), no message's span is current: the traceparent
# each one came with, by its event id, for a handler that records where an event's work continues.
_batch_parents: ContextVar[Mapping[str, str | None] | None] = ContextVar("batch_parents", default=None)


def handling_batch(headers_by_event: Iterable[tuple[str, Headers | None]]) -> Block:
    """A batch of messages is being handled: their `traceparent` headers, by event id, for `traceparent_of_event`
    (only read when tracing is on)."""
    return _NOTHING if _tracer is None else _handling_batch(headers_by_event)


@contextlib.contextmanager
def _handling_batch(headers_by_event: Iterable[tuple[str, Headers | None]]) -> Iterator[None]:
    token = _batch_parents.set({event_id: _traceparent_of(headers) for event_id, headers in headers_by_event})
    try:
        yield
    finally:
        _batch_parents.reset(token)


def traceparent_of_event(event_id: str) -> str | None:
    """Where the work caused by a consumed event continues its trace: the traceparent its message came with when it
    is handled in a batch, else the current span's; None when tracing is off."""
    in_batch = (_batch_parents.get() or {}).get(event_id)
    return in_batch if in_batch is not None else current_traceparent()
