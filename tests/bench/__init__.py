"""Benchmarks: each starts its own stack, measures, writes JSON. Never run by pytest."""

import json
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devstack.stack import Ports, Stack


def stop_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so the benchmark's `finally` stops the stack it started."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


@contextmanager
def bench_stack(jwt_secret: str, **stack_options: Any) -> Iterator[Stack]:
    """The whole stack on free loopback ports in a throwaway directory; stopped (by PID) whatever happens."""
    with tempfile.TemporaryDirectory(prefix="eakte-bench-") as tmp:
        stack = Stack(Path(tmp), Ports.free(), jwt_secret=jwt_secret, **stack_options)
        try:
            stack.start_infra()
            stack.start_services()
            yield stack
        finally:
            stack.stop()


def write_result(output: Path, result: dict[str, Any]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
