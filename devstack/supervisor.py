"""Supervision for `eakte up`: a service that died is started again, with backoff; the infrastructure is not.

The supervisor knows nothing of services or replicas: it watches `ManagedProcess`es, each with a way to start
it again (`restart`, returning the new process). `eakte up --replicas N` watches N of them per service.
A process that keeps dying is started again after 1 s, 2 s, 4 s ... up to 30 s; after a minute alive its
backoff starts at 1 s again. A *critical* process (Kafka, MinIO, PostgreSQL) is not restarted: its death
ends the stack with a clear message (their data directories and start-up belong to `eakte up` as a whole).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from devstack.processes import ManagedProcess, SetupError

INITIAL_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
HEALTHY_RESET_S = 60.0


class CriticalProcessDied(RuntimeError):
    """A process the stack cannot do without (the broker, the object store, the database) ended."""


@dataclass
class _Watched:
    process: ManagedProcess
    restart: Callable[[], ManagedProcess] | None
    started_at: float
    backoff_s: float
    restart_at: float | None = None  # set while the process is dead and waiting for its restart
    restarts: int = 0
    exit_codes: list[int | None] = field(default_factory=list)


class Supervisor:
    def __init__(
        self,
        say: Callable[[str], None] = lambda line: print(line, flush=True),
        initial_backoff_s: float = INITIAL_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        healthy_reset_s: float = HEALTHY_RESET_S,
        clock: Callable[[], float] = time.monotonic,
        tail_lines: int = 20,
    ) -> None:
        self._say = say
        self._initial = initial_backoff_s
        self._max = max_backoff_s
        self._healthy_reset = healthy_reset_s
        self._clock = clock
        self._tail_lines = tail_lines
        self._watched: dict[str, _Watched] = {}

    def watch(self, process: ManagedProcess, restart: Callable[[], ManagedProcess] | None = None) -> None:
        """Watch `process` (by its name); `restart` starts it again, None marks it critical (never restarted)."""
        self._watched[process.name] = _Watched(process, restart, self._clock(), self._initial)

    def process(self, name: str) -> ManagedProcess:
        return self._watched[name].process

    def restarts(self, name: str) -> int:
        return self._watched[name].restarts

    def exit_codes(self, name: str) -> list[int | None]:
        """The exit codes of the runs of `name` that ended (negative: killed by that signal)."""
        return list(self._watched[name].exit_codes)

    def poll(self) -> list[str]:
        """One round: note deaths, restart those whose backoff ran out; return the names restarted now.

        Raises CriticalProcessDied when a critical process ended.
        """
        restarted = []
        for name, watched in self._watched.items():
            if self._step(name, watched):
                restarted.append(name)
        return restarted

    def _step(self, name: str, watched: _Watched) -> bool:
        now = self._clock()
        if watched.restart_at is None:
            if watched.process.running():
                if now - watched.started_at >= self._healthy_reset:
                    watched.backoff_s = self._initial  # a minute alive: the next crash starts over at 1 s
                return False
            self._died(name, watched, now)
            return False
        if now < watched.restart_at:
            return False
        assert watched.restart is not None
        try:
            watched.process = watched.restart()
        except SetupError as exc:
            watched.restart_at = now + self._next_backoff(watched)
            self._say(f"[eakte] {name} could not be started again: {exc}; next try in {watched.backoff_s:.0f} s")
            return False
        watched.restart_at = None
        watched.started_at = now
        watched.restarts += 1
        self._say(f"[eakte] {name} started again (PID {watched.process.pid}, restart {watched.restarts})")
        return True

    def _died(self, name: str, watched: _Watched, now: float) -> None:
        code = watched.process.process.returncode if watched.process.process else None
        watched.exit_codes.append(code)
        tail = watched.process.tail(self._tail_lines)
        if watched.restart is None:
            raise CriticalProcessDied(
                f"{name} stopped (exit code {code}); the stack cannot run without it and stops. "
                f"Last log lines ({watched.process.log_path}):\n{tail}"
            )
        delay = self._next_backoff(watched)
        watched.restart_at = now + delay
        self._say(
            f"[eakte] {name} died (exit code {code}); restarting in {delay:.0f} s. "
            f"Last log lines ({watched.process.log_path}):\n{tail}"
        )

    def _next_backoff(self, watched: _Watched) -> float:
        """The delay before this restart; the one after it doubles, up to the maximum."""
        delay = watched.backoff_s
        watched.backoff_s = min(delay * 2, self._max)
        return delay
