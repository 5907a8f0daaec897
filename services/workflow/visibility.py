"""Need-to-know in the workflow: the one place that decides whether a caller may see a document's traces.

Every route that shows something of a document (its workflow state, audit trail, tasks, resubmissions) asks
`Visibility.check`; what the caller may not see answers `404 not_found` (`WorkflowNotFound` / `TaskNotFound`),
exactly as if it did not exist. The rule itself is `shared.need_to_know.may_see`; this module gathers the facts
the workflow knows:

- org unit and confidentiality: from the document metadata of `documents.ingested` (older rows: none);
- submitters: whoever uploaded any version;
- task holders: whoever has or had a task on it (`domain.holds_task`: named on a task, reached by an open one,
  or standing in today for an absent person who is);
- archived: the workflow does not learn of archiving; a finished workflow (approved or rejected) counts as
  archived for the records office.
"""

from typing import Any

from services.workflow.absences import Absences
from services.workflow.audit_log import AuditView
from services.workflow.context import WorkflowContext
from services.workflow.domain import WorkflowState, holds_task
from services.workflow.rows import WorkflowNotFound, submitters_of, trace_of
from services.workflow.tables import WorkflowRow
from services.workflow.unit_of_work import AbstractWorkflowUnitOfWork
from services.workflow.views import state_of
from shared.need_to_know import DocumentFacts, Reader, may_see

FINISHED = frozenset({WorkflowState.APPROVED.value, WorkflowState.REJECTED.value})


class Visibility:
    def __init__(self, context: WorkflowContext, absences: Absences) -> None:
        self._context = context
        self._absences = absences

    def facts(self, uow: AbstractWorkflowUnitOfWork, reader: Reader, workflow: WorkflowRow) -> DocumentFacts:
        """What decides whether `reader` may see the document (inside an open unit of work).

        Task holders are asked for the reader only (`{reader.user}` or none): cheap, one query for the tasks.
        """
        metadata = workflow.document_metadata or {}
        return DocumentFacts(
            org_unit=str(metadata.get("org_unit") or ""),
            submitters=frozenset(submitters_of(workflow)),
            task_holders=frozenset((reader.user,)) if self._holds_task(uow, reader, workflow) else frozenset(),
            archived=workflow.state in FINISHED,
            confidential=bool(metadata.get("confidential")),
        )

    def sees(self, uow: AbstractWorkflowUnitOfWork, reader: Reader, workflow: WorkflowRow) -> bool:
        if "admin" in reader.roles or reader.user in submitters_of(workflow):
            return True  # no need to look at the tasks
        return may_see(reader, self.facts(uow, reader, workflow))

    def check(self, uow: AbstractWorkflowUnitOfWork, reader: Reader, document_id: str) -> WorkflowRow:
        """The document's workflow if `reader` may see it; `WorkflowNotFound` otherwise (inside a unit of work)."""
        workflow = uow.workflows.get(document_id)
        if workflow is None or not self.sees(uow, reader, workflow):
            raise WorkflowNotFound()
        return workflow

    # --- the reads that show a document's traces ---------------------------------------------------------
    def state(self, uow: AbstractWorkflowUnitOfWork, reader: Reader, document_id: str) -> dict[str, Any]:
        """The workflow's state (`views.state_of`) if the reader may see the document."""
        with uow:
            return state_of(uow, self.check(uow, reader, document_id))

    def audit(self, uow: AbstractWorkflowUnitOfWork, reader: Reader, document_id: str) -> AuditView:
        """The audit trail with its chain check if the reader may see the document."""
        with uow:
            self.check(uow, reader, document_id)
            return self._context.audit.trail(uow, document_id)

    def _holds_task(self, uow: AbstractWorkflowUnitOfWork, reader: Reader, workflow: WorkflowRow) -> bool:
        me = self._context.actor(reader.user, reader.roles)
        absentees = self._absences.absentees(uow, reader.user)
        return holds_task(me, absentees, (trace_of(t) for t in uow.workflows.tasks_of(workflow.document_id)))
