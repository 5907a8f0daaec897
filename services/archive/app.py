"""Wires the archive service together."""

import asyncio
import logging

from fastapi import FastAPI

from services.archive import aussonderung, fixity, handlers, integrity_routes, metrics, routes, xdomea, xdomea_routes
from services.archive.bootstrap import bootstrap
from services.archive.disposal import delete_handed_over_regularly
from services.archive.evidence import stamp_regularly
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
    "xdomea_schema_missing": 503,  # a deployment gap: no xdomea message is built or read unchecked
    "no_tsa": 503,  # evidence records: no TSA configured (EAKTE_TSA_URL)
}
log = logging.getLogger(__name__)


async def announce_xdomea_schema(parties: aussonderung.Parties) -> None:
    """Say at start, as a WARNING, when xdomea disposal cannot run for want of the schema (loads it otherwise)."""
    warning = await asyncio.to_thread(aussonderung.schema_warning, parties)
    if warning is None:
        log.info("xdomea messages are checked against %s", xdomea.schema_path(parties.schema))
    else:
        log.warning(warning)


def create_app() -> FastAPI:
    settings = get_settings()
    runtime = build_runtime("archive", settings, ArchiveBase)
    store = ObjectStore(settings)
    ensure_buckets(store, settings)
    archive = bootstrap(runtime, store)
    handlers.register(runtime.broker, archive.uow, archive.intake)

    async def delete_handed_over() -> None:
        await delete_handed_over_regularly(archive.uow, archive.packages, settings.archive_disposal_interval_s)

    async def check_xdomea_schema() -> None:
        await announce_xdomea_schema(archive.parties)

    async def stamp_evidence() -> None:
        await stamp_regularly(archive.uow, archive.packages, archive.evidence)

    schedule = fixity.Schedule.of(settings.fixity_cycle_days, settings.replica_index)

    async def check_fixity() -> None:
        await fixity.check_fixity_regularly(archive.uow, archive.packages, schedule)

    # The xdomea and integrity routes come first: `/xdomea/...` and `/fixity` must not be taken for a document id.
    routers = [xdomea_routes.router, integrity_routes.router, routes.router]
    jobs = [delete_handed_over, check_xdomea_schema, check_fixity, stamp_evidence]
    app = build_app(runtime, routers, jobs, refusal_status=REFUSAL_STATUS, readings=metrics.readings(archive.uow))
    app.state.archive = archive
    return app
