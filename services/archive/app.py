"""Wires the archive service together."""

from fastapi import FastAPI

from services.archive import handlers, routes, xdomea_routes
from services.archive.bootstrap import bootstrap
from services.archive.disposal import delete_handed_over_regularly
from services.archive.tables import ArchiveBase
from shared.service_app import build_app, build_runtime
from shared.settings import get_settings
from shared.storage import ObjectStore, ensure_buckets

# The archive's refusal codes and their HTTP status (legal_hold, retention_running, not_destroy and
# integrity are conflicts: 409, the default).
REFUSAL_STATUS = {
    "invalid_xdomea": 422,
    "unknown_process": 404,
    "nothing_chosen": 422,
    "not_transferred": 422,
    "not_offered": 422,
    "no_akten": 422,
    "unknown_aktenzeichen": 422,
}


def create_app() -> FastAPI:
    settings = get_settings()
    runtime = build_runtime("archive", settings, ArchiveBase)
    store = ObjectStore(settings)
    ensure_buckets(store, settings)
    archive = bootstrap(runtime, store)
    handlers.register(runtime.broker, archive.uow, archive.intake)

    async def delete_handed_over() -> None:
        await delete_handed_over_regularly(archive.uow, archive.packages, settings.archive_disposal_interval_s)

    # The xdomea routes come first: `/xdomea/...` must not be taken for a document id.
    app = build_app(runtime, [xdomea_routes.router, routes.router], [delete_handed_over], refusal_status=REFUSAL_STATUS)
    app.state.archive = archive
    return app
