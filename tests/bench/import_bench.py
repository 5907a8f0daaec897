"""`make bench-import`: a generated delivery of FILES unique small scans and its index, filed by `eakte import`.

Like a scanning provider's: a folder per box, a `;`-separated Windows-1252 index with German headers and a
mapping, Akten by their old Aktenzeichen with a few Vorgänge each, workflow `none`. Records files/s of the
import command, the resident memory (RSS) of the ingest and archive processes averaged over the first and
the last tenth of the files (flat memory: the two are close), doubles in ingest and failed rows. Writes JSON
to bench-results/import.json. It measures; it never fails on a figure.
"""

import argparse
import csv
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx

from devstack.stack import Stack
from shared.auth import issue_token
from tests.bench import bench_stack, stop_cleanly_on_sigterm, write_result
from tests.bench.bulk import rss_mib
from tests.conftest import CORPUS, corpus_manifest

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"
FILES_PER_BOX, ROWS_PER_AKTE, ROWS_PER_VORGANG = 1000, 40, 10
MAPPING = """\
delimiter: ";"
encoding: cp1252
date_format: "%d.%m.%Y"
columns: {file: Datei, aktenzeichen: Aktenzeichen, vorgang: Vorgang, title: Betreff, document_type: Dokumentart,
          sender: Absender, received_on: Eingangsdatum}
"""


def small_scans() -> list[bytes]:
    """The corpus's one-page scans under 50 KB: a delivery of many small files."""
    rows = [r for r in corpus_manifest() if r["kind"] == "scanned" and "pages=1;" in r["note"]]
    return [(CORPUS / r["file"]).read_bytes() for r in rows if int(r["bytes"]) < 50_000]


def write_delivery(folder: Path, files: int) -> Path:
    """FILES unique scans (a PDF comment after the end marker makes each unique) and the index; one at a time."""
    scans = small_scans()
    index = folder / "index.csv"
    with index.open("w", encoding="cp1252", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["Datei", "Aktenzeichen", "Vorgang", "Betreff", "Dokumentart", "Absender", "Eingangsdatum"])
        for number in range(files):
            name = f"karton-{number // FILES_PER_BOX:03d}/scan-{number:06d}.pdf"
            path = folder / "lieferung" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(scans[number % len(scans)] + f"\n%eakte-bench {uuid.uuid4()}\n".encode())
            akte = f"50.10-2015/{number // ROWS_PER_AKTE + 1:04d}"
            vorgang = f"Vorgang {number % ROWS_PER_AKTE // ROWS_PER_VORGANG + 1}"
            day = f"{number % 28 + 1:02d}.{number % 12 + 1:02d}.2015"
            writer.writerow([name, akte, vorgang, f"Blatt {number}", "Schreiben", "Bürger", day])
    (folder / "mapping.yaml").write_text(MAPPING, encoding="utf-8")
    return index


class Sampler:
    """Twice a second: rows finished (lines in the report) and the RSS of the ingest and archive processes."""

    def __init__(self, stack: Stack, report: Path) -> None:
        self.stack, self.report = stack, report
        self.samples: list[tuple[int, float, float]] = []  # (rows finished, ingest MiB, archive MiB)
        self.stop = threading.Event()

    def finished(self) -> int:
        if not self.report.exists():
            return 0
        with self.report.open("rb") as handle:
            return max(sum(1 for _ in handle) - 1, 0)

    def run(self) -> None:
        while not self.stop.is_set():
            rss = [rss_mib(self.stack.services[name].pid) for name in ("ingest", "archive")]
            self.samples.append((self.finished(), rss[0], rss[1]))
            self.stop.wait(0.5)

    def mean(self, start: int, end: int, which: int) -> float:
        window = [sample[which] for sample in self.samples if start <= sample[0] <= end]
        return round(sum(window) / len(window), 1) if window else 0.0


def outcomes(report: Path) -> tuple[dict[str, int], set[str]]:
    counts: dict[str, int] = {}
    documents: set[str] = set()
    with report.open(encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            counts[record["outcome"]] = counts.get(record["outcome"], 0) + 1
            if record["outcome"] == "filed":
                documents.add(record["document_id"])
    return counts, documents


def documents_in_ingest(stack: Stack) -> int:
    """How many documents ingest holds for the import's user: more than files filed would be doubles."""
    admin = issue_token("bench", frozenset({"admin"}), JWT_SECRET, timedelta(hours=1))
    response = httpx.get(
        f"{stack.url('ingest')}/api/v1/documents",
        params={"submitted_by": "eakte-import", "limit": 1},
        headers={"Authorization": f"Bearer {admin}"},
        timeout=60,
    )
    response.raise_for_status()
    return int(response.json()["total"])


def run_import(stack: Stack, folder: Path, index: Path, concurrency: int) -> tuple[float, int]:
    command = [sys.executable, "-m", "eakte_cli", "import", str(folder / "lieferung"), "--index", str(index)]
    command += ["--mapping", str(folder / "mapping.yaml"), "--concurrency", str(concurrency)]
    command += ["--url", stack.url("ingest")]
    started = time.monotonic()
    # The import's progress line (rate, ETA) goes to this terminal, as for a person running it.
    code = subprocess.run(command, env={**os.environ, "EAKTE_JWT_SECRET": JWT_SECRET}, check=False)
    return time.monotonic() - started, code.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--output", type=Path, default=Path("bench-results/import.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    with bench_stack(JWT_SECRET, base_env={"ingest": {"EAKTE_OCR_ENABLED": "false"}}) as stack:
        folder = stack.data_dir / "delivery"
        folder.mkdir()
        print(f"[bench-import] writing a delivery of {args.files} files", file=sys.stderr, flush=True)
        index = write_delivery(folder, args.files)
        sampler = Sampler(stack, index.with_name("index.report.csv"))
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()
        seconds, exit_code = run_import(stack, folder, index, args.concurrency)
        sampler.stop.set()
        thread.join()
        if not sampler.report.exists():
            print(f"[bench-import] eakte import exited {exit_code} without a report (see above)", file=sys.stderr)
            return 1
        counts, filed = outcomes(sampler.report)
        in_ingest = documents_in_ingest(stack)
    tenth = max(1, args.files // 10)
    first = [sampler.mean(0, tenth, which) for which in (1, 2)]
    last = [sampler.mean(args.files - tenth, args.files, which) for which in (1, 2)]
    result = {
        "benchmark": "backlog import: eakte import of a generated delivery (workflow none, OCR off)",
        "files": args.files,
        "files_per_s": round(args.files / seconds, 2),
        "rss_first_tenth_mib": round(sum(first), 1),
        "rss_last_tenth_mib": round(sum(last), 1),
        "doubles": max(in_ingest - len(filed), 0) + counts.get("duplicate", 0),
        "failed": counts.get("failed", 0) + counts.get("quarantined", 0),
        "seconds": round(seconds, 1),
        "concurrency": args.concurrency,
        "exit_code": exit_code,
        "outcomes": counts,
        "documents_in_ingest": in_ingest,
        "ingest_rss_first_tenth_mib": first[0],
        "ingest_rss_last_tenth_mib": last[0],
        "archive_rss_first_tenth_mib": first[1],
        "archive_rss_last_tenth_mib": last[1],
        "rss": "mean resident memory of the ingest and archive processes (sum) while the first / last tenth ran",
        "run_id": str(uuid.uuid4()),
    }
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
