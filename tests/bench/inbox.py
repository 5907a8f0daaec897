"""`make bench-inbox`: the approver's inbox with many open tasks, and approving many at once.

Starts its own stack, publishes N `documents.ingested` events for the `default` workflow (one sign-off by the
approver role), waits until the approver's inbox holds the N tasks, then measures p50/p99 of:
- `GET /api/v1/inbox` (one page of 50: as the portal asks, by deadline; by title descending; a text filter;
  the last page), against `GET /api/v1/tasks` (the whole list at once);
- `POST /api/v1/tasks/decisions` approving `--bulk` tasks in one call (time per task, each in its own
  transaction with its audit entry).
Writes bench-results/inbox.json.
"""

import argparse
import sys
import time
from pathlib import Path

import httpx

from devstack.stack import Stack
from tests.bench import bench_stack, stop_cleanly_on_sigterm, write_result
from tests.bench.decisions import JWT_SECRET, publish_documents, wait_for_tasks
from tests.bench.pipeline import percentile
from tests.conftest import token

ROUNDS = 30


def _timed(client: httpx.Client, url: str, headers: dict[str, str], params: dict[str, object]) -> dict[str, float]:
    took = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        client.get(url, headers=headers, params=params).raise_for_status()
        took.append(time.perf_counter() - started)
    return {"p50_ms": round(percentile(took, 0.50) * 1000, 1), "p99_ms": round(percentile(took, 0.99) * 1000, 1)}


def run(stack: Stack, count: int, bulk: int) -> dict:
    ids = publish_documents(stack, count)
    headers = token("bench-approver", "approver", secret=JWT_SECRET)
    client = httpx.Client(timeout=120)
    base = f"{stack.url('workflow')}/api/v1"
    tasks = wait_for_tasks(client, f"{base}/tasks", headers, ids)
    inbox = f"{base}/inbox"
    measured = {
        "whole_list_tasks": _timed(client, f"{base}/tasks", headers, {}),
        "inbox_first_page_by_deadline": _timed(client, inbox, headers, {"limit": 50}),
        "inbox_by_title_descending": _timed(client, inbox, headers, {"limit": 50, "sort": "title", "order": "desc"}),
        "inbox_text_filter": _timed(client, inbox, headers, {"limit": 50, "text": "Bench 12"}),
        "inbox_last_page": _timed(client, inbox, headers, {"limit": 50, "offset": max(0, count - 50)}),
    }
    chosen = [t["task_id"] for t in tasks[:bulk]]
    started = time.perf_counter()
    response = client.post(
        f"{base}/tasks/decisions", headers=headers, json={"task_ids": chosen, "decision": "approve", "comment": "ok"}
    )
    took = time.perf_counter() - started
    response.raise_for_status()
    answer = response.json()
    client.close()
    return {
        **measured,
        "bulk_tasks": len(chosen),
        "bulk_decided": answer["decided"],
        "bulk_seconds": round(took, 2),
        "bulk_ms_per_task": round(took / max(1, len(chosen)) * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--bulk", type=int, default=100)
    parser.add_argument("--output", type=Path, default=Path("bench-results/inbox.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    with bench_stack(JWT_SECRET) as stack:
        print(f"[bench] stack up; {args.tasks} open tasks, bulk approval of {args.bulk}", file=sys.stderr)
        measured = run(stack, args.tasks, min(args.bulk, 200, args.tasks))
    result = {
        "benchmark": "approver inbox with many open tasks (GET /inbox pages vs GET /tasks) and bulk approval, SQLite",
        "open_tasks": args.tasks,
        "rounds": ROUNDS,
        **measured,
    }
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
