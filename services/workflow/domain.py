"""The approval domain: definitions, steps, who may act on a task, deadlines and the audit chain.

Pure rules only: imports nothing of Kafka, MinIO, HTTP or the database.
"""

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.errors import Refused

NO_REVIEW = "none"
DEFAULT_WORKFLOW = "default"
APPROVER_ROLE = "approver"
GENESIS_HASH = "0" * 64


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"  # return for revision (Rückgabe zur Überarbeitung)


class WorkflowState(StrEnum):
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    RETURNED = "returned"


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


# --- organisation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrgUnit:
    """An org unit (`Organisationseinheit`, e.g. 50 Sozialamt) with its head (`Amtsleitung`) and members."""

    unit_id: str
    name: str
    head: str
    members: frozenset[str]
    parent: str | None = None

    @property
    def people(self) -> frozenset[str]:
        return self.members | {self.head}


@dataclass(frozen=True)
class Organisation:
    units: Mapping[str, OrgUnit]

    def units_of(self, user: str) -> frozenset[str]:
        return frozenset(unit.unit_id for unit in self.units.values() if user in unit.people)

    def home_unit(self, user: str) -> str | None:
        """The unit a user works in: where they are a member, else where they are the head (lowest id first)."""
        member_of = sorted(u.unit_id for u in self.units.values() if user in u.members)
        headed = sorted(u.unit_id for u in self.units.values() if u.head == user)
        found = member_of or headed
        return found[0] if found else None

    def head_of(self, unit_id: str) -> str:
        return self.units[unit_id].head


# --- definitions -------------------------------------------------------------------------------------


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


# --- step completion ---------------------------------------------------------------------------------


def step_complete(step: StepDefinition, approvals: int) -> bool:
    """A cosign step completes with all, any one, or a quorum of its approvals; a signoff with its one approval."""
    return approvals >= step.required_approvals()


# --- who may act --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """A person as the rules see them: user name, roles and the org units they belong to."""

    user: str
    roles: frozenset[str]
    units: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Offer:
    """To whom an open task is offered right now."""

    assignee_kind: AssigneeKind
    assignee: str
    claimed_by: str | None = None
    escalated_to_user: str | None = None
    escalated_to_role: str | None = None

    @property
    def is_group(self) -> bool:
        return self.assignee_kind is not AssigneeKind.USER


def reaches(actor: Actor, offer: Offer) -> bool:
    """Whether a task is offered to this person in their own right (not as a deputy)."""
    if offer.escalated_to_user == actor.user or (offer.escalated_to_role and offer.escalated_to_role in actor.roles):
        return True
    if offer.claimed_by is not None:
        return offer.claimed_by == actor.user
    if offer.assignee_kind is AssigneeKind.USER:
        return offer.assignee == actor.user
    if offer.assignee_kind is AssigneeKind.ROLE:
        return offer.assignee in actor.roles
    return offer.assignee in actor.units


@dataclass(frozen=True)
class Access:
    """May act; `on_behalf_of` names the absent person whose deputy acts (`Vertretung`), if any."""

    on_behalf_of: str | None = None


def check_access(me: Actor, absentees: Sequence[Actor], offer: Offer, submitted_by: str | Collection[str]) -> Access:
    """Four-eyes (Vier-Augen-Prinzip) and substitution in one rule.

    Whoever submitted a document (any version of it) never acts on it: not through a role, an org unit, an
    escalation, nor as a deputy; and no deputy acts on behalf of a submitter either.
    """
    submitters = frozenset((submitted_by,)) if isinstance(submitted_by, str) else frozenset(submitted_by)
    if me.user in submitters:
        raise DecisionRefused("four_eyes", "the submitter of a document may not decide on it")
    if reaches(me, offer):
        return Access()
    for absent in absentees:
        if absent.user not in submitters and reaches(absent, offer):
            return Access(on_behalf_of=absent.user)
    if offer.claimed_by is not None and offer.claimed_by != me.user:
        raise DecisionRefused("claimed", f"this task has been claimed by {offer.claimed_by}")
    raise DecisionRefused("forbidden", "this task is not offered to you")


@dataclass(frozen=True)
class Approver:
    """The single-step view of a person (kept for callers of the first version of this module)."""

    user: str
    roles: frozenset[str]


def check_may_decide(approver: Approver, offered_to_role: str, submitted_by: str) -> None:
    """Four-eyes for a task offered to a role: the submitter never decides, whatever roles they hold."""
    check_access(
        Actor(approver.user, approver.roles), (), Offer(AssigneeKind.ROLE, offered_to_role), submitted_by=submitted_by
    )


def check_claim(offer: Offer) -> None:
    if not offer.is_group:
        raise DecisionRefused("not_claimable", "only a task offered to a group (role or org unit) can be claimed")


def check_decision(decision: Decision, comment: str) -> None:
    if decision is Decision.REJECT and not comment.strip():
        raise DecisionRefused("reason_required", "a rejection needs a reason in `comment`")
    if decision is Decision.RETURN and not comment.strip():
        raise DecisionRefused("reason_required", "a return for revision needs a reason in `comment`")


def absent_on(day: date, starts_on: date, ends_on: date) -> bool:
    return starts_on <= day <= ends_on


# --- deadlines ---------------------------------------------------------------------------------------


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


# --- audit chain -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditEntry:
    document_id: str
    seq: int
    action: str
    actor: str
    on_behalf_of: str | None
    payload: Mapping[str, Any]
    at: str
    prev_hash: str
    hash: str = ""

    def content(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "seq": self.seq,
            "action": self.action,
            "actor": self.actor,
            "on_behalf_of": self.on_behalf_of,
            "payload": dict(self.payload),
            "at": self.at,
            "prev_hash": self.prev_hash,
        }

    def as_dict(self) -> dict[str, Any]:
        return {**self.content(), "hash": self.hash}


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over the canonical JSON of the entry, its predecessor's hash included."""
    return hashlib.sha256(canonical_json(entry.content()).encode()).hexdigest()


def chain_entry(
    previous: AuditEntry | None,
    document_id: str,
    action: str,
    actor: str,
    on_behalf_of: str | None,
    payload: Mapping[str, Any],
    at: datetime,
) -> AuditEntry:
    entry = AuditEntry(
        document_id=document_id,
        seq=previous.seq + 1 if previous else 1,
        action=action,
        actor=actor,
        on_behalf_of=on_behalf_of,
        payload=json.loads(canonical_json(payload)),
        at=at.isoformat(),
        prev_hash=previous.hash if previous else GENESIS_HASH,
    )
    return AuditEntry(**{**entry.__dict__, "hash": entry_hash(entry)})


@dataclass(frozen=True)
class ChainCheck:
    verified: bool
    first_broken_entry: int | None = None
    reason: str = ""


def verify_chain(entries: Iterable[AuditEntry]) -> ChainCheck:
    """Recompute every hash and link; name the first entry where the chain no longer holds."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    for entry in entries:
        if entry.seq != expected_seq:
            return ChainCheck(False, expected_seq, f"entry {expected_seq} is missing")
        if entry.prev_hash != expected_prev:
            return ChainCheck(False, entry.seq, "prev_hash does not match the entry before")
        if entry_hash(entry) != entry.hash:
            return ChainCheck(False, entry.seq, "hash does not match the entry's content")
        expected_prev = entry.hash
        expected_seq += 1
    return ChainCheck(True)
