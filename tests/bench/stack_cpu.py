"""The CPU time of a benchmark stack's processes, read from `/proc/<pid>/stat`; waiting until the stack is quiet."""

import collections
import os
import sys
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system time of the process and its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all cores have been busy since boot (every process and the kernel; not idle, I/O wait or time
    the hypervisor gave to other guests), from the first line of `/proc/stat`."""
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) / CLOCK_TICKS


def descendants_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each living descendant of `pid` (the ingest service's warm PDF-check workers live as long
    as the service: never reaped, so not in its own figure)."""
    parents: dict[int, list[int]] = collections.defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.read_text().rsplit(")", 1)[1].split()[1])].append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue  # ended while we looked
    found, todo = {}, list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            found[child] = cpu_seconds(child)
        except OSError:
            continue
        todo.extend(parents.get(child, []))
    return found


def cpu_with_descendants(before: dict[int, float], after: dict[int, float]) -> float:
    """What the descendants used between two looks (one that started meanwhile counts from zero)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def stack_processes(stack: object) -> dict[str, int]:
    """Name → PID of the broker, MinIO and the services (devstack keeps their `subprocess.Popen`)."""
    found: dict[str, int] = {}
    for name, managed in getattr(stack, "services", {}).items():
        found[name] = managed.pid
    for name in ("kafka", "minio", "postgres"):
        server = getattr(stack, name, None)
        managed = getattr(server, "process", None)
        if managed is not None and managed.pid:
            found[name] = managed.pid
    return found


def wait_until_quiet(stack: object, busy_share: float = 0.1, window_s: float = 0.5, timeout_s: float = 30.0) -> float:
    """Wait until the stack's processes together use less than `busy_share` of one core over `window_s` (what
    follows a burst: consumers recording statuses, relays, page caches written back), at most `timeout_s`.
    Returns the share of the last window."""
    processes = stack_processes(stack)
    deadline = time.monotonic() + timeout_s
    while True:
        before = sum(cpu_seconds(pid) for pid in processes.values())
        time.sleep(window_s)
        share = (sum(cpu_seconds(pid) for pid in processes.values()) - before) / window_s
        if share < busy_share or time.monotonic() > deadline:
            if share >= busy_share:
                print(f"[bench] the stack still uses {share:.0%} of a core after {timeout_s:.0f} s", file=sys.stderr)
            return share
