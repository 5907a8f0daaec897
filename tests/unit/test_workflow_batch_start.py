"""Starting workflows in batches on the real unit of work (SQLite): a batch is all or nothing, so a batch with an
event that is kept as a dead letter leaves no trace and is then taken one event at a time (shared.messaging)."""

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.workflow.bootstrap import Workflow, bootstrap
from services.workflow.clock import ControllableClock
from services.workflow.domain import (
    AssigneeSpec,
    Organisation,
    Registry,
    StepDefinition,
    StepType,
    WorkflowDefinition,
    WorkflowState,
)
from services.workflow.tables import TaskRow, WorkflowBase, WorkflowRow
from services.workflow.unit_of_work import WorkflowUnitOfWork
from shared import events
from shared.db import OutboxMessage, make_engine, make_sessions
from shared.unit_of_work import NotPlainEffect

DAYS_3, DAY_1 = timedelta(days=3), timedelta(days=1)
REGISTRY = Registry(
    definitions={
        "file": WorkflowDefinition("file", "Ablage", ()),
        "simple": WorkflowDefinition(
            "simple",
            "Einfach",
            (StepDefinition("Schlusszeichnung", StepType.SIGNOFF, (AssigneeSpec(role="approver"),), DAYS_3, DAY_1),),
        ),
    },
    default="simple",
)


@pytest.fixture
def workflow(tmp_path: Path) -> Workflow:
    sessions = make_sessions(make_engine(f"sqlite:///{tmp_path / 'workflow.db'}"), WorkflowBase)
    digests = {name: f"sha-{name}" for name in REGISTRY.definitions}
    return bootstrap(lambda: WorkflowUnitOfWork(sessions), ControllableClock(), REGISTRY, Organisation({}), digests)


def _ingested(workflow: str) -> events.DocumentIngested:
    return events.DocumentIngested(
        document_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        original=events.StoredObject(bucket="inbox", key="doc.pdf", size=3, sha256="0" * 64),
        metadata=events.DocumentMetadata(title="Bescheid"),
        workflow=workflow,
        submitted_by="clara",
        version=1,
    )


def _outbox_topics(workflow: Workflow) -> list[str]:
    uow = workflow.uow()
    assert isinstance(uow, WorkflowUnitOfWork)
    with uow:
        return sorted(uow.session.scalars(select(OutboxMessage.topic)))


def _count(workflow: Workflow, model: type[WorkflowRow] | type[TaskRow]) -> int:
    uow = workflow.uow()
    assert isinstance(uow, WorkflowUnitOfWork)
    with uow:
        return uow.session.scalar(select(func.count()).select_from(model)) or 0


def test_a_batch_starts_a_review_and_a_filing_together(workflow: Workflow) -> None:
    review, filing = _ingested("simple"), _ingested("file")
    workflow.starting.start_many(workflow.uow(), [review, filing])
    assert _count(workflow, WorkflowRow) == 2 and _count(workflow, TaskRow) == 1  # the task after its workflow
    with workflow.uow() as uow:
        filed = uow.workflows.get(str(filing.document_id))
        assert filed is not None and filed.state == WorkflowState.APPROVED.value
    assert _outbox_topics(workflow) == [events.DocumentApproved.TOPIC, events.ReviewStarted.TOPIC]


def test_a_batch_with_an_unknown_workflow_leaves_nothing_and_is_then_taken_event_by_event(workflow: Workflow) -> None:
    good, unknown = _ingested("file"), _ingested("nowhere-defined")
    with pytest.raises(NotPlainEffect):
        workflow.starting.start_many(workflow.uow(), [good, unknown])
    assert _count(workflow, WorkflowRow) == 0 and _outbox_topics(workflow) == []
    for event in (good, unknown):  # what the batch subscriber does next
        workflow.starting.start_many(workflow.uow(), [event])
    assert _count(workflow, WorkflowRow) == 1
    dead_letters = events.dead_letter_topic(events.DocumentIngested.TOPIC)
    assert _outbox_topics(workflow) == sorted([events.DocumentApproved.TOPIC, dead_letters])


def _new_version(first: events.DocumentIngested) -> events.DocumentIngested:
    return first.model_copy(update={"event_id": uuid.uuid4(), "version": 2})


def _trail(workflow: Workflow, event: events.DocumentIngested) -> tuple[bool, list[str]]:
    view = workflow.audit_log.view(workflow.uow(), str(event.document_id))
    return view.verified, [entry["action"] for entry in view.entries]


def test_a_batch_continues_the_audit_trail_of_a_document_started_earlier(workflow: Workflow) -> None:
    first = _ingested("simple")
    workflow.starting.start_many(workflow.uow(), [first])
    verified, before = _trail(workflow, first)
    assert verified and before[0] == "created"
    # Its second version (a restart: the tail is read from the database) beside a new document.
    workflow.starting.start_many(workflow.uow(), [_ingested("file"), _new_version(first)])
    verified, after = _trail(workflow, first)
    assert verified and after[: len(before)] == before and "restarted" in after[len(before) :]
    with workflow.uow() as uow:
        restarted = uow.workflows.get(str(first.document_id))
        assert restarted is not None and restarted.version == 2 and restarted.run == 2


def test_a_batch_with_a_new_document_and_its_next_version_opens_it_once_and_restarts_it(workflow: Workflow) -> None:
    first = _ingested("simple")
    workflow.starting.start_many(workflow.uow(), [first, _new_version(first)])
    assert _count(workflow, WorkflowRow) == 1
    verified, actions = _trail(workflow, first)
    assert verified and actions[0] == "created" and "restarted" in actions
