"""Benchmarks: each starts its own stack, measures, writes JSON. Never run by pytest."""

import argparse
import json
import shutil
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
def bench_stack(jwt_secret: str, postgres: bool = False, **stack_options: Any) -> Iterator[Stack]:
    """The whole stack on free loopback ports in a throwaway directory; stopped (by PID) whatever happens.

    `postgres`: the services' databases on one PostgreSQL server (as docker-compose and replicas run) instead of a
    SQLite file each."""
    with tempfile.TemporaryDirectory(prefix="eakte-bench-") as tmp:
        pg_dir = Path(tempfile.mkdtemp(prefix="eakte-pg-bench-"))  # outside tmp: as root PostgreSQL runs as postgres
        stack = Stack(Path(tmp), Ports.free(), jwt_secret=jwt_secret, **stack_options)
        try:
            stack.start_infra()
            if postgres:
                stack.start_postgres(pg_dir)
            stack.start_services()
            yield stack
        finally:
            stack.stop()
            shutil.rmtree(pg_dir, ignore_errors=True)


# The services a document passes through (the portal takes no part in the pipeline benchmarks).
PIPELINE_SERVICES = ("ingest", "workflow", "archive")


def add_settings_option(parser: argparse.ArgumentParser) -> None:
    """`--env NAME=VALUE` (repeatable): a setting for every service, for A/B runs."""
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="a setting for every service (A/B runs)"
    )


def pipeline_env(pairs: list[str], previews: bool = False) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The `--env` settings, and each service's environment with them. OCR is off: it is measured by
    bench-ingest, and in a pipeline benchmark it would only queue behind the pipeline. Page previews are off too
    unless `previews` (bench-latency: a clerk's day): measured by bench-previews, they would otherwise render the
    warm-up's documents while the raw MinIO PUT rate is measured and lower it (a quarter: 270 against 375 PUT/s
    20 s later, mean of 4 stacks; with previews off both 400 ± 30)."""
    settings = dict(pair.split("=", 1) for pair in pairs)
    base_env = {name: dict(settings) for name in PIPELINE_SERVICES}
    base_env["ingest"]["EAKTE_OCR_ENABLED"] = "false"
    if not previews:
        base_env["ingest"]["EAKTE_PREVIEW_ENABLED"] = "false"
    return settings, base_env


def write_result(output: Path, result: dict[str, Any]) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
