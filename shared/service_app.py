"""What every service process is made of: a FastAPI app, a FastStream Kafka broker and an outbox relay."""

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from starlette.exceptions import HTTPException

from shared.asyncapi import document as asyncapi_document
from shared.consumer_lag import GroupLagReader
from shared.db import make_engine, serialize_sqlite_writers
from shared.errors import Refused, status_of
from shared.logs import CorrelationId, configure_logging
from shared.messaging import (
    broker_away,
    commit_handled_offsets,
    enqueuer_for,
    handle_partitions_concurrently,
    make_broker,
    publisher_for,
    slow_handlers_down,
)
from shared.metrics import CachedReading, Exposition, lag_reading, outbox_reading
from shared.metrics_http import add_metrics
from shared.migrations import SchemaNotCurrent, prepare_schema, schema_of
from shared.outbox import OutboxRelay
from shared.outbox_routes import router as outbox_router
from shared.readiness import consumers_check, database_check, kafka_check, object_store_check, run_checks
from shared.request_gate import BodyLimits, RequestGate
from shared.settings import Settings
from shared.tracing import configure_tracing, instrument_app

log = logging.getLogger(__name__)


@dataclass
class ServiceRuntime:
    name: str
    settings: Settings
    sessions: sessionmaker[Session]
    broker: KafkaBroker
    relay: OutboxRelay


def build_runtime(name: str, settings: Settings, *bases: type[DeclarativeBase]) -> ServiceRuntime:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url_for(name))
    try:  # development: migrate to head; production: refuse an old schema (`eakte migrate` upgrades it)
        prepare_schema(engine, schema_of(name, *bases), production=settings.env == "production")
    except SchemaNotCurrent as exc:
        print(f"eakte {name}: refusing to start (EAKTE_ENV={settings.env}): {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    # SQLite: writers take turns on a process lock instead of SQLite's busy-wait, which sleeps 1, 2, 5, 10, ... ms
    # between tries (an upload's record waited for a status batch or the relay that way).
    serialize_sqlite_writers(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    handle_partitions_concurrently(settings.consumer_workers)
    slow_handlers_down(settings.kafka_handler_delay_s)  # 0 unless a test asks for slow handlers
    broker = make_broker(settings.kafka_bootstrap, f"eakte-{name}", settings.kafka_username, settings.kafka_password)
    # Pipelined: a batch handed to the producer at once, one ack wait and one commit per batch, not per message.
    relay = OutboxRelay(sessions, publisher_for(broker), enqueue=enqueuer_for(broker), transient=broker_away)
    return ServiceRuntime(name=name, settings=settings, sessions=sessions, broker=broker, relay=relay)


# Open without a token beside /health: the API's description (tests/integration/test_unauthenticated.py).
OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"

BackgroundJob = Callable[[], Coroutine[Any, Any, None]]


def build_app(
    runtime: ServiceRuntime,
    routers: Iterable[APIRouter],
    background: Iterable[BackgroundJob] = (),
    refusal_status: Mapping[str, int] | None = None,
    readings: Iterable[CachedReading] = (),
) -> FastAPI:
    """The service's app; `background` jobs (loops) run while it runs, beside the outbox relay.

    `GET /metrics` shows the shared metrics (`shared.metrics`) and the service's own `readings` (its gauges).

    A `shared.errors.Refused` raised by a route becomes `{"error": code, "reason": message}` with the status
    `refusal_status` gives its code (see `shared.errors.status_of` for the codes every service shares).
    """
    # The contract is open to integrators (no token): /openapi.json and /docs describe, they reveal no data.
    app = FastAPI(
        title=f"E-Akte {runtime.name}",
        lifespan=_lifespan(runtime, list(background)),
        docs_url=DOCS_URL,
        redoc_url=None,
        openapi_url=OPENAPI_URL,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.runtime = runtime
    _answer_errors_as_json(app, dict(refusal_status or {}))
    # The first gate: the caller is known before a body is read; bodies are bounded while they stream.
    app.add_middleware(RequestGate, limits=lambda: BodyLimits(json_bytes=runtime.settings.max_json_bytes))
    app.add_middleware(CorrelationId)  # outermost: refusals by the gate carry X-Correlation-ID too

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        # Deliberately open (no token): load balancers and `make up` poll it; it reveals nothing.
        return {"status": "ok", "service": runtime.name}

    _add_ready(app, runtime)
    _add_asyncapi(app)
    for router in routers:
        app.include_router(router)
    app.include_router(outbox_router)  # admins see the outbox rows the broker refused
    add_metrics(app, runtime.name, Exposition([*_shared_readings(runtime), *readings]), runtime.settings.metrics_allow)
    return app


def _shared_readings(runtime: ServiceRuntime) -> list[CachedReading]:
    """The outbox's backlog and the lag of the service's own consumer groups, read at most every few seconds."""
    settings = runtime.settings
    lags = GroupLagReader(
        settings.kafka_bootstrap, settings.kafka_username, settings.kafka_password, f"eakte-{runtime.name}-metrics"
    )

    def groups() -> list[str]:
        return [str(group) for s in runtime.broker.subscribers if (group := getattr(s, "group_id", None))]

    def backlog() -> tuple[int, float]:
        summary = runtime.relay.summary()
        return summary.pending, summary.oldest_seconds

    return [
        CachedReading(outbox_reading(runtime.name, backlog), name="outbox"),
        CachedReading(lag_reading(groups, lags.read), name="consumer lag"),
    ]


def _lifespan(
    runtime: ServiceRuntime, background: list[BackgroundJob]
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """Broker up first; then the background jobs and the outbox relay, cancelled on the way down."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        settings = runtime.settings
        # The topics exist already: the admin principal creates them with the ACLs (devstack, compose's kafka-init).
        await runtime.broker.start()
        tasks: list[asyncio.Task[None]] = [
            asyncio.create_task(job(), name=f"{runtime.name}-{job.__qualname__}") for job in background
        ]
        if settings.outbox_relay_paused:
            log.warning("%s: outbox relay PAUSED (EAKTE_OUTBOX_RELAY_PAUSED): nothing is published", runtime.name)
        else:
            tasks.append(asyncio.create_task(runtime.relay.run(), name=f"{runtime.name}-outbox-relay"))
        log.info("%s service started", runtime.name)
        try:
            yield
        finally:
            await _drain(runtime, tasks)

    return lifespan


DRAIN_RELAY_S = 10.0


async def _drain(runtime: ServiceRuntime, tasks: list[asyncio.Task[None]]) -> None:
    """SIGTERM (uvicorn runs this after the last HTTP request): nothing new starts, what runs finishes.

    1. The subscribers stop fetching; FastStream waits (graceful_timeout) for running handlers, whose offsets
       are committed when they return. 2. The outbox relay finishes its batch, so what those handlers wrote
       goes out while the producer is still open. 3. Background jobs are cancelled at their next `await`: a
       unit of work already running in a worker thread completes (or rolls back) as a whole. 4. The producer closes.
    """
    log.info("%s: draining (consumers, outbox relay, background jobs)", runtime.name)
    await commit_handled_offsets()  # what is handled so far; messages handled while stopping may come again
    await asyncio.gather(*(subscriber.stop() for subscriber in runtime.broker.subscribers), return_exceptions=True)
    relay = next((task for task in tasks if task.get_name().endswith("-outbox-relay")), None)
    if relay is not None:
        runtime.relay.stop()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(relay), DRAIN_RELAY_S)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await runtime.broker.stop()
    log.info("%s: drained", runtime.name)


ASYNCAPI_URL = "/asyncapi.json"


def _add_asyncapi(app: FastAPI) -> None:
    """The event contract beside /openapi.json, open like it: the whole AsyncAPI document (every topic, who
    sends and who receives), the same from every service, so an integrator needs only one URL."""
    contract = asyncapi_document()

    @app.get(ASYNCAPI_URL, include_in_schema=False)
    async def asyncapi() -> dict[str, Any]:
        return contract


def _add_ready(app: FastAPI, runtime: ServiceRuntime) -> None:
    checks = {
        "database": database_check(runtime.sessions),
        "kafka": kafka_check(runtime.broker),
        "object_store": object_store_check(runtime.settings),
        "consumers": consumers_check(runtime.broker),
    }

    @app.get("/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        # Open like /health; 503 names the check that failed. Only check names and short reasons, no data.
        ok, outcome = await run_checks(checks)
        body = {"status": "ready" if ok else "not_ready", "service": runtime.name, "checks": outcome}
        return JSONResponse(body, status_code=200 if ok else 503)


def _answer_errors_as_json(app: FastAPI, refusals: dict[str, int]) -> None:
    """Every error answers `{"error": ..., "reason": ...}`: HTTP errors, refusals by code, invalid requests."""

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        body = exc.detail if isinstance(exc.detail, dict) else {"error": "http_error", "reason": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Refused)
    async def _refused(_request: Request, exc: Refused) -> JSONResponse:
        body = {"error": exc.code, "reason": str(exc), **exc.details}
        return JSONResponse(body, status_code=status_of(exc.code, refusals))

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": "invalid_request", "reason": reasons}, status_code=422)


def observe(settings: Settings, service: str) -> None:
    """Logs (`EAKTE_LOG_FORMAT`) and traces (`OTEL_EXPORTER_OTLP_ENDPOINT`) of this process: first thing at start."""
    configure_logging(service, settings.log_format)
    configure_tracing(service)


def serve(app: FastAPI, settings: Settings, port: int) -> None:
    """Run `app` (a service's or the portal's) until SIGTERM; `observe` ran first, in the process's `__main__`."""
    instrument_app(app)
    exit_zero_on_sigterm()
    tune_garbage_collection()
    # log_config=None: uvicorn's loggers keep the process's handler (shared.logs) instead of their own.
    # uvloop and httptools: the event loop and HTTP parser in C (the loop runs every Kafka fetch and publish as well
    # as the HTTP requests): 11 % more documents/s in alternating bench-pipeline runs. Named, not "auto", so that a
    # missing one fails at start instead of silently falling back to the slower pure-Python pair.
    uvicorn.run(
        app,
        host=settings.host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="info",
        access_log=False,
        log_config=None,
    )


# The young generation's size for the cycle collector (CPython's default: 700), and how many young and middle
# collections come before an older one (default: 10 each).
GC_THRESHOLDS = (10_000, 20, 20)


def tune_garbage_collection() -> None:
    """Keep the cycle collector off what lives as long as the process, and let it run less often.

    What start-up built (modules, models, routes, the SQL and schema caches: ~200,000 objects) is frozen out of
    its reach, and it starts at 10,000 new objects instead of 700. Measured under `bench-pipeline`: collections took
    0.6 s of CPU over 550 documents (one full collection of the heap alone 0.2 s, a stall for every request in
    flight), 0.08 s after. Garbage without cycles is freed by reference counting as before.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def exit_zero_on_sigterm() -> None:
    """SIGTERM is the normal way to stop a service: after uvicorn drained, the process exits 0.

    uvicorn captures SIGTERM, shuts down (lifespan: `_drain`), restores the previous handler and raises the
    signal again; with the default handler the process would die "killed by SIGTERM" (143) after a clean drain.
    """

    def _exit(_sig: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _exit)
