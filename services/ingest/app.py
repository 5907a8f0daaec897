"""Wires the ingest service together."""

from fastapi import FastAPI

from services.ingest import handlers, routes
from services.ingest.service import IngestService
from services.ingest.tables import IngestBase
from shared.service_app import build_app, build_runtime
from shared.settings import get_settings
from shared.storage import ObjectStore, ensure_buckets


def create_app() -> FastAPI:
    settings = get_settings()
    runtime = build_runtime("ingest", settings, IngestBase)
    store = ObjectStore(settings)
    ensure_buckets(store, settings)
    service = IngestService(settings, runtime.sessions, store, runtime.relay)
    handlers.register(runtime.broker, service)
    app = build_app(runtime, [routes.router])
    app.state.ingest = service
    return app
