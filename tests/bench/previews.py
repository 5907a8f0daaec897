"""`make bench-previews`: how long page previews take.

1. Render time per page: every born-digital, scanned and many-page PDF of the corpus (../shared/corpus) that the
   intake accepts, rendered in the PDF checkers (large PNG at EAKTE_PREVIEW_DPI and a thumbnail per page);
   p50/p95/max milliseconds per page, measured inside the checker.
2. Upload to preview: N documents uploaded to a stack of their own; the time from the upload's answer until the
   document's pages answer `done` (the preview worker polls its queue once a second when idle).
Writes bench-results/previews.json.
"""

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

from services.ingest.domain import PdfFacts
from services.ingest.domain_previews import PreviewPolicy
from services.ingest.inspection import check_pdf, render_preview
from shared.auth import issue_token
from shared.settings import Settings
from tests.bench import bench_stack, stop_cleanly_on_sigterm, write_result
from tests.bench.pipeline import percentile
from tests.conftest import CORPUS, corpus_manifest, unique_bytes

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"
KINDS = ("born-digital", "scanned", "many-pages", "malformed")


def render_per_page() -> dict:
    defaults = Settings()
    policy = PreviewPolicy(
        defaults.preview_dpi,
        defaults.preview_thumb_px,
        defaults.preview_max_pages,
        defaults.preview_page_timeout_s,
        defaults.preview_startup_allowance_s,
    )
    timings: list[float] = []
    files = 0
    for row in corpus_manifest():
        path = CORPUS / row["file"]
        if row["kind"] not in KINDS or path.suffix != ".pdf" or not isinstance(check_pdf(path, 2000, 30), PdfFacts):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            verdict = render_preview(path, Path(tmp), policy, 120)
        if isinstance(verdict, dict) and verdict["ok"]:
            files += 1
            timings.extend(float(ms) for ms in verdict["ms"])
    return {
        "dpi": policy.dpi,
        "thumb_px": policy.thumb_px,
        "files": files,
        "pages": len(timings),
        "ms_per_page_p50": round(statistics.median(timings), 1),
        "ms_per_page_p95": round(percentile(timings, 0.95), 1),
        "ms_per_page_max": round(max(timings), 1),
    }


def upload_to_preview(count: int) -> dict:
    token = issue_token("bench", frozenset({"clerk"}), JWT_SECRET, timedelta(hours=1))
    headers = {"Authorization": f"Bearer {token}"}
    delays: list[float] = []
    with bench_stack(JWT_SECRET) as stack, httpx.Client(timeout=60) as client:
        base = f"{stack.url('ingest')}/api/v1/documents"
        for index in range(count):
            data = unique_bytes("ocr__tagged.pdf")
            files = {"file": (f"bench-{index}.pdf", data, "application/pdf")}
            answer = client.post(base, headers=headers, files=files, data={"workflow": "none"})
            answer.raise_for_status()
            uploaded = time.perf_counter()
            document_id = answer.json()["document_id"]
            while client.get(f"{base}/{document_id}/pages", headers=headers).json()["state"] == "pending":
                time.sleep(0.05)
            delays.append((time.perf_counter() - uploaded) * 1000)
    return {
        "documents": count,
        "pages_each": 2,
        "ms_upload_to_preview_p50": round(statistics.median(delays), 1),
        "ms_upload_to_preview_p95": round(percentile(delays, 0.95), 1),
    }


def main() -> None:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=20)
    parser.add_argument("--output", type=Path, default=Path("bench-results/previews.json"))
    args = parser.parse_args()
    result = {"render": render_per_page(), "pipeline": upload_to_preview(args.documents)}
    write_result(args.output, result)


if __name__ == "__main__":
    main()
