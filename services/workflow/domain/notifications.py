"""Who is told of what by e-mail, what the mail says and when it goes out (pure rules).

A mail names the document by title and Aktenzeichen only and links into the portal: no document content and no
personal data of citizens. Each person chooses immediate mails or one daily digest, and whether archived
documents are announced at all.
"""

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from enum import StrEnum

from services.workflow.domain.organisation import Organisation
from services.workflow.domain.states import AssigneeKind

RETRY_BASE_S = 2.0  # the first retry of a failed delivery; each further one waits twice as long (capped)


class MailKind(StrEnum):
    NEW_TASK = "new_task"
    DEPUTY_TASK = "deputy_task"  # a new task of someone away, for their deputy (Vertretung)
    REMINDER = "reminder"
    ESCALATION = "escalation"
    RETURNED = "returned"
    REJECTED = "rejected"
    ARCHIVED = "archived"


class Delivery(StrEnum):
    IMMEDIATE = "immediate"
    DIGEST = "digest"


@dataclass(frozen=True)
class Preference:
    """A person's choice; without one: immediate mails, no notice of archived documents."""

    delivery: Delivery = Delivery.IMMEDIATE
    archived: bool = False


@dataclass(frozen=True)
class MailFacts:
    """All a mail may say: the document's title and Aktenzeichen, the step, the deadline, the portal link."""

    title: str
    aktenzeichen: str
    link: str
    step_name: str = ""
    deadline: str = ""


def wants(kind: MailKind, preference: Preference) -> bool:
    """Archived notices only for who asked for them; everything else always."""
    return preference.archived if kind is MailKind.ARCHIVED else True


def address_of(user: str, email: str, domain: str) -> str:
    """The token's `email` claim, else `<user>@<domain>`."""
    return email or f"{user}@{domain}"


def people_offered(
    kind: AssigneeKind | str, assignee: str, organisation: Organisation, role_holders: Iterable[str]
) -> frozenset[str]:
    """Who a task offered to `assignee` reaches: the user; a role's known holders; an org unit's head and members."""
    kind = AssigneeKind(kind)
    if kind is AssigneeKind.USER:
        return frozenset({assignee}) if assignee else frozenset()
    if kind is AssigneeKind.ROLE:
        return frozenset(role_holders)
    unit = organisation.units.get(assignee)
    return unit.people if unit is not None else frozenset()


def render(template: Mapping[str, str], facts: MailFacts) -> tuple[str, str]:
    """Subject and body of a mail from its German template (`subject`, `body`; `$title`-style placeholders)."""
    fields = {
        "title": facts.title or "(ohne Titel)",
        "aktenzeichen": facts.aktenzeichen or "(ohne Aktenzeichen)",
        "link": facts.link,
        "step": facts.step_name,
        "deadline": facts.deadline,
    }
    subject = string.Template(template["subject"]).safe_substitute(fields)
    body = string.Template(template["body"]).safe_substitute(fields)
    return _one_line(subject), body


def digest(template: Mapping[str, str], subjects: Iterable[tuple[str, str]]) -> tuple[str, str]:
    """One mail collecting the day's mails of a person: (subject, first body line with link) for each."""
    items = list(subjects)
    lines = "\n".join(f"- {subject}\n  {link}" for subject, link in items)
    fields = {"count": str(len(items)), "items": lines}
    subject = string.Template(template["subject"]).safe_substitute(fields)
    return _one_line(subject), string.Template(template["body"]).safe_substitute(fields)


def next_digest_at(now: datetime, zone: tzinfo, hour: int) -> datetime:
    """The next daily digest time (local `hour`:00) strictly after `now`."""
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), time(hour), tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), time(hour), tzinfo=zone)
    return candidate.astimezone(now.tzinfo)


def retry_delay(attempts: int, max_s: float) -> timedelta:
    """The pause after the `attempts`-th failed delivery: 2 s, 4 s, 8 s, ... up to `max_s`."""
    return timedelta(seconds=min(max_s, RETRY_BASE_S * 2 ** max(0, attempts - 1)))


def _one_line(text: str) -> str:
    """A subject is one line (no header injection through a title)."""
    return " ".join(text.split())[:250]
