"""`make bench-bulk`: 10,000 files dropped into the hot-folder at once, then one 1,000-file upload.

Checks that each file is taken in exactly once (receipts and queue counts) and records files/s and the
ingest process's resident memory (RSS) over the first and the last tenth of the run: flat memory means
the two are close. Writes JSON to bench-results/bulk.json.
"""

import argparse
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx

from devstack.stack import Ports, Stack
from shared.auth import issue_token
from tests.bench import stop_cleanly_on_sigterm, write_result
from tests.bench.pipeline import unique_documents

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Watch:
    """Samples intake progress and the ingest process's RSS twice a second."""

    def __init__(self, stack: Stack, headers: dict[str, str]) -> None:
        self.stack, self.headers = stack, headers
        self.samples: list[tuple[float, int, float]] = []  # (time, finished files, RSS MiB)
        self.stop = threading.Event()

    def progress(self) -> dict:
        return httpx.get(f"{self.stack.url('ingest')}/api/v1/intake/progress", headers=self.headers, timeout=30).json()

    def run(self) -> None:
        while not self.stop.is_set():
            p = self.progress()
            pid = self.stack.services["ingest"].pid
            self.samples.append((time.monotonic(), p["done"] + p["failed"] + p["duplicates"], rss_mib(pid)))
            self.stop.wait(0.5)

    def wait_until(self, finished: int, total: int, label: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = -1
        while time.monotonic() < deadline:
            p = self.progress()
            done = p["done"] + p["failed"] + p["duplicates"]
            if done != last and done % 500 < 50:
                print(
                    f"[bench-bulk] {label}: {done - (finished - total)}/{total} taken in, pending {p['pending']}",
                    file=sys.stderr,
                    flush=True,
                )
            last = done
            if done >= finished and p["pending"] == 0:
                return
            time.sleep(1)
        raise SystemExit(f"{label}: not finished within {timeout_s:.0f} s")

    def rss_window(self, start: int, end: int) -> float:
        window = [rss for _, finished, rss in self.samples if start <= finished <= end]
        return round(max(window), 1) if window else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--upload", type=int, default=1_000)
    parser.add_argument("--output", type=Path, default=Path("bench-results/bulk.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    headers = {"Authorization": f"Bearer {issue_token('bench', frozenset({'admin'}), JWT_SECRET, timedelta(hours=4))}"}

    with tempfile.TemporaryDirectory(prefix="eakte-bench-bulk-") as tmp:
        # Intake is measured here; OCR (bench-ingest) would only compete for the two cores.
        stack = Stack(
            Path(tmp),
            Ports.free(),
            jwt_secret=JWT_SECRET,
            hotfolder=Path(tmp) / "hotfolder",
            base_env={"ingest": {"EAKTE_OCR_ENABLED": "false"}},
        )
        try:
            stack.start_infra()
            stack.start_services()
            watch = Watch(stack, headers)
            sampler = threading.Thread(target=watch.run, daemon=True)
            sampler.start()
            rss_idle = rss_mib(stack.services["ingest"].pid)

            folder = stack.hotfolder
            assert folder is not None
            staging = Path(tmp) / "staging"
            staging.mkdir()
            for index, data in enumerate(unique_documents(args.files)):
                (staging / f"scan-{index:05d}.pdf").write_bytes(data)
            started = time.monotonic()
            for path in staging.iterdir():  # drop them all at once (a rename each, as a scanner share would)
                path.rename(folder / path.name)
            watch.wait_until(args.files, args.files, "hot-folder", timeout_s=3 * 3600)
            hotfolder_s = time.monotonic() - started
            receipts = len(list((folder / "processed").glob("*.receipt.json")))
            hot_progress = watch.progress()

            files = [
                ("files", (f"upload-{i:04d}.pdf", d, "application/pdf"))
                for i, d in enumerate(unique_documents(args.upload))
            ]
            started = time.monotonic()
            response = httpx.post(
                f"{stack.url('ingest')}/api/v1/documents/batch",
                headers=headers,
                files=files,
                data={"workflow": "none"},
                timeout=600,
            )
            response.raise_for_status()
            batch_id = response.json()["batch_id"]
            watch.wait_until(args.files + args.upload, args.upload, "upload", timeout_s=3600)
            upload_s = time.monotonic() - started
            batch = httpx.get(
                f"{stack.url('ingest')}/api/v1/intake/batches/{batch_id}", headers=headers, timeout=60
            ).json()["progress"]
            watch.stop.set()
            sampler.join()
        finally:
            stack.stop()

    tenth = max(1, args.files // 10)
    result = {
        "benchmark": "bulk intake: hot-folder drop, then one multi-file upload",
        "hotfolder_files": args.files,
        "hotfolder_files_per_s": round(args.files / hotfolder_s, 2),
        "hotfolder_seconds": round(hotfolder_s, 1),
        "hotfolder_exactly_once": receipts == args.files
        and hot_progress["done"] == args.files
        and hot_progress["duplicates"] == 0
        and hot_progress["failed"] == 0,
        "hotfolder_receipts": receipts,
        "upload_files": args.upload,
        "upload_files_per_s": round(args.upload / upload_s, 2),
        "upload_progress": batch,
        "ingest_rss_mib_idle": round(rss_idle, 1),
        "ingest_rss_mib_peak_first_tenth": watch.rss_window(0, tenth),
        "ingest_rss_mib_peak_last_tenth": watch.rss_window(args.files - tenth, args.files),
        "ingest_rss_mib_peak_overall": round(max(rss for _, _, rss in watch.samples), 1),
        "run_id": str(uuid.uuid4()),
    }
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
