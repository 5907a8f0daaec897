"""The workflow's service layer on a fake unit of work: starting, deciding, four-eyes, slots, claims, deputies,
the inbox, the clock's work and purging. No Kafka, MinIO or database."""

import uuid
from datetime import timedelta

import pytest

from services.workflow.bootstrap import Workflow
from services.workflow.clock import ControllableClock
from services.workflow.domain import (
    AssigneeSpec,
    CompletionMode,
    Decision,
    DecisionRefused,
    Organisation,
    OrgUnit,
    Registry,
    StepDefinition,
    StepType,
    WorkflowDefinition,
    WorkflowState,
)
from services.workflow.purge import purge_document
from services.workflow.rows import TaskNotFound
from services.workflow.views import workflow_state
from shared import events
from shared.need_to_know import Reader
from tests.unit.fakes_workflow import FakeWorkflowUnitOfWork, build_workflow

ORG = Organisation(
    {
        "10": OrgUnit("10", "Hauptamt", "hanna", frozenset({"henrik"})),
        "50": OrgUnit("50", "Sozialamt", "sabine", frozenset({"anton", "berta"}), parent="10"),
    }
)
APPROVER = frozenset({"approver"})
DAYS_3, DAY_1 = timedelta(days=3), timedelta(days=1)


def _signoff(assignee: AssigneeSpec) -> StepDefinition:
    return StepDefinition("Schlusszeichnung", StepType.SIGNOFF, (assignee,), DAYS_3, DAY_1)


REGISTRY = Registry(
    definitions={
        "simple": WorkflowDefinition("simple", "Einfach", (_signoff(AssigneeSpec(role="approver")),)),
        "review": WorkflowDefinition(
            "review",
            "Mitzeichnung und Schlusszeichnung",
            (
                StepDefinition(
                    "Mitzeichnung",
                    StepType.COSIGN,
                    tuple(AssigneeSpec(role="approver") for _ in range(3)),
                    DAYS_3,
                    DAY_1,
                    mode=CompletionMode.QUORUM,
                    quorum=2,
                ),
                _signoff(AssigneeSpec(user="sabine")),
            ),
        ),
        "unit": WorkflowDefinition("unit", "Sachgebiet", (_signoff(AssigneeSpec(org_unit="50", members=True)),)),
        "boss": WorkflowDefinition("boss", "Amtsleitung", (_signoff(AssigneeSpec(org_unit="50")),)),
        "file": WorkflowDefinition("file", "Ablage", ()),
    },
    default="simple",
)


@pytest.fixture
def uow() -> FakeWorkflowUnitOfWork:
    return FakeWorkflowUnitOfWork()


@pytest.fixture
def built(uow: FakeWorkflowUnitOfWork) -> tuple[Workflow, ControllableClock]:
    return build_workflow(uow, REGISTRY, ORG)


@pytest.fixture
def wf(built: tuple[Workflow, ControllableClock]) -> Workflow:
    return built[0]


def _ingested(workflow: str = "simple", by: str = "clara", version: int = 1, document_id: uuid.UUID | None = None):
    return events.DocumentIngested(
        document_id=document_id or uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        original=events.StoredObject(bucket="inbox", key=f"doc-v{version}.pdf", size=3, sha256=f"{version:064d}"),
        metadata=events.DocumentMetadata(title="Bescheid", aktenzeichen="50.1/2026"),
        workflow=workflow,
        submitted_by=by,
        version=version,
    )


def _start(wf: Workflow, workflow: str = "simple", by: str = "clara") -> str:
    event = _ingested(workflow, by)
    wf.starting.start(wf.uow(), event)
    return str(event.document_id)


def _open_tasks(uow: FakeWorkflowUnitOfWork, document_id: str) -> list:
    return uow.workflows.open_tasks_of(document_id)


def _events(uow: FakeWorkflowUnitOfWork, kind: type) -> list:
    return [e for e in uow.events if isinstance(e, kind)]


def _decide(wf: Workflow, task_id: str, user: str, decision: Decision = Decision.APPROVE, comment: str = ""):
    return wf.tasks.decide(wf.uow(), task_id, user, APPROVER, decision, comment)


def _refusal(action) -> str:
    with pytest.raises(DecisionRefused) as refused:
        action()
    return refused.value.code


# --- starting -------------------------------------------------------------------------------------------


def test_a_new_document_is_in_review_with_a_task_for_step_one_and_an_audit_entry(wf, uow) -> None:
    document_id = _start(wf, "review")
    workflow = uow.workflows.get(document_id)
    assert workflow.state == WorkflowState.IN_REVIEW.value and workflow.current_step == 1
    tasks = _open_tasks(uow, document_id)
    assert [(t.step, t.assignee_kind, t.assignee) for t in tasks] == [(1, "role", "approver")] * 3
    assert uow.audit.actions(document_id) == ["created", "assigned", "assigned", "assigned"]
    assert [e.step for e in _events(uow, events.ReviewStarted)] == [1]


def test_a_redelivered_documents_ingested_opens_one_workflow(wf, uow) -> None:
    event = _ingested("simple")
    wf.starting.start(wf.uow(), event)
    wf.starting.start(wf.uow(), event)
    assert len(uow.workflows.rows) == 1
    assert len(_open_tasks(uow, str(event.document_id))) == 1
    assert len(_events(uow, events.ReviewStarted)) == 1
    assert ("workflow", event.event_id) in uow.processed


def test_an_unknown_workflow_goes_to_the_dead_letter_topic(wf, uow) -> None:
    event = _ingested("no-such-workflow")
    wf.starting.start(wf.uow(), event)
    assert uow.workflows.rows == {}
    [letter] = uow.dead_letters
    assert letter.consumer == "workflow" and letter.document_id == str(event.document_id)
    assert "unknown workflow 'no-such-workflow'" in letter.reason


def test_a_dead_lettered_event_replayed_after_the_fix_opens_its_workflow_once(wf, uow) -> None:
    event = _ingested("no-such-workflow")
    wf.starting.start(wf.uow(), event)
    assert ("workflow", event.event_id) not in uow.processed  # kept for IT to replay, not done
    wf.starting.registry.definitions["no-such-workflow"] = wf.starting.registry.definitions["simple"]  # deployed
    wf.starting.start(wf.uow(), event)  # `eakte dlq replay`
    wf.starting.start(wf.uow(), event)  # replayed twice
    assert len(uow.workflows.rows) == 1 and len(uow.dead_letters) == 1
    assert len(_events(uow, events.ReviewStarted)) == 1


def test_a_batch_of_new_documents_is_started_in_one_transaction_each_event_once(wf, uow) -> None:
    review, filing = _ingested("simple"), _ingested("file")
    committed = uow.committed
    wf.starting.start_many(wf.uow(), [review, filing, review])  # the third: a redelivery within the batch
    assert uow.committed == committed + 1
    assert len(_open_tasks(uow, str(review.document_id))) == 1
    assert uow.workflows.get(str(filing.document_id)).state == WorkflowState.APPROVED.value
    assert {("workflow", review.event_id), ("workflow", filing.event_id)} <= set(uow.processed)
    wf.starting.start_many(wf.uow(), [review, filing])  # the whole batch again
    assert len(uow.workflows.rows) == 2 and len(_events(uow, events.ReviewStarted)) == 1


def test_filing_without_review_is_approved_at_once_by_the_system(wf, uow) -> None:
    document_id = _start(wf, "file")
    assert uow.workflows.get(document_id).state == WorkflowState.APPROVED.value
    [approved] = _events(uow, events.DocumentApproved)
    assert approved.decisions[0].decided_by == "system"


# --- decisions ------------------------------------------------------------------------------------------


def test_a_new_version_after_a_return_restarts_at_step_one(wf, uow) -> None:
    document_id = _start(wf, "review")
    _decide(wf, _open_tasks(uow, document_id)[0].task_id, "anton", Decision.RETURN, "Bitte Anlage ergänzen")
    wf.starting.start(wf.uow(), _ingested("review", version=2, document_id=uuid.UUID(document_id)))
    workflow = uow.workflows.get(document_id)
    assert (workflow.state, workflow.version, workflow.run, workflow.current_step) == ("in_review", 2, 2, 1)
    assert {(t.run, t.step) for t in _open_tasks(uow, document_id)} == {(2, 1)}
    assert "restarted" in uow.audit.actions(document_id)


def test_approving_the_last_step_announces_document_approved(wf, uow) -> None:
    document_id = _start(wf, "simple")
    result = _decide(wf, _open_tasks(uow, document_id)[0].task_id, "anton")
    assert result.workflow_state is WorkflowState.APPROVED
    [approved] = _events(uow, events.DocumentApproved)
    assert [d.decided_by for d in approved.decisions] == ["anton"]
    assert approved.audit and approved.audit[-1]["action"] == "approved"


def test_a_rejection_announces_document_rejected(wf, uow) -> None:
    document_id = _start(wf, "simple")
    result = _decide(wf, _open_tasks(uow, document_id)[0].task_id, "anton", Decision.REJECT, "unvollständig")
    assert result.workflow_state is WorkflowState.REJECTED
    [rejected] = _events(uow, events.DocumentRejected)
    assert rejected.reason == "unvollständig"


def test_a_return_without_comment_is_refused_with_one_it_announces_document_returned(wf, uow) -> None:
    document_id = _start(wf, "simple")
    task_id = _open_tasks(uow, document_id)[0].task_id
    assert _refusal(lambda: _decide(wf, task_id, "anton", Decision.RETURN, "  ")) == "reason_required"
    assert _events(uow, events.DocumentReturned) == []
    result = _decide(wf, task_id, "anton", Decision.RETURN, "Bitte überarbeiten")
    assert result.workflow_state is WorkflowState.RETURNED
    [returned] = _events(uow, events.DocumentReturned)
    assert (returned.returned_by, returned.submitted_by, returned.comment) == ("anton", "clara", "Bitte überarbeiten")


def test_four_eyes_the_submitter_may_not_decide(wf, uow) -> None:
    document_id = _start(wf, "simple", by="clara")
    task_id = _open_tasks(uow, document_id)[0].task_id
    assert _refusal(lambda: _decide(wf, task_id, "clara")) == "four_eyes"
    assert uow.workflows.tasks[task_id].state == "open"


def test_a_cosign_quorum_step_completes_only_at_n_approvals(wf, uow) -> None:
    document_id = _start(wf, "review")
    first, second, _third = _open_tasks(uow, document_id)
    assert _decide(wf, first.task_id, "anton").workflow_state is WorkflowState.IN_REVIEW
    assert uow.workflows.get(document_id).current_step == 1
    _decide(wf, second.task_id, "berta")
    assert uow.workflows.get(document_id).current_step == 2
    assert [(t.step, t.assignee) for t in _open_tasks(uow, document_id)] == [(2, "sabine")]
    assert "step_completed" in uow.audit.actions(document_id)


def test_one_person_holds_one_slot_of_a_step(wf, uow) -> None:
    document_id = _start(wf, "review")
    first, second, _third = _open_tasks(uow, document_id)
    _decide(wf, first.task_id, "anton")
    assert _refusal(lambda: _decide(wf, second.task_id, "anton")) == "already_signed"
    assert wf.tasks.open_tasks(wf.uow(), "anton", APPROVER) == []


def test_a_group_task_is_claimed_once(wf, uow) -> None:
    document_id = _start(wf, "unit")
    task_id = _open_tasks(uow, document_id)[0].task_id
    assert _refusal(lambda: wf.tasks.claim(wf.uow(), task_id, "clara", APPROVER)) == "four_eyes"
    view = wf.tasks.claim(wf.uow(), task_id, "anton", APPROVER)
    assert view.claimed_by == "anton"
    assert _refusal(lambda: wf.tasks.claim(wf.uow(), task_id, "berta", APPROVER)) == "claimed"
    assert wf.tasks.open_tasks(wf.uow(), "berta", APPROVER) == []
    assert "claimed" in uow.audit.actions(document_id)


def test_a_deputy_decides_on_behalf_of_the_absent_assignee(wf, uow) -> None:
    document_id = _start(wf, "boss")
    task_id = _open_tasks(uow, document_id)[0].task_id
    with pytest.raises(TaskNotFound):  # not his task: he may not even see the document (need-to-know)
        _decide(wf, task_id, "henrik")
    today = wf.context.today()
    wf.absences.record(wf.uow(), "sabine", APPROVER, "henrik", today, today + timedelta(days=2))
    assert wf.scheduler.tick(wf.uow()) == 1  # the delegation, recorded once
    assert "delegated" in uow.audit.actions(document_id)
    [entry] = wf.tasks.open_tasks(wf.uow(), "henrik", frozenset())
    assert entry.on_behalf_of == "sabine"
    result = _decide(wf, task_id, "henrik")
    assert (result.workflow_state, result.on_behalf_of) == (WorkflowState.APPROVED, "sabine")
    [approved] = _events(uow, events.DocumentApproved)
    assert approved.decisions[0].on_behalf_of == "sabine"


def test_the_inbox_shows_what_reaches_the_user_and_not_their_own_documents(wf, uow) -> None:
    own = _start(wf, "simple", by="anton")
    other = _start(wf, "simple", by="clara")
    unit = _start(wf, "unit", by="clara")
    boss = _start(wf, "boss", by="clara")
    inbox = {t.document_id for t in wf.tasks.open_tasks(wf.uow(), "anton", APPROVER)}
    assert inbox == {other, unit}  # not his own document, not sabine's personal task
    assert own not in inbox and boss not in inbox
    assert {t.document_id for t in wf.tasks.open_tasks(wf.uow(), "anton", frozenset())} == {unit}


# --- the clock, resubmissions, purge --------------------------------------------------------------------


def test_an_overdue_task_is_reminded_then_escalated_to_the_unit_head(built, uow) -> None:
    wf, clock = built
    document_id = _start(wf, "boss", by="clara")
    clock.advance(timedelta(days=2, hours=1).total_seconds())
    assert wf.scheduler.tick(wf.uow()) == 1
    clock.advance(timedelta(days=1).total_seconds())
    assert wf.scheduler.tick(wf.uow()) == 1
    [escalated] = _events(uow, events.TaskEscalated)
    assert escalated.escalated_to_user == "hanna"  # sabine is the one late: the parent unit's head
    assert {t.document_id for t in wf.tasks.open_tasks(wf.uow(), "hanna", frozenset())} == {document_id}
    assert wf.scheduler.tick(wf.uow()) == 0


def test_a_resubmission_comes_due_and_shows_in_the_inbox(built, uow) -> None:
    wf, clock = built
    document_id = _start(wf, "simple")
    anton = Reader("anton", APPROVER)
    view = wf.resubmissions.add(wf.uow(), anton, document_id, wf.context.today() + timedelta(days=1), "Frist")
    assert (view.due, view.done) == (False, False)
    clock.advance(timedelta(days=1).total_seconds())
    assert wf.scheduler.tick(wf.uow()) == 1
    [due] = _events(uow, events.ResubmissionDue)
    assert due.resubmission_id == view.resubmission_id
    kinds = [t.kind for t in wf.tasks.open_tasks(wf.uow(), "anton", APPROVER)]
    assert kinds == ["approval", "resubmission"]
    done = wf.resubmissions.finish(wf.uow(), anton, view.resubmission_id)
    assert (done.due, done.done) == (True, True)


def test_a_destroyed_document_is_purged_once(wf, uow) -> None:
    document_id = _start(wf, "simple")
    destroyed = events.DocumentDestroyed(
        document_id=uuid.UUID(document_id),
        correlation_id=uuid.uuid4(),
        rule="10 Jahre",
        deleted_at=wf.context.clock.now(),
    )
    purge_document(wf.uow(), destroyed)
    purge_document(wf.uow(), destroyed)
    assert uow.workflows.rows == {} and uow.workflows.tasks == {} and uow.audit.entries(document_id) == []
    assert uow.processed[("workflow.purge", destroyed.event_id)] == "purged"


def test_the_state_view_lists_steps_and_the_audit_chain_verifies(wf, uow) -> None:
    document_id = _start(wf, "review")
    state = workflow_state(wf.uow(), document_id)
    assert [s["state"] for s in state["steps"]] == ["open", "pending"]
    assert len(state["open"]) == 3
    assert wf.audit_log.view(wf.uow(), document_id).verified
