"""Who may act on a task: four-eyes, reach (directly, by role, org unit, escalation, claim), substitution
(`Vertretung`) and one slot per person and step. Each rule is written here once."""

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from services.workflow.domain.states import AssigneeKind, DecisionRefused, TaskState


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


@dataclass(frozen=True)
class Access:
    """May act; `on_behalf_of` names the absent person whose deputy acts (`Vertretung`), if any."""

    on_behalf_of: str | None = None


# --- four-eyes ----------------------------------------------------------------------------------------


def check_not_submitter(user: str, submitters: str | Collection[str], verb: str = "decide") -> None:
    """Four-eyes (Vier-Augen-Prinzip): whoever submitted any version of a document never acts on it."""
    if user in _as_set(submitters):
        raise DecisionRefused("four_eyes", f"the submitter of a document may not {verb} on it")


def _as_set(submitters: str | Collection[str]) -> frozenset[str]:
    return frozenset((submitters,)) if isinstance(submitters, str) else frozenset(submitters)


# --- reach --------------------------------------------------------------------------------------------


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
class ReachKeys:
    """The assignment keys under which a task may reach someone: only to narrow the candidates to look at.

    Whether a candidate really reaches the person is `check_access`'s judgement, never the keys'.
    """

    people: frozenset[str]
    roles: frozenset[str]
    units: frozenset[str]


def reach_keys(me: Actor, absentees: Sequence[Actor]) -> ReachKeys:
    """Keys of `me` and of everyone `me` stands in for today."""
    everyone = (me, *absentees)
    return ReachKeys(
        people=frozenset(a.user for a in everyone),
        roles=frozenset().union(*(a.roles for a in everyone)),
        units=frozenset().union(*(a.units for a in everyone)),
    )


def personal_keys(user: str) -> ReachKeys:
    """Keys of the tasks offered to `user` in person (not through a role or an org unit): what a deputy takes over."""
    return ReachKeys(people=frozenset((user,)), roles=frozenset(), units=frozenset())


def check_access(me: Actor, absentees: Sequence[Actor], offer: Offer, submitted_by: str | Collection[str]) -> Access:
    """Four-eyes and substitution in one rule.

    Whoever submitted a document (any version of it) never acts on it: not through a role, an org unit, an
    escalation, nor as a deputy; and no deputy acts on behalf of a submitter either.
    """
    submitters = _as_set(submitted_by)
    check_not_submitter(me.user, submitters)
    if reaches(me, offer):
        return Access()
    for absent in absentees:
        if absent.user not in submitters and reaches(absent, offer):
            return Access(on_behalf_of=absent.user)
    if offer.claimed_by is not None and offer.claimed_by != me.user:
        raise DecisionRefused("claimed", f"this task has been claimed by {offer.claimed_by}")
    raise DecisionRefused("forbidden", "this task is not offered to you")


def absent_on(day: date, starts_on: date, ends_on: date) -> bool:
    return starts_on <= day <= ends_on


# --- acting on a task ---------------------------------------------------------------------------------


def check_open(task_state: str) -> None:
    if task_state != TaskState.OPEN.value:
        raise DecisionRefused("already_decided", "this task has already been decided")


def check_claim(offer: Offer) -> None:
    if not offer.is_group:
        raise DecisionRefused("not_claimable", "only a task offered to a group (role or org unit) can be claimed")


def check_unclaimed(offer: Offer) -> None:
    if offer.claimed_by is not None:
        raise DecisionRefused("claimed", f"this task has already been claimed by {offer.claimed_by}")


# --- one person, one slot of a step -------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One task of a step and the people who hold it: who claimed or decided it, and for whom."""

    task_id: str
    people: tuple[str | None, ...]


def slot_holders(slots: Iterable[Slot]) -> dict[str, str]:
    """Of one step: which task each person holds."""
    return {person: slot.task_id for slot in slots for person in slot.people if person}


def other_slot_holder(holders: Mapping[str, str], task_id: str, people: Iterable[str | None]) -> str | None:
    """The first of `people` who already holds another slot of the task's step, if any."""
    for person in people:
        if person and holders.get(person) not in (None, task_id):
            return person
    return None


def check_one_slot(holders: Mapping[str, str], task_id: str, people: Iterable[str | None]) -> None:
    person = other_slot_holder(holders, task_id, people)
    if person is not None:
        raise DecisionRefused("already_signed", f"{person} already holds another slot of this step")


# --- the inbox ---------------------------------------------------------------------------------------


def inbox_access(
    me: Actor,
    absentees: Sequence[Actor],
    offer: Offer,
    submitters: Collection[str],
    holders: Mapping[str, str],
    task_id: str,
) -> Access | None:
    """Whether an open task shows in `me`'s inbox (and as whose deputy): exactly when `me` may act on it now."""
    try:
        access = check_access(me, absentees, offer, submitters)
    except DecisionRefused:
        return None
    if other_slot_holder(holders, task_id, (me.user, access.on_behalf_of)) is not None:
        return None  # one person, one slot of a step
    return access


# --- the first version's single-step view ---------------------------------------------------------------


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


# --- need-to-know: who has or had a task on a document ---------------------------------------------------


@dataclass(frozen=True)
class TaskTrace:
    """One task of a document as need-to-know sees it: to whom it is (or was) offered, and the people it names
    (claimer, decider, on whose behalf)."""

    offer: Offer
    people: tuple[str | None, ...]


def holds_task(me: Actor, absentees: Sequence[Actor], traces: Iterable[TaskTrace]) -> bool:
    """Whether `me` has or had a task on the document (`shared.need_to_know.DocumentFacts.task_holders`).

    Named on one of its tasks (claimed, decided, on whose behalf), or one was offered to them (in person, to
    their role or org unit, by escalation; open or not, claimed or not: it was in their inbox), or they stand
    in today for someone who is (`Vertretung`).
    """
    return any(_holds(person, trace) for trace in traces for person in (me, *absentees))


def _holds(person: Actor, trace: TaskTrace) -> bool:
    offer = trace.offer
    return (
        person.user in trace.people
        or person.user == offer.escalated_to_user
        or bool(offer.escalated_to_role and offer.escalated_to_role in person.roles)
        or reaches(person, Offer(offer.assignee_kind, offer.assignee))  # to whom it was offered before any claim
    )
