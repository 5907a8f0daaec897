"""`eakte up` / `eakte down`: the stack in the foreground, with fixed ports and data under EAKTE_DATA_DIR."""

import functools
import os
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

from devstack.processes import SetupError
from devstack.stack import Ports, Stack
from devstack.supervisor import CriticalProcessDied, Supervisor
from shared.auth import issue_token
from shared.settings import DEV_JWT_SECRET, get_settings

DEV_USERS = {
    "clerk": "clara",
    "approver": "anton",
    "records_officer": "rita",
    "admin": "adam",
}


def _pid_file(data_dir: Path) -> Path:
    return data_dir / "run" / "eakte-up.pid"


def run_up(replicas: int = 1) -> int:
    """The stack in the foreground; with `replicas` > 1, N of each service on their own ports on one PostgreSQL."""
    settings = get_settings()
    if replicas < 1:
        print("[eakte] --replicas must be 1 or more")
        return 2
    data_dir = settings.data_dir.resolve()
    pid_file = _pid_file(data_dir)
    if pid_file.exists() and _alive(int(pid_file.read_text().split()[0])):
        print(f"eakte up is already running (PID {pid_file.read_text().split()[0]}); `make down` stops it")
        return 1
    stack = Stack(
        data_dir,
        Ports.defaults(settings, replicas),
        settings.s3_access_key,
        settings.s3_secret_key,
        settings.jwt_secret,
        # The scanner drop directory the README promises: EAKTE_HOTFOLDER, or hotfolder/ in the data directory.
        hotfolder=(settings.hotfolder or data_dir / "hotfolder").resolve(),
        replicas=replicas,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    started = time.monotonic()
    try:
        print(f"[eakte] data directory: {data_dir}", flush=True)
        stack.start_infra()
        start_database(stack)
        stack.start_services()
        _write_pid_file(pid_file, stack)
        _print_banner(stack, settings.jwt_secret, time.monotonic() - started)
        supervisor = supervise(stack)
        while not stop.is_set():
            if supervisor.poll():
                _write_pid_file(pid_file, stack)
            stop.wait(0.5)
        print("\n[eakte] stopping ...", flush=True)
        return 0
    except CriticalProcessDied as exc:
        print(f"[eakte] {exc}", flush=True)
        return 1
    except SetupError as exc:
        print(f"[eakte] set-up failed: {exc}", flush=True)
        return 1
    finally:
        stack.stop()
        pid_file.unlink(missing_ok=True)
        print("[eakte] stopped everything it started", flush=True)


def supervise(stack: Stack) -> Supervisor:
    """Services are started again when they die (with backoff); Kafka and MinIO are critical: their end ends all."""
    supervisor = Supervisor()
    for name, process in stack.services.items():
        supervisor.watch(process, restart=functools.partial(stack.launch, name))
    for server in (stack.kafka, stack.minio):
        if server is not None and server.process is not None:
            supervisor.watch(server.process)
    return supervisor


def _write_pid_file(pid_file: Path, stack: Stack) -> None:
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n" + "".join(f"{p.name} {p.pid}\n" for p in stack.processes()))


def start_database(stack: Stack) -> None:
    """Replicas share one database per service: PostgreSQL in the data directory (SQLite serves one process)."""
    if stack.replicas == 1 or stack.database_urls:
        return
    urls = stack.start_postgres()
    print(f"[eakte] PostgreSQL for {stack.replicas} replicas: {', '.join(urls.values())}", flush=True)


def _replica_lines(stack: Stack) -> list[str]:
    """Every replica's address beyond the first (`eakte up --replicas N`)."""
    return [
        f"  {name:<9} {stack.url(name)}   replica {name.rsplit('-', 1)[1]} of {stack.replicas}"
        for name in stack.instances()
        if "-" in name
    ]


def _print_banner(stack: Stack, jwt_secret: str, seconds: float) -> None:
    settings = stack.settings()
    lines = [
        f"[eakte] E-Akte portal: {stack.url('portal')}   <- open this in a browser",
        f"[eakte] stack is up in {seconds:.0f} s",
        f"  ingest    {stack.url('ingest')}   POST /api/v1/documents, GET /api/v1/documents/{{id}}",
        f"  workflow  {stack.url('workflow')}   GET /api/v1/tasks, POST /api/v1/tasks/{{id}}/decision",
        f"  archive   {stack.url('archive')}   GET /api/v1/archive/{{id}}, GET /api/v1/archive/{{id}}/content",
        *_replica_lines(stack),
        f"  kafka     {settings.kafka_bootstrap}  SASL/SCRAM-SHA-512, user {settings.kafka_username!r}, "
        f"password {settings.kafka_password!r} (each service has its own principal; README: Kafka security)",
        f"  minio     http://{settings.s3_endpoint}  "
        f"access key {settings.s3_access_key!r}, secret {settings.s3_secret_key!r}",
        f"  hot-folder {stack.hotfolder}  (drop scans here; they move to processed/ or failed/)",
        f"  logs      {stack.data_dir / 'logs'}",
    ]
    if jwt_secret == DEV_JWT_SECRET:
        lines.append("  development tokens (valid 12 h; more with `eakte token --user NAME --roles ROLE,...`):")
        for role, user in DEV_USERS.items():
            token = issue_token(user, frozenset({role}), jwt_secret, timedelta(hours=12))
            lines.append(f"    {role:<16} {user:<6} {token}")
    lines.append("[eakte] Ctrl-C (or `make down` elsewhere) stops everything")
    print("\n".join(lines), flush=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_down() -> int:
    data_dir = get_settings().data_dir.resolve()
    pid_file = _pid_file(data_dir)
    if not pid_file.exists():
        print("[eakte] nothing to stop: no `eakte up` is running for", data_dir)
        return 0
    up_pid = int(pid_file.read_text().split()[0])
    if not _alive(up_pid):
        print("[eakte] the recorded `eakte up` is no longer running; removing its stale PID file")
        pid_file.unlink(missing_ok=True)
        return 0
    # Ask `eakte up` to stop: it stops exactly the processes it started, by their PIDs.
    os.kill(up_pid, signal.SIGTERM)
    deadline = time.monotonic() + 90
    while _alive(up_pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    print("[eakte] stopped" if not _alive(up_pid) else f"[eakte] PID {up_pid} did not stop within 90 s")
    return 0 if not _alive(up_pid) else 1
