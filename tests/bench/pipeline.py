"""`make bench`: N real one-page scanned PDFs through the `none` workflow, upload → archived.

Prints (and writes) JSON: documents/s from the first upload to the last archive, p50/p99 latency per
document, and the raw MinIO PUT rate of the same files with the same concurrency in the same run.
The ratio pipeline/raw is the figure to compare across machines; absolute rates depend on the machine.

The raw rate is measured twice, before and after the pipeline, each time once the stack is quiet, and the two are
taken together (all PUTs over their time): one burst of a second or two was at the mercy of a noisy machine (on a
shared 2-core VM the same 500 PUTs took from 1.3 s to 8 s within minutes), the pipeline's twenty seconds much less.
"""

import argparse
import io
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import httpx

from devstack.stack import Stack
from shared.storage import ObjectStore
from tests.bench import add_settings_option, bench_stack, pipeline_env, stop_cleanly_on_sigterm, write_result
from tests.bench.stack_cpu import machine_busy_seconds, wait_until_quiet
from tests.bench.topic_watch import TopicWatch
from tests.conftest import CORPUS, corpus_manifest, token

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"
T = TypeVar("T")


def one_page_scans() -> list[bytes]:
    rows = [r for r in corpus_manifest() if r["kind"] == "scanned" and "pages=1;" in r["note"]]
    return [(CORPUS / r["file"]).read_bytes() for r in rows]


def unique_documents(count: int) -> list[bytes]:
    """Real scans, each made unique by a PDF comment after the end marker (still the same valid PDF)."""
    scans = one_page_scans()
    return [scans[i % len(scans)] + f"\n%eakte-bench {uuid.uuid4()}\n".encode() for i in range(count)]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Took:
    """How long a phase took, and the CPU the whole machine was busy with meanwhile (all cores, every process)."""

    seconds: float
    busy_cpu_s: float


def measured(phase: Callable[[], T]) -> tuple[T, Took]:
    """`phase()`'s result, and how long it took with the CPU the machine was busy with meanwhile."""
    started, busy = time.monotonic(), machine_busy_seconds()
    result = phase()
    return result, Took(time.monotonic() - started, machine_busy_seconds() - busy)


def raw_puts(stack: Stack, documents: list[bytes], concurrency: int, prefix: str) -> Took:
    """How long plain PUTs of `documents` take once the stack is quiet (new keys under `prefix`, a bucket without
    versions or lock), and the machine's CPU for them."""
    print(f"[bench] raw PUTs once the stack is quiet ({wait_until_quiet(stack):.0%} of a core)", file=sys.stderr)
    store = ObjectStore(stack.settings())
    bucket = "bench-raw"
    store.ensure_bucket(bucket)

    def put(item: tuple[int, bytes]) -> None:
        index, data = item
        key = f"{prefix}/{index}.pdf"
        store.client.put_object(bucket, key, io.BytesIO(data), len(data), content_type="application/pdf")

    def put_all() -> None:
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(put, enumerate(documents)))

    return measured(put_all)[1]


def run_pipeline(stack: Stack, documents: list[bytes], concurrency: int) -> dict:
    headers = token("bench-clerk", "clerk", secret=JWT_SECRET)
    archived: dict[str, datetime] = {}

    def seen(value: bytes, _at: float) -> None:
        event = json.loads(value)
        archived[event["document_id"]] = datetime.fromisoformat(event["archived_at"])

    uploaded: dict[str, float] = {}
    client = httpx.Client(timeout=120)
    url = f"{stack.url('ingest')}/api/v1/documents"

    def upload(item: tuple[int, bytes]) -> None:
        index, data = item
        at = time.time()
        response = client.post(
            url,
            headers=headers,
            files={"file": (f"scan-{index}.pdf", data, "application/pdf")},
            data={"workflow": "none"},
        )
        response.raise_for_status()
        uploaded[response.json()["document_id"]] = at

    with TopicWatch(stack.settings(), "documents.archived", seen, from_start=True):
        started = time.time()
        with ThreadPoolExecutor(concurrency) as pool:
            for count, _ in enumerate(pool.map(upload, enumerate(documents)), start=1):
                if count % 100 == 0:
                    print(f"[bench] uploaded {count}/{len(documents)}, archived {len(archived)}", file=sys.stderr)
        uploads_done = time.time()
        deadline = time.monotonic() + 600
        while not set(uploaded) <= set(archived) and time.monotonic() < deadline:
            time.sleep(0.5)
    client.close()
    missing = set(uploaded) - set(archived)
    if missing:
        raise SystemExit(f"{len(missing)} documents were not archived within 10 minutes")
    latencies = [archived[d].timestamp() - uploaded[d] for d in uploaded]
    finished = max(archived[d].timestamp() for d in uploaded)
    return {
        "documents_per_s": round(len(uploaded) / (finished - started), 2),
        "latency_p50_s": round(percentile(latencies, 0.50), 3),
        "latency_p99_s": round(percentile(latencies, 0.99), 3),
        "latency_mean_s": round(statistics.fmean(latencies), 3),
        # Where the time went: uploading (bound by each upload's answer), then the pipeline working off the rest.
        "uploads_per_s": round(len(uploaded) / (uploads_done - started), 2),
        "drain_after_last_upload_s": round(max(0.0, finished - uploads_done), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--warmup", type=int, default=50, help="documents sent through first and not counted (a warm broker and pools)"
    )
    parser.add_argument("--output", type=Path, default=Path("bench-results/pipeline.json"))
    parser.add_argument("--postgres", action="store_true", help="the services' databases on PostgreSQL, not SQLite")
    add_settings_option(parser)
    args = parser.parse_args()
    stop_cleanly_on_sigterm()

    documents = unique_documents(args.documents + args.warmup)
    warmup, documents = documents[: args.warmup], documents[args.warmup :]
    settings, base_env = pipeline_env(args.env)
    with bench_stack(JWT_SECRET, postgres=args.postgres, base_env=base_env) as stack:
        print(f"[bench] stack up; {len(documents)} documents, concurrency {args.concurrency}", file=sys.stderr)
        if warmup:  # the steady state is measured: the broker's JIT, connection pools and caches warmed up
            run_pipeline(stack, warmup, args.concurrency)
        raw_before = raw_puts(stack, documents, args.concurrency, "before")
        pipeline, took = measured(lambda: run_pipeline(stack, documents, args.concurrency))
        raw_after = raw_puts(stack, documents, args.concurrency, "after")
    raw = 2 * len(documents) / (raw_before.seconds + raw_after.seconds)
    # The same comparison in CPU: what the whole machine was busy with per document and per raw PUT (every process
    # and the kernel). Four PUTs at a time leave the cores partly idle, the pipeline keeps both busy: the rates'
    # ratio says how much slower the pipeline is, this one how much more work a document is.
    cpu_per_document_ms = 1000 * took.busy_cpu_s / len(documents)
    cpu_per_put_ms = 1000 * (raw_before.busy_cpu_s + raw_after.busy_cpu_s) / (2 * len(documents))
    result = {
        "benchmark": "pipeline upload→archived, workflow=none",
        "documents": len(documents),
        "warmup_documents": len(warmup),
        "concurrency": args.concurrency,
        "settings": settings,
        "database": "postgresql" if args.postgres else "sqlite",
        "mean_document_bytes": round(sum(map(len, documents)) / len(documents)),
        **pipeline,
        "raw_minio_put_per_s": round(raw, 2),
        "raw_minio_put_per_s_before": round(len(documents) / raw_before.seconds, 2),
        "raw_minio_put_per_s_after": round(len(documents) / raw_after.seconds, 2),
        "pipeline_to_raw_put_ratio": round(pipeline["documents_per_s"] / raw, 4),
        "machine_cpu_ms_per_document": round(cpu_per_document_ms, 2),
        "machine_cpu_ms_per_raw_put": round(cpu_per_put_ms, 2),
        "pipeline_to_raw_put_cpu_ratio": round(cpu_per_put_ms / cpu_per_document_ms, 4),
    }
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
