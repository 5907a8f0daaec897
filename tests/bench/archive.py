"""`make bench-archive`: archive time per document, search latency over many archived documents, verify rate.

1. N documents (default 200) through the `none` workflow: archive time per document is the time from the
   approval event to the package being recorded (`archived_at`).
2. The search index is filled up to `--search-corpus` (default 10,000) archived documents: the pipeline's
   packages plus rows written straight into the archive database (search reads only the database), then
   p50/p99 of the search route for typical queries (Aktenzeichen prefix, title word, full text, paging).
3. `POST /api/v1/archive/verify` over the pipeline's packages: MB/s re-read, against the raw MinIO GET rate
   of the same objects in the same run.
Writes bench-results/archive.json.
"""

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from devstack.stack import Ports, Stack
from shared.auth import issue_token
from shared.storage import ObjectStore
from tests.bench import stop_cleanly_on_sigterm, write_result
from tests.bench.pipeline import percentile, unique_documents
from tests.integration.package_files import package_file

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"
WORDS = ["Bauantrag", "Widerspruch", "Rechnung", "Bescheid", "Gewerbe", "Kita", "Straße", "Schule", "Zuschuss"]


def headers(*roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token('bench', frozenset(roles), JWT_SECRET, timedelta(hours=3))}"}


def archive_through_pipeline(stack: Stack, count: int) -> list[dict]:
    client = httpx.Client(timeout=120)
    clerk = headers("clerk")
    url = f"{stack.url('ingest')}/api/v1/documents"
    akte = client.post(
        f"{stack.url('ingest')}/api/v1/akten", headers=clerk, json={"file_plan_class": "63.01", "title": "Benchmark"}
    ).json()["aktenzeichen"]
    ids = []
    for index, data in enumerate(unique_documents(count)):
        response = client.post(
            url,
            headers=clerk,
            files={"file": (f"scan-{index}.pdf", data, "application/pdf")},
            data={"workflow": "none", "aktenzeichen": akte, "title": f"{WORDS[index % 9]} {index}"},
        )
        response.raise_for_status()
        ids.append(response.json()["document_id"])
    records = headers("records_officer")
    archived = []
    deadline = time.monotonic() + 1200
    for document_id in ids:
        while time.monotonic() < deadline:
            response = client.get(f"{stack.url('archive')}/api/v1/archive/{document_id}", headers=records)
            if response.status_code == 200:
                archived.append(response.json())
                break
            time.sleep(0.2)
    client.close()
    return archived


def fill_search_corpus(database: Path, total: int, existing: int) -> None:
    engine = create_engine(f"sqlite:///{database}")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for index in range(existing, total):
            document_id = str(uuid.uuid4())
            title = f"{random.choice(WORDS)} {random.choice(WORDS)} Nr. {index}"
            received = now - timedelta(days=random.randint(0, 3650))
            conn.execute(
                text(
                    "INSERT INTO archived_documents (document_id, correlation_id, outcome, state, sha256, size, bucket,"
                    " content_type, original_path, title, document_type, sender, aktenzeichen, akte_title, vorgang_id,"
                    " file_plan_class, file_plan_title, retention_years, disposal, filename, submitted_by, received_at,"
                    " decisions, archived_at, retain_until, legal_hold) VALUES (:id, :id, 'approved', 'archived',"
                    " :sha, 1000, 'bench', 'application/pdf', 'data/original.pdf', :title, 'brief', :sender, :az,"
                    " 'Akte', '', :cls, 'Klasse', 10, 'destroy', 'x.pdf', 'bench', :received, '[]', :received,"
                    " :retain, 0)"
                ),
                {
                    "id": document_id,
                    "sha": "0" * 64,
                    "title": title,
                    "sender": f"Absender {index % 500}",
                    "az": f"{random.choice(['50.10', '63.01', '20.30'])}-{received.year}/{index:05d}",
                    "cls": "50.10",
                    "received": received,
                    "retain": received + timedelta(days=3650),
                },
            )
            # The search result shows each package's original, so every row gets its package file too.
            conn.execute(
                text(
                    "INSERT INTO package_files (document_id, path, key, version_id, sha256, size)"
                    " VALUES (:id, 'data/original.pdf', :key, NULL, :sha, 1000)"
                ),
                {"id": document_id, "key": f"packages/{document_id}/data/original.pdf", "sha": "0" * 64},
            )
            conn.execute(
                text("INSERT INTO archive_fts (document_id, body) VALUES (:id, :body)"),
                {"id": document_id, "body": f"{title} Absender {index % 500} " + " ".join(random.choices(WORDS, k=40))},
            )
    engine.dispose()


def time_searches(stack: Stack, rounds: int) -> dict:
    client = httpx.Client(timeout=60)
    records = headers("records_officer")
    url = f"{stack.url('archive')}/api/v1/archive/search"
    queries = [
        {"aktenzeichen": "50.10-20"},
        {"title": "Bauantrag"},
        {"q": "Widerspruch Kita"},
        {"q": "Straße", "offset": 40, "limit": 20},
        {"sender": "Absender 42"},
        {"received_from": "2024-01-01", "received_to": "2024-12-31", "q": "Zuschuss"},
    ]
    timings = []
    for _ in range(rounds):
        for params in queries:
            started = time.monotonic()
            client.get(url, headers=records, params=params).raise_for_status()
            timings.append((time.monotonic() - started) * 1000)
    client.close()
    return {
        "search_requests": len(timings),
        "search_p50_ms": round(percentile(timings, 0.5), 1),
        "search_p99_ms": round(percentile(timings, 0.99), 1),
        "search_mean_ms": round(statistics.fmean(timings), 1),
    }


def verify_rate(stack: Stack, archived: list[dict]) -> dict:
    client = httpx.Client(timeout=None)
    records = headers("records_officer")
    ids = [a["document_id"] for a in archived]
    packages = [client.get(f"{stack.url('archive')}/api/v1/archive/{d}/package", headers=records).json() for d in ids]
    # Each file as verify reads it: an object, or its byte range of the package's bag.tar.
    objects = [(p["bucket"], o) for p in packages for o in p["objects"]]
    total_bytes = sum(listed["size"] for _, listed in objects)
    started = time.monotonic()
    report = client.post(
        f"{stack.url('archive')}/api/v1/archive/verify", headers=records, json={"document_ids": ids}
    ).json()
    verify_s = time.monotonic() - started
    minio = ObjectStore(stack.settings()).client

    started = time.monotonic()
    with ThreadPoolExecutor(1) as pool:  # the verify route reads one object after another, too
        list(pool.map(lambda obj: package_file(minio, *obj), objects))
    raw_s = time.monotonic() - started
    client.close()
    mb = total_bytes / 1e6
    return {
        "verify_packages": report["checked"],
        "verify_all_ok": report["ok"] == report["checked"],
        "verify_objects": len(objects),
        "verify_mb": round(mb, 2),
        "verify_mb_per_s": round(mb / verify_s, 2),
        "raw_get_mb_per_s": round(mb / raw_s, 2),
        "verify_to_raw_get_ratio": round(raw_s / verify_s, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--search-corpus", type=int, default=10_000)
    parser.add_argument("--output", type=Path, default=Path("bench-results/archive.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="eakte-bench-archive-") as tmp:
        stack = Stack(
            Path(tmp), Ports.free(), jwt_secret=JWT_SECRET, base_env={"ingest": {"EAKTE_OCR_ENABLED": "false"}}
        )
        try:
            stack.start_infra()
            stack.start_services()
            archived = archive_through_pipeline(stack, args.documents)
            seconds = [
                (
                    datetime.fromisoformat(a["archived_at"]) - datetime.fromisoformat(a["decisions"][0]["decided_at"])
                ).total_seconds()
                for a in archived
            ]
            print(f"[bench-archive] {len(archived)} archived; filling the search corpus", file=sys.stderr)
            fill_search_corpus(Path(tmp) / "archive.db", args.search_corpus, len(archived))
            search = time_searches(stack, rounds=20)
            verify = verify_rate(stack, archived)
        finally:
            stack.stop()
    result = {
        "benchmark": "archive: time per document, search latency, verify rate",
        "documents_archived": len(archived),
        "archive_s_per_document_p50": round(percentile(seconds, 0.5), 3),
        "archive_s_per_document_p99": round(percentile(seconds, 0.99), 3),
        "search_corpus": args.search_corpus,
        **search,
        **verify,
    }
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
