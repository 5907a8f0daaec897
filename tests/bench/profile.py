"""`make bench-profile`: where the CPU of one document goes — per process, and per function in each service.

Runs the pipeline benchmark (N one-page scans, workflow `none`, OCR off) and, while the uploads flow, samples
for `--window` seconds:

- the CPU time of every process of the stack from `/proc/<pid>/stat` (user + system, with its reaped children and
  its living descendants: the ingest service's warm PDF-check workers are counted in it), turned into milliseconds
  of CPU per archived document;
- each service with py-spy (`--format raw`: collapsed stacks in `bench-results/profile/<service>.txt`, readable by
  flamegraph tools and speedscope), summarised as the functions of our own code with the largest share of samples.

Writes `bench-results/profile.json`. The figures are a picture of one run on this machine, not a pass/fail test.
"""

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.bench import (
    PIPELINE_SERVICES,
    add_settings_option,
    bench_stack,
    pipeline_env,
    stop_cleanly_on_sigterm,
    write_result,
)
from tests.bench.pipeline import JWT_SECRET, run_pipeline, unique_documents
from tests.bench.stack_cpu import cpu_seconds, cpu_with_descendants, descendants_cpu, stack_processes

FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>.*?):\d+\)$")
IDLE = re.compile(r"^(select|_worker|wait|read_signed|main|poll|accept|_recv)\b|Selector\.select|Condition\.wait")


def own_functions(path: Path, top: int = 15) -> list[dict[str, object]]:
    """The functions of services/ and shared/ with the largest share of the busy samples (inclusive)."""
    inclusive: collections.Counter[str] = collections.Counter()
    busy = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        leaf = FRAME.match(frames[-1])
        if leaf and IDLE.search(leaf.group("function")):
            continue
        busy += int(count)
        seen: set[str] = set()
        for frame in frames:
            match = FRAME.match(frame)
            if not match or not re.match(r"(services|shared)/", match.group("file")):
                continue
            name = f"{match.group('function')} ({match.group('file').split('/work/')[-1]})"
            if name not in seen:
                seen.add(name)
                inclusive[name] += int(count)
    return [{"function": name, "share": round(count / busy, 3)} for name, count in inclusive.most_common(top) if busy]


# A fixed Python loop timed in a fresh process just before and after the window: how fast this machine runs Python
# at that moment. CPU per document divided by it compares runs made while the machine was faster or slower (the
# same code measured 70 and 122 ms per document within half an hour here).
MARKER = "import time; t = time.process_time(); sum(i * i for i in range(2_000_000)); print(time.process_time() - t)"


def speed_marker_ms() -> float:
    done = subprocess.run([sys.executable, "-c", MARKER], capture_output=True, text=True, check=True, timeout=60)
    return 1000 * float(done.stdout)


def profile_window(
    stack: object, window_s: float, out_dir: Path, started: threading.Event, gil: bool = False, idle: bool = False
) -> dict[str, object]:
    started.wait()
    time.sleep(3)  # past the first uploads
    marker_before = speed_marker_ms()
    processes = stack_processes(stack)
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    workers_before = {name: descendants_cpu(pid) for name, pid in processes.items()}
    spies = []
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    for name in PIPELINE_SERVICES:
        output = out_dir / f"{name}.txt"
        argv = [py_spy, "record", "--pid", str(processes[name]), "--duration", str(int(window_s)), "--rate", "50"]
        argv += ["--format", "raw", "--nonblocking", "--output", str(output)]
        argv += ["--gil"] if gil else []  # only threads running Python: CPU, not waits on sockets and locks
        argv += ["--idle", "--threads"] if idle else []  # wall clock of each thread: where a request waits
        spies.append((name, output, subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    began = time.monotonic()
    time.sleep(window_s)
    elapsed = time.monotonic() - began
    used = {name: cpu_seconds(pid) - before[name] for name, pid in processes.items()}
    in_children = {
        name: cpu_with_descendants(workers_before[name], descendants_cpu(pid)) for name, pid in processes.items()
    }
    for name, seconds in in_children.items():
        used[name] += seconds
    marker = (marker_before + speed_marker_ms()) / 2
    for _, _, spy in spies:
        spy.wait(timeout=60)
    functions = {name: own_functions(output) for name, output, _ in spies if output.exists()}
    return {
        "window_s": round(elapsed, 1),
        "cpu_s": used,
        "cpu_s_in_children": {name: seconds for name, seconds in in_children.items() if seconds > 0},
        "functions": functions,
        "speed_marker_ms": marker,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50, help="documents sent through first and not sampled")
    parser.add_argument("--gil", action="store_true", help="sample only threads holding the GIL (Python's CPU)")
    parser.add_argument(
        "--idle", action="store_true", help="sample waiting threads too, per thread (where a request's time goes)"
    )
    parser.add_argument("--window", type=float, default=20.0, help="seconds of sampling while documents flow")
    parser.add_argument("--output", type=Path, default=Path("bench-results/profile.json"))
    parser.add_argument("--postgres", action="store_true", help="the services' databases on PostgreSQL, not SQLite")
    add_settings_option(parser)
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    out_dir = args.output.parent / "profile"
    out_dir.mkdir(parents=True, exist_ok=True)
    documents = unique_documents(args.documents + args.warmup)
    warmup, documents = documents[: args.warmup], documents[args.warmup :]
    settings, base_env = pipeline_env(args.env)
    with bench_stack(JWT_SECRET, postgres=args.postgres, base_env=base_env) as stack:
        if warmup:  # the steady state is sampled: the broker's JIT, connection pools and caches warmed up
            run_pipeline(stack, warmup, concurrency=4)
        started, sampled = threading.Event(), {}
        sampler = threading.Thread(
            target=lambda: sampled.update(profile_window(stack, args.window, out_dir, started, args.gil, args.idle))
        )
        sampler.start()
        started.set()
        pipeline = run_pipeline(stack, documents, concurrency=4)
        sampler.join()
    rate = pipeline["documents_per_s"]
    window = sampled["window_s"]
    per_document = {name: round(1000 * seconds / (rate * window), 1) for name, seconds in sampled["cpu_s"].items()}
    in_children = {name: round(1000 * s / (rate * window), 1) for name, s in sampled["cpu_s_in_children"].items()}
    result = {
        "benchmark": "CPU per document while the pipeline runs (workflow none, OCR off)",
        "documents": len(documents),
        "warmup_documents": len(warmup),
        "settings": settings,
        "database": "postgresql" if args.postgres else "sqlite",
        **pipeline,
        "cpu_ms_per_document": per_document,
        "cpu_ms_per_document_total": round(sum(per_document.values()), 1),
        # Of each figure, what its child processes used (the ingest service's PDF-check and preview workers).
        "cpu_ms_per_document_in_child_processes": in_children,
        "speed_marker_ms": round(sampled["speed_marker_ms"], 1),
        # CPU per document in units of the marker loop: comparable between runs on a faster or slower machine.
        "cpu_per_document_in_markers": round(sum(per_document.values()) / sampled["speed_marker_ms"], 3),
        "top_functions": sampled["functions"],
        "stacks": str(out_dir),
    }
    write_result(args.output, result)
    print(json.dumps(per_document), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
