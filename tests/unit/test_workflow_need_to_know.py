"""Need-to-know in the workflow's service layer, on the fake unit of work: who may see a document's workflow
state, audit trail, tasks and resubmissions (everyone else: not found), and whose absences one sees."""

import uuid
from datetime import timedelta

import pytest

from services.workflow.bootstrap import Workflow
from services.workflow.clock import ControllableClock
from services.workflow.domain import (
    AssigneeSpec,
    Decision,
    Organisation,
    OrgUnit,
    Registry,
    StepDefinition,
    StepType,
    WorkflowDefinition,
)
from services.workflow.rows import TaskNotFound, WorkflowNotFound
from shared import events
from shared.need_to_know import Reader
from tests.unit.fakes_workflow import FakeWorkflowUnitOfWork, build_workflow

ORG = Organisation({"50": OrgUnit("50", "Sozialamt", "sabine", frozenset({"anton", "berta"}))})
APPROVER = frozenset({"approver"})
DAYS_3, DAY_1 = timedelta(days=3), timedelta(days=1)


def _signoff(assignee: AssigneeSpec) -> StepDefinition:
    return StepDefinition("Schlusszeichnung", StepType.SIGNOFF, (assignee,), DAYS_3, DAY_1)


REGISTRY = Registry(
    definitions={
        "role": WorkflowDefinition("role", "Rolle", (_signoff(AssigneeSpec(role="approver")),)),
        "sabine": WorkflowDefinition("sabine", "Amtsleitung", (_signoff(AssigneeSpec(user="sabine")),)),
    },
    default="role",
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


def _start(wf: Workflow, workflow: str, org_unit: str = "50", by: str = "clara") -> str:
    event = events.DocumentIngested(
        document_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        original=events.StoredObject(bucket="inbox", key="doc.pdf", size=3, sha256="0" * 64),
        metadata=events.DocumentMetadata(title="Bescheid", aktenzeichen="50.1/2026", org_unit=org_unit),
        workflow=workflow,
        submitted_by=by,
    )
    wf.starting.start(wf.uow(), event)
    return str(event.document_id)


def _sees(wf: Workflow, reader: Reader, document_id: str) -> bool:
    """State and audit trail answer alike: both or neither."""
    try:
        state = wf.visibility.state(wf.uow(), reader, document_id)
    except WorkflowNotFound:
        with pytest.raises(WorkflowNotFound):
            wf.visibility.audit(wf.uow(), reader, document_id)
        return False
    assert state["document_id"] == document_id
    assert wf.visibility.audit(wf.uow(), reader, document_id).entries
    return True


def _reader(user: str, *roles: str, units: tuple[str, ...] = ()) -> Reader:
    return Reader(user, frozenset(roles), frozenset(units))


def test_submitter_clerks_of_the_unit_and_admins_see_clerks_elsewhere_do_not(wf) -> None:
    document_id = _start(wf, "sabine", org_unit="50")
    assert _sees(wf, _reader("clara", "clerk"), document_id)  # the submitter, whatever her units
    assert _sees(wf, _reader("carl", "clerk", units=("50",)), document_id)
    assert not _sees(wf, _reader("kira", "clerk", units=("20",)), document_id)
    assert not _sees(wf, _reader("nobody", "clerk"), document_id)
    assert _sees(wf, _reader("adam", "admin"), document_id)


def test_a_document_without_an_org_unit_is_no_clerks_but_its_submitters(wf) -> None:
    document_id = _start(wf, "sabine", org_unit="")
    assert not _sees(wf, _reader("carl", "clerk", units=("50",)), document_id)
    assert _sees(wf, _reader("clara", "clerk"), document_id)


def test_approvers_see_what_reaches_them_and_what_they_decided_not_other_documents(wf, uow) -> None:
    document_id = _start(wf, "sabine")
    assert _sees(wf, _reader("sabine", "approver"), document_id)  # assigned in person
    assert not _sees(wf, _reader("anton", "approver"), document_id)  # an approver with no task on it
    by_role = _start(wf, "role")
    assert _sees(wf, _reader("anton", "approver"), by_role)  # offered to his role: in his inbox
    [task] = uow.workflows.open_tasks_of(by_role)
    wf.tasks.decide(wf.uow(), task.task_id, "berta", APPROVER, Decision.APPROVE, "")
    assert _sees(wf, _reader("berta", "approver"), by_role)  # decided it: had a task
    assert _sees(wf, _reader("anton", "approver"), by_role)  # it was offered to him too: he had it
    assert not _sees(wf, _reader("anton", "clerk"), by_role)  # not as a clerk of another unit


def test_a_deputy_sees_the_absent_assignees_document_while_standing_in(built, uow) -> None:
    wf, clock = built
    document_id = _start(wf, "sabine")
    henrik = _reader("henrik", "approver")
    assert not _sees(wf, henrik, document_id)
    today = wf.context.today()
    wf.absences.record(wf.uow(), "sabine", APPROVER, "henrik", today, today)
    assert _sees(wf, henrik, document_id)
    clock.advance(timedelta(days=1).total_seconds())
    assert not _sees(wf, henrik, document_id)  # the absence is over and he never acted on it


def test_the_records_office_sees_a_document_once_its_workflow_is_finished(wf, uow) -> None:
    document_id = _start(wf, "sabine")
    rita = _reader("rita", "records_officer")
    assert not _sees(wf, rita, document_id)
    [task] = uow.workflows.open_tasks_of(document_id)
    wf.tasks.decide(wf.uow(), task.task_id, "sabine", APPROVER, Decision.APPROVE, "")
    assert _sees(wf, rita, document_id)


def test_claims_and_decisions_on_a_document_one_may_not_see_are_not_found(wf, uow) -> None:
    document_id = _start(wf, "sabine")
    [task] = uow.workflows.open_tasks_of(document_id)
    for act in (
        lambda: wf.tasks.claim(wf.uow(), task.task_id, "anton", APPROVER),
        lambda: wf.tasks.decide(wf.uow(), task.task_id, "anton", APPROVER, Decision.APPROVE, ""),
    ):
        with pytest.raises(TaskNotFound):
            act()
    assert uow.workflows.tasks[task.task_id].state == "open"


def test_resubmissions_only_on_documents_one_may_see(wf, uow) -> None:
    document_id = _start(wf, "sabine")
    on = wf.context.today() + timedelta(days=1)
    stranger = _reader("kira", "clerk", units=("20",))
    with pytest.raises(WorkflowNotFound):
        wf.resubmissions.add(wf.uow(), stranger, document_id, on, "Frist")
    assert "resubmission_set" not in uow.audit.actions(document_id)  # nothing written into its trail
    member = _reader("carl", "clerk", units=("50",))
    view = wf.resubmissions.add(wf.uow(), member, document_id, on, "Frist")
    assert [r.resubmission_id for r in wf.resubmissions.of(wf.uow(), member)] == [view.resubmission_id]
    moved = _reader("carl", "clerk", units=("20",))  # moved to another unit: his old resubmission is gone
    assert wf.resubmissions.of(wf.uow(), moved) == []
    with pytest.raises(TaskNotFound):
        wf.resubmissions.finish(wf.uow(), moved, view.resubmission_id)
    with pytest.raises(TaskNotFound):
        wf.resubmissions.finish(wf.uow(), _reader("adam", "admin"), view.resubmission_id)  # not his
    assert wf.resubmissions.finish(wf.uow(), member, view.resubmission_id).done


def test_absences_are_their_peoples_own_and_admins_see_all(wf) -> None:
    today = wf.context.today()
    wf.absences.record(wf.uow(), "sabine", APPROVER, "henrik", today, today)
    wf.absences.record(wf.uow(), "konrad", APPROVER, "karl", today, today)
    assert [a.user for a in wf.absences.of(wf.uow(), "henrik", APPROVER)] == ["sabine"]  # as deputy
    assert wf.absences.of(wf.uow(), "anton", APPROVER) == []
    assert sorted(a.user for a in wf.absences.of(wf.uow(), "adam", frozenset({"admin"}))) == ["konrad", "sabine"]
