"""Need-to-know in the ingest service: the one place its routes ask who may see a document or its Akte.

The rule is `shared.need_to_know`; ingest supplies the facts it has (org unit, submitter, confidential, archived)
from the document row. Who has or had a task on a document is the workflow's to know: when ingest's own facts
deny an approver, `TaskCheck` (an adapter, see `services.ingest.workflow_tasks`) asks the workflow service.
What the caller may not see answers `404 not_found`, so its existence is not revealed.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from services.ingest.domain import document_facts
from services.ingest.tables import DocumentRow
from services.ingest.unit_of_work import IngestUnitOfWork
from shared.errors import NotFound
from shared.need_to_know import DocumentFacts, Reader, may_open, may_see, may_see_akte

# (document id, the caller's bearer token) -> whether the workflow lets this caller see it (task holders).
TaskCheck = Callable[[str, str], bool]


@dataclass(frozen=True)
class Caller:
    """The person asking, and the bearer token they came with (to ask the workflow on their behalf)."""

    reader: Reader
    token: str = ""


def facts_of(row: DocumentRow, with_history: bool = True) -> DocumentFacts:
    statuses = [h.status for h in row.history] if with_history else []
    return document_facts(row.org_unit, [row.submitted_by], statuses, row.confidential)


class DocumentAccess:
    def __init__(self, tasks: TaskCheck | None = None) -> None:
        self._tasks = tasks

    def allows(self, caller: Caller, document_id: str, facts: DocumentFacts, content: bool = False) -> bool:
        """May the caller see the document (`content`: open its bytes)?"""
        rule = may_open if content else may_see
        if rule(caller.reader, facts):
            return True
        if "approver" not in caller.reader.roles or self._tasks is None or not caller.token:
            return False
        if not self._tasks(document_id, caller.token):
            return False
        return rule(caller.reader, replace(facts, task_holders=facts.task_holders | {caller.reader.user}))

    def require(self, uow: IngestUnitOfWork, caller: Caller, document_id: str, content: bool = False) -> None:
        """NotFound unless the document exists and the caller may see it (`content`: open it)."""
        with uow:
            row = uow.documents.get(document_id)
            facts = facts_of(row) if row is not None else None
        if facts is None or not self.allows(caller, document_id, facts, content):
            raise NotFound("no such document")

    def may_see_row(self, caller: Caller, row: DocumentRow, with_history: bool = True) -> bool:
        return self.allows(caller, row.document_id, facts_of(row, with_history))

    def visible_rows(self, caller: Caller, rows: Iterable[DocumentRow], with_history: bool = True) -> list[DocumentRow]:
        """The rows the caller may see, in their order (a list's lines, an Akte's documents)."""
        return [row for row in rows if self.may_see_row(caller, row, with_history)]

    def row_filter(self, caller: Caller, with_history: bool = False) -> Callable[[DocumentRow], bool]:
        """Whether a row is to be shown to the caller (rows of lists are read without their histories)."""
        return lambda row: self.may_see_row(caller, row, with_history)

    @staticmethod
    def may_see_akte(caller: Caller, org_unit: str) -> bool:
        return may_see_akte(caller.reader, org_unit)

    @staticmethod
    def akten_scope(caller: Caller) -> frozenset[str] | None:
        """`may_see_akte` as a list's filter: the org units whose Akten the caller sees; None: all of them."""
        if may_see_akte(caller.reader, ""):
            return None
        return caller.reader.org_units

    def duplicate_visible(self, uow: IngestUnitOfWork, caller: Caller, document_id: str) -> bool:
        """The duplicate answer names the earlier document only to someone who may see it."""
        try:
            self.require(uow, caller, document_id)
        except NotFound:
            return False
        return True
