"""Prometheus metrics of every service and the portal, with the names IT's dashboards and alerts use.

Counters and histograms are counted as things happen (HTTP requests by `MetricsMiddleware`, Kafka messages by
`shared.messaging.subscribe`). Gauges that need the database or Kafka (outbox, documents by status, open tasks,
archive packages, queues, consumer lag) are read when Prometheus scrapes, through a `CachedReading` that asks at
most every few seconds, in a worker thread, so a scrape never blocks the event loop and stays cheap.

Labels carry no personal data: service, route template, method, status, topic, consumer group, partition and
the values of the domain's enumerations (document status, task kind, queue state), never a title, a name or an id.

Several worker processes: set `PROMETHEUS_MULTIPROC_DIR` to an empty, writable directory (one per service) before
the process starts (prometheus_client chooses its value store at import). Counters and histograms are then written
to memory-mapped files there and `GET /metrics` of any worker sums all workers (`MultiProcessCollector`); the gauges
read from the database are the same for every worker anyway. Without the variable, the process keeps them in memory.
"""

import asyncio
import contextlib
import contextvars
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# The route label of a request no route matched (a 404 for a path the service does not know).
UNMATCHED_ROUTE = "unmatched"
# The default of EAKTE_METRICS_ALLOW: loopback and private ranges (Prometheus inside the same network).
DEFAULT_METRICS_ALLOW = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
# How long a reading from the database or Kafka is reused before a scrape asks again.
READING_TTL_S = 5.0

# No `*_created` series beside each counter and histogram: half the lines, and Prometheus needs them not.
disable_created_metrics()  # type: ignore[no-untyped-call]

HTTP_REQUESTS = Counter(
    "eakte_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["service", "route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "eakte_http_request_seconds",
    "Time to answer an HTTP request (until the response has been sent), by route template and method",
    ["service", "route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
EVENTS_CONSUMED = Counter(
    "eakte_events_consumed",
    "Kafka messages consumed, by outcome: ok, retried, dead_lettered, duplicate (processed before)",
    ["service", "topic", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "eakte_event_handler_seconds",
    "Time a Kafka handler took for one message (successful or not)",
    ["service", "topic"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)

OUTCOMES = ("ok", "retried", "dead_lettered", "duplicate")


def service_of_group(group: str) -> str:
    """The service a consumer group belongs to: groups are named after it (`ingest.purge`; see `kafka_acl`)."""
    return group.split(".", 1)[0]


# --- the outcome a handler reports back to the subscriber (a duplicate is known only inside `consume_once`) ---


@dataclass
class _HandlingNote:
    duplicates: int = 0


_handling: contextvars.ContextVar[_HandlingNote | None] = contextvars.ContextVar("eakte_handling", default=None)


class HandlerMetrics:
    """The counters of one subscriber (consumer group and topic); the service is the group's prefix."""

    def __init__(self, group: str, topic: str) -> None:
        self._service = service_of_group(group)
        self._topic = topic
        self._seconds = HANDLER_SECONDS.labels(self._service, topic)

    def count(self, outcome: str, times: int = 1) -> None:
        if times:
            EVENTS_CONSUMED.labels(self._service, self._topic, outcome).inc(times)

    @contextlib.contextmanager
    def handling(self, messages: int = 1) -> Iterator[None]:
        """Around one handler call for `messages` messages (a batch): timed, each message its share of the time;
        when it returns, each counted `ok`, or `duplicate` as often as the handler said so.

        What the handler notes (`note_duplicate`) lands in a mutable object in a context variable, so a note made
        in a worker thread (`asyncio.to_thread` copies the context, sharing the object) reaches the subscriber.
        """
        note = _HandlingNote()
        token = _handling.set(note)
        started = time.perf_counter()
        try:
            yield
        finally:
            _handling.reset(token)
            share = (time.perf_counter() - started) / messages
            for _ in range(messages):
                self._seconds.observe(share)
        duplicates = min(note.duplicates, messages)
        self.count("duplicate", duplicates)
        self.count("ok", messages - duplicates)


def note_duplicate() -> None:
    """The event was processed before (a redelivery): counted as `duplicate` instead of `ok`."""
    note = _handling.get()
    if note is not None:
        note.duplicates += 1


# --- gauges read at scrape time ---


Values = Iterable[tuple[Sequence[str], float]]


def gauge(name: str, documentation: str, labels: Sequence[str], values: Values) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    for label_values, value in values:
        family.add_metric(list(label_values), value)
    return family


Reading = Callable[[], list[Metric]]


class CachedReading:
    """Metric families read by a blocking function at most every `ttl_s` seconds, in a worker thread.

    A reading that fails is logged and yields nothing until the next one succeeds (Prometheus sees the series
    vanish rather than a stale value).
    """

    def __init__(self, read: Reading, ttl_s: float = READING_TTL_S, name: str = "") -> None:
        self._read = read
        self._ttl_s = ttl_s
        self._name = name or getattr(read, "__qualname__", "reading")
        self._families: list[Metric] = []
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._read_at < self._ttl_s:
                return
            try:
                self._families = await asyncio.to_thread(self._read)
            except Exception as exc:
                log.warning("metrics: reading %s failed: %r", self._name, exc)
                self._families = []
            self._read_at = time.monotonic()

    def collect(self) -> Iterator[Metric]:
        yield from self._families


class _Counted:
    """The counters and histograms of this process, or of all worker processes (PROMETHEUS_MULTIPROC_DIR)."""

    def collect(self) -> Iterator[Metric]:
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            collector = MultiProcessCollector(None, path=directory)  # type: ignore[no-untyped-call]
            yield from collector.collect()  # type: ignore[no-untyped-call]
        else:
            yield from REGISTRY.collect()


class Exposition:
    """What one app's `GET /metrics` answers: the counted metrics and the app's own readings."""

    def __init__(self, readings: Iterable[CachedReading] = ()) -> None:
        self.readings = list(readings)

    def add(self, reading: CachedReading) -> None:
        self.readings.append(reading)

    async def render(self) -> bytes:
        await asyncio.gather(*(reading.refresh() for reading in self.readings))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_as_collector(_Counted()))
        for reading in self.readings:
            registry.register(_as_collector(reading))
        return generate_latest(registry)


def _as_collector(source: Any) -> Collector:
    return source  # type: ignore[no-any-return]  # duck-typed: prometheus_client asks only for collect()


# --- who may scrape ---


def allowed_networks(setting: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks of EAKTE_METRICS_ALLOW (comma-separated CIDR list); empty: nobody may scrape."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip())


def may_scrape(client_host: str | None, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    """Whether a caller from `client_host` (the TCP peer; no forwarded header is trusted) may read /metrics."""
    if not client_host:
        return False
    try:
        address = ipaddress.ip_address(client_host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address.version == network.version and address in network for network in networks)


# --- readings every service has: its outbox and the lag of its consumer groups ---


def outbox_reading(service: str, backlog: Callable[[], tuple[int, float]]) -> Reading:
    """eakte_outbox_pending / eakte_outbox_oldest_seconds from (pending rows, age of the oldest in s; 0 when none)."""

    def read() -> list[Metric]:
        pending, age = backlog()
        return [
            gauge("eakte_outbox_pending", "Outbox rows not yet published", ["service"], [((service,), pending)]),
            gauge(
                "eakte_outbox_oldest_seconds",
                "Age of the oldest unpublished outbox row (0 when none waits)",
                ["service"],
                [((service,), age)],
            ),
        ]

    return read


def lag_reading(groups: Callable[[], Iterable[str]], read_lags: Callable[[list[str]], Iterable[Any]]) -> Reading:
    """eakte_consumer_lag{group,topic,partition} of the groups `groups()` names (rows: group, topic, partition, lag)."""

    def read() -> list[Metric]:
        wanted = sorted(set(groups()))
        rows = read_lags(wanted) if wanted else []
        values = [((row.group, row.topic, str(row.partition)), row.lag) for row in rows]
        labels = ["group", "topic", "partition"]
        return [gauge("eakte_consumer_lag", "Events waiting for a consumer group", labels, values)]

    return read


def by_label(name: str, documentation: str, label: str, known: Iterable[str], found: Mapping[str, int]) -> Metric:
    """A gauge with one series per value of `label`: every `known` value (0 when none is found), and any other."""
    values = dict.fromkeys(known, 0) | dict(found)
    return gauge(name, documentation, [label], [((value,), count) for value, count in sorted(values.items())])
