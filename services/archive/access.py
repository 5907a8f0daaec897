"""Need-to-know in the archive: the one place its routes ask who may see an archived document or open it.

The rule is `shared.need_to_know`; the archive supplies the facts of its row (owning org unit and confidential
from the event's metadata, the submitter, archived). A document the caller may not see is answered like one
that is not archived (`404`), so its existence is not revealed.
"""

from collections.abc import Iterable

from services.archive.domain import NotArchived
from services.archive.tables import ArchivedDocumentRow
from shared.need_to_know import DocumentFacts, Reader, may_open, may_see

# A deletion record keeps no org unit: what remains of a destroyed document is for the records office and admins.
DESTROYED = DocumentFacts(org_unit="", archived=True)


def facts_of(row: ArchivedDocumentRow) -> DocumentFacts:
    return DocumentFacts(
        org_unit=row.org_unit or "",
        submitters=frozenset({row.submitted_by}) if row.submitted_by else frozenset(),
        archived=True,
        confidential=bool(row.confidential),
    )


def require_visible(reader: Reader, row: ArchivedDocumentRow | None, content: bool = False) -> ArchivedDocumentRow:
    """The row, if it exists and the reader may see it (`content`: open its original); else NotArchived."""
    rule = may_open if content else may_see
    if row is None or not rule(reader, facts_of(row)):
        raise NotArchived()
    return row


def visible(reader: Reader, rows: Iterable[ArchivedDocumentRow]) -> list[ArchivedDocumentRow]:
    """The rows the reader may see, in their order (search results, the due list, fixity results)."""
    return [row for row in rows if may_see(reader, facts_of(row))]
