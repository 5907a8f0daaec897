"""GET /metrics on the real stack: what IT's Prometheus scrapes from ingest, workflow, archive and the portal
parses with prometheus_client's parser, and the counters and gauges move when one document goes through."""

from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import unique_bytes
from tests.integration.conftest import Api, wait_for

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
UPLOAD_ROUTE = "/api/v1/documents"
DOCUMENT_ROUTE = "/api/v1/documents/{document_id}"


def scrape(api: Api, service: str) -> tuple[Samples, str]:
    answer = api.http.get(f"{api.stack.url(service)}/metrics")  # no token: Prometheus has none
    assert answer.status_code == 200, answer.text
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, answer.text


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


def moved(api: Api, service: str, check: Callable[[Samples], bool], timeout_s: float = 30) -> Samples:
    """Scrape until `check` holds (gauges are read at most every few seconds; consumers work asynchronously)."""

    def probe() -> Samples | None:
        samples = scrape(api, service)[0]
        return samples if check(samples) else None

    return wait_for(probe, timeout_s)


def consumed_ok(samples: Samples, service: str, topic: str) -> float:
    return value(samples, "eakte_events_consumed_total", service=service, topic=topic, outcome="ok")


def test_metrics_move_when_one_document_goes_from_upload_to_the_archive(api: Api) -> None:
    before = {service: scrape(api, service)[0] for service in ("ingest", "workflow", "archive", "portal")}
    document_id = _upload(api)

    upload = {"service": "ingest", "route": UPLOAD_ROUTE, "method": "POST"}
    after_upload = moved(api, "ingest", lambda s: value(s, "eakte_http_requests_total", **upload, status="201") > 0)
    assert value(after_upload, "eakte_http_requests_total", **upload, status="201") == (
        value(before["ingest"], "eakte_http_requests_total", **upload, status="201") + 1
    )
    assert value(after_upload, "eakte_http_request_seconds_count", **upload) >= 1

    task = api.task_for(document_id)
    tasks_before = total(before["workflow"], "eakte_tasks_open")
    opened = total(moved(api, "workflow", lambda s: total(s, "eakte_tasks_open") > tasks_before), "eakte_tasks_open")
    assert opened == tasks_before + 1
    assert api.decide(task["task_id"], "approve", comment="passt").status_code == 200
    api.wait_status(document_id, "archived")
    closed = moved(api, "workflow", lambda s: total(s, "eakte_tasks_open") < opened)
    assert total(closed, "eakte_tasks_open") == tasks_before

    workflow = moved(api, "workflow", lambda s: consumed_ok(s, "workflow", "documents.ingested") > 0)
    assert (
        consumed_ok(workflow, "workflow", "documents.ingested")
        >= consumed_ok(before["workflow"], "workflow", "documents.ingested") + 1
    )
    assert value(workflow, "eakte_event_handler_seconds_count", service="workflow", topic="documents.ingested") >= 1

    packages_before = value(before["archive"], "eakte_archive_packages_total")
    archive = moved(api, "archive", lambda s: value(s, "eakte_archive_packages_total") > packages_before)
    assert value(archive, "eakte_archive_packages_total") == packages_before + 1
    assert consumed_ok(archive, "archive", "documents.approved") >= 1
    assert value(archive, "eakte_archive_verify_last", result="never") >= 1

    # At least one more: on the shared stack an earlier test's document may reach the archive meanwhile, and the
    # "before" reading may be up to READING_TTL_S old (the gauge is read from the database at most that often).
    archived_before = value(before["ingest"], "eakte_documents", status="archived")
    ingest = moved(api, "ingest", lambda s: value(s, "eakte_documents", status="archived") > archived_before)
    assert value(ingest, "eakte_documents", status="archived") >= archived_before + 1
    for topic in ("documents.review_started", "documents.approved", "documents.archived"):
        assert consumed_ok(ingest, "ingest", topic) >= 1, topic


def test_every_service_reports_its_queues_outbox_and_consumer_lag_without_personal_data(api: Api) -> None:
    document_id = _upload(api, title="Bauantrag Geheimnisträger")
    api.document(document_id)
    api.wait_status(document_id, "in_review")

    ingest, text = scrape(api, "ingest")
    assert {"received", "in_review", "approved", "rejected", "archived"} <= _label_values(ingest, "eakte_documents")
    assert _label_values(ingest, "eakte_ocr_queue") >= {"pending", "done", "failed"}
    assert _label_values(ingest, "eakte_intake_queue") >= {"pending", "done", "duplicate", "failed"}
    assert value(
        ingest, "eakte_http_requests_total", service="ingest", route=DOCUMENT_ROUTE, method="GET", status="200"
    )
    assert document_id not in text and "Geheimnisträger" not in text and "clara" not in text

    workflow, _ = scrape(api, "workflow")
    assert _label_values(workflow, "eakte_tasks_open", "kind") == {"user", "role", "org_unit"}
    for service in ("ingest", "workflow", "archive"):
        samples = scrape(api, service)[0] if service != "workflow" else workflow
        assert ("eakte_outbox_pending", frozenset({("service", service)})) in samples
        assert value(samples, "eakte_outbox_oldest_seconds", service=service) >= 0
    # The services' own principals may read their groups' offsets: workflow consumed documents.ingested.
    lag = moved(api, "workflow", lambda s: any(n == "eakte_consumer_lag" for n, _ in s))
    groups = {dict(labels)["group"] for name, labels in lag if name == "eakte_consumer_lag"}
    assert "workflow" in groups and all(group.split(".")[0] == "workflow" for group in groups)

    assert api.http.get(f"{api.stack.url('portal')}/health").status_code == 200
    portal, _ = scrape(api, "portal")
    assert value(portal, "eakte_http_requests_total", service="portal", route="/health", method="GET", status="200")
    assert (
        "eakte_http_request_seconds_bucket",
        frozenset({("service", "portal"), ("route", "/health"), ("method", "GET"), ("le", "+Inf")}),
    ) in portal


def _upload(api: Api, **fields: str) -> str:
    response = api.http.post(
        f"{api.stack.url('ingest')}/api/v1/documents",
        headers=api.headers("clara", "clerk"),
        files={"file": ("antrag.pdf", unique_bytes("sf__minimal-document.pdf"), "application/pdf")},
        data={"file_plan_class": "63.01", "akte_title": "Akte", "workflow": "standard", **fields},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["document_id"])


def _label_values(samples: Samples, name: str, label: str = "") -> set[str]:
    found = set()
    for sample_name, labels in samples:
        if sample_name == name:
            values = dict(labels)
            found.add(values[label] if label else next(iter(values.values())))
    return found
