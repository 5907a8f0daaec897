"""Finding and handing out archived documents, and proving they are unchanged (fixity)."""

from datetime import timedelta

from services.archive import domain
from services.archive.access import require_visible, visible
from services.archive.domain import FixityReport, IntegrityBroken, NotArchived, SearchQuery, compare_fixity
from services.archive.ports import Packages, StoredFile
from services.archive.tables import ArchivedDocumentRow
from services.archive.unit_of_work import ArchiveUnitOfWork
from services.archive.views import (
    AccessPage,
    ArchivedView,
    Download,
    LinkView,
    PackageView,
    SearchPage,
    VerifyResult,
    VerifyView,
    access_entry,
    archived_view,
    original_file,
    stored_files,
)
from shared import events
from shared.need_to_know import Reader

MANIFEST = "manifest-sha256.txt"


def get_row(uow: ArchiveUnitOfWork, document_id: str) -> ArchivedDocumentRow:
    """The archived document, inside an open unit of work; NotArchived when there is none."""
    row = uow.documents.get(document_id)
    if row is None:
        raise NotArchived()
    return row


def visible_row(uow: ArchiveUnitOfWork, reader: Reader, document_id: str, content: bool = False) -> ArchivedDocumentRow:
    """The archived document if the reader may see it (`content`: open it), inside an open unit of work."""
    return require_visible(reader, uow.documents.get(document_id), content)


def metadata(uow: ArchiveUnitOfWork, document_id: str, reader: Reader) -> ArchivedView:
    """The document's record; the access is logged."""
    with uow:
        view = archived_view(visible_row(uow, reader, document_id))
        uow.access_log.add(document_id, reader.user, "metadata")
    return view


def search(uow: ArchiveUnitOfWork, query: SearchQuery, reader: Reader) -> SearchPage:
    """The documents found that the reader may see; who searched for what, with how many hits, is logged."""
    with uow:
        total, rows = uow.documents.search(query)
        shown = visible(reader, rows)
        total -= len(rows) - len(shown)
        uow.access_log.add("", reader.user, "search", query=domain.describe_search(query), hits=total)
        return SearchPage(total, query.limit, query.offset, [archived_view(r) for r in shown])


def access_log(uow: ArchiveUnitOfWork, document_id: str | None, limit: int, offset: int) -> AccessPage:
    with uow:
        total, rows = uow.access_log.page(document_id, limit, offset)
        return AccessPage(total, [access_entry(r) for r in rows])


def verified_content(uow: ArchiveUnitOfWork, packages: Packages, document_id: str) -> Download:
    """The original's bytes, streamed, after re-reading them once to check the SHA-256 of record (no person's
    access: `download` checks that first)."""
    with uow:
        row = get_row(uow, document_id)
        original = original_file(row)
        described = (row.content_type, row.size, row.filename, row.sha256)
    if packages.reread_sha256(original) != row.sha256:
        raise IntegrityBroken(f"the archived original of {document_id} no longer matches its SHA-256")
    return Download(packages.stream(original), *described)


def download(uow: ArchiveUnitOfWork, packages: Packages, document_id: str, reader: Reader) -> Download:
    """The verified original for `reader`, if they may open it; the download is logged."""
    with uow:
        visible_row(uow, reader, document_id, content=True)
    content = verified_content(uow, packages, document_id)
    with uow:
        uow.access_log.add(document_id, reader.user, "download")
    return content


def link(uow: ArchiveUnitOfWork, packages: Packages, ttl_s: int, document_id: str, reader: Reader) -> LinkView:
    """A presigned download link to the original that expires after `ttl_s`; the link is logged."""
    expires = timedelta(seconds=ttl_s)
    with uow:
        row = visible_row(uow, reader, document_id, content=True)
        url = packages.presigned_url(original_file(row), expires, row.filename or "dokument")
        uow.access_log.add(document_id, reader.user, "link")
    return LinkView(url, events.utcnow() + expires)


def package(uow: ArchiveUnitOfWork, packages: Packages, document_id: str, reader: Reader) -> PackageView:
    """The package's objects as the object store reports them; the view is logged."""
    with uow:
        files = stored_files(visible_row(uow, reader, document_id))
        uow.access_log.add(document_id, reader.user, "package")
    return PackageView(document_id, packages.bucket, [packages.state(f) for f in files])


def verify(
    uow: ArchiveUnitOfWork, packages: Packages, document_ids: list[str] | None, sample: int | None, reader: Reader
) -> VerifyView:
    """Re-read every object of the chosen packages (those the reader may see) and compare each with its manifest
    hash."""
    with uow:
        ids = uow.documents.ids(document_ids, sample)
        chosen = [row.document_id for row in visible(reader, filter(None, map(uow.documents.get, ids)))]
    results = [_verify_one(uow, packages, document_id) for document_id in chosen]
    counts = {kind: sum(1 for r in results if r.result == kind) for kind in ("ok", "mismatch", "missing")}
    return VerifyView(checked=len(results), **counts, results=results)


def _verify_one(uow: ArchiveUnitOfWork, packages: Packages, document_id: str) -> VerifyResult:
    with uow:
        row = get_row(uow, document_id)
        report = reread_package(stored_files(row), packages)
        note_verified(row, report)
    return VerifyResult(document_id, report.result.value, report.problems)


def note_verified(row: ArchivedDocumentRow, report: FixityReport) -> None:
    """Keep a fixity check's result on the document (its record shows it; the integrity report's last line)."""
    row.last_verified_at = events.utcnow()
    row.last_verify_result = report.result.value
    row.last_verify_problems = report.problems


def reread_package(files: list[StoredFile], packages: Packages) -> FixityReport:
    """Re-read every object of a package and compare it with its recorded hash and the bag's own manifest."""
    found = {f.path: packages.reread_sha256(f) for f in files}
    expected = {f.path: f.sha256 for f in files}
    manifest_file = next((f for f in files if f.path == MANIFEST), None)
    if manifest_file is not None and found.get(MANIFEST) == manifest_file.sha256:
        # The bag's own manifest must agree with what we recorded: it is what other tools will check.
        expected |= domain.parse_manifest(b"".join(packages.stream(manifest_file)).decode())
    return compare_fixity(expected, found)
