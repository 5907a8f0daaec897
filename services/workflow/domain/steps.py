"""Definitions and their steps: which definition a document gets, who a step's tasks go to, when a step is
complete and what a decision does to the run."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from services.workflow.domain.organisation import Organisation
from services.workflow.domain.states import (
    AssigneeKind,
    CompletionMode,
    Decision,
    DecisionRefused,
    StepType,
    WorkflowState,
)

NO_REVIEW = "none"
DEFAULT_WORKFLOW = "default"
APPROVER_ROLE = "approver"


@dataclass(frozen=True)
class AssigneeSpec:
    """Who a step's task goes to: a user, a role (group), an org unit's members (group) or its head."""

    user: str | None = None
    role: str | None = None
    org_unit: str | None = None
    members: bool = False

    def describe(self) -> str:
        if self.user:
            return f"user {self.user}"
        if self.role:
            return f"role {self.role}"
        return f"org unit {self.org_unit} ({'members' if self.members else 'head'})"


@dataclass(frozen=True)
class StepDefinition:
    name: str
    type: StepType
    assignees: tuple[AssigneeSpec, ...]
    deadline: timedelta
    remind_before: timedelta
    mode: CompletionMode = CompletionMode.ALL
    quorum: int = 0
    escalate_to: AssigneeSpec | None = None

    def required_approvals(self) -> int:
        if self.type is StepType.SIGNOFF or self.mode is CompletionMode.ANY:
            return 1
        if self.mode is CompletionMode.QUORUM:
            return self.quorum
        return len(self.assignees)


@dataclass(frozen=True)
class WorkflowDefinition:
    name: str
    title: str
    steps: tuple[StepDefinition, ...]
    aliases: tuple[str, ...] = ()
    document_types: tuple[str, ...] = ()
    file_plan_classes: tuple[str, ...] = ()
    default: bool = False


@dataclass(frozen=True)
class Registry:
    """All definitions in force, validated together at start-up."""

    definitions: Mapping[str, WorkflowDefinition]
    default: str
    aliases: Mapping[str, str] = field(default_factory=dict)

    def select(self, workflow: str, document_type: str = "", file_plan_class: str = "") -> WorkflowDefinition | None:
        """Which definition a new document gets; None when `workflow` names none.

        `none` and named definitions are taken as asked; `default` picks by document type, then by the longest
        matching file plan class (`Aktenplan` prefix, e.g. `20.30` covers `20.30.1`), else the default.
        """
        if workflow != DEFAULT_WORKFLOW:
            name = self.aliases.get(workflow, workflow)
            return self.definitions.get(name)
        if document_type:
            for definition in self.definitions.values():
                if document_type in definition.document_types:
                    return definition
        if file_plan_class:
            best: tuple[int, WorkflowDefinition] | None = None
            for definition in self.definitions.values():
                for prefix in definition.file_plan_classes:
                    if _covers(prefix, file_plan_class) and (best is None or len(prefix) > best[0]):
                        best = (len(prefix), definition)
            if best is not None:
                return best[1]
        return self.definitions[self.default]


def _covers(prefix: str, file_plan_class: str) -> bool:
    return file_plan_class == prefix or file_plan_class.startswith(prefix + ".")


# --- assignment -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """One slot of a step: to whom its task is offered, and the org unit it belongs to (for escalation)."""

    kind: AssigneeKind
    assignee: str
    org_unit: str | None


def assignments_for(step: StepDefinition, organisation: Organisation, submitted_by: str) -> list[Assignment]:
    """A step's tasks, one per assignee spec; a role's task belongs to the submitter's unit."""
    return [_assignment(spec, organisation, submitted_by) for spec in step.assignees]


def _assignment(spec: AssigneeSpec, organisation: Organisation, submitted_by: str) -> Assignment:
    if spec.user:
        return Assignment(AssigneeKind.USER, spec.user, organisation.home_unit(spec.user))
    if spec.role:
        return Assignment(AssigneeKind.ROLE, spec.role, organisation.home_unit(submitted_by))
    unit_id = str(spec.org_unit)
    if spec.members:
        return Assignment(AssigneeKind.ORG_UNIT, unit_id, spec.org_unit)
    return Assignment(AssigneeKind.USER, organisation.head_of(unit_id), unit_id)  # no `members`: its head


# --- completion and decisions -----------------------------------------------------------------------


def step_complete(step: StepDefinition, approvals: int) -> bool:
    """A cosign step completes with all, any one, or a quorum of its approvals; a signoff with its one approval."""
    return approvals >= step.required_approvals()


def check_decision(decision: Decision, comment: str) -> None:
    if decision is Decision.REJECT and not comment.strip():
        raise DecisionRefused("reason_required", "a rejection needs a reason in `comment`")
    if decision is Decision.RETURN and not comment.strip():
        raise DecisionRefused("reason_required", "a return for revision needs a reason in `comment`")


class Outcome(StrEnum):
    """What a decision does to the run."""

    REJECTED = "rejected"  # the run ends, rejected
    RETURNED = "returned"  # back to the submitter for revision
    WAITING = "waiting"  # the step needs more approvals
    NEXT_STEP = "next_step"  # the step is complete, the next one opens
    APPROVED = "approved"  # the last step is complete: the run ends, approved


# The workflow state each outcome leaves behind.
STATE_AFTER: Mapping[Outcome, WorkflowState] = {
    Outcome.REJECTED: WorkflowState.REJECTED,
    Outcome.RETURNED: WorkflowState.RETURNED,
    Outcome.WAITING: WorkflowState.IN_REVIEW,
    Outcome.NEXT_STEP: WorkflowState.IN_REVIEW,
    Outcome.APPROVED: WorkflowState.APPROVED,
}


def outcome_of(decision: Decision, definition: WorkflowDefinition, step_number: int, approvals: int) -> Outcome:
    """`approvals` counts the step's approvals in this run, the decision being made included."""
    if decision is Decision.REJECT:
        return Outcome.REJECTED
    if decision is Decision.RETURN:
        return Outcome.RETURNED
    if not step_complete(definition.steps[step_number - 1], approvals):
        return Outcome.WAITING
    if step_number < len(definition.steps):
        return Outcome.NEXT_STEP
    return Outcome.APPROVED
