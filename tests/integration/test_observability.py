"""Traces across the three services and JSON log lines, on the real stack.

How this module observes the services without slowing the rest of the suite: it reuses the session's stack and,
for this module only, restarts ingest, workflow and archive with

- `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at `OtlpReceiver`, a tiny OTLP/HTTP receiver on a loopback port in the
  test process, which decodes each `ExportTraceServiceRequest` (protobuf, `opentelemetry-proto`) into spans;
  `OTEL_BSP_SCHEDULE_DELAY` is short so a span reaches it a moment after it ends;
- `EAKTE_LOG_FORMAT=json`.

At the end the three services are restarted with their normal settings (tracing off, text logs), so every other
module sees the stack as before, and pays nothing for tracing. The spans arrive as the real exporter sends them:
what is asserted is what an operator's collector (Jaeger, Tempo) would show.
"""

import gzip
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from devstack.stack import Stack
from tests.stack import Api, wait_for

pytestmark = pytest.mark.integration

TRACED = ("ingest", "workflow", "archive")


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str


class OtlpReceiver:
    """Receives OTLP/HTTP protobuf trace exports on 127.0.0.1 and keeps the spans."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.take(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def take(self, request: ExportTraceServiceRequest) -> None:
        found = []
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            service = attributes.get("service.name", "")
            for scope_spans in resource_spans.scope_spans:
                found += [
                    Span(service, s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex())
                    for s in scope_spans.spans
                ]
        with self._lock:
            self.spans += found

    def snapshot(self) -> list[Span]:
        with self._lock:
            return list(self.spans)

    def __enter__(self) -> "OtlpReceiver":
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Observed:
    receiver: OtlpReceiver
    log_offsets: dict[str, int]  # where each service's log file stood before its JSON-logging start


def _log_path(stack: Stack, name: str) -> Path:
    return stack.data_dir / "logs" / f"{name}.log"


@pytest.fixture(scope="module")
def observed(stack: Stack) -> Iterator[Observed]:
    with OtlpReceiver() as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "EAKTE_LOG_FORMAT": "json",
        }
        offsets = {}
        try:
            for name in TRACED:
                stack.services[name].stop()
                offsets[name] = _log_path(stack, name).stat().st_size
                stack.restart_service(name, **env)
            yield Observed(receiver, offsets)
        finally:
            for name in TRACED:
                stack.restart_service(name)  # tracing off and text logs again for the other modules


def _traces_of_uploads(spans: list[Span]) -> set[str]:
    return {s.trace_id for s in spans if s.service == "eakte-ingest" and s.name == "POST /api/v1/documents"}


def test_one_documents_spans_in_all_three_services_share_one_trace(observed: Observed, api: Api, pdf: Path) -> None:
    receiver = observed.receiver
    before = _traces_of_uploads(receiver.snapshot())
    created = api.upload(pdf)
    assert created.status_code == 201, created.text
    document_id = created.json()["document_id"]
    task = api.task_for(document_id)
    assert api.decide(task["task_id"], "approve").status_code == 200
    api.wait_status(document_id, "archived")

    [trace_id] = wait_for(lambda: _traces_of_uploads(receiver.snapshot()) - before)
    # The archive's handling of documents.approved, and the ingest's of documents.archived, end the journey.
    wanted = {
        ("eakte-workflow", "documents.ingested process"),
        ("eakte-ingest", "documents.review_started process"),
        ("eakte-workflow", "documents.approved announce"),  # the approval, decided in its own HTTP request
        ("eakte-archive", "documents.approved process"),
        ("eakte-ingest", "documents.archived process"),
    }

    def journey() -> list[Span]:
        spans = [s for s in receiver.snapshot() if s.trace_id == trace_id]
        exported = {s.span_id for s in spans}  # each service exports in its own batches: wait for the parents too
        parents_in = all(s.parent_span_id in exported for s in spans if s.name.endswith(" process"))
        return spans if wanted <= {(s.service, s.name) for s in spans} and parents_in else []

    spans = wait_for(journey, timeout_s=30)

    assert {s.service for s in spans} == {"eakte-ingest", "eakte-workflow", "eakte-archive"}
    # Every consumer span is a child of the producer span whose `traceparent` header the message carried.
    by_id = {s.span_id: s for s in spans}
    for consumed in (s for s in spans if s.name.endswith(" process")):
        assert by_id[consumed.parent_span_id].name == consumed.name.replace(" process", " publish"), consumed
    # The archive's unit of work and its S3 calls are in the same trace.
    archive_work = {s.name for s in spans if s.service == "eakte-archive"}
    assert "db.transaction" in archive_work and any(name.startswith("S3 ") for name in archive_work)


def test_a_service_logging_json_writes_only_json_lines_naming_the_document_of_a_consumed_event(
    observed: Observed, stack: Stack, api: Api, pdf: Path
) -> None:
    created = api.upload(pdf)
    assert created.status_code == 201, created.text
    document_id = created.json()["document_id"]
    api.wait_status(document_id, "in_review")  # the workflow consumed documents.ingested

    def lines_about_the_document() -> list[dict]:
        with _log_path(stack, "workflow").open("rb") as handle:
            handle.seek(observed.log_offsets["workflow"])
            text = handle.read().decode()
        complete = text[: text.rfind("\n") + 1]
        parsed = [json.loads(line) for line in complete.splitlines()]  # every line is one JSON object
        return [line for line in parsed if line.get("document_id") == document_id]

    about = wait_for(lines_about_the_document)

    handled = [line for line in about if "handled documents.ingested" in line["message"]]
    assert handled, about
    line = handled[0]
    assert line["service"] == "workflow" and line["level"] == "INFO" and line["correlation_id"]
    assert line["traceparent"].startswith("00-")
    assert set(line) >= {"time", "level", "service", "logger", "message"}
    for name in TRACED:  # the other services' files since their JSON start parse line by line too
        with _log_path(stack, name).open("rb") as handle:
            handle.seek(observed.log_offsets[name])
            text = handle.read().decode()
        assert all(json.loads(raw) for raw in text[: text.rfind("\n") + 1].splitlines())
