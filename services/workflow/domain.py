"""The approval domain: tasks, decisions and the four-eyes rule. Imports nothing of Kafka, MinIO or HTTP."""

from dataclasses import dataclass
from enum import StrEnum

NO_REVIEW = "none"
APPROVER_ROLE = "approver"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class WorkflowState(StrEnum):
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"


class TaskState(StrEnum):
    OPEN = "open"
    DONE = "done"


class DecisionRefused(Exception):
    """A decision that the rules forbid; `code` is the API's error, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Approver:
    user: str
    roles: frozenset[str]


def check_may_decide(approver: Approver, offered_to_role: str, submitted_by: str) -> None:
    """Four-eyes (Vier-Augen-Prinzip): whoever submitted a document never approves it, whatever roles they hold."""
    if approver.user == submitted_by:
        raise DecisionRefused("four_eyes", "the submitter of a document may not decide on it")
    if offered_to_role not in approver.roles:
        raise DecisionRefused("forbidden", f"this task is offered to the role {offered_to_role!r}")


def check_decision(decision: Decision, comment: str) -> None:
    if decision is Decision.REJECT and not comment.strip():
        raise DecisionRefused("reason_required", "a rejection needs a reason in `comment`")


def outcome(decision: Decision) -> WorkflowState:
    return WorkflowState.APPROVED if decision is Decision.APPROVE else WorkflowState.REJECTED
