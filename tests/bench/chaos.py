"""`make chaos`: N documents upload -> approval -> archive with R replicas of each service on PostgreSQL while a
driver SIGKILLs replicas at random (the supervisor starts them again), restarts the Kafka broker once and MinIO once.

At the end it checks over the public API (and the topics / MinIO where the API cannot say): every accepted document
archived exactly once with identical bytes (SHA-256), no archived object with a second version, one task per
document and step, one event id per document on each lifecycle topic, consumer lag 0. Writes
bench-results/chaos.json and exits non-zero when anything was lost or doubled.
"""

import argparse
import functools
import hashlib
import json
import random
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from devstack.stack import REPLICATED, Ports, Stack
from devstack.supervisor import Supervisor
from shared.messaging import kafka_python_auth
from shared.storage import ObjectStore
from tests.bench import stop_cleanly_on_sigterm, write_result
from tests.bench.pipeline import unique_documents
from tests.conftest import token

JWT_SECRET = "bench-secret-0123456789abcdef0123456789"
LIFECYCLE_TOPICS = ("documents.ingested", "documents.review_started", "documents.approved", "documents.archived")
# A reminder or escalation fires once per task across replicas (none falls due in a short run unless deadlines do).
REMINDER_TOPICS = ("workflow.deadline_reminder", "workflow.escalated")
OWN_GROUP_PREFIXES = ("chaos-", "test-reader-")


def say(line: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


# --- pure checks (unit-tested) ---------------------------------------------------------------------------
def doubled_versions(object_versions: Iterable[tuple[str, str | None]]) -> dict[str, int]:
    """Object name -> number of versions, for every object stored more than once."""
    counts = Counter(name for name, _version in object_versions)
    return {name: count for name, count in counts.items() if count > 1}


def doubled_events(messages: Iterable[dict[str, Any]], documents: set[str], key: str = "document_id") -> dict[str, int]:
    """`key` (a document, a task) -> distinct event ids, where more than one (a redelivery keeps its id).

    Only messages of `documents` count (other runs' documents may share the topics)."""
    ids: dict[str, set[str]] = {}
    for message in messages:
        if message.get("document_id") in documents:
            ids.setdefault(str(message.get(key)), set()).add(str(message.get("event_id")))
    return {document: len(found) for document, found in ids.items() if len(found) > 1}


def total_lag(committed: dict[Any, int], end: dict[Any, int]) -> int:
    """Messages not yet consumed: end offset minus committed offset (no commit: the whole partition)."""
    return sum(max(0, offset - committed.get(partition, 0)) for partition, offset in end.items())


def group_name(group: Any) -> str:
    """kafka-python's list_groups: a dict with "group_id" (3.x) or a (name, protocol) tuple (2.x)."""
    return str(group.get("group_id") or group.get("group") if isinstance(group, dict) else group[0])


def documents_per_s(count: int, seconds: float) -> float:
    return round(count / seconds, 2) if seconds > 0 else 0.0


# --- the stack ---------------------------------------------------------------------------------------------
@contextmanager
def replica_stack(replicas: int) -> Iterator[Stack]:
    """Kafka, MinIO, PostgreSQL and `replicas` of ingest, workflow and archive; stopped by PID whatever happens."""
    data_dir = Path(tempfile.mkdtemp(prefix="eakte-chaos-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="eakte-pg-chaos-"))  # outside other dirs: as root PostgreSQL runs as postgres
    stack = Stack(
        data_dir,
        Ports.free(replicas=replicas),
        jwt_secret=JWT_SECRET,
        replicas=replicas,
        base_env={"ingest": {"EAKTE_OCR_ENABLED": "false"}, "archive": {"EAKTE_ARCHIVE_RETENTION_OVERRIDE_S": "3600"}},
    )
    try:
        stack.start_infra()
        stack.start_postgres(pg_dir)
        stack.start_services(timeout_s=120)
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)


def status(url: str, timeout_s: float = 3) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def until(probe: Any, timeout_s: float, pause_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(pause_s)
    return False


def replica_instances(stack: Stack) -> list[str]:
    return [name for service in REPLICATED for name in stack.replicas_of(service)]


def all_ready(stack: Stack) -> bool:
    return all(status(f"{stack.url(name)}/ready") == 200 for name in replica_instances(stack))


# --- the run -----------------------------------------------------------------------------------------------
class Run:
    """Uploads, approves as tasks appear, follows documents.archived; optionally injects faults."""

    def __init__(self, stack: Stack, documents: list[bytes], concurrency: int) -> None:
        self.stack = stack
        self.documents = documents
        self.concurrency = concurrency
        self.accepted: dict[str, str] = {}  # document id -> SHA-256 of what was uploaded
        self.archived: set[str] = set()
        self.decided: set[str] = set()
        self.uploaded = 0
        self.done = threading.Event()
        self.faults: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def ingest_url(self, index: int) -> str:
        names = self.stack.replicas_of("ingest")
        return self.stack.url(names[index % len(names)])

    def upload(self, client: httpx.Client, item: tuple[int, bytes]) -> None:
        index, data = item
        for attempt in range(10):
            try:
                response = client.post(
                    f"{self.ingest_url(index + attempt)}/api/v1/documents",
                    headers=token("clara", "clerk", secret=JWT_SECRET),
                    files={"file": (f"scan-{index}.pdf", data, "application/pdf")},
                    data={"workflow": "default", "title": f"Antrag {index}"},
                )
                if response.status_code in (200, 201):
                    with self.lock:
                        self.accepted[str(response.json()["document_id"])] = hashlib.sha256(data).hexdigest()
                    break
            except httpx.HTTPError:
                pass
            time.sleep(2)
        with self.lock:
            self.uploaded += 1

    def upload_all(self) -> None:
        with httpx.Client(timeout=60) as client, ThreadPoolExecutor(self.concurrency) as pool:
            uploads = pool.map(functools.partial(self.upload, client), enumerate(self.documents))
            for count, _ in enumerate(uploads, start=1):
                if count % 100 == 0:
                    say(f"uploaded {count}/{len(self.documents)}, archived {len(self.archived)}")

    def approve_loop(self) -> None:
        headers = token("anton", "approver", secret=JWT_SECRET)
        with httpx.Client(timeout=30) as client:
            while not self.done.is_set():
                for name in self.stack.replicas_of("workflow"):
                    self._approve_open(client, name, headers)
                time.sleep(0.5)

    def _approve_open(self, client: httpx.Client, name: str, headers: dict[str, str]) -> None:
        try:
            response = client.get(f"{self.stack.url(name)}/api/v1/tasks", headers=headers)
            if response.status_code != 200:
                return
            for task in response.json():
                if task["document_id"] not in self.accepted or task["task_id"] in self.decided:
                    continue
                decided = client.post(
                    f"{self.stack.url(name)}/api/v1/tasks/{task['task_id']}/decision",
                    headers=headers,
                    json={"decision": "approve", "comment": "passt"},
                )
                if decided.status_code in (200, 409):
                    self.decided.add(task["task_id"])
        except (httpx.HTTPError, ValueError):
            return

    def follow_archived(self) -> None:
        group = f"chaos-{uuid.uuid4()}"
        while not self.done.is_set():
            try:
                self._follow(group)
            except Exception as exc:  # the broker restarts under it: connect again, same group
                say(f"archived-follower reconnects: {type(exc).__name__}")
                time.sleep(1)

    def _follow(self, group: str) -> None:
        settings = self.stack.settings()
        consumer = KafkaConsumer(
            "documents.archived",
            bootstrap_servers=settings.kafka_bootstrap,
            **kafka_python_auth(settings.kafka_username, settings.kafka_password),
            group_id=group,
            auto_offset_reset="earliest",
        )
        try:
            while not self.done.is_set():
                for records in consumer.poll(timeout_ms=500).values():
                    self.archived.update(json.loads(r.value)["document_id"] for r in records)
        finally:
            with suppress(Exception):
                consumer.close()

    def pipeline_done(self) -> bool:
        with self.lock:
            return self.uploaded == len(self.documents) and set(self.accepted) <= self.archived

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 2)


class FaultDriver:
    """SIGKILLs a random replica `every` (min, max) seconds after the last fault recovered (the supervisor
    restarts it); the broker once after a third of the uploads, MinIO once after two thirds. Each fault waits
    for its recovery before the next."""

    def __init__(self, run: Run, every: tuple[float, float], seed: int) -> None:
        self.run = run
        self.stack = run.stack
        self.every = every
        self.random = random.Random(seed)
        self.supervisor = Supervisor(say=lambda line: say(line.splitlines()[0]))
        for name in replica_instances(self.stack):
            self.supervisor.watch(self.stack.services[name], restart=functools.partial(self.stack.launch, name))
        self.stop = threading.Event()

    def supervise(self) -> None:
        while not self.stop.is_set():
            self.supervisor.poll()
            time.sleep(0.2)

    def drive(self) -> None:
        next_kill = time.monotonic() + self.random.uniform(*self.every)
        infra = {"kafka": 1 / 3, "minio": 2 / 3}
        while not self.stop.is_set():
            share = self.run.uploaded / len(self.run.documents)
            due = [name for name, at in infra.items() if share >= at]
            if due:
                self.restart_infra(due[0])
                del infra[due[0]]
                next_kill = time.monotonic() + self.random.uniform(*self.every)
            elif time.monotonic() >= next_kill:
                self.kill(self.random.choice(replica_instances(self.stack)))
                next_kill = time.monotonic() + self.random.uniform(*self.every)
            time.sleep(0.5)

    def kill(self, name: str) -> None:
        at = self.run.elapsed()
        killed = time.monotonic()
        self.stack.services[name].process.kill()  # type: ignore[union-attr]  # SIGKILL, as a crash
        say(f"SIGKILL {name}")
        ready = until(lambda: status(f"{self.stack.url(name)}/ready") == 200, 180)
        seconds = round(time.monotonic() - killed, 2) if ready else None
        self.run.faults.append({"kind": "sigkill", "target": name, "time_s": at, "recovery_s": seconds})
        say(f"{name} ready again after {seconds} s")

    def restart_infra(self, name: str) -> None:
        at = self.run.elapsed()
        began = time.monotonic()
        server = self.stack.kafka if name == "kafka" else self.stack.minio
        assert server is not None
        say(f"restarting {name}")
        server.stop()
        server.start()
        archived_then = len(self.run.archived)
        # The pipeline moves again: a document is archived after the restart (or nothing was left to do),
        # and every replica says it is ready.
        moving = until(lambda: len(self.run.archived) > archived_then or self.run.pipeline_done(), 300)
        ready = until(lambda: all_ready(self.stack), 120)
        seconds = round(time.monotonic() - began, 2) if moving and ready else None
        self.run.faults.append({"kind": "restart", "target": name, "time_s": at, "recovery_s": seconds})
        say(f"{name} restarted; pipeline moving again after {seconds} s")


def start_threads(*targets: Any) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, daemon=True) for target in targets]
    for thread in threads:
        thread.start()
    return threads


def flow(stack: Stack, documents: list[bytes], concurrency: int, timeout_s: float, faults: "FaultArgs | None") -> Run:
    """Run the documents through; with `faults`, while the driver injects them. Returns when all are archived."""
    run = Run(stack, documents, concurrency)
    start_threads(run.follow_archived, run.approve_loop)
    driver = FaultDriver(run, faults.every, faults.seed) if faults else None
    driver_threads = start_threads(driver.supervise, driver.drive) if driver else []
    run.upload_all()
    until(run.pipeline_done, timeout_s, pause_s=0.5)
    run.finished = run.elapsed()  # type: ignore[attr-defined]
    if driver:
        driver.stop.set()
        for thread in driver_threads:
            thread.join()
        until(lambda: all_ready(stack), 180)
    run.done.set()
    return run


class FaultArgs:
    def __init__(self, every: tuple[float, float], seed: int) -> None:
        self.every = every
        self.seed = seed


# --- final checks ------------------------------------------------------------------------------------------
def check_archive(stack: Stack, run: Run) -> list[str]:
    """Documents not archived with the bytes that were uploaded (asked over the archive's API)."""
    headers = token("rita", "records_officer", secret=JWT_SECRET)
    lost = []
    with httpx.Client(timeout=60) as client:
        for document_id, sha in run.accepted.items():
            response = client.get(f"{stack.url('archive')}/api/v1/archive/{document_id}/content", headers=headers)
            if response.status_code != 200 or hashlib.sha256(response.content).hexdigest() != sha:
                lost.append(document_id)
    return lost


def check_tasks(stack: Stack, run: Run) -> list[str]:
    """Documents whose workflow does not show exactly one task, approved once, per step (or still has open ones)."""
    headers = token("adam", "admin", secret=JWT_SECRET)
    doubled = []
    with httpx.Client(timeout=60) as client:
        for document_id in run.accepted:
            response = client.get(f"{stack.url('workflow')}/api/v1/workflows/{document_id}", headers=headers)
            state = response.json() if response.status_code == 200 else {}
            steps = [(s["approvals"], len(s["tasks"])) for s in state.get("steps", [])]
            if not steps or any(step != (1, 1) for step in steps) or state.get("open") or state.get("earlier_runs"):
                doubled.append(document_id)
    return doubled


def check_topics(stack: Stack, run: Run) -> dict[str, dict[str, int]]:
    """Per lifecycle topic: documents with more than one event id; per reminder topic: tasks with more than one."""
    found = {}
    for topic in LIFECYCLE_TOPICS:
        found[topic] = doubled_events(read_topic(stack, topic), set(run.accepted))
    for topic in REMINDER_TOPICS:
        found[topic] = doubled_events(read_topic(stack, topic), set(run.accepted), key="task_id")
    return found


def read_topic(stack: Stack, topic: str) -> list[dict[str, Any]]:
    settings = stack.settings()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        **kafka_python_auth(settings.kafka_username, settings.kafka_password),
        group_id=f"chaos-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    try:
        return [json.loads(record.value) for record in consumer]
    finally:
        consumer.close()


def check_versions(stack: Stack) -> tuple[int, dict[str, int]]:
    """How many object versions the archive bucket holds, and the objects with more than one."""
    settings = stack.settings()
    store = ObjectStore(settings)
    objects = store.client.list_objects(settings.archive_bucket, recursive=True, include_version=True)
    versions = [(o.object_name or "", o.version_id) for o in objects]
    return len(versions), doubled_versions(versions)


def consumer_lag(stack: Stack) -> dict[str, int]:
    settings = stack.settings()
    auth = kafka_python_auth(settings.kafka_username, settings.kafka_password)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **auth)
    probe = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, **auth)
    try:
        groups = [group_name(g) for g in admin.list_groups()]
        groups = [g for g in groups if not g.startswith(OWN_GROUP_PREFIXES)]
        lags = {}
        for group, offsets in admin.list_group_offsets(groups).items() if groups else ():
            committed = {tp: meta.offset for tp, meta in offsets.items()}
            topics = {tp.topic for tp in committed}
            partitions = [TopicPartition(t, p) for t in topics for p in probe.partitions_for_topic(t) or ()]
            lags[group] = total_lag(committed, probe.end_offsets(partitions))
        return lags
    finally:
        probe.close()
        admin.close()


def settled_lag(stack: Stack) -> dict[str, int]:
    """Consumer lag per group, once it is 0 everywhere or after 120 s (offsets are committed asynchronously)."""
    lags: dict[str, int] = {}

    def zero() -> bool:
        nonlocal lags
        lags = consumer_lag(stack)
        return not any(lags.values())

    until(zero, 120, pause_s=2)
    return lags


# --- main --------------------------------------------------------------------------------------------------
def report(stack: Stack, run: Run, replicas: int, concurrency: int) -> dict[str, Any]:
    say("checking: archive contents, object versions, tasks, topics, consumer lag")
    lost = check_archive(stack, run)
    object_versions, versions = check_versions(stack)
    tasks = check_tasks(stack, run)
    events = check_topics(stack, run)
    lags = settled_lag(stack)
    doubled = len(set(tasks) | {d for per in events.values() for d in per}) + len(versions)
    kills = [f["recovery_s"] for f in run.faults if f["kind"] == "sigkill" and f["recovery_s"] is not None]
    return {
        "benchmark": "chaos upload→approval→archive, workflow=default",
        "documents": len(run.documents),
        "replicas": replicas,
        "concurrency": concurrency,
        "accepted": len(run.accepted),
        "archived": len(set(run.accepted) & run.archived),
        "lost": len(lost),
        "doubled": doubled,
        "archive_object_versions": object_versions,
        "doubled_detail": {
            "object_versions": len(versions),
            "tasks": len(tasks),
            **{f"events {topic}": len(per) for topic, per in events.items()},
            "reminder_events_seen": sum(len(read_topic(stack, topic)) for topic in REMINDER_TOPICS),
        },
        "consumer_lag": lags,
        "faults": run.faults,
        "service_kill_to_ready_s": {
            "median": sorted(kills)[len(kills) // 2] if kills else None,
            "max": max(kills) if kills else None,
        },
        "total_s": run.finished,  # type: ignore[attr-defined]
        "documents_per_s": documents_per_s(len(run.accepted), run.finished),  # type: ignore[attr-defined]
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--kill-every", type=float, nargs=2, default=(10.0, 20.0), metavar=("MIN_S", "MAX_S"))
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for the pipeline to finish")
    parser.add_argument("--output", type=Path, default=Path("bench-results/chaos.json"))
    args = parser.parse_args()
    stop_cleanly_on_sigterm()
    documents = unique_documents(args.documents)
    with replica_stack(args.replicas) as stack:
        say(f"stack up: {args.replicas} replicas of {', '.join(REPLICATED)}; {len(documents)} documents")
        run = flow(stack, documents, args.concurrency, args.timeout, FaultArgs(tuple(args.kill_every), args.seed))
        result = report(stack, run, args.replicas, args.concurrency)
    write_result(args.output, result)
    failed = result["lost"] or result["doubled"] or any(result["consumer_lag"].values())
    failed = failed or result["archived"] != result["accepted"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
