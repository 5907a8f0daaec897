"""The one clock of the workflow service: deadlines, absences and resubmissions all read it.

`SystemClock` in production; `ControllableClock` (EAKTE_CLOCK=controllable) lets tests move time forward.
"""

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        return datetime.now(UTC)

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()


class SystemClock(Clock):
    pass


class ControllableClock(Clock):
    """Real time plus an offset that only grows: time can be moved forward, never back."""

    def __init__(self) -> None:
        super().__init__()
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        self._changed()
        return self.now()


def make_clock(kind: str) -> Clock:
    if kind == "system":
        return SystemClock()
    if kind == "controllable":
        return ControllableClock()
    raise ValueError(f"EAKTE_CLOCK must be `system` or `controllable`, not {kind!r}")
