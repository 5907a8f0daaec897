"""`/ready`: whether a service can do its work now (database, Kafka, object store, consumers assigned).

`/health` says the process is alive; `/ready` says what it depends on answers. Both are open (no token,
`shared.request_gate.OPEN_PATHS`) and reveal no personal data: only the names of the checks and `ok`/a short
reason. A load balancer or compose sends traffic to a replica only while `/ready` answers 200.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

import urllib3
from faststream.kafka import KafkaBroker
from minio import Minio
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from shared.settings import Settings

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 3.0

# A check returns None when all is well, otherwise a short reason (no personal data, no secrets).
Check = Callable[[], Awaitable[str | None]]


async def run_checks(checks: Mapping[str, Check]) -> tuple[bool, dict[str, str]]:
    """Run the checks side by side, each bounded by CHECK_TIMEOUT_S: (all ok, {name: "ok" | reason})."""

    async def one(check: Check) -> str:
        try:
            reason = await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
        except TimeoutError:
            return f"no answer within {CHECK_TIMEOUT_S:g} s"
        except Exception as exc:  # a check that fails says why, it never fails the probe itself
            return f"{type(exc).__name__}"
        return reason or "ok"

    names = list(checks)
    results = await asyncio.gather(*(one(checks[name]) for name in names))
    outcome = dict(zip(names, results, strict=True))
    return all(value == "ok" for value in outcome.values()), outcome


def database_check(sessions: sessionmaker[Session]) -> Check:
    def probe() -> None:
        with sessions() as session:
            session.execute(text("SELECT 1"))

    async def check() -> str | None:
        try:
            await asyncio.to_thread(probe)
        except Exception as exc:
            return f"unreachable ({type(exc).__name__})"
        return None

    return check


def kafka_check(broker: KafkaBroker) -> Check:
    """The broker answers a metadata request (describe cluster) with the service's own principal."""

    async def check() -> str | None:
        return None if await broker.ping(timeout=CHECK_TIMEOUT_S - 0.5) else "unreachable"

    return check


def consumers_check(broker: KafkaBroker) -> Check:
    """Every subscriber's consumer has joined its group and holds partitions."""

    async def check() -> str | None:
        waiting: list[str] = []
        for subscriber in broker.subscribers:
            # A subscriber of several consumers (EAKTE_KAFKA_CONSUMER_WORKERS) is ready when one of them holds some.
            consumers = getattr(subscriber, "consumer_subgroup", None) or [getattr(subscriber, "consumer", None)]
            if not any(consumer is not None and consumer.assignment() for consumer in consumers):
                waiting.extend(getattr(subscriber, "topics", None) or ["?"])
        return f"no partitions assigned yet: {', '.join(sorted(waiting))}" if waiting else None

    return check


def object_store_check(settings: Settings) -> Check:
    """The object store answers for the inbox bucket; a client of its own with a short timeout and no retries."""
    client = Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=settings.s3_secure,
        http_client=urllib3.PoolManager(timeout=urllib3.Timeout(connect=2.0, read=2.0), retries=False),
    )

    async def check() -> str | None:
        try:
            exists = await asyncio.to_thread(client.bucket_exists, settings.inbox_bucket)
        except Exception as exc:
            return f"unreachable ({type(exc).__name__})"
        return None if exists else "bucket missing"

    return check
