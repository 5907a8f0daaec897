"""Benchmarks: each starts its own stack, measures, writes JSON. Never run by pytest."""

import signal
import sys


def stop_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so the benchmark's `finally` stops the stack it started."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
