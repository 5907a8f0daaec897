"""Need-to-know (OWASP API1, DSGVO Art. 5/25): who may see a document, written once for every service.

A document belongs to its Akte's org unit. Each service knows some of the facts about a document (ingest its
Akte and submitter, the workflow who has or had a task on it, the archive that it is archived) and asks these
functions; what a person may not see answers `404 not_found` (its existence is not revealed).
"""

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Reader:
    """The person asking: from the bearer token."""

    user: str
    roles: frozenset[str]
    org_units: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DocumentFacts:
    """What decides who may see one document."""

    org_unit: str  # the owning org unit: its Akte's (empty: none, only submitter, tasks, records office, admins)
    submitters: frozenset[str] = frozenset()  # who submitted any version
    task_holders: frozenset[str] = frozenset()  # who has or had a task on it, also as deputy
    archived: bool = False
    confidential: bool = False  # its file-plan class is marked `confidential: true` (e.g. personnel files)


def may_see(reader: Reader, document: DocumentFacts) -> bool:
    """Metadata, history, workflow state, audit trail and the document's line in any list, Akte view or search."""
    return (
        reader.user in document.submitters
        or ("clerk" in reader.roles and _member(reader, document))
        or ("approver" in reader.roles and reader.user in document.task_holders)
        or ("records_officer" in reader.roles and document.archived)
        or "admin" in reader.roles
    )


def may_open(reader: Reader, document: DocumentFacts) -> bool:
    """The content (original, rendition, OCR text, package download). Confidential classes: only the owning
    org unit (and the submitter) and the records office once archived; not admins, not approvers from elsewhere."""
    if not may_see(reader, document):
        return False
    if not document.confidential:
        return True
    return (
        reader.user in document.submitters
        or _member(reader, document)
        or ("records_officer" in reader.roles and document.archived)
    )


def may_see_akte(reader: Reader, org_unit: str) -> bool:
    """An Akte itself (its title, number, Vorgänge): its org unit's members, the records office and admins.

    The documents it lists are each filtered by `may_see`.
    """
    return bool(org_unit and org_unit in reader.org_units) or bool(reader.roles & {"records_officer", "admin"})


def visible(reader: Reader, documents: Iterable[tuple[str, DocumentFacts]]) -> list[str]:
    """The ids among `documents` the reader may see, in their order."""
    return [document_id for document_id, facts in documents if may_see(reader, facts)]


def _member(reader: Reader, document: DocumentFacts) -> bool:
    return bool(document.org_unit) and document.org_unit in reader.org_units


@dataclass(frozen=True)
class SearchScope:
    """`may_see` and `may_open` as a search's filter, so a database applies them in the query.

    A document is in scope when one of these holds; `task_documents` (an approver's) are the workflow's to
    name. `content_*`: whose text (full-text match, snippet) a confidential document shows to the reader.
    """

    everything: bool
    user: str
    org_units: frozenset[str]
    archived: bool
    content_org_units: frozenset[str]
    content_archived: bool

    def admits(self, document: DocumentFacts, task_documents: bool = False) -> bool:
        """The same answer as `may_see` (task_documents: the reader has or had a task on it)."""
        return (
            self.everything
            or self.user in document.submitters
            or bool(document.org_unit and document.org_unit in self.org_units)
            or (self.archived and document.archived)
            or task_documents
        )

    def opens(self, document: DocumentFacts, task_documents: bool = False) -> bool:
        """The same answer as `may_open`."""
        if not self.admits(document, task_documents):
            return False
        return (
            not document.confidential
            or self.user in document.submitters
            or bool(document.org_unit and document.org_unit in self.content_org_units)
            or (self.content_archived and document.archived)
        )


def search_scope(reader: Reader) -> SearchScope:
    """What `may_see`/`may_open` let the reader find; approvers' task documents come from the workflow."""
    records = "records_officer" in reader.roles
    return SearchScope(
        everything="admin" in reader.roles,
        user=reader.user,
        org_units=reader.org_units if "clerk" in reader.roles else frozenset(),
        archived=records,
        content_org_units=reader.org_units,
        content_archived=records,
    )
