"""Starting a document's approval: a new document opens a workflow, a new version after a return restarts it."""

import logging

from services.workflow.context import WorkflowContext
from services.workflow.definitions import definition_to_json
from services.workflow.domain import OPEN_STATES, Registry, WorkflowState
from services.workflow.rows import submitters_of
from services.workflow.runs import Runs
from services.workflow.tables import DefinitionVersionRow, WorkflowRow
from services.workflow.unit_of_work import AbstractWorkflowUnitOfWork
from shared import events
from shared.tracing import traceparent_of_event
from shared.unit_of_work import consume_many, consume_once

log = logging.getLogger(__name__)

# The processed-event consumer of `documents.ingested` (and its consumer group).
CONSUMER = "workflow"


class Starting:
    def __init__(self, context: WorkflowContext, runs: Runs, registry: Registry, versions: dict[str, int]) -> None:
        self._context = context
        self._runs = runs
        self.registry = registry
        self.versions = versions

    def start(self, uow: AbstractWorkflowUnitOfWork, event: events.DocumentIngested) -> None:
        """Open the approval for a new document (or restart it for a new version), once per event."""
        consume_once(uow, CONSUMER, event.event_id, lambda u: self._apply(u, event))

    def start_many(self, uow: AbstractWorkflowUnitOfWork, ingested: list[events.DocumentIngested]) -> None:
        """`start` for a batch of events in one transaction, in order; all or nothing (`consume_many`: a batch
        that fails or keeps an event as a dead letter is then taken one event at a time)."""
        consume_many(uow, CONSUMER, [(event.event_id, event) for event in ingested], self._apply_many)

    def _apply_many(self, uow: AbstractWorkflowUnitOfWork, ingested: list[events.DocumentIngested]) -> None:
        """Mostly new documents: which of them have a workflow, and their audit chains' tails, are read once for the
        batch, and a new document's workflow is opened without a lock attempt (locking finds no row to lock; it
        cost a statement per document, and made each document's rows be written on their own)."""
        document_ids = [str(event.document_id) for event in ingested]
        existing = uow.workflows.existing(document_ids)
        uow.audit.read_tails(document_ids)
        for event in ingested:
            document_id = str(event.document_id)
            if document_id in existing:
                self._apply(uow, event)
            else:
                existing.add(document_id)  # a later version in the same batch finds it
                self._open(uow, event)

    def _apply(self, uow: AbstractWorkflowUnitOfWork, event: events.DocumentIngested) -> None:
        workflow = uow.workflows.lock(str(event.document_id))
        if workflow is None:
            self._open(uow, event)
        elif event.version > workflow.version and WorkflowState(workflow.state) in OPEN_STATES:
            self._restart(uow, workflow, event)
        else:
            log.info("documents.ingested for %s v%d: nothing to do", event.document_id, event.version)

    def _open(self, uow: AbstractWorkflowUnitOfWork, event: events.DocumentIngested) -> None:
        meta = event.metadata
        definition = self.registry.select(event.workflow, meta.document_type, meta.file_plan_class)
        if definition is None:
            # Not ours to guess: the event is kept, with the reason, for IT to inspect and replay.
            uow.add_dead_letter(
                events.DeadLetter.of(
                    source_topic=events.DocumentIngested.TOPIC,
                    consumer=CONSUMER,
                    reason=f"unknown workflow {event.workflow!r}; known: {sorted(self.registry.definitions)}",
                    payload=event.model_dump_json().encode(),
                    document_id=str(event.document_id),
                )
            )
            return
        workflow = WorkflowRow(
            document_id=str(event.document_id),
            correlation_id=str(event.correlation_id),
            definition=definition.name,
            definition_version=self.versions[definition.name],
            definition_snapshot=definition_to_json(definition),
            requested_workflow=event.workflow,
            state=WorkflowState.IN_REVIEW.value,
            submitted_by=event.submitted_by,
            submitters=[event.submitted_by],
            version=event.version,
            run=1,
            current_step=0,
            revision=0,
            created_at=self._context.clock.now(),
        )
        _take_document(workflow, event)
        uow.workflows.add(workflow)
        created = {
            "definition": definition.name,
            "definition_version": workflow.definition_version,
            "requested_workflow": event.workflow,
            "version": event.version,
            "sha256": event.original.sha256,
        }
        self._context.audit.append(uow, workflow.document_id, "created", event.submitted_by, None, created)
        self._runs.begin(uow, workflow)

    def _restart(self, uow: AbstractWorkflowUnitOfWork, workflow: WorkflowRow, event: events.DocumentIngested) -> None:
        """A new version after a return for revision: same document, version + 1, back to step one."""
        self._runs.cancel_open_tasks(uow, workflow, reason="new version")
        workflow.version = event.version
        if event.submitted_by not in submitters_of(workflow):
            workflow.submitters = [*submitters_of(workflow), event.submitted_by]
        _take_document(workflow, event)
        workflow.run += 1
        workflow.state = WorkflowState.IN_REVIEW.value
        restarted = {"version": event.version, "run": workflow.run, "sha256": event.original.sha256}
        self._context.audit.append(uow, workflow.document_id, "restarted", event.submitted_by, None, restarted)
        self._runs.begin(uow, workflow)


def _take_document(workflow: WorkflowRow, event: events.DocumentIngested) -> None:
    """What the archive will need of the version under review."""
    workflow.original = event.original.model_dump(mode="json")
    workflow.rendition = event.rendition.model_dump(mode="json") if event.rendition else None
    workflow.ocr = event.ocr.model_dump(mode="json") if event.ocr else None
    workflow.document_metadata = event.metadata.model_dump(mode="json")
    workflow.traceparent = traceparent_of_event(str(event.event_id))  # the run's events continue the upload's trace


def register_versions(uow: AbstractWorkflowUnitOfWork, registry: Registry, digests: dict[str, str]) -> dict[str, int]:
    """Give each loaded definition its version number: unchanged files keep theirs, changed ones get n + 1."""
    versions: dict[str, int] = {}
    with uow:
        for name, definition in registry.definitions.items():
            latest = uow.definition_versions.latest(name)
            if latest is not None and latest.sha256 == digests[name]:
                versions[name] = latest.version
                continue
            version = (latest.version + 1) if latest else 1
            body = definition_to_json(definition)
            uow.definition_versions.add(
                DefinitionVersionRow(name=name, version=version, sha256=digests[name], body=body)
            )
            versions[name] = version
    return versions
