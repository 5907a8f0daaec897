"""The states and choices of the approval, and the one shape of a refusal by its rules."""

from enum import StrEnum

from shared.errors import Refused


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"  # return for revision (Rückgabe zur Überarbeitung)


class WorkflowState(StrEnum):
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    RETURNED = "returned"


# A workflow in these states can still take a new version of its document (and restart at step one).
OPEN_STATES = (WorkflowState.IN_REVIEW, WorkflowState.RETURNED)


class TaskState(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class StepType(StrEnum):
    COSIGN = "cosign"  # Mitzeichnung: several approvers in parallel
    SIGNOFF = "signoff"  # Schlusszeichnung: one final approver


class CompletionMode(StrEnum):
    ALL = "all"
    ANY = "any"
    QUORUM = "quorum"


class AssigneeKind(StrEnum):
    USER = "user"
    ROLE = "role"
    ORG_UNIT = "org_unit"  # offered to the unit's members as a group


class DecisionRefused(Refused):
    """An action that the rules forbid; `code` is the API's error, the message says why."""
