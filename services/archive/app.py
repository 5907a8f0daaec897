"""Wires the archive service together."""

from fastapi import FastAPI

from services.archive import handlers, routes, xdomea_routes
from services.archive.aussonderung import AussonderungService
from services.archive.search import SearchIndex
from services.archive.service import ArchiveService
from services.archive.tables import ArchiveBase
from shared.service_app import build_app, build_runtime
from shared.settings import get_settings
from shared.storage import ObjectStore, ensure_buckets


def create_app() -> FastAPI:
    settings = get_settings()
    runtime = build_runtime("archive", settings, ArchiveBase)
    store = ObjectStore(settings)
    ensure_buckets(store, settings)
    search = SearchIndex(runtime.sessions.kw["bind"])
    service = ArchiveService(settings, runtime.sessions, store, runtime.relay, search)
    handlers.register(runtime.broker, service)
    # The xdomea routes come first: `/xdomea/...` must not be taken for a document id.
    app = build_app(runtime, [xdomea_routes.router, routes.router], [service.delete_handed_over_regularly])
    app.state.archive = service
    app.state.aussonderung = AussonderungService(settings, runtime.sessions, service)
    return app
