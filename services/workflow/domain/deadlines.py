"""Deadlines of a step's tasks and where an overdue task escalates to."""

from dataclasses import dataclass
from datetime import datetime

from services.workflow.domain.organisation import Organisation
from services.workflow.domain.steps import StepDefinition


@dataclass(frozen=True)
class Deadline:
    due_at: datetime
    remind_at: datetime


def deadline_for(step: StepDefinition, opened_at: datetime) -> Deadline:
    due = opened_at + step.deadline
    return Deadline(due_at=due, remind_at=due - step.remind_before)


@dataclass(frozen=True)
class EscalationTarget:
    user: str | None = None
    role: str | None = None


def escalation_target(
    step: StepDefinition, organisation: Organisation, task_unit: str | None, current_assignee: str | None
) -> EscalationTarget:
    """Where an overdue task goes: the step's `escalate_to`, else the head of the task's org unit, else its parent's.

    A head who is the one late escalates to the parent unit's head; with nowhere left, the `admin` role.
    """
    spec = step.escalate_to
    if spec is not None:
        if spec.role:
            return EscalationTarget(role=spec.role)
        if spec.user:
            return EscalationTarget(user=spec.user)
        if spec.org_unit:
            return EscalationTarget(user=organisation.head_of(spec.org_unit))
    unit_id = task_unit
    while unit_id is not None and unit_id in organisation.units:
        unit = organisation.units[unit_id]
        if unit.head != current_assignee:
            return EscalationTarget(user=unit.head)
        unit_id = unit.parent
    return EscalationTarget(role="admin")
