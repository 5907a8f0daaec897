"""Evidence records for the archive's packages (RFC 4998 over RFC 3161 time-stamps): the batcher that stamps the
packages archived in a period with one time-stamp per hash-tree root, the check of a package's evidence, and
renewal. The data object protected is the package's `tagmanifest-sha256.txt` (it covers the manifest, which
covers every payload file).

Each record is a locked object of the package: `evidence.ers` first; every renewal writes a sibling object with
the renewed, complete record (`evidence-2.ers`, `evidence-3.ers`, ...), locked like the package, so no object
of the package is ever rewritten and disposal deletes every record with the package. The newest is current.
"""

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from cryptography import x509

from services.archive import ers
from services.archive.domain import parse_manifest
from services.archive.ports import Packages, StoredFile, TimeStamper
from services.archive.tables import ArchivedDocumentRow, PackageFileRow
from services.archive.tsa import TsaClient, TsaUnavailable, check_token, load_trust
from services.archive.unit_of_work import ArchiveUnitOfWork
from services.archive.views import EvidenceView, VerifyView, stored_files
from shared import events
from shared.errors import InvalidRequest, Refused
from shared.settings import Settings

log = logging.getLogger(__name__)

PROTECTED = "tagmanifest-sha256.txt"
MANIFEST = "manifest-sha256.txt"
FIRST = "evidence.ers"
ERS_TYPE = "application/vnd.eakte.evidence-record"  # DER EvidenceRecord (RFC 4998)
CLAIM = timedelta(minutes=10)
BATCH_LIMIT = 10_000  # packages per time-stamp at most
# A record is locked as long as its package; one whose lock would end within this margin is not written.
LOCK_MARGIN = timedelta(minutes=1)


@dataclass(frozen=True)
class EvidenceConfig:
    """The TSA to ask (None: no evidence records are made) and the CA certificates its tokens must chain to."""

    tsa: TimeStamper | None
    trusted: list[x509.Certificate] = field(default_factory=list)
    batch_s: float = 60.0

    @staticmethod
    def of(settings: Settings) -> "EvidenceConfig":
        return EvidenceConfig(TsaClient.of(settings), load_trust(settings.tsa_ca_file), settings.tsa_batch_s)


def record_number(path: str) -> int | None:
    """1 for evidence.ers, n for evidence-n.ers, None for any other file of the package."""
    if path == FIRST:
        return 1
    found = re.fullmatch(r"evidence-(\d+)\.ers", path)
    return int(found.group(1)) if found else None


def record_path(number: int) -> str:
    return FIRST if number == 1 else f"evidence-{number}.ers"


def current_record(files: list[StoredFile]) -> tuple[int, StoredFile] | None:
    numbered = [(n, f) for f in files if (n := record_number(f.path)) is not None]
    return max(numbered, key=lambda pair: pair[0]) if numbered else None


def _read(packages: Packages, file: StoredFile) -> bytes | None:
    return packages.read(file)


# --- the batcher ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    document_id: str
    protected: StoredFile
    retain_until: datetime
    archived_at: datetime


def stamp_pending(uow: ArchiveUnitOfWork, packages: Packages, config: EvidenceConfig) -> int:
    """One batch: the waiting packages (claimed for this process), one hash tree over their protected files,
    one time-stamp over its root, an evidence record per package. The number of packages stamped."""
    if config.tsa is None:
        return 0
    now = events.utcnow()
    with uow:
        found = {i: _claimed(uow.documents.get(i)) for i in uow.evidence.claim(now, now + CLAIM, BATCH_LIMIT)}
        # Deleted or handed over meanwhile, or past its retention (a record could not be locked; the package is due
        # for disposal): nothing to protect any more.
        gone = [i for i, c in found.items() if c is None or c.retain_until <= now + LOCK_MARGIN]
        uow.evidence.done(gone)
    ready = [c for c in found.values() if c is not None and c.document_id not in gone]
    leaves = {c.document_id: _protected_hash(packages, c) for c in ready}
    ready = [c for c in ready if leaves[c.document_id] is not None]
    if not ready:
        return 0
    tree = ers.build_tree(ers.DEFAULT_ALGORITHM, [[leaves[c.document_id] or b""] for c in ready])
    try:
        token = config.tsa.stamp(tree.algorithm, tree.root)
    except TsaUnavailable:
        with uow:
            uow.evidence.release([c.document_id for c in ready])  # the next round tries again
        raise
    records = {
        c.document_id: ers.new_record(tree.algorithm, tree.reduced[leaves[c.document_id] or b""], token) for c in ready
    }
    stored, failed = _store_records(packages, ready, records, now)
    with uow:
        for document_id, file in stored:
            _record_file(uow, document_id, file)
        uow.evidence.done([document_id for document_id, _ in stored])
        uow.evidence.release(failed)  # the next round tries them again
    return len(stored)


def _store_records(
    packages: Packages, ready: list[Claimed], records: dict[str, bytes], now: datetime
) -> tuple[list[tuple[str, StoredFile]], list[str]]:
    """Each package's record as a locked object; one that cannot be stored never keeps the others from theirs."""
    stored, failed = [], []
    for c in ready:
        try:
            file = packages.put(c.document_id, FIRST, records[c.document_id], ERS_TYPE, c.retain_until, now)
        except Exception:
            log.exception("package %s: evidence record not stored; it waits for the next round", c.document_id)
            failed.append(c.document_id)
            continue
        stored.append((c.document_id, file))
    return stored, failed


def _claimed(row: ArchivedDocumentRow | None) -> Claimed | None:
    if row is None or row.state != "archived":
        return None
    protected = next((f for f in stored_files(row) if f.path == PROTECTED), None)
    if protected is None:
        return None
    return Claimed(row.document_id, protected, row.retain_until, row.archived_at)


def _protected_hash(packages: Packages, claimed: Claimed) -> bytes | None:
    """SHA-256 of the stored tag manifest, read again; None (and an ERROR) when it no longer matches its record."""
    data = _read(packages, claimed.protected)
    if data is None:
        log.error("package %s: %s is missing; no evidence record", claimed.document_id, PROTECTED)
        return None
    digest = ers.digest(ers.DEFAULT_ALGORITHM, data)
    if digest.hex() != claimed.protected.sha256:
        log.error("package %s: %s no longer matches its SHA-256; no evidence record", claimed.document_id, PROTECTED)
        return None
    return digest


def _record_file(uow: ArchiveUnitOfWork, document_id: str, file: StoredFile) -> None:
    row = uow.documents.get(document_id)
    if row is None:
        return
    existing = next((f for f in row.files if f.path == file.path), None)
    if existing is not None:  # a batch repeated after a crash wrote a newer version: that one counts
        existing.key, existing.version_id, existing.sha256, existing.size = (
            file.key,
            file.version_id,
            file.sha256,
            file.size,
        )
        return
    row.files.append(
        PackageFileRow(
            document_id=document_id,
            path=file.path,
            key=file.key,
            version_id=file.version_id,
            sha256=file.sha256,
            size=file.size,
        )
    )


async def stamp_regularly(
    uow_factory: Callable[[], ArchiveUnitOfWork], packages: Packages, config: EvidenceConfig
) -> None:
    """Background job of the archive service: every EAKTE_TSA_BATCH_S, one time-stamp for what waits."""
    if config.tsa is None:
        log.info("no TSA configured (EAKTE_TSA_URL): archived packages wait for their evidence record")
        return
    while True:
        await asyncio.sleep(config.batch_s)
        try:
            stamped = await asyncio.to_thread(stamp_pending, uow_factory(), packages, config)
            if stamped:
                log.info("evidence records written for %d package(s) under one time-stamp", stamped)
        except TsaUnavailable as exc:
            log.warning("no time-stamp this round, the packages keep waiting: %s", exc)
        except Exception:
            log.exception("writing evidence records failed; the packages keep waiting")


# --- checking ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceStatus:
    """A package's evidence, checked: `ok` only when the package's files match the manifests, the tag manifest
    is in the evidence record's hash trees, every time-stamp is signed by a TSA whose certificate chains to the
    configured CA; `time` is when the package was first time-stamped, `tsa` who did, `detail` the reasons."""

    ok: bool
    time: datetime | None
    tsa: str
    detail: list[str]
    record: str = ""  # the object checked, e.g. evidence-2.ers
    chains: int = 0
    algorithms: list[str] = field(default_factory=list)


def evidence_status(
    uow: ArchiveUnitOfWork, packages: Packages, config: EvidenceConfig, document_id: str
) -> EvidenceStatus:
    """The evidence check of one archived package (for the verify route and the integrity report)."""
    with uow:
        row = uow.documents.get(document_id)
        if row is None:
            return EvidenceStatus(False, None, "", ["the document is not archived"])
        files = stored_files(row)
        queued = uow.evidence.queued_at(document_id)
    current = current_record(files)
    if current is None:
        waiting = f" (queued for a time-stamp since {queued.isoformat()})" if queued else ""
        return EvidenceStatus(False, None, "", [f"the package has no evidence record yet{waiting}"])
    _number, record_file = current
    problems = _bag_problems(packages, files)
    record = _read(packages, record_file)
    if record is None:
        return EvidenceStatus(False, None, "", [*problems, f"{record_file.path}: missing"], record_file.path)
    if ers.digest("sha256", record).hex() != record_file.sha256:
        problems.append(f"{record_file.path}: no longer matches its SHA-256")
    protected = next((f for f in files if f.path == PROTECTED), None)
    data = _read(packages, protected) if protected is not None else None
    if data is None:
        return EvidenceStatus(False, None, "", [*problems, f"{PROTECTED}: not in the package"], record_file.path)
    check = ers.check_record(record, data)
    problems += check.problems
    tsa = ""
    for stamp in check.stamps:
        token = check_token(stamp.token, config.trusted)
        tsa = tsa or token.tsa
        problems += [f"time-stamp of {stamp.time.isoformat()}: {p}" for p in token.problems]
    ok = not problems
    return EvidenceStatus(ok, check.first_time, tsa, problems, record_file.path, check.chains, check.algorithms)


def _bag_problems(packages: Packages, files: list[StoredFile]) -> list[str]:
    """The chain below the protected tag manifest: every tag file it lists, and every payload file the manifest
    lists, read again and compared."""
    by_path = {f.path: f for f in files}
    problems: list[str] = []
    for listing in (PROTECTED, MANIFEST):
        if listing not in by_path:
            problems.append(f"{listing}: not in the package")
            continue
        listed = _read(packages, by_path[listing])
        if listed is None:
            problems.append(f"{listing}: missing")
            continue
        for path, expected in parse_manifest(listed.decode()).items():
            file = by_path.get(path)
            actual = packages.reread_sha256(file) if file else None
            if actual is None:
                problems.append(f"{path}: missing (listed in {listing})")
            elif actual != expected:
                problems.append(f"{path}: SHA-256 differs from {listing} (the file was changed)")
    return problems


# --- renewal ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skipped:
    document_id: str
    reason: str


@dataclass(frozen=True)
class RenewalView:
    """What a renewal did: `timestamp` renewal (a new time-stamp in the last chain, same hash algorithm) or
    `hashtree` renewal (a new chain with a new hash algorithm over the data and the earlier chains)."""

    kind: str
    algorithm: str
    renewed: int
    time_stamps: int
    skipped: list[Skipped]


@dataclass(frozen=True)
class Renewable:
    document_id: str
    number: int
    record: bytes
    leaf: list[bytes]  # the values of the first list of its new reduced hash tree
    algorithm: str
    retain_until: datetime


def renew(uow: ArchiveUnitOfWork, packages: Packages, config: EvidenceConfig, algorithm: str | None) -> RenewalView:
    """Renew every package's current evidence record (RFC 4998 §5): with `algorithm` other than the record's,
    a hash-tree renewal; else a time-stamp renewal. Each renewed record is a new sibling object."""
    if config.tsa is None:
        raise Refused("no_tsa", "no TSA is configured (EAKTE_TSA_URL): evidence records cannot be renewed")
    if algorithm is not None and algorithm not in ers.HASHES:
        raise InvalidRequest(
            "unknown_algorithm", f"unknown hash algorithm {algorithm!r}; offered: {', '.join(ers.HASHES)}"
        )
    with uow:
        rows = [(i, uow.documents.get(i)) for i in uow.documents.ids(None, None)]
        packages_now = [
            (i, stored_files(r), r.retain_until) for i, r in rows if r is not None and r.state == "archived"
        ]
    renewable, skipped = [], []
    for document_id, files, retain_until in packages_now:
        found = _renewable(packages, document_id, files, retain_until, algorithm)
        if isinstance(found, Skipped):
            skipped.append(found)
        elif found is not None:
            renewable.append(found)
    kind = (
        "hashtree" if any(r.algorithm == algorithm and _is_hashtree(r, algorithm) for r in renewable) else "timestamp"
    )
    stamps = 0
    for group_algorithm in sorted({r.algorithm for r in renewable}):
        group = [r for r in renewable if r.algorithm == group_algorithm]
        for start in range(0, len(group), BATCH_LIMIT):
            _renew_batch(uow, packages, config.tsa, group[start : start + BATCH_LIMIT], algorithm)
            stamps += 1
    return RenewalView(kind, algorithm or "", len(renewable), stamps, skipped)


def _is_hashtree(renewable: Renewable, algorithm: str | None) -> bool:
    return algorithm is not None and ers.last_algorithm(renewable.record) != algorithm


def _renewable(
    packages: Packages, document_id: str, files: list[StoredFile], retain_until: datetime, algorithm: str | None
) -> Renewable | Skipped | None:
    current = current_record(files)
    protected = next((f for f in files if f.path == PROTECTED), None)
    if current is None or protected is None:
        return None  # still waiting for its first record: nothing to renew
    number, file = current
    record, data = _read(packages, file), _read(packages, protected)
    if record is None or data is None:
        return Skipped(document_id, f"{file.path if record is None else PROTECTED}: missing")
    check = ers.check_record(record, data)
    if check.problems:
        return Skipped(document_id, "; ".join(check.problems))
    last = ers.last_algorithm(record)
    if algorithm is None or algorithm == last:
        return Renewable(document_id, number, record, ers.timestamp_renewal_group(record), last, retain_until)
    leaf = [ers.hashtree_renewal_hash(record, algorithm, data)]
    return Renewable(document_id, number, record, leaf, algorithm, retain_until)


def _renew_batch(
    uow: ArchiveUnitOfWork, packages: Packages, tsa: TimeStamper, batch: list[Renewable], algorithm: str | None
) -> None:
    tree_algorithm = batch[0].algorithm
    tree = ers.build_tree(tree_algorithm, [r.leaf for r in batch])
    token = tsa.stamp(tree_algorithm, tree.root)
    now = events.utcnow()
    stored = []
    for r in batch:
        reduced = tree.reduced[ers.node_hash(tree_algorithm, r.leaf)]
        if _is_hashtree(r, algorithm):
            renewed = ers.with_hashtree_renewal(r.record, tree_algorithm, reduced, token)
        else:
            renewed = ers.with_timestamp_renewal(r.record, reduced, token)
        path = record_path(r.number + 1)
        stored.append((r.document_id, packages.put(r.document_id, path, renewed, ERS_TYPE, r.retain_until, now)))
    with uow:
        for document_id, file in stored:
            _record_file(uow, document_id, file)


def verify(uow: ArchiveUnitOfWork, packages: Packages, config: EvidenceConfig, view: VerifyView) -> VerifyView:
    """The fixity results of `view` with each package's evidence checked as well."""
    results = []
    for result in view.results:
        status = evidence_status(uow, packages, config, result.document_id)
        shown = EvidenceView(
            status.ok, status.time, status.tsa, status.detail, status.record, status.chains, status.algorithms
        )
        results.append(replace(result, evidence=shown))
    ok = sum(1 for r in results if r.evidence is not None and r.evidence.ok)
    return replace(view, results=results, evidence_ok=ok, evidence_failed=len(results) - ok)
