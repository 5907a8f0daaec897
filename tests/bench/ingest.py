"""`make bench-ingest`: ingest time per page with and without OCR, and peak memory on the largest corpus file.

Uploads the corpus's scanned PDFs twice on one stack: with OCR switched off (time = the upload's own
round trip) and with OCR on (time = from `received` to `ocr_done` in the document's history). While the
largest corpus file is taken in with OCR, the resident memory of the ingest process and of its whole
process tree (inspection children, OCRmyPDF, Tesseract) is sampled. Writes bench-results/ingest.json.
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from devstack.stack import Ports, Stack
from shared.auth import issue_token
from tests.bench import stop_cleanly_on_sigterm, write_result
from tests.conftest import CORPUS, corpus_manifest

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"


def tree_rss_mib(pid: int) -> tuple[float, float]:
    """(RSS of the process, RSS of the process and all its descendants), in MiB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        child = int(status.parent.name)
        children.setdefault(int(fields["PPid"]), []).append(child)
        rss[child] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return rss.get(pid, 0) / 1024, total / 1024


def scans() -> list[tuple[str, bytes, int]]:
    # Image-only scans: the ones that need OCR (a scan that already carries a text layer gets none).
    rows = [r for r in corpus_manifest() if r["kind"] == "scanned" and "text layer" not in r["note"]]
    out = []
    for row in rows:
        pages = int(row["note"].split("pages=")[1].split(";")[0].split(",")[0])
        out.append((row["file"], (CORPUS / row["file"]).read_bytes(), pages))
    return out


def upload(client: httpx.Client, url: str, headers: dict, name: str, data: bytes) -> tuple[str, float]:
    unique = data + f"\n%bench-{uuid.uuid4()}\n".encode()
    started = time.monotonic()
    response = client.post(
        url, headers=headers, files={"file": (name, unique, "application/pdf")}, data={"workflow": "none"}
    )
    response.raise_for_status()
    return response.json()["document_id"], time.monotonic() - started


def history(client: httpx.Client, base: str, headers: dict, document_id: str) -> dict[str, datetime]:
    body = client.get(f"{base}/api/v1/documents/{document_id}", headers=headers).json()
    return {h["status"]: datetime.fromisoformat(h["at"]) for h in body["history"]}


def wait_ocr(client: httpx.Client, base: str, headers: dict, document_id: str) -> dict[str, datetime]:
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        seen = history(client, base, headers, document_id)
        if "ocr_done" in seen or "ocr_failed" in seen:
            return seen
        time.sleep(0.5)
    raise SystemExit(f"OCR of {document_id} did not finish")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("bench-results/ingest.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    token = issue_token("bench", frozenset({"clerk"}), JWT_SECRET, timedelta(hours=2))
    headers = {"Authorization": f"Bearer {token}"}
    files = scans()
    largest = max((CORPUS / r["file"] for r in corpus_manifest()), key=lambda p: p.stat().st_size)

    with tempfile.TemporaryDirectory(prefix="eakte-bench-ingest-") as tmp:
        stack = Stack(
            Path(tmp), Ports.free(), jwt_secret=JWT_SECRET, base_env={"ingest": {"EAKTE_OCR_ENABLED": "false"}}
        )
        client = httpx.Client(timeout=300)
        try:
            stack.start_infra()
            stack.start_services()
            base = stack.url("ingest")
            url = f"{base}/api/v1/documents"
            plain = [upload(client, url, headers, name, data)[1] / pages for name, data, pages in files]

            stack.restart_service("ingest", EAKTE_OCR_ENABLED="true")
            with_ocr, failed = [], 0
            for name, data, pages in files:
                print(f"[bench-ingest] OCR {name} ({pages} page(s))", file=sys.stderr, flush=True)
                document_id, _ = upload(client, url, headers, name, data)
                seen = wait_ocr(client, base, headers, document_id)
                if "ocr_done" not in seen:
                    failed += 1
                    continue
                with_ocr.append((seen["ocr_done"] - seen["received"]).total_seconds() / pages)

            pid = stack.services["ingest"].pid
            assert pid is not None
            peaks = {"process": 0.0, "tree": 0.0}
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    own, tree = tree_rss_mib(pid)
                    peaks["process"], peaks["tree"] = max(peaks["process"], own), max(peaks["tree"], tree)
                    done.wait(0.1)

            sampler = threading.Thread(target=sample, daemon=True)
            idle = tree_rss_mib(pid)
            sampler.start()
            document_id, _ = upload(client, url, headers, largest.name, largest.read_bytes())
            wait_ocr(client, base, headers, document_id)
            done.set()
            sampler.join()
        finally:
            client.close()
            stack.stop()

    result = {
        "benchmark": "ingest time per page, with and without OCR (corpus scans)",
        "documents": len(files),
        "pages": sum(p for _, _, p in files),
        "without_ocr_s_per_page_median": round(statistics.median(plain), 3),
        "with_ocr_s_per_page_median": round(statistics.median(with_ocr), 2),
        "with_ocr_s_per_page_max": round(max(with_ocr), 2),
        "ocr_gave_up": failed,
        "largest_file": largest.name,
        "largest_file_bytes": largest.stat().st_size,
        "ingest_rss_mib_idle": round(idle[0], 1),
        "ingest_rss_mib_peak": round(peaks["process"], 1),
        "ingest_tree_rss_mib_peak": round(peaks["tree"], 1),
    }
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
