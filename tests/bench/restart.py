"""`make bench-restart`: how long a service killed under `eakte up`'s supervisor needs to be ready again.

For each service, `--rounds` times: SIGKILL it, let `devstack.supervisor.Supervisor` start it again (its real
1 s first backoff), and time kill -> /health 200 -> /ready 200 (database, Kafka, object store answer and the
consumers have their partitions). Also times a SIGTERM stop (the drain) with nothing in flight.
Writes bench-results/restart.json.
"""

import argparse
import functools
import signal
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

from devstack.stack import SERVICES, Stack
from devstack.supervisor import Supervisor
from tests.bench import bench_stack, stop_cleanly_on_sigterm, write_result

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _until(probe: Any, timeout_s: float = 120.0) -> float:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise RuntimeError("not ready in time")
        time.sleep(0.05)
    return time.monotonic()


def one_kill(stack: Stack, name: str) -> dict[str, float]:
    supervisor = Supervisor(say=lambda _line: None)
    supervisor.watch(stack.services[name], restart=functools.partial(stack.launch, name))
    url = stack.url(name)
    _until(lambda: _status(f"{url}/ready") == 200)
    killed = time.monotonic()
    stack.services[name].process.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
    started = _until(lambda: supervisor.poll() == [name])
    healthy = _until(lambda: _status(f"{url}/health") == 200)
    ready = _until(lambda: _status(f"{url}/ready") == 200)
    return {
        "kill_to_ready_s": round(ready - killed, 2),
        "restart_to_health_s": round(healthy - started, 2),
        "restart_to_ready_s": round(ready - started, 2),
    }


def sigterm_stop(stack: Stack, name: str) -> dict[str, Any]:
    process = stack.services[name]
    began = time.monotonic()
    process.stop(timeout_s=60)
    seconds = time.monotonic() - began
    code = process.process.returncode if process.process else None
    stack.start_service(name)
    return {"sigterm_to_exit_s": round(seconds, 2), "exit_code": code}


def summary(rounds: list[dict[str, float]]) -> dict[str, Any]:
    keys = rounds[0].keys()
    return {
        key: {"median": round(statistics.median(r[key] for r in rounds), 2), "max": max(r[key] for r in rounds)}
        for key in keys
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("bench-results/restart.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    result: dict[str, Any] = {"rounds": args.rounds, "first_backoff_s": 1.0, "services": {}}
    with bench_stack(JWT_SECRET) as stack:
        for name in SERVICES:
            rounds = [one_kill(stack, name) for _ in range(args.rounds)]
            result["services"][name] = {**summary(rounds), **sigterm_stop(stack, name), "runs": rounds}
    write_result(args.output, result)


if __name__ == "__main__":
    main()
