"""`eakte up`'s supervisor with throwaway processes: restarted after a crash, backoff, critical processes."""

import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.processes import ManagedProcess
from devstack.supervisor import CriticalProcessDied, Supervisor

SLEEPER = [sys.executable, "-c", "import time; print('sleeper up', flush=True); time.sleep(120)"]
Start = Callable[..., ManagedProcess]
CRASHER = [sys.executable, "-c", "print('cannot open the database', flush=True); raise SystemExit(3)"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Start]:
    processes: list[ManagedProcess] = []

    def start(argv: list[str], name: str = "worker") -> ManagedProcess:
        process = ManagedProcess(name, argv, tmp_path / f"{name}.log").start()
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.kill()


def _supervisor(lines: list[str], clock: Clock) -> Supervisor:
    return Supervisor(say=lines.append, clock=clock)


def test_a_killed_process_is_started_again_after_its_backoff_and_the_log_says_why(started: Start) -> None:
    lines: list[str] = []
    clock = Clock()
    supervisor = _supervisor(lines, clock)
    first = started(SLEEPER)
    supervisor.watch(first, restart=lambda: started(SLEEPER))
    assert supervisor.poll() == []
    first.wait_ready(lambda: "sleeper up" in first.tail(), timeout_s=30)

    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    assert supervisor.poll() == []  # noted, waiting out the first backoff
    assert "worker died (exit code -9); restarting in 1 s" in lines[-1]
    assert "sleeper up" in lines[-1]  # the last log lines of the dead process

    clock.now += 1.0
    assert supervisor.poll() == ["worker"]
    second = supervisor.process("worker")
    assert second.pid != first.pid and second.running()
    assert supervisor.restarts("worker") == 1
    assert supervisor.exit_codes("worker") == [-signal.SIGKILL]


def test_a_process_that_keeps_crashing_waits_longer_each_time_up_to_30_s(started: Start) -> None:
    lines: list[str] = []
    clock = Clock()
    supervisor = _supervisor(lines, clock)
    supervisor.watch(started(CRASHER), restart=lambda: started(CRASHER))
    delays = []
    for _ in range(7):
        supervisor.process("worker").process.wait(timeout=10)
        supervisor.poll()
        delay = float(lines[-1].split("restarting in ")[1].split(" s")[0])
        delays.append(delay)
        clock.now += delay
        assert supervisor.poll() == ["worker"]
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    assert "exit code 3" in lines[0] and "cannot open the database" in lines[0]


def test_after_a_minute_alive_the_backoff_starts_over_at_1_s(started: Start) -> None:
    lines: list[str] = []
    clock = Clock()
    supervisor = _supervisor(lines, clock)
    supervisor.watch(started(CRASHER), restart=lambda: started(SLEEPER))
    supervisor.process("worker").process.wait(timeout=10)
    supervisor.poll()
    clock.now += 1.0
    supervisor.poll()  # restarted: this one stays up
    clock.now += 61.0
    supervisor.poll()  # a minute alive
    supervisor.process("worker").kill()
    supervisor.poll()
    assert "restarting in 1 s" in lines[-1]


def test_a_critical_process_ending_stops_the_stack_with_its_last_log_lines(started: Start) -> None:
    supervisor = _supervisor([], Clock())
    kafka = started(CRASHER, name="kafka")
    supervisor.watch(kafka)  # no restart: critical
    kafka.process.wait(timeout=10)
    with pytest.raises(CriticalProcessDied, match=r"(?s)kafka stopped \(exit code 3\).*cannot open the database"):
        supervisor.poll()
