"""`make bench-latency`: open-loop latency — documents offered at a fixed rate, whatever the stack's pace.

Starts its own stack (OCR off). Every 1/RATE s one upload is sent (on a pool large enough that a slow answer never
delays the next send: open loop, so queueing shows up as latency instead of a lower offered rate). Every second
document takes the `default` workflow (one approval by the approver role), the others `none`. A scripted approver
polls its inbox and approves each task as soon as it appears. Measured per document:

- upload → task visible in the inbox (from the moment the upload was due, so a late send counts against us);
- decision → archived (from the approver's decision response to `documents.archived` read from Kafka);
- for `none`: upload → archived.

Prints and writes JSON (`offered_per_s`, `upload_to_inbox_p99_s`, `decision_to_archived_p99_s`, ...).
"""

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from devstack.stack import Stack
from tests.bench import add_settings_option, bench_stack, pipeline_env, stop_cleanly_on_sigterm, write_result
from tests.bench.pipeline import percentile, unique_documents
from tests.bench.topic_watch import TopicWatch
from tests.conftest import token

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"
INBOX_POLL_S = 0.02


class Timeline:
    """When each document was due, seen in the inbox, decided and archived (wall-clock seconds)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.due: dict[str, float] = {}
        self.workflow: dict[str, str] = {}
        self.in_inbox: dict[str, float] = {}
        self.decided: dict[str, float] = {}
        self.archived: dict[str, float] = {}
        self.late_s: list[float] = []

    def first(self, table: dict[str, float], document_id: str, at: float) -> None:
        with self.lock:
            table.setdefault(document_id, at)


def watch_archived(stack: Stack, timeline: Timeline) -> TopicWatch:
    """Each document's first `documents.archived`, with the time it was seen (records from now on)."""

    def seen(value: bytes, at: float) -> None:
        timeline.first(timeline.archived, json.loads(value)["document_id"], at)

    return TopicWatch(stack.settings(), "documents.archived", seen, from_start=False)


def approve_at_once(stack: Stack, timeline: Timeline, stop: threading.Event) -> threading.Thread:
    """The scripted approver: polls the inbox and approves each new task at once (on a small pool)."""
    headers = token("bench-approver", "approver", secret=JWT_SECRET)
    base = f"{stack.url('workflow')}/api/v1"
    client = httpx.Client(timeout=60, limits=httpx.Limits(max_connections=16))
    pool = ThreadPoolExecutor(8)
    taken: set[str] = set()

    def decide(task: dict) -> None:
        response = client.post(
            f"{base}/tasks/{task['task_id']}/decision", headers=headers, json={"decision": "approve", "comment": "ok"}
        )
        response.raise_for_status()
        timeline.first(timeline.decided, task["document_id"], time.time())

    def run() -> None:
        while not stop.is_set():
            tasks = client.get(f"{base}/tasks", headers=headers).json()
            at = time.time()
            for task in tasks:
                document_id = task["document_id"]
                if document_id in timeline.due and task["task_id"] not in taken:
                    taken.add(task["task_id"])
                    timeline.first(timeline.in_inbox, document_id, at)
                    pool.submit(decide, task)
            time.sleep(INBOX_POLL_S)
        pool.shutdown(wait=True)
        client.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def offer(stack: Stack, timeline: Timeline, documents: list[bytes], rate: float) -> None:
    """Send upload i at start + i/rate, each on its own worker, never waiting for an earlier answer."""
    headers = token("bench-clerk", "clerk", secret=JWT_SECRET)
    url = f"{stack.url('ingest')}/api/v1/documents"
    client = httpx.Client(timeout=120, limits=httpx.Limits(max_connections=64))
    failures: list[str] = []

    def upload(index: int, data: bytes, due: float) -> None:
        workflow = "default" if index % 2 == 0 else "none"
        response = client.post(
            url,
            headers=headers,
            files={"file": (f"scan-{index}.pdf", data, "application/pdf")},
            data={"workflow": workflow},
        )
        if response.status_code != 201:
            failures.append(f"{response.status_code} {response.text[:200]}")
            return
        document_id = response.json()["document_id"]
        with timeline.lock:
            timeline.due[document_id] = due
            timeline.workflow[document_id] = workflow

    start = time.time() + 0.5
    with ThreadPoolExecutor(64) as pool:
        for index, data in enumerate(documents):
            due = start + index / rate
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            timeline.late_s.append(max(0.0, time.time() - due))
            pool.submit(upload, index, data, due)
            if (index + 1) % int(rate * 10) == 0:
                print(
                    f"[bench] offered {index + 1}/{len(documents)}, archived {len(timeline.archived)}",
                    file=sys.stderr,
                    flush=True,
                )
    client.close()
    if failures:
        raise SystemExit(f"{len(failures)} uploads failed, e.g. {failures[0]}")


def wait_until_archived(timeline: Timeline, count: int, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with timeline.lock:
            if len(timeline.due) == count and set(timeline.due) <= set(timeline.archived):
                return
        time.sleep(0.2)
    raise SystemExit(f"only {len(timeline.archived)} of {count} documents archived within {timeout_s:.0f} s")


def figures(name: str, values: list[float]) -> dict[str, float]:
    return {f"{name}_{label}_s": round(percentile(values, share), 3) for label, share in PERCENTILES}


PERCENTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))


def summarise(timeline: Timeline, rate: float, seconds: float, settings: dict[str, str]) -> dict:
    approved = [d for d, w in timeline.workflow.items() if w == "default"]
    direct = [d for d, w in timeline.workflow.items() if w == "none"]
    return {
        "benchmark": "open-loop latency, half approved at once by a scripted approver",
        "offered_per_s": rate,
        "settings": settings,
        "seconds": seconds,
        "documents": len(timeline.due),
        "max_late_send_s": round(max(timeline.late_s, default=0.0), 3),
        **figures("upload_to_inbox", [timeline.in_inbox[d] - timeline.due[d] for d in approved]),
        **figures("decision_to_archived", [timeline.archived[d] - timeline.decided[d] for d in approved]),
        **figures("upload_to_archived_without_approval", [timeline.archived[d] - timeline.due[d] for d in direct]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="documents offered per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long documents are offered")
    parser.add_argument("--output", type=Path, default=Path("bench-results/latency.json"))
    add_settings_option(parser)
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    count = max(2, round(args.rate * args.seconds))
    documents = unique_documents(count)
    settings, base_env = pipeline_env(args.env, previews=True)
    with bench_stack(JWT_SECRET, base_env=base_env) as stack:
        print(f"[bench] stack up; {count} documents at {args.rate}/s", file=sys.stderr, flush=True)
        timeline = Timeline()
        stop = threading.Event()
        with watch_archived(stack, timeline):
            approver = approve_at_once(stack, timeline, stop)
            try:
                offer(stack, timeline, documents, args.rate)
                wait_until_archived(timeline, count)
            finally:
                stop.set()
                approver.join(timeout=30)
        result = summarise(timeline, args.rate, args.seconds, settings)
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
