"""`make bench-replicas`: the same N documents upload -> approval -> archive with 1 and with 2 replicas of each
service (both on PostgreSQL, no faults); docs/s for each, the ratio, and where the CPU went.

CPU per process from /proc/<pid>/stat (utime + stime of the process and of its descendants, as a share of one core
over the run): which process is the bottleneck on this machine. Writes bench-results/replicas.json.
"""

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from devstack.stack import Stack
from tests.bench import stop_cleanly_on_sigterm, write_result
from tests.bench.chaos import documents_per_s, flow, replica_stack, say
from tests.bench.pipeline import unique_documents

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(stat_line: str) -> int:
    """utime + stime + cutime + cstime from one /proc/<pid>/stat line (the name may hold spaces)."""
    fields = stat_line.rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15])


def parent_of(stat_line: str) -> int:
    return int(stat_line.rsplit(")", 1)[1].split()[1])


def _stats() -> dict[int, str]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = (entry / "stat").read_text()
            except OSError:
                continue
    return found


def tree_ticks(roots: dict[str, int]) -> dict[str, int]:
    """CPU ticks per named root process, its descendants included (PostgreSQL's backends, the ingest's OCR pool)
    except those that are roots of their own (the driver starts every server: they are counted once, by name)."""
    stats = _stats()
    children: dict[int, list[int]] = {}
    for pid, line in stats.items():
        children.setdefault(parent_of(line), []).append(pid)
    result = {}
    named_roots = set(roots.values())
    for name, root in roots.items():
        total, todo = 0, [root]
        while todo:
            pid = todo.pop()
            if pid in stats:
                total += cpu_ticks(stats[pid])
            todo.extend(child for child in children.get(pid, ()) if child not in named_roots)
        result[name] = total
    return result


def roots(stack: Stack) -> dict[str, int]:
    named = {name: process.pid for name, process in stack.services.items() if process.pid}
    for name, server in (("kafka", stack.kafka), ("minio", stack.minio), ("postgres", stack.postgres)):
        if server is not None and server.process is not None and server.process.pid:
            named[name] = server.process.pid
    named["driver (this benchmark)"] = os.getpid()
    return named


def one_run(replicas: int, documents: list[bytes], concurrency: int, timeout_s: float) -> dict[str, Any]:
    with replica_stack(replicas) as stack:
        say(f"{replicas} replica(s) up; {len(documents)} documents")
        pids = roots(stack)
        before, began = tree_ticks(pids), time.monotonic()
        run = flow(stack, documents, concurrency, timeout_s, None)
        after, wall = tree_ticks(pids), time.monotonic() - began
    cpu = {name: round((after[name] - before[name]) / TICKS / wall, 3) for name in pids if name in after}
    return {
        "replicas": replicas,
        "accepted": len(run.accepted),
        "archived": len(set(run.accepted) & run.archived),
        "seconds": run.finished,  # type: ignore[attr-defined]
        "documents_per_s": documents_per_s(len(run.accepted), run.finished),  # type: ignore[attr-defined]
        "cpu_cores_by_process": dict(sorted(cpu.items(), key=lambda item: -item[1])),
        "cpu_cores_total": round(sum(cpu.values()), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--output", type=Path, default=Path("bench-results/replicas.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    documents = unique_documents(args.documents)
    runs = [one_run(replicas, documents, args.concurrency, args.timeout) for replicas in (1, 2)]
    result = {
        "benchmark": "upload→approval→archive, workflow=default, 1 vs 2 replicas of each service on PostgreSQL",
        "documents": args.documents,
        "concurrency": args.concurrency,
        "cores": os.cpu_count(),
        "runs": runs,
        "ratio_2_to_1": round(runs[1]["documents_per_s"] / runs[0]["documents_per_s"], 3)
        if runs[0]["documents_per_s"]
        else None,
    }
    write_result(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
