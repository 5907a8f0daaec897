"""The composition root of the ingest service: builds every part once and wires them together."""

from collections.abc import Callable

from fastapi import FastAPI

from services.ingest import (
    akten_routes,
    fitconnect_routes,
    handlers,
    intake_routes,
    metrics,
    open311_routes,
    preview_routes,
    quarantine_routes,
    routes,
    search_routes,
)
from services.ingest.access import DocumentAccess
from services.ingest.fileplan import load_file_plan
from services.ingest.filing import FilingService
from services.ingest.fitconnect import build_subscriber
from services.ingest.hotfolder import HotFolder
from services.ingest.ingesting import IngestService
from services.ingest.intake import IntakeQueue
from services.ingest.mail_poller import MailPoller
from services.ingest.mailbox import MailIntake, load_mail_routing
from services.ingest.ocr import OcrWorker
from services.ingest.open311 import open311_reports
from services.ingest.previews import PreviewWorker
from services.ingest.quarantine import QuarantineService
from services.ingest.search import create_text_index
from services.ingest.searching import SearchBackfill, SearchService
from services.ingest.tables import IngestBase
from services.ingest.unit_of_work import IngestUnitOfWork
from services.ingest.workflow_tasks import WorkflowTaskDocuments, WorkflowTasks
from shared.service_app import build_app, build_runtime
from shared.settings import Settings, get_settings
from shared.storage import ObjectStore, ensure_buckets
from shared.workflow_catalog import definitions_dir, workflow_names


def create_app() -> FastAPI:
    settings = get_settings()
    file_plan = load_file_plan(settings.file_plan)  # a broken plan stops start-up with a clear message
    runtime = build_runtime("ingest", settings, IngestBase)
    store = ObjectStore(settings)
    ensure_buckets(store, settings)

    def uow_factory() -> IngestUnitOfWork:
        return IngestUnitOfWork(runtime.sessions, runtime.relay.notify)

    filing = FilingService(file_plan)
    service = IngestService(settings, store, filing, workflow_names(definitions_dir(settings)))
    intake = IntakeQueue(settings, uow_factory, service, filing)
    # The OCR worker runs even when OCR is off, to release documents still waiting from before.
    background = [intake.run, OcrWorker(settings, uow_factory, store).run]
    if settings.hotfolder:
        background.append(HotFolder(settings.hotfolder, intake, settings.hotfolder_user, settings.hotfolder_poll_s).run)
    if settings.mail_imap_url and settings.replica_index <= 1:
        background.append(_mail_poller(settings, uow_factory, intake, filing, service.workflows).run)
    if settings.fitconnect_api_url:  # OZG online applications (FIT-Connect subscriber)
        fitconnect = build_subscriber(settings, uow_factory, intake, store, file_plan, service.workflows)
        background.append(fitconnect.run)
    if settings.preview_enabled:  # page images, rendered off the request path
        background.append(PreviewWorker(settings, uow_factory, store, service.since_intake_s).run)
    create_text_index(runtime.sessions.kw["bind"])  # the search's stems (FTS5 or tsvector) beside its entries
    if settings.replica_index <= 1:
        background.append(SearchBackfill(uow_factory).run)  # documents filed before the search existed
    handlers.register(runtime.broker, uow_factory, store, settings.inbox_bucket)
    routers = [routes.router, akten_routes.router, intake_routes.router, quarantine_routes.router]
    routers.append(open311_routes.router)  # citizens' defect reports (Open311): no token, an api_key per app
    routers.append(fitconnect_routes.router)
    routers.append(preview_routes.router)
    routers.append(search_routes.router)  # the search for clerks and approvers (the portal's /suche)
    refusals = {**routes.REFUSAL_STATUS, **open311_routes.REFUSAL_STATUS}
    app = build_app(runtime, routers, background, refusal_status=refusals, readings=metrics.readings(uow_factory))
    app.state.settings = settings
    app.state.store = store
    app.state.uow_factory = uow_factory
    app.state.ingest = service
    app.state.filing = filing
    # Need-to-know: approvers with a task on a document are the workflow's to know; asked with their own token.
    app.state.access = DocumentAccess(WorkflowTasks(settings.service_url("workflow")))
    app.state.intake = intake
    app.state.open311 = open311_reports(settings, uow_factory, intake, file_plan, service.workflows)
    app.state.quarantine = QuarantineService(settings, store, service)
    app.state.search = SearchService(WorkflowTaskDocuments(settings.service_url("workflow")))
    return app


def _mail_poller(
    settings: Settings,
    uow_factory: Callable[[], IngestUnitOfWork],
    intake: IntakeQueue,
    filing: FilingService,
    workflows: frozenset[str],
) -> MailPoller:
    """The Poststelle mailbox (EAKTE_MAIL_IMAP_URL); a routing naming what does not exist stops start-up."""
    mail = MailIntake(settings, uow_factory, intake, filing, load_mail_routing(settings.mail_routing))
    mail.check_routing(workflows)
    return MailPoller(settings, mail)
