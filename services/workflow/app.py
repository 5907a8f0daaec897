"""Wires the workflow service together: definitions, org units, clock, scheduler, HTTP and Kafka."""

import asyncio
import contextlib
import hashlib
import io
import logging
from collections.abc import Callable
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.workflow import handlers, metrics, notification_routes, routes
from services.workflow.audit_log import audit_object_key
from services.workflow.bootstrap import Workflow, bootstrap
from services.workflow.clock import Clock, ControllableClock, make_clock
from services.workflow.definitions import load_definitions, load_organisation, source_paths
from services.workflow.mail_sender import MailSender, SmtpTransport
from services.workflow.notifications import MailConfig, Notifier
from services.workflow.tables import WorkflowBase
from services.workflow.unit_of_work import WorkflowUnitOfWork
from shared import events
from shared.service_app import BackgroundJob, build_app, build_runtime
from shared.settings import Settings, get_settings
from shared.storage import ObjectStore

log = logging.getLogger(__name__)


def audit_store(settings: Settings) -> Callable[[str, bytes], events.StoredObject]:
    """A large audit trail goes beside the document in the inbox bucket; the event carries the reference."""
    store = ObjectStore(settings)

    def put(document_id: str, data: bytes) -> events.StoredObject:
        key = audit_object_key(document_id, data)
        store.client.put_object(
            settings.inbox_bucket, key, io.BytesIO(data), len(data), content_type="application/json"
        )
        return events.StoredObject(
            bucket=settings.inbox_bucket, key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest()
        )

    return put


def scheduler(tick: Callable[[], int], clock: Clock, interval_s: float) -> BackgroundJob:
    """Checks deadlines, resubmissions and absences every `interval_s`, and at once when the clock is moved."""

    async def run() -> None:
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def wake_up() -> None:  # the clock moves in another thread
            loop.call_soon_threadsafe(wake.set)

        clock.on_change(wake_up)
        while True:
            wake.clear()
            try:
                await asyncio.to_thread(tick)
            except Exception:  # the database is away for a moment: try again next round
                log.exception("workflow scheduler tick failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), interval_s)

    return run


def mail_config(settings: Settings) -> MailConfig:
    portal = settings.portal_url or settings.portal_public_url or f"http://127.0.0.1:{settings.portal_port}"
    return MailConfig(portal_url=portal, mail_domain=settings.mail_domain, digest_hour=settings.mail_digest_hour)


def mail_jobs(settings: Settings, workflow: Workflow, clock: Clock, notifier: Notifier) -> list[BackgroundJob]:
    """The mail sender, when EAKTE_SMTP_URL names a server (without one, mails wait in the queue)."""
    if not settings.smtp_url:
        log.info("EAKTE_SMTP_URL is not set: notification mails are queued, not sent")
        return []
    sender = MailSender(
        workflow.uow,
        clock,
        SmtpTransport.from_settings(settings),
        notifier.templates["digest"],
        settings.mail_retry_max_s,
    )

    async def run() -> None:
        while True:
            try:
                await asyncio.to_thread(sender.send_due)
            except Exception:  # the database is away for a moment: try again next round
                log.exception("mail sender round failed; retrying")
            await asyncio.sleep(settings.mail_send_interval_s)

    return [run]


def create_app() -> FastAPI:
    settings = get_settings()
    directory, org_file = source_paths(settings.workflow_definitions_dir, settings.org_units_file)
    organisation = load_organisation(org_file)  # invalid files stop the start-up with a clear message
    registry, digests = load_definitions(directory, organisation)
    clock = make_clock(settings.clock)
    runtime = build_runtime("workflow", settings, WorkflowBase)
    relay = runtime.relay
    notifier = Notifier(organisation, clock, ZoneInfo(settings.timezone), mail_config(settings))
    workflow = bootstrap(
        lambda: WorkflowUnitOfWork(runtime.sessions, relay.notify, on_event=notifier.on_event),
        clock,
        registry,
        organisation,
        digests,
        put_audit=audit_store(settings),
        audit_inline_max_bytes=settings.audit_inline_max_bytes,
        zone=ZoneInfo(settings.timezone),
    )
    handlers.register(runtime.broker, workflow, notifier)
    routers = [routes.router, notification_routes.router]
    if isinstance(clock, ControllableClock):
        log.warning("EAKTE_CLOCK=controllable: admins can move time with POST /api/v1/_test/clock (tests only)")
        routers.append(routes.test_router)
    due_work = scheduler(lambda: workflow.scheduler.tick(workflow.uow()), clock, settings.scheduler_interval_s)
    readings = metrics.readings(workflow.uow)
    jobs = [due_work, *mail_jobs(settings, workflow, clock, notifier)]
    app = build_app(runtime, routers, jobs, refusal_status=routes.REFUSAL_STATUS, readings=readings)
    app.state.workflow = workflow
    app.state.notifier = notifier
    log.info(
        "workflow definitions from %s: %s",
        directory,
        ", ".join(f"{name} v{version}" for name, version in sorted(workflow.versions.items())),
    )
    return app
