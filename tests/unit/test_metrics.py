"""GET /metrics: the route template (not the raw path) labels a request, the scrape is limited by network,
and a Kafka handler's outcome is counted (a redelivery as `duplicate`)."""

import asyncio
import uuid
from datetime import timedelta

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from shared.auth import issue_token
from shared.metrics import DEFAULT_METRICS_ALLOW, UNMATCHED_ROUTE, HandlerMetrics, allowed_networks, may_scrape
from shared.service_app import ServiceRuntime, build_app
from shared.settings import get_settings
from shared.unit_of_work import consume_once
from tests.unit.fakes import FakeUnitOfWork

router = APIRouter()


@router.get("/api/v1/documents/{document_id}")
def document(document_id: str) -> dict[str, str]:
    return {"document_id": document_id}


def app_of(service: str, allow: str = DEFAULT_METRICS_ALLOW) -> FastAPI:
    settings = get_settings().model_copy(update={"metrics_allow": allow})
    runtime = ServiceRuntime(name=service, settings=settings, sessions=None, broker=None, relay=None)  # type: ignore[arg-type]
    return build_app(runtime, [router])


def client(service: str, peer: str = "127.0.0.1", allow: str = DEFAULT_METRICS_ALLOW) -> TestClient:
    settings = get_settings()
    token = issue_token("anna", frozenset({"clerk"}), settings.jwt_secret, timedelta(minutes=5))
    return TestClient(app_of(service, allow), headers={"Authorization": f"Bearer {token}"}, client=(peer, 50000))


def requests(service: str, route: str, method: str, status: str) -> float:
    labels = {"service": service, "route": route, "method": method, "status": status}
    return REGISTRY.get_sample_value("eakte_http_requests_total", labels) or 0.0


def test_a_request_is_counted_and_timed_under_its_route_template_never_its_raw_path() -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    web = client(service)
    document_id = str(uuid.uuid4())
    assert web.get(f"/api/v1/documents/{document_id}").status_code == 200
    assert web.get(f"/api/v1/documents/{uuid.uuid4()}").status_code == 200

    assert requests(service, "/api/v1/documents/{document_id}", "GET", "200") == 2
    histogram = {"service": service, "route": "/api/v1/documents/{document_id}", "method": "GET"}
    assert REGISTRY.get_sample_value("eakte_http_request_seconds_count", histogram) == 2
    scraped = web.get("/metrics").text
    assert "/api/v1/documents/{document_id}" in scraped
    assert document_id not in scraped


def test_a_path_no_route_knows_gets_the_one_unmatched_label() -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    web = client(service)
    assert web.get("/api/v1/nothing/here/42").status_code == 404
    assert web.get("/wp-login.php").status_code == 404
    assert requests(service, UNMATCHED_ROUTE, "GET", "404") == 2
    web.request("BREW", "/api/v1/documents/pot")  # an invented method makes no series of its own
    assert requests(service, "/api/v1/documents/{document_id}", "other", "405") == 1


def test_a_request_the_gate_refuses_before_routing_still_carries_its_route_template() -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    anonymous = TestClient(app_of(service), client=("127.0.0.1", 50000))
    assert anonymous.get(f"/api/v1/documents/{uuid.uuid4()}").status_code == 401
    assert requests(service, "/api/v1/documents/{document_id}", "GET", "401") == 1


def test_metrics_need_no_token_and_parse_with_the_prometheus_parser() -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    anonymous = TestClient(app_of(service), client=("10.20.30.40", 50000))
    anonymous.get("/health")
    answer = anonymous.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(answer.text)}
    assert families["eakte_http_requests"].type == "counter"
    assert families["eakte_http_request_seconds"].type == "histogram"
    health = [s for s in families["eakte_http_requests"].samples if s.labels.get("service") == service]
    assert [(s.labels["route"], s.labels["status"], s.value) for s in health if s.name.endswith("_total")] == [
        ("/health", "200", 1.0)
    ]


def test_a_caller_outside_the_allowed_networks_gets_403_with_the_usual_error_body() -> None:
    outside = client(f"svc-{uuid.uuid4().hex[:8]}", peer="203.0.113.7")
    answer = outside.get("/metrics")
    assert answer.status_code == 403
    assert answer.json()["error"] == "forbidden"
    assert "EAKTE_METRICS_ALLOW" in answer.json()["reason"]
    # The setting decides: the same caller may scrape once its network is listed.
    listed = client(f"svc-{uuid.uuid4().hex[:8]}", peer="203.0.113.7", allow="203.0.113.0/24")
    assert listed.get("/metrics").status_code == 200
    assert client(f"svc-{uuid.uuid4().hex[:8]}", peer="127.0.0.1", allow="").get("/metrics").status_code == 403


def test_the_default_allows_loopback_and_private_ranges_only() -> None:
    default = allowed_networks(DEFAULT_METRICS_ALLOW)
    inside = ["127.0.0.1", "::1", "10.1.2.3", "172.16.0.9", "172.31.255.1", "192.168.1.1", "fd00::1", "::ffff:10.0.0.1"]
    outside = ["172.32.0.1", "8.8.8.8", "2001:db8::1", "::ffff:8.8.8.8", "testclient", "", None]
    assert [host for host in inside if not may_scrape(host, default)] == []
    assert [host for host in outside if may_scrape(host, default)] == []
    assert get_settings().metrics_allow == DEFAULT_METRICS_ALLOW


def consumed(service: str, topic: str, outcome: str) -> float:
    labels = {"service": service, "topic": topic, "outcome": outcome}
    return REGISTRY.get_sample_value("eakte_events_consumed_total", labels) or 0.0


def test_a_handler_is_counted_ok_and_a_redelivery_duplicate_even_from_a_worker_thread() -> None:
    group, topic = f"svc{uuid.uuid4().hex[:8]}.documents.approved", "documents.approved"
    service = group.split(".")[0]
    measured = HandlerMetrics(group, topic)
    uow = FakeUnitOfWork()
    event_id = uuid.uuid4()

    async def deliver() -> None:
        with measured.handling():
            await asyncio.to_thread(consume_once, uow, group, event_id, lambda _uow: "done")

    asyncio.run(deliver())
    asyncio.run(deliver())  # the same event again
    assert (consumed(service, topic, "ok"), consumed(service, topic, "duplicate")) == (1, 1)
    count = REGISTRY.get_sample_value("eakte_event_handler_seconds_count", {"service": service, "topic": topic})
    assert count == 2


def test_a_batch_counts_each_of_its_messages_ok_or_duplicate(tmp_path) -> None:
    from shared.db import make_engine, make_sessions
    from shared.unit_of_work import SqlUnitOfWork, consume_many

    group, topic = f"svc{uuid.uuid4().hex[:8]}.documents.archived", "documents.archived"
    service = group.split(".")[0]
    measured = HandlerMetrics(group, topic)
    sessions = make_sessions(make_engine(f"sqlite:///{tmp_path / 'batch.db'}"))
    first, second = uuid.uuid4(), uuid.uuid4()

    async def deliver(*event_ids: uuid.UUID) -> None:
        with measured.handling(len(event_ids)):
            items = [(event_id, event_id) for event_id in event_ids]
            await asyncio.to_thread(consume_many, SqlUnitOfWork(sessions), group, items, lambda _uow, _new: "done")

    asyncio.run(deliver(first))
    asyncio.run(deliver(first, second, second))  # the first again, and the second twice in one batch
    assert (consumed(service, topic, "ok"), consumed(service, topic, "duplicate")) == (2, 2)
    count = REGISTRY.get_sample_value("eakte_event_handler_seconds_count", {"service": service, "topic": topic})
    assert count == 4


def test_ingest_gauges_count_each_document_at_its_furthest_step_from_the_database(tmp_path) -> None:
    from datetime import UTC, datetime

    from services.ingest import metrics as ingest_metrics
    from services.ingest.tables import DocumentRow, FitConnectSubmissionRow, IngestBase, StatusRow
    from services.ingest.unit_of_work import IngestUnitOfWork
    from shared.db import make_engine, make_sessions

    sessions = make_sessions(make_engine(f"sqlite:///{tmp_path / 'ingest.db'}"), IngestBase)
    histories = {"a": ["received", "in_review", "approved", "archived"], "b": ["received", "in_review"], "c": []}
    histories["d"] = ["received", "ocr_done", "in_review", "returned"]  # returned: still in review until new version
    at = datetime(2026, 11, 30, tzinfo=UTC)
    with sessions() as session:
        for document_id, steps in histories.items():
            session.add(
                DocumentRow(
                    document_id=document_id,
                    correlation_id=document_id,
                    sha256=document_id * 64,
                    size=1,
                    bucket="inbox",
                    object_key=document_id,
                    filename="x.pdf",
                    workflow="standard",
                    pages=1,
                    submitted_by="clara",
                )
            )
            session.flush()
            session.add_all(StatusRow(document_id=document_id, status=s, at=at, by="clara") for s in steps)
        session.add(FitConnectSubmissionRow(submission_id="s1", case_id="c1", state="rejected", service="", items={}))
        session.commit()

    [reading] = ingest_metrics.readings(lambda: IngestUnitOfWork(sessions))
    asyncio.run(reading.refresh())
    families = {family.name: family for family in reading.collect()}
    documents = {s.labels["status"]: s.value for s in families["eakte_documents"].samples}
    assert documents == {"received": 1, "in_review": 2, "approved": 0, "rejected": 0, "archived": 1}
    assert {s.labels["state"]: s.value for s in families["eakte_ocr_queue"].samples} == {
        "pending": 0,
        "done": 0,
        "failed": 0,
    }
    fitconnect = {s.labels["state"]: s.value for s in families["eakte_fitconnect_submissions"].samples}
    assert fitconnect == {"taking": 0, "filing": 0, "accepted": 0, "rejected": 1}


def test_with_prometheus_multiproc_dir_the_counters_of_every_worker_are_summed(tmp_path) -> None:
    import os
    import subprocess
    import sys

    worker = (
        "import asyncio; from shared.metrics import HTTP_REQUESTS, Exposition;"
        "HTTP_REQUESTS.labels('ingest', '/health', 'GET', '200').inc();"
        "print(asyncio.run(Exposition().render()).decode())"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    outputs = [
        subprocess.run([sys.executable, "-c", worker], env=env, capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    families = {f.name: f for f in text_string_to_metric_families(outputs[-1].stdout)}
    [sample] = [s for s in families["eakte_http_requests"].samples if s.name == "eakte_http_requests_total"]
    assert sample.value == 2  # both processes' requests, from the files in the directory
