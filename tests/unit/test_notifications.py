"""Notifications by e-mail without the stack: who is told, what the mail says (and does not), preferences, the
digest time, the sender's retries with backoff and digests, and the portal's /einstellungen page."""

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.workflow.clock import ControllableClock
from services.workflow.domain import Organisation, OrgUnit
from services.workflow.domain.notifications import (
    Delivery,
    MailFacts,
    MailKind,
    Preference,
    address_of,
    next_digest_at,
    people_offered,
    render,
    retry_delay,
    wants,
)
from services.workflow.mail_sender import MailSender, SmtpTransport
from services.workflow.notifications import MailConfig, Notifier, load_templates
from services.workflow.tables import AbsenceRow, MailRow, NotificationPreferenceRow, PersonRow
from shared import events
from tests.unit.fakes_workflow import FakeWorkflowUnitOfWork, build_workflow
from tests.unit.test_portal import FakeServices, csrf_of, make_client, sign_in
from tests.unit.test_workflow_service_layer import REGISTRY, _ingested

ORG = Organisation(
    {
        "50": OrgUnit("50", "Sozialamt", "sabine", frozenset({"anton", "berta"})),
    }
)
BERLIN = ZoneInfo("Europe/Berlin")
TEMPLATES = load_templates()


class FakeNotifications:
    def __init__(self) -> None:
        self.mails: dict[str, MailRow] = {}
        self.preferences: dict[str, NotificationPreferenceRow] = {}
        self.people: dict[str, PersonRow] = {}

    def add_mail(self, mail: MailRow) -> None:
        self.mails[mail.mail_id] = mail

    def due_mails(self, now: datetime, limit: int) -> list[MailRow]:
        due = [m for m in self.mails.values() if m.sent_at is None and m.send_after <= now]
        return sorted(due, key=lambda m: m.send_after)[:limit]

    def claim_mail(self, mail_id: str, seen_send_after: datetime, until: datetime) -> bool:
        mail = self.mails[mail_id]
        if mail.send_after != seen_send_after or mail.sent_at is not None:
            return False
        mail.send_after = until
        return True

    def get_mail(self, mail_id: str) -> MailRow | None:
        return self.mails.get(mail_id)

    def preference(self, user: str) -> NotificationPreferenceRow | None:
        return self.preferences.get(user)

    def put_preference(self, row: NotificationPreferenceRow) -> None:
        self.preferences[row.user] = row

    def person(self, user: str) -> PersonRow | None:
        return self.people.get(user)

    def put_person(self, row: PersonRow) -> None:
        self.people[row.user] = row

    def holders_of(self, role: str) -> list[str]:
        return sorted(p.user for p in self.people.values() if role in p.roles)


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.down = False

    def send(self, address: str, subject: str, body: str) -> None:
        if self.down:
            raise ConnectionRefusedError("the mail server is down")
        self.sent.append((address, subject, body))


# --- rules ---------------------------------------------------------------------------------------------
def test_a_task_reaches_the_user_a_roles_known_holders_or_an_org_units_people() -> None:
    assert people_offered("user", "karl", ORG, ["x"]) == {"karl"}
    assert people_offered("role", "approver", ORG, ["anton", "nele"]) == {"anton", "nele"}
    assert people_offered("org_unit", "50", ORG, []) == {"sabine", "anton", "berta"}
    assert people_offered("org_unit", "99", ORG, []) == frozenset()


def test_the_address_is_the_tokens_email_claim_else_the_user_at_the_mail_domain() -> None:
    assert address_of("karl", "k.arl@kiel.de", "stadt.test") == "k.arl@kiel.de"
    assert address_of("karl", "", "stadt.test") == "karl@stadt.test"


def test_archived_notices_only_for_who_asked_for_them() -> None:
    assert not wants(MailKind.ARCHIVED, Preference())
    assert wants(MailKind.ARCHIVED, Preference(archived=True))
    assert wants(MailKind.NEW_TASK, Preference(Delivery.DIGEST))


def test_a_mail_names_title_and_aktenzeichen_in_one_subject_line_and_links_into_the_portal() -> None:
    facts = MailFacts("Bescheid\r\nBcc: x@y", "50.1/2026", "https://eakte/aufgaben/t1", "Schlusszeichnung")
    subject, body = render(TEMPLATES["new_task"], facts)
    assert "\n" not in subject and "\r" not in subject and "(50.1/2026)" in subject
    assert "https://eakte/aufgaben/t1" in body and "Schlusszeichnung" in body


def test_the_digest_goes_out_at_the_next_local_digest_hour() -> None:
    morning = datetime(2026, 11, 30, 5, 30, tzinfo=UTC)  # 06:30 in Berlin
    assert next_digest_at(morning, BERLIN, 7) == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    later = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # 07:00 in Berlin: the next one is tomorrow's
    assert next_digest_at(later, BERLIN, 7) == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


def test_retries_wait_longer_each_time_up_to_the_limit() -> None:
    assert [retry_delay(n, 900).total_seconds() for n in (1, 2, 3)] == [2, 4, 8]
    assert retry_delay(20, 900) == timedelta(seconds=900)


def test_the_smtp_url_must_name_smtp_or_smtps() -> None:
    with pytest.raises(ValueError, match="EAKTE_SMTP_URL"):
        SmtpTransport("http://mail.example.org", "e-akte@example.org").send("a@b", "s", "b")


# --- the notifier over the fake unit of work -------------------------------------------------------------
def _listening(uow: FakeWorkflowUnitOfWork, notifier: Notifier):
    announce = uow.add_event

    def add_event(event: events.Event) -> None:
        announce(event)
        notifier.on_event(uow, event)

    return add_event


class CountingNotifications(FakeNotifications):
    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    def person(self, user: str) -> PersonRow | None:
        self.lookups += 1
        return super().person(user)


def test_a_person_seen_again_is_looked_up_once_a_minute_and_a_change_is_written_at_once() -> None:
    uow = FakeWorkflowUnitOfWork()
    fake = CountingNotifications()
    uow.notifications = fake  # type: ignore[attr-defined]
    clock = ControllableClock()
    notifier = Notifier(ORG, clock, UTC, MailConfig("https://eakte.test/", "stadt.test"))

    for _ in range(50):  # an inbox polled for a while
        notifier.seen(uow, "anton", "anton@kiel.de", {"approver"})
    assert fake.lookups == 1 and fake.people["anton"].roles == ["approver"]

    notifier.seen(uow, "anton", "anton@kiel.de", {"approver", "clerk"})  # a new role: written now
    assert fake.people["anton"].roles == ["approver", "clerk"]
    fake.people["anton"].roles = ["clerk"]  # changed through another replica
    notifier.seen(uow, "anton", "anton@kiel.de", {"approver", "clerk"})
    assert fake.people["anton"].roles == ["clerk"]  # within the minute this replica does not look
    clock.advance(61)
    notifier.seen(uow, "anton", "anton@kiel.de", {"approver", "clerk"})
    assert fake.people["anton"].roles == ["approver", "clerk"] and fake.lookups == 3


def test_a_new_task_for_a_role_mails_its_known_holders_and_one_in_person_also_the_deputy() -> None:
    uow = FakeWorkflowUnitOfWork()
    fake = FakeNotifications()
    uow.notifications = fake  # type: ignore[attr-defined]
    workflow, clock = build_workflow(uow, REGISTRY, ORG)
    notifier = Notifier(ORG, clock, UTC, MailConfig("https://eakte.test/", "stadt.test"))
    uow.add_event = _listening(uow, notifier)  # type: ignore[method-assign]
    fake.put_person(PersonRow(user="anton", email="anton@kiel.de", roles=["approver"]))
    fake.put_person(PersonRow(user="nele", email="", roles=["approver", "clerk"]))
    fake.put_person(PersonRow(user="clara", email="", roles=["clerk"]))
    today = clock.now().date()
    uow.absences.add(AbsenceRow(absence_id="a", user="nele", deputy="dirk", starts_on=today, ends_on=today))
    uow.absences.add(AbsenceRow(absence_id="b", user="sabine", deputy="doris", starts_on=today, ends_on=today))
    workflow.starting.start(workflow.uow(), _ingested("simple", "clara"))  # offered to the role approver
    sent = {(m.address, m.kind) for m in fake.mails.values()}
    assert sent == {("anton@kiel.de", "new_task"), ("nele@stadt.test", "new_task")}  # a group task: no deputy
    mail = next(iter(fake.mails.values()))
    assert mail.subject == "Neue Aufgabe: Bescheid (50.1/2026)" and "https://eakte.test/aufgaben/" in mail.body
    fake.mails.clear()
    workflow.starting.start(workflow.uow(), _ingested("boss", "clara"))  # the head of unit 50 in person
    sent = {(m.address, m.kind) for m in fake.mails.values()}
    assert sent == {("sabine@stadt.test", "new_task"), ("doris@stadt.test", "deputy_task")}
    deputy = next(m for m in fake.mails.values() if m.kind == "deputy_task")
    assert deputy.subject == "Neue Aufgabe in Vertretung: Bescheid (50.1/2026)"


def test_digest_mails_wait_for_the_digest_time_and_go_out_as_one() -> None:
    uow = FakeWorkflowUnitOfWork()
    fake = FakeNotifications()
    uow.notifications = fake  # type: ignore[attr-defined]
    workflow, clock = build_workflow(uow, REGISTRY, ORG)
    notifier = Notifier(ORG, clock, UTC, MailConfig("https://eakte.test", "stadt.test", digest_hour=7))
    uow.add_event = _listening(uow, notifier)  # type: ignore[method-assign]
    fake.put_person(PersonRow(user="anton", email="", roles=["approver"]))
    notifier.set_preference(uow, "anton", Delivery.DIGEST, False)
    for _ in range(2):
        workflow.starting.start(workflow.uow(), _ingested("simple", "clara"))
    transport = FakeTransport()
    sender = MailSender(lambda: uow, clock, transport, TEMPLATES["digest"])
    assert sender.send_due() == 0 and transport.sent == []
    clock.advance(86400)
    assert sender.send_due() == 1
    [(address, subject, body)] = transport.sent
    assert address == "anton@stadt.test" and "2 Benachrichtigungen" in subject
    assert body.count("Neue Aufgabe: Bescheid (50.1/2026)") == 2


def test_a_failed_delivery_stays_queued_and_is_retried_after_the_backoff() -> None:
    uow = FakeWorkflowUnitOfWork()
    fake = FakeNotifications()
    uow.notifications = fake  # type: ignore[attr-defined]
    clock = ControllableClock()
    now = clock.now()
    fake.add_mail(
        MailRow(
            mail_id=str(uuid.uuid4()),
            recipient="anton",
            address="anton@stadt.test",
            kind="returned",
            subject="Zurückgegeben",
            body="Text",
            link="",
            digest=False,
            send_after=now,
            attempts=0,
            last_error="",
        )
    )
    transport = FakeTransport()
    transport.down = True
    sender = MailSender(lambda: uow, clock, transport, TEMPLATES["digest"])
    assert sender.send_due() == 0
    [mail] = fake.mails.values()
    assert mail.attempts == 1 and mail.sent_at is None and "ConnectionRefusedError" in mail.last_error
    transport.down = False
    assert sender.send_due() == 0  # not before the backoff
    clock.advance(2)
    assert sender.send_due() == 1 and mail.sent_at is not None
    assert sender.send_due() == 0 and len(transport.sent) == 1


# --- the portal page -------------------------------------------------------------------------------------
def test_the_settings_page_shows_the_choice_and_saves_it(services: FakeServices) -> None:
    path = "/api/v1/notifications/preferences"
    current = {"user": "anton", "delivery": "immediate", "archived": False, "address": "anton@stadt.test"}
    services.answers[("GET", path)] = (200, current)
    services.answers[("PUT", path)] = (200, {**current, "delivery": "digest"})
    client = make_client(services)
    sign_in(client, "anton", "approver")
    page = client.get("/einstellungen")
    assert page.status_code == 200 and "anton@stadt.test" in page.text and "Tagesübersicht" in page.text
    token = csrf_of(page.text)
    saved = client.post(
        "/einstellungen", data={"csrf_token": token, "delivery": "digest", "archived": "on"}, follow_redirects=False
    )
    assert saved.status_code == 303
    put = [c for c in services.calls if c.method == "PUT"]
    assert len(put) == 1 and put[0].read() == b'{"delivery":"digest","archived":true}'
    refused = client.post("/einstellungen", data={"csrf_token": token, "delivery": "weekly"})
    assert refused.status_code == 422 and "Bitte wählen Sie" in refused.text


@pytest.fixture
def services() -> FakeServices:
    return FakeServices()


def test_a_reminder_goes_to_the_roles_holders_and_an_escalation_to_its_target() -> None:
    uow = FakeWorkflowUnitOfWork()
    fake = FakeNotifications()
    uow.notifications = fake  # type: ignore[attr-defined]
    workflow, clock = build_workflow(uow, REGISTRY, ORG)
    notifier = Notifier(ORG, clock, UTC, MailConfig("https://eakte.test", "stadt.test"))
    uow.add_event = _listening(uow, notifier)  # type: ignore[method-assign]
    fake.put_person(PersonRow(user="anton", email="", roles=["approver"]))
    fake.put_person(PersonRow(user="adam", email="", roles=["admin"]))
    workflow.starting.start(workflow.uow(), _ingested("simple", "clara"))
    clock.advance(timedelta(days=2, hours=1).total_seconds())  # a day before the 3-day deadline
    workflow.scheduler.tick(uow)
    clock.advance(timedelta(days=1).total_seconds())  # past it
    workflow.scheduler.tick(uow)
    kinds = sorted((m.kind, m.recipient) for m in fake.mails.values())
    escalated = [e for e in uow.events if isinstance(e, events.TaskEscalated)]
    assert len(escalated) == 1
    target = escalated[0].escalated_to_user or "adam"
    assert ("new_task", "anton") in kinds and ("reminder", "anton") in kinds
    assert ("escalation", target) in kinds
    reminder = next(m for m in fake.mails.values() if m.kind == "reminder")
    assert reminder.subject.startswith("Erinnerung: Frist läuft ab – Bescheid (50.1/2026)")
