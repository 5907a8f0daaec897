"""Workflow use cases at the task: the inbox, claims and decisions.

Every change first locks the document's workflow (`uow.workflows.lock_task`); state change, audit entries and
outgoing events are one transaction (the `with uow:` block, transactional outbox). Who may act is the domain's
judgement (`domain.access`); what a decision does is `domain.steps.outcome_of`.
"""

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.workflow.absences import Absences
from services.workflow.context import SYSTEM_USER, WorkflowContext
from services.workflow.domain import (
    STATE_AFTER,
    Access,
    Actor,
    Decision,
    Outcome,
    TaskState,
    WorkflowState,
    check_access,
    check_claim,
    check_decision,
    check_not_submitter,
    check_one_slot,
    check_open,
    check_unclaimed,
    inbox_access,
    outcome_of,
    reach_keys,
    slot_holders,
)
from services.workflow.domain.inbox import InboxPage, InboxQuery, inbox_page
from services.workflow.resubmissions import Resubmissions
from services.workflow.rows import TaskNotFound, definition_of, offer_of, slot_of, submitters_of
from services.workflow.runs import Runs
from services.workflow.tables import TaskRow, WorkflowRow
from services.workflow.unit_of_work import AbstractWorkflowUnitOfWork
from services.workflow.views import TaskView, task_view
from services.workflow.visibility import Visibility
from shared import events
from shared.errors import Refused
from shared.need_to_know import Reader


@dataclass(frozen=True)
class DecisionResult:
    workflow_state: WorkflowState
    on_behalf_of: str | None = None


@dataclass(frozen=True)
class BulkOutcome:
    """One task of a decision on several: decided (`error` empty) or refused with the API's code and reason."""

    task_id: str
    workflow_state: str = ""
    on_behalf_of: str | None = None
    error: str = ""
    reason: str = ""


class WorkflowService:
    def __init__(
        self,
        context: WorkflowContext,
        runs: Runs,
        absences: Absences,
        resubmissions: Resubmissions,
        visibility: Visibility,
    ) -> None:
        self.context = context
        self._runs = runs
        self._absences = absences
        self._resubmissions = resubmissions
        self._visibility = visibility

    # --- inbox ---------------------------------------------------------------------------------------
    def open_tasks(self, uow: AbstractWorkflowUnitOfWork, user: str, roles: frozenset[str]) -> list[TaskView]:
        """The caller's inbox: direct, through role or org unit, escalated, as deputy; plus due resubmissions."""
        me = self.context.actor(user, roles)
        with uow:
            absentees = self._absences.absentees(uow, user)
            candidates = uow.workflows.open_tasks_reaching(reach_keys(me, absentees))
            holders = _holders_by_step(uow, {task.document_id for task, _ in candidates})
            views = []
            for task, workflow in candidates:
                held = holders.get((task.document_id, task.run, task.step), {})
                access = inbox_access(me, absentees, offer_of(task), submitters_of(workflow), held, task.task_id)
                if access is not None:
                    views.append(task_view(task, workflow, access.on_behalf_of))
            views.extend(self._resubmissions.due_for(uow, user))
            return views

    # --- claim and decide ----------------------------------------------------------------------------
    def claim(
        self,
        uow: AbstractWorkflowUnitOfWork,
        task_id: str,
        user: str,
        roles: frozenset[str],
        org_units: frozenset[str] = frozenset(),
    ) -> TaskView:
        """Take a task offered to a group (role or org unit) into one's own inbox."""
        me = self.context.actor(user, roles)
        with uow:
            task, workflow = self._lock_open_task(uow, task_id, Reader(user, roles, org_units), "act")
            check_claim(offer_of(task))
            access = self._access(uow, me, task, workflow)
            check_unclaimed(offer_of(task))
            _check_one_slot(uow, task, access, me)
            task.claimed_by = me.user
            task.claimed_on_behalf_of = access.on_behalf_of
            claimed = {"task_id": task.task_id, "step": task.step, "run": task.run}
            self.context.audit.append(uow, workflow.document_id, "claimed", me.user, access.on_behalf_of, claimed)
            return task_view(task, workflow, access.on_behalf_of)

    def decide(
        self,
        uow: AbstractWorkflowUnitOfWork,
        task_id: str,
        user: str,
        roles: frozenset[str],
        decision: Decision,
        comment: str,
        org_units: frozenset[str] = frozenset(),
    ) -> DecisionResult:
        me = self.context.actor(user, roles)
        with uow:
            task, workflow = self._lock_open_task(uow, task_id, Reader(user, roles, org_units), "decide")
            access = self._access(uow, me, task, workflow)
            _check_one_slot(uow, task, access, me)
            check_decision(decision, comment)
            self._record_decision(uow, workflow, task, me.user, access, decision, comment)
            outcome = self._apply_outcome(uow, workflow, task, me.user, access, decision, comment)
        return DecisionResult(STATE_AFTER[outcome], access.on_behalf_of)

    def decide_many(
        self,
        new_uow: Callable[[], AbstractWorkflowUnitOfWork],
        task_ids: Sequence[str],
        user: str,
        roles: frozenset[str],
        decision: Decision,
        comment: str,
        org_units: frozenset[str] = frozenset(),
    ) -> list[BulkOutcome]:
        """The same decision on several tasks, each exactly as `decide` (checked, audited) in its own unit of
        work: one refusal leaves the others decided; each task's outcome is reported."""
        outcomes = []
        for task_id in dict.fromkeys(task_ids):  # once each, in the order given
            try:
                result = self.decide(new_uow(), task_id, user, roles, decision, comment, org_units)
            except Refused as exc:
                outcomes.append(BulkOutcome(task_id, error=exc.code, reason=str(exc)))
            else:
                outcomes.append(BulkOutcome(task_id, result.workflow_state.value, result.on_behalf_of))
        return outcomes

    def inbox(
        self,
        uow: AbstractWorkflowUnitOfWork,
        user: str,
        roles: frozenset[str],
        query: InboxQuery,
    ) -> InboxPage[TaskView]:
        """One page of the caller's inbox under `query` (filters, order), with the figures of the whole inbox."""
        return inbox_page(self.open_tasks(uow, user, roles), query, self.context.clock.now())

    def _lock_open_task(
        self, uow: AbstractWorkflowUnitOfWork, task_id: str, reader: Reader, verb: str
    ) -> tuple[TaskRow, WorkflowRow]:
        """The task, its document locked, if the caller may see the document (else `TaskNotFound`: its existence
        is not revealed), it is still open and the caller did not submit the document."""
        task, workflow = uow.workflows.lock_task(task_id)
        if not self._visibility.sees(uow, reader, workflow):
            raise TaskNotFound()
        check_not_submitter(reader.user, submitters_of(workflow), verb)
        check_open(task.state)
        return task, workflow

    def _access(self, uow: AbstractWorkflowUnitOfWork, me: Actor, task: TaskRow, workflow: WorkflowRow) -> Access:
        """How `me` reaches the task: directly, or as deputy of someone away today (`DecisionRefused` if not)."""
        return check_access(me, self._absences.absentees(uow, me.user), offer_of(task), submitters_of(workflow))

    def _record_decision(
        self,
        uow: AbstractWorkflowUnitOfWork,
        workflow: WorkflowRow,
        task: TaskRow,
        user: str,
        access: Access,
        decision: Decision,
        comment: str,
    ) -> None:
        task.state = TaskState.DONE.value
        task.decided_by = user
        task.on_behalf_of = access.on_behalf_of
        task.decision = decision.value
        task.comment = comment
        task.decided_at = self.context.clock.now()
        decided = {
            "task_id": task.task_id,
            "run": task.run,
            "step": task.step,
            "decision": decision.value,
            "comment": comment,
            "version": workflow.version,
        }
        self.context.audit.append(uow, workflow.document_id, "decided", user, access.on_behalf_of, decided)

    def _apply_outcome(
        self,
        uow: AbstractWorkflowUnitOfWork,
        workflow: WorkflowRow,
        task: TaskRow,
        user: str,
        access: Access,
        decision: Decision,
        comment: str,
    ) -> Outcome:
        approvals = _approvals(uow, task)
        outcome = outcome_of(decision, definition_of(workflow), task.step, approvals)
        if outcome is Outcome.REJECTED:
            self._runs.cancel_open_tasks(uow, workflow, reason="rejected")
            self._runs.finish(uow, workflow, WorkflowState.REJECTED, comment, user, access)
        elif outcome is Outcome.RETURNED:
            self._return(uow, workflow, task, user, access, comment)
        elif outcome is not Outcome.WAITING:
            self._complete_step(uow, workflow, task, approvals)
            if outcome is Outcome.NEXT_STEP:
                self._runs.open_step(uow, workflow, task.step + 1)
            else:
                self._runs.finish(uow, workflow, WorkflowState.APPROVED, "", user, access)
        return outcome

    def _return(
        self,
        uow: AbstractWorkflowUnitOfWork,
        workflow: WorkflowRow,
        task: TaskRow,
        user: str,
        access: Access,
        comment: str,
    ) -> None:
        """Back to the submitter for revision: a new version restarts the run at step one."""
        self._runs.cancel_open_tasks(uow, workflow, reason="returned for revision")
        workflow.state = WorkflowState.RETURNED.value
        returned = {"step": task.step, "comment": comment, "version": workflow.version, "to": workflow.submitted_by}
        self.context.audit.append(uow, workflow.document_id, "returned", user, access.on_behalf_of, returned)
        uow.add_event(
            events.DocumentReturned(
                document_id=uuid.UUID(workflow.document_id),
                correlation_id=uuid.UUID(workflow.correlation_id),
                submitted_by=workflow.submitted_by,
                returned_by=user,
                on_behalf_of=access.on_behalf_of,
                comment=comment,
                step=task.step,
                version=workflow.version,
            )
        )

    def _complete_step(
        self, uow: AbstractWorkflowUnitOfWork, workflow: WorkflowRow, task: TaskRow, approvals: int
    ) -> None:
        self._runs.cancel_open_tasks(uow, workflow, reason="step complete")
        step = definition_of(workflow).steps[task.step - 1]
        completed = {"run": workflow.run, "step": task.step, "step_name": step.name, "approvals": approvals}
        self.context.audit.append(uow, workflow.document_id, "step_completed", SYSTEM_USER, None, completed)


StepKey = tuple[str, int, int]


def _holders_by_step(uow: AbstractWorkflowUnitOfWork, document_ids: set[str]) -> dict[StepKey, dict[str, str]]:
    """Per step of these documents: who claimed or decided which task (a person holds one slot of a step)."""
    by_step: dict[StepKey, list[TaskRow]] = {}
    for task in uow.workflows.step_tasks(document_ids):
        by_step.setdefault((task.document_id, task.run, task.step), []).append(task)
    return {key: slot_holders(slot_of(t) for t in tasks) for key, tasks in by_step.items()}


def _check_one_slot(uow: AbstractWorkflowUnitOfWork, task: TaskRow, access: Access, me: Actor) -> None:
    held = _holders_by_step(uow, {task.document_id}).get((task.document_id, task.run, task.step), {})
    check_one_slot(held, task.task_id, (me.user, access.on_behalf_of))


def _approvals(uow: AbstractWorkflowUnitOfWork, task: TaskRow) -> int:
    """The approvals of the task's step in this run, the decision just recorded included."""
    return sum(
        1
        for t in uow.workflows.step_tasks({task.document_id})
        if t.run == task.run and t.step == task.step and t.decision == Decision.APPROVE.value
    )
