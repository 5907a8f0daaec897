"""The archive's composition root: everything its routes, subscribers and background job use, built once."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from services.archive.archiving import Intake
from services.archive.aussonderung import Parties
from services.archive.evidence import EvidenceConfig
from services.archive.integrity_report import EvidenceCheck, verified_evidence
from services.archive.package import PackageStore, SourceStore
from services.archive.ports import Packages
from services.archive.search import SearchIndex
from services.archive.unit_of_work import ArchiveUnitOfWork, SqlArchiveUnitOfWork
from services.archive.xdomea import Institution
from shared.service_app import ServiceRuntime
from shared.settings import Settings
from shared.storage import ObjectStore


@dataclass(frozen=True)
class Archive:
    """What the archive's entrypoints need: a fresh unit of work per use, the object store, the settings."""

    uow: Callable[[], ArchiveUnitOfWork]
    intake: Intake
    parties: Parties
    settings: Settings
    evidence: EvidenceConfig = field(default_factory=lambda: EvidenceConfig(None))  # the TSA and its CA (RFC 4998)

    @property
    def packages(self) -> Packages:
        return self.intake.packages

    @property
    def evidence_check(self) -> EvidenceCheck:
        """The evidence record's line of the integrity report: the package's record verified."""
        return verified_evidence(self.uow, self.packages, self.evidence)


def bootstrap(runtime: ServiceRuntime, store: ObjectStore) -> Archive:
    settings = runtime.settings
    index = SearchIndex(runtime.sessions.kw["bind"])

    def uow() -> ArchiveUnitOfWork:
        return SqlArchiveUnitOfWork(runtime.sessions, index, runtime.relay.notify)

    packages = PackageStore(store, settings.archive_bucket, settings.archive_object_lock)
    # A batch's packages are written side by side, as many as its partitions were handled at once before.
    writers = ThreadPoolExecutor(settings.consumer_workers, thread_name_prefix="archive-write")
    sources = SourceStore(store, settings.inbox_bucket)
    intake = Intake(sources, packages, settings.archive_retention_override_s, writers)
    parties = xdomea_parties(settings)
    return Archive(uow, intake, parties, settings, EvidenceConfig.of(settings))


def xdomea_parties(settings: Settings) -> Parties:
    """Who offers (this authority) and who receives (the state archive), with their Behoerdenkennung."""
    return Parties(
        sender=Institution(
            name=settings.xdomea_sender,
            authority_key=settings.xdomea_sender_key,
            authority_prefix=settings.xdomea_sender_prefix,
            org_unit=settings.xdomea_sender_org_unit,
        ),
        receiver=Institution(
            name=settings.xdomea_receiver,
            authority_key=settings.xdomea_receiver_key,
            authority_prefix=settings.xdomea_receiver_prefix,
            org_unit=settings.xdomea_receiver_org_unit,
        ),
        schema=settings.xdomea_schema or None,
    )
