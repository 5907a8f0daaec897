"""`make bench-integrity`: the scheduled fixity check's rate and the integrity report's latency.

1. N documents (default 100) through the `none` workflow into the archive.
2. Scheduled fixity with a cycle far too short for them (`--cycle-s`, 1 s), so that it works off a backlog as
   fast as it can: packages re-read per second over a whole cycle that began after the last package was archived,
   and what that means for the default 90-day cycle (packages one archive replica can keep checking).
3. GET /api/v1/archive/{id}/integrity-report as JSON and as PDF: p50/p99 over `--reports` requests.
Writes bench-results/integrity.json.
"""

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.bench import bench_stack, stop_cleanly_on_sigterm, write_result
from tests.bench.archive import JWT_SECRET, archive_through_pipeline, headers
from tests.bench.pipeline import percentile

DEFAULT_CYCLE_DAYS = 90


def fixity_rate(client: httpx.Client, archive_url: str, since: datetime, timeout_s: float = 1800) -> dict:
    """Wait for a whole cycle that began after `since`; its packages per second."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        figures = client.get(f"{archive_url}/api/v1/archive/fixity", headers=headers("records_officer")).json()
        last = figures["last_cycle"]
        if last and datetime.fromisoformat(last["started_at"]) > since:
            seconds = datetime.fromisoformat(last["finished_at"]) - datetime.fromisoformat(last["started_at"])
            rate = last["checked"] / max(seconds.total_seconds(), 1e-6)
            return {
                "packages": figures["packages"],
                "cycle_checked": last["checked"],
                "cycle_seconds": round(seconds.total_seconds(), 2),
                "packages_per_s": round(rate, 1),
                "packages_per_90_day_cycle_at_this_rate": int(rate * DEFAULT_CYCLE_DAYS * 86_400),
                "mismatch": last["mismatch"],
                "missing": last["missing"],
            }
        time.sleep(0.5)
    raise TimeoutError("no whole fixity cycle within the time allowed")


def report_latency(client: httpx.Client, archive_url: str, ids: list[str], rounds: int) -> dict:
    result = {}
    for kind, accept in (("json", "application/json"), ("pdf", "application/pdf")):
        timings, sizes = [], []
        for _ in range(rounds):
            document_id = random.choice(ids)
            started = time.perf_counter()
            response = client.get(
                f"{archive_url}/api/v1/archive/{document_id}/integrity-report",
                headers={**headers("records_officer"), "Accept": accept},
            )
            timings.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            sizes.append(len(response.content))
        result[kind] = {
            "requests": rounds,
            "p50_ms": round(percentile(timings, 0.5), 1),
            "p99_ms": round(percentile(timings, 0.99), 1),
            "mean_bytes": int(statistics.mean(sizes)),
        }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--cycle-s", type=float, default=1.0)
    parser.add_argument("--reports", type=int, default=50)
    parser.add_argument("--output", type=Path, default=Path("bench-results/integrity.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    archive_env = {
        "EAKTE_ARCHIVE_RETENTION_OVERRIDE_S": "3600",
        "EAKTE_FIXITY_CYCLE_DAYS": str(args.cycle_s / 86_400),
    }
    with bench_stack(JWT_SECRET, base_env={"ingest": {"EAKTE_OCR_ENABLED": "false"}, "archive": archive_env}) as stack:
        archived = archive_through_pipeline(stack, args.documents)
        all_archived = datetime.now(UTC)
        client = httpx.Client(timeout=120)
        archive_url = stack.url("archive")
        result = {
            "documents": len(archived),
            "fixity": fixity_rate(client, archive_url, all_archived),
            "integrity_report": report_latency(client, archive_url, [a["document_id"] for a in archived], args.reports),
        }
        client.close()
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
