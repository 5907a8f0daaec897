"""Notifications by e-mail, the service layer: what each event means for whom, queued in the same transaction.

The unit of work calls `Notifier.on_event` for every event it announces (new step, reminder, escalation,
returned, rejected); `documents.archived` comes through the Kafka handler. Each mail is a row of the mail queue
(`MailRow`), committed together with the decision that caused it: the sender (`mail_sender.py`) delivers it later,
so a mail server that is down never blocks or fails a decision. Who and what are the rules of
`domain.notifications`; the German texts are in locale/mail.de.yaml.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import yaml

from services.workflow.clock import Clock
from services.workflow.domain import Organisation
from services.workflow.domain.notifications import (
    Delivery,
    MailFacts,
    MailKind,
    Preference,
    address_of,
    next_digest_at,
    people_offered,
    render,
    wants,
)
from services.workflow.tables import MailRow, NotificationPreferenceRow, PersonRow, TaskRow, WorkflowRow
from services.workflow.unit_of_work import AbstractWorkflowUnitOfWork
from shared import events
from shared.unit_of_work import consume_many

ARCHIVED_CONSUMER = "workflow.notify"
TEMPLATES_FILE = Path(__file__).resolve().parent / "locale" / "mail.de.yaml"


def load_templates(path: Path = TEMPLATES_FILE) -> dict[str, dict[str, str]]:
    templates: dict[str, dict[str, str]] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return templates


@dataclass(frozen=True)
class MailConfig:
    portal_url: str  # links point here, e.g. https://eakte.kiel.de
    mail_domain: str  # `<user>@mail_domain` for people whose token carries no `email`
    digest_hour: int = 7  # local hour of the daily digest


@dataclass(frozen=True)
class PreferenceView:
    user: str
    delivery: str
    archived: bool
    address: str


# Every inbox call and portal page records the caller as seen. Unchanged, that is a read transaction per call (an
# approver's inbox polled 50 times a second in `make bench-latency`); it is skipped for this long after one: a role
# given meanwhile through another replica is written at most this late.
SEEN_FRESH = timedelta(minutes=1)


class Notifier:
    def __init__(self, organisation: Organisation, clock: Clock, zone: tzinfo, config: MailConfig) -> None:
        self._organisation = organisation
        self._clock = clock
        self._zone = zone
        self._config = config
        self.templates = load_templates()
        self._seen: dict[str, tuple[str, tuple[str, ...], datetime]] = {}  # user -> email, roles, when recorded

    # --- events -> mails (inside the caller's transaction) ---------------------------------------
    def on_event(self, uow: AbstractWorkflowUnitOfWork, event: events.Event) -> None:
        if isinstance(event, events.ReviewStarted):
            self._new_tasks(uow, event)
        elif isinstance(event, events.DeadlineReminder | events.TaskEscalated):
            self._deadline(uow, event)
        elif isinstance(event, events.DocumentReturned | events.DocumentRejected):
            kind = MailKind.RETURNED if isinstance(event, events.DocumentReturned) else MailKind.REJECTED
            workflow = uow.workflows.get(str(event.document_id))
            if workflow is not None:
                self._queue(uow, {workflow.submitted_by}, kind, workflow, self._document_link(workflow))

    def archived(self, uow: AbstractWorkflowUnitOfWork, archived: list[events.DocumentArchived]) -> None:
        """The `documents.archived` handler's work for a batch of events, each once, in one transaction."""
        consume_many(uow, ARCHIVED_CONSUMER, [(event.event_id, event) for event in archived], self._on_archived_many)

    def _on_archived_many(self, uow: AbstractWorkflowUnitOfWork, archived: list[events.DocumentArchived]) -> str:
        """Each submitter hears of their archived document if they asked for it (a Kafka handler's effect).

        Most people do not: the submitters and their choices are read once for the batch, and a workflow is loaded
        only for a mail to be written."""
        submitters = uow.workflows.submitters(str(event.document_id) for event in archived)
        asking = {user for user in set(submitters.values()) if wants(MailKind.ARCHIVED, self._preference(uow, user))}
        notes = []
        for event in archived:
            submitter = submitters.get(str(event.document_id))
            workflow = uow.workflows.get(str(event.document_id)) if submitter in asking else None
            if workflow is None:
                notes.append("no workflow" if submitter is None else "0 mails")
                continue
            link = f"{self._portal()}/archiv/{workflow.document_id}"
            notes.append(f"{self._queue(uow, {workflow.submitted_by}, MailKind.ARCHIVED, workflow, link)} mails")
        return "; ".join(notes)

    def _new_tasks(self, uow: AbstractWorkflowUnitOfWork, event: events.ReviewStarted) -> None:
        workflow = uow.workflows.get(str(event.document_id))
        if workflow is None:
            return
        for task in uow.workflows.open_tasks_of(workflow.document_id):
            if task.step != event.step or task.run != workflow.run:
                continue
            people = self._offered(uow, task.assignee_kind, task.assignee)
            link = f"{self._portal()}/aufgaben/{task.task_id}"
            self._queue(uow, people, MailKind.NEW_TASK, workflow, link, task)
            if task.assignee_kind == "user":  # a deputy takes over what is offered in person (domain.access)
                self._queue(uow, self._deputies(uow, people), MailKind.DEPUTY_TASK, workflow, link, task)

    def _deadline(self, uow: AbstractWorkflowUnitOfWork, event: events.DeadlineReminder | events.TaskEscalated) -> None:
        workflow = uow.workflows.get(str(event.document_id))
        if workflow is None:
            return
        task = next((t for t in uow.workflows.tasks_of(workflow.document_id) if t.task_id == event.task_id), None)
        link = f"{self._portal()}/aufgaben/{event.task_id}"
        if isinstance(event, events.TaskEscalated):
            people: set[str] = {event.escalated_to_user} if event.escalated_to_user else set()
            if event.escalated_to_role:
                people |= set(uow.notifications.holders_of(event.escalated_to_role))
            self._queue(uow, people, MailKind.ESCALATION, workflow, link, task)
        else:
            people = set(self._offered(uow, event.assignee_kind, event.assignee))
            if task is not None and task.claimed_by:
                people = {task.claimed_by}
            self._queue(uow, people, MailKind.REMINDER, workflow, link, task)

    def _offered(self, uow: AbstractWorkflowUnitOfWork, kind: str, assignee: str) -> frozenset[str]:
        holders = uow.notifications.holders_of(assignee) if kind == "role" else []
        return people_offered(kind, assignee, self._organisation, holders)

    def _deputies(self, uow: AbstractWorkflowUnitOfWork, people: Iterable[str]) -> set[str]:
        """The deputies (Vertretung) of those among `people` who are away today."""
        today = self._clock.now().astimezone(self._zone).date()
        away = set(people)
        return {a.deputy for a in uow.absences.on(today) if a.user in away and a.deputy not in away}

    def _queue(
        self,
        uow: AbstractWorkflowUnitOfWork,
        people: Iterable[str],
        kind: MailKind,
        workflow: WorkflowRow,
        link: str,
        task: TaskRow | None = None,
    ) -> int:
        wanting = [(user, self._preference(uow, user)) for user in sorted(set(people)) if user]
        wanting = [(user, preference) for user, preference in wanting if wants(kind, preference)]
        if not wanting:  # the usual case: nothing to render
            return 0
        subject, body = render(self.templates[kind.value], self._facts(workflow, link, task))
        now = self._clock.now()
        for user, preference in wanting:
            digest = preference.delivery is Delivery.DIGEST
            uow.notifications.add_mail(
                MailRow(
                    mail_id=str(uuid.uuid4()),
                    recipient=user,
                    address=self._address(uow, user),
                    kind=kind.value,
                    document_id=workflow.document_id,
                    subject=subject,
                    body=body,
                    link=link,
                    digest=digest,
                    created_at=now,
                    send_after=next_digest_at(now, self._zone, self._config.digest_hour) if digest else now,
                    attempts=0,
                    last_error="",
                )
            )
        return len(wanting)

    def _facts(self, workflow: WorkflowRow, link: str, task: TaskRow | None) -> MailFacts:
        metadata: dict[str, Any] = workflow.document_metadata or {}
        deadline = ""
        if task is not None and task.deadline_at is not None:
            deadline = task.deadline_at.astimezone(self._zone).strftime("%d.%m.%Y %H:%M")
        return MailFacts(
            title=str(metadata.get("title") or metadata.get("filename") or ""),
            aktenzeichen=str(metadata.get("aktenzeichen") or ""),
            link=link,
            step_name=task.step_name if task is not None else "",
            deadline=deadline,
        )

    def _document_link(self, workflow: WorkflowRow) -> str:
        return f"{self._portal()}/dokumente/{workflow.document_id}"

    def _portal(self) -> str:
        return self._config.portal_url.rstrip("/")

    # --- people and their choices ------------------------------------------------------------------
    def _preference(self, uow: AbstractWorkflowUnitOfWork, user: str) -> Preference:
        row = uow.notifications.preference(user)
        if row is None:
            return Preference()
        return Preference(delivery=Delivery(row.delivery), archived=row.archived)

    def _address(self, uow: AbstractWorkflowUnitOfWork, user: str) -> str:
        person = uow.notifications.person(user)
        return address_of(user, person.email if person is not None else "", self._config.mail_domain)

    def seen(self, uow: AbstractWorkflowUnitOfWork, user: str, email: str, roles: Iterable[str]) -> None:
        """Record a person seen signing in: their roles (mails to a role reach them) and `email` claim."""
        now = self._clock.now()
        roles_list = sorted(roles)
        recent = self._seen.get(user)
        if recent is not None and recent[:2] == (email, tuple(roles_list)) and now - recent[2] < SEEN_FRESH:
            return
        with uow:
            person = uow.notifications.person(user)
            if person is None or person.email != email or sorted(person.roles or []) != roles_list:
                uow.notifications.put_person(PersonRow(user=user, email=email, roles=roles_list, seen_at=now))
        self._seen[user] = (email, tuple(roles_list), now)

    def preference_of(self, uow: AbstractWorkflowUnitOfWork, user: str) -> PreferenceView:
        with uow:
            preference = self._preference(uow, user)
            return PreferenceView(user, preference.delivery.value, preference.archived, self._address(uow, user))

    def set_preference(
        self, uow: AbstractWorkflowUnitOfWork, user: str, delivery: Delivery, archived: bool
    ) -> PreferenceView:
        with uow:
            row = NotificationPreferenceRow(
                user=user, delivery=delivery.value, archived=archived, updated_at=self._clock.now()
            )
            uow.notifications.put_preference(row)
            return PreferenceView(user, delivery.value, archived, self._address(uow, user))
