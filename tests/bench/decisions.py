"""`make bench-decisions`: N approvals through the workflow service, decision → event on `documents.approved`.

Starts its own stack (Kafka, MinIO, the three services), publishes N `documents.ingested` events for the
`default` workflow (one sign-off by the approver role), waits until the approver's inbox holds the N tasks,
then approves them over HTTP with the given concurrency while a consumer watches `documents.approved`.

Latency per decision = the moment the event is read from the topic minus the moment the HTTP response
arrived (and, for comparison, minus the moment the request was sent). Prints and writes JSON with p50/p99.
"""

import argparse
import hashlib
import io
import json
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from kafka import KafkaProducer

from devstack.stack import Stack
from shared.events import DocumentIngested, DocumentMetadata, StoredObject
from shared.messaging import kafka_python_auth
from shared.settings import Settings
from shared.storage import ObjectStore
from tests.bench import bench_stack, stop_cleanly_on_sigterm, write_result
from tests.bench.pipeline import percentile
from tests.bench.topic_watch import TopicWatch
from tests.conftest import CORPUS, token

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"


def _auth(settings: Settings) -> dict[str, str]:
    return kafka_python_auth(settings.kafka_username, settings.kafka_password)


def publish_documents(stack: Stack, count: int) -> set[str]:
    settings = stack.settings()
    data = (CORPUS / "sf__minimal-document.pdf").read_bytes()
    key = "documents/bench/original.pdf"
    ObjectStore(settings).client.put_object(settings.inbox_bucket, key, io.BytesIO(data), len(data))
    original = StoredObject(
        bucket=settings.inbox_bucket, key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", **_auth(settings))
    ids: set[str] = set()
    try:
        for index in range(count):
            event = DocumentIngested(
                document_id=uuid.uuid4(),
                correlation_id=uuid.uuid4(),
                original=original,
                metadata=DocumentMetadata(title=f"Bench {index}", filename="scan.pdf"),
                workflow="default",
                submitted_by="bench-clerk",
            )
            producer.send(event.TOPIC, key=event.key, value=event.model_dump_json().encode())
            ids.add(str(event.document_id))
        producer.flush(timeout=60)
    finally:
        producer.close()
    return ids


def wait_for_tasks(client: httpx.Client, url: str, headers: dict[str, str], ids: set[str]) -> list[dict]:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        tasks = [t for t in client.get(url, headers=headers).json() if t["document_id"] in ids]
        if len(tasks) == len(ids):
            return tasks
        print(f"[bench] {len(tasks)}/{len(ids)} tasks open", file=sys.stderr, flush=True)
        time.sleep(1.0)
    raise SystemExit("the tasks did not all appear within 10 minutes")


def run(stack: Stack, count: int, concurrency: int) -> dict:
    ids = publish_documents(stack, count)
    headers = token("bench-approver", "approver", secret=JWT_SECRET)
    client = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=concurrency * 2))
    base = f"{stack.url('workflow')}/api/v1"
    tasks = wait_for_tasks(client, f"{base}/tasks", headers, ids)

    seen: dict[str, float] = {}

    def approved(value: bytes, at: float) -> None:
        document_id = json.loads(value)["document_id"]
        if document_id in ids:
            seen.setdefault(document_id, at)

    with TopicWatch(stack.settings(), "documents.approved", approved, from_start=True):
        sent: dict[str, float] = {}
        answered: dict[str, float] = {}

        def decide(task: dict) -> None:
            sent[task["document_id"]] = time.time()
            response = client.post(
                f"{base}/tasks/{task['task_id']}/decision",
                headers=headers,
                json={"decision": "approve", "comment": "ok"},
            )
            answered[task["document_id"]] = time.time()
            response.raise_for_status()

        started = time.time()
        with ThreadPoolExecutor(concurrency) as pool:
            for number, _ in enumerate(pool.map(decide, tasks), start=1):
                if number % 200 == 0:
                    print(f"[bench] decided {number}/{count}, seen {len(seen)}", file=sys.stderr, flush=True)
        deadline = time.monotonic() + 300
        while len(seen) < count and time.monotonic() < deadline:
            time.sleep(0.2)
    client.close()
    if len(seen) < count:
        raise SystemExit(f"only {len(seen)} of {count} approvals reached documents.approved within 5 minutes")
    from_response = [seen[d] - answered[d] for d in ids]
    from_request = [seen[d] - sent[d] for d in ids]
    finished = max(seen.values())
    return {
        "decisions_per_s": round(count / (finished - started), 2),
        "decision_to_event_p50_ms": round(percentile(from_response, 0.50) * 1000, 1),
        "decision_to_event_p99_ms": round(percentile(from_response, 0.99) * 1000, 1),
        "decision_to_event_mean_ms": round(statistics.fmean(from_response) * 1000, 1),
        "request_to_event_p50_ms": round(percentile(from_request, 0.50) * 1000, 1),
        "request_to_event_p99_ms": round(percentile(from_request, 0.99) * 1000, 1),
        "http_decision_p50_ms": round(percentile([answered[d] - sent[d] for d in ids], 0.50) * 1000, 1),
        "http_decision_p99_ms": round(percentile([answered[d] - sent[d] for d in ids], 0.99) * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--output", type=Path, default=Path("bench-results/decisions.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()

    with bench_stack(JWT_SECRET) as stack:
        print(f"[bench] stack up; {args.decisions} decisions, concurrency {args.concurrency}", file=sys.stderr)
        measured = run(stack, args.decisions, args.concurrency)
    result = {
        "benchmark": "workflow decision (HTTP 200) → event visible on documents.approved, workflow=default, SQLite",
        "decisions": args.decisions,
        "concurrency": args.concurrency,
        **measured,
    }
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
