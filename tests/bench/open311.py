"""`python -m tests.bench.open311`: how long a citizen's Open311 report takes to be filed.

Sends reports with a photo one after another to a stack of its own and measures, per report, the POST's round
trip (photo check, PDF record, queued), the time until its document is in the Akte (intake queue: inspection,
object store, filing) and until it is in review (the workflow started its task). Writes bench-results/open311.json.
"""

import argparse
import io
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from PIL import Image

from shared.auth import issue_token
from tests.bench import bench_stack, stop_cleanly_on_sigterm, write_result

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"
KEY = "bench-app-0123456789abcdef"
POLL_S = 0.02


def _photo() -> bytes:
    data = io.BytesIO()
    Image.new("RGB", (1600, 1200), (random.randrange(256), 90, 60)).save(data, "JPEG", quality=90)
    return data.getvalue()


def _until(probe: Callable[[], bool], timeout_s: float = 120) -> float:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError("not reached in time")
        time.sleep(POLL_S)
    return time.monotonic()


def _document_in_akte(client: httpx.Client, ingest: str, headers: dict[str, str], filename: str) -> str | None:
    akten = client.get(f"{ingest}/api/v1/akten", headers=headers, params={"file_plan_class": "66.20"}).json()
    for akte in akten["items"]:
        detail = client.get(f"{ingest}/api/v1/akten/{akte['aktenzeichen']}", headers=headers).json()
        for vorgang in detail["vorgaenge"]:
            for document in vorgang["documents"]:
                if document["filename"] == filename:
                    return str(document["document_id"])
    return None


def _one(client: httpx.Client, ingest: str, headers: dict[str, str]) -> dict[str, float]:
    spot = {"lat": f"{54.30 + random.random() * 0.05:.6f}", "long": f"{10.10 + random.random() * 0.05:.6f}"}
    data = {"service_code": "schlagloch", "description": "Schlagloch (Benchmark)", **spot}
    started = time.monotonic()
    answer = client.post(
        f"{ingest}/open311/v2/requests.json",
        params={"api_key": KEY},
        data=data,
        files={"media": ("foto.jpg", _photo(), "image/jpeg")},
    )
    answered = time.monotonic()
    answer.raise_for_status()
    filename = f"maengelmeldung-{answer.json()[0]['service_request_id']}.pdf"
    found: dict[str, str] = {}

    def filed() -> bool:
        document_id = _document_in_akte(client, ingest, headers, filename)
        if document_id:
            found["id"] = document_id
        return document_id is not None

    filed_at = _until(filed)

    def in_review() -> bool:
        document = client.get(f"{ingest}/api/v1/documents/{found['id']}", headers=headers).json()
        return bool(document["status"] == "in_review")

    review_at = _until(in_review)
    return {"post_s": answered - started, "filed_s": filed_at - started, "in_review_s": review_at - started}


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 3),
        "p95": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 3),
        "max": round(ordered[-1], 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=20)
    parser.add_argument("--output", type=Path, default=Path("bench-results/open311.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    env = {"EAKTE_OCR_ENABLED": "false", "EAKTE_OPEN311_API_KEYS": KEY, "EAKTE_OPEN311_RATE_LIMIT": "100000/minute"}
    with bench_stack(JWT_SECRET, base_env={"ingest": env}) as stack, httpx.Client(timeout=60) as client:
        token = issue_token("bench", frozenset({"clerk"}), JWT_SECRET, timedelta(hours=1), frozenset({"66"}))
        headers = {"Authorization": f"Bearer {token}"}
        runs = [_one(client, stack.url("ingest"), headers) for _ in range(args.reports)]
    result = {
        "benchmark": "open311",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "reports": args.reports,
        "photo": "JPEG 1600x1200",
        "poll_interval_s": POLL_S,
        **{name: _summary([r[name] for r in runs]) for name in ("post_s", "filed_s", "in_review_s")},
    }
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
