"""Notifications by e-mail on the real stack: the workflow service mails through a real SMTP server on loopback
(aiosmtpd), and the tests read what arrived: recipient, subject, body, link; never document content.

The workflow service runs with the controllable clock (the digest time is reached by moving time) and a test
definition whose one step is offered to `nele` in person; `dirk` is her deputy while she is away.
"""

import hashlib
import io
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import httpx
import jwt
import pytest
from sqlalchemy import delete

from devstack.stack import Stack
from services.workflow.definitions import SHIPPED_DIR
from services.workflow.tables import MailRow
from shared.db import make_engine
from shared.events import DocumentIngested, DocumentMetadata, StoredObject
from shared.storage import ObjectStore
from tests.conftest import corpus_file
from tests.integration.conftest import JWT_SECRET, TopicReader, wait_for
from tests.smtp_server import Received, SmtpServer

DOMAIN = "stadt.test"
PORTAL = "https://eakte.stadt.test"
APPROVER, DEPUTY, SUBMITTER, DIGESTER = "nele", "dirk", "clemens", "dagmar"
SUBMITTER_ADDRESS = "c.lemens@stadt.test"  # the `email` claim of the submitter's token
CITIZEN = "Erika Mustermann"  # the document's sender: personal data of a citizen, never in a mail
DEFINITIONS = {
    "t-notify.yaml": f"name: t_notify\nsteps:\n  - name: Schlusszeichnung\n    type: signoff\n"
    f"    assignee: {{user: {APPROVER}}}\n    deadline: 30d\n",
    "t-digest.yaml": f"name: t_digest\nsteps:\n  - name: Schlusszeichnung\n    type: signoff\n"
    f"    assignee: {{user: {DIGESTER}}}\n    deadline: 30d\n",
}


def headers(user: str, *roles: str, email: str = "") -> dict[str, str]:
    claims: dict = {"sub": user, "roles": list(roles), "exp": int(time.time()) + 600}
    if email:
        claims["email"] = email
    return {"Authorization": f"Bearer {jwt.encode(claims, JWT_SECRET, algorithm='HS256')}"}


class Mails:
    def __init__(self, stack: Stack, topics: TopicReader, smtp: SmtpServer) -> None:
        self.stack, self.topics, self.smtp = stack, topics, smtp
        self.http = httpx.Client(timeout=30)
        self.url = f"{stack.url('workflow')}/api/v1"
        self.settings = stack.settings()

    def submit(self, workflow: str, title: str, aktenzeichen: str) -> str:
        document_id = str(uuid.uuid4())
        data = corpus_file("sf__minimal-document.pdf").read_bytes() + document_id.encode()
        key = f"documents/{document_id}/original.pdf"
        sha256 = hashlib.sha256(data).hexdigest()
        ObjectStore(self.settings).client.put_object(  # as intake stores it: with its SHA-256 (the archive checks)
            self.settings.inbox_bucket, key, io.BytesIO(data), len(data), metadata={"sha256": sha256}
        )
        stored = StoredObject(bucket=self.settings.inbox_bucket, key=key, size=len(data), sha256=sha256)
        metadata = DocumentMetadata(title=title, aktenzeichen=aktenzeichen, sender=CITIZEN, org_unit="50")
        event = DocumentIngested(
            document_id=uuid.UUID(document_id),
            correlation_id=uuid.uuid4(),
            original=stored,
            metadata=metadata,
            workflow=workflow,
            submitted_by=SUBMITTER,
        )
        self.topics.publish(event.TOPIC, document_id, event.model_dump_json().encode())
        return document_id

    def open_task(self, document_id: str) -> str:
        def task() -> list[str]:
            response = self.http.get(f"{self.url}/workflows/{document_id}", headers=headers("adam", "admin"))
            return [t["task_id"] for t in response.json().get("open", [])] if response.status_code == 200 else []

        return wait_for(task)[0]

    def decide(self, task_id: str, user: str, decision: str, comment: str) -> httpx.Response:
        body = {"decision": decision, "comment": comment}
        return self.http.post(f"{self.url}/tasks/{task_id}/decision", headers=headers(user, "approver"), json=body)

    def sign_in_submitter(self) -> httpx.Response:
        """The submitter opens her settings once: the workflow service learns her token's `email` claim."""
        url = f"{self.url}/notifications/preferences"
        return self.http.get(url, headers=headers(SUBMITTER, "clerk", email=SUBMITTER_ADDRESS))

    def mail_about(self, address: str, words: str, timeout_s: float = 30) -> Received:
        return wait_for(lambda: [m for m in self.smtp.to(address) if words in m.subject], timeout_s=timeout_s)[0]


@pytest.fixture(scope="module")
def mails(stack: Stack, topics: TopicReader, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mails]:
    smtp = SmtpServer().start()
    definitions = tmp_path_factory.mktemp("notify-definitions") / "workflows"
    shutil.copytree(SHIPPED_DIR, definitions)
    for name, text in DEFINITIONS.items():
        (definitions / name).write_text(text)
    saved = dict(stack.extra_env.get("workflow", {}))
    stack.extra_env.setdefault("workflow", {}).update(
        EAKTE_CLOCK="controllable",
        EAKTE_WORKFLOW_DEFINITIONS_DIR=str(definitions),
        EAKTE_SMTP_URL=smtp.url,
        EAKTE_SMTP_FROM="e-akte@stadt.test",
        EAKTE_MAIL_DOMAIN=DOMAIN,
        EAKTE_PORTAL_URL=PORTAL,
        EAKTE_MAIL_SEND_INTERVAL_S="0.2",
        EAKTE_MAIL_RETRY_MAX_S="2",
    )
    stack.services["workflow"].stop()
    _drop_earlier_mails(stack)
    stack.start_service("workflow")
    client = Mails(stack, topics, smtp)
    try:
        yield client
    finally:
        stack.extra_env["workflow"] = saved
        stack.services["workflow"].stop()
        stack.start_service("workflow")
        client.http.close()
        smtp.stop()


def _drop_earlier_mails(stack: Stack) -> None:
    """The shared stack's workflow queued mails for earlier modules' tasks while it had no mail server (416 in one
    run); sent first, they held this module's mails back past the tests' waits on a slow machine."""
    engine = make_engine(stack.settings().database_url_for("workflow"))
    try:
        with engine.begin() as connection:
            connection.execute(delete(MailRow).where(MailRow.sent_at.is_(None)))
    finally:
        engine.dispose()


def test_a_new_task_mails_the_approver_and_her_deputy_while_she_is_away(mails: Mails) -> None:
    clock = mails.http.get(f"{mails.url}/_test/clock", headers=headers("adam", "admin")).json()
    today = date.fromisoformat(clock["today"])
    away = {"deputy": DEPUTY, "starts_on": str(today), "ends_on": str(today + timedelta(days=2))}
    recorded = mails.http.post(f"{mails.url}/absences", headers=headers(APPROVER, "approver"), json=away)
    assert recorded.status_code == 201, recorded.text

    document_id = mails.submit("t_notify", "Bescheid Wohngeld", "50.10-2026/0417")
    task_id = mails.open_task(document_id)

    to_approver = mails.mail_about(f"{APPROVER}@{DOMAIN}", "Neue Aufgabe: Bescheid Wohngeld")
    assert "(50.10-2026/0417)" in to_approver.subject
    assert f"{PORTAL}/aufgaben/{task_id}" in to_approver.body
    assert "Schlusszeichnung" in to_approver.body
    to_deputy = mails.mail_about(f"{DEPUTY}@{DOMAIN}", "Neue Aufgabe in Vertretung: Bescheid Wohngeld")
    assert f"{PORTAL}/aufgaben/{task_id}" in to_deputy.body
    for mail in (to_approver, to_deputy):
        assert CITIZEN not in mail.body and CITIZEN not in mail.subject
        assert mail.message["From"] == "e-akte@stadt.test"
        assert not mail.message.is_multipart()  # text only: no attachment, no document content


def test_a_returned_document_mails_the_submitter_at_the_address_of_her_token(mails: Mails) -> None:
    seen = mails.sign_in_submitter()
    assert seen.status_code == 200 and seen.json()["address"] == SUBMITTER_ADDRESS, seen.text
    document_id = mails.submit("t_notify", "Antrag Zuschuss", "50.20-2026/0099")
    task_id = mails.open_task(document_id)

    started = time.monotonic()
    decided = mails.decide(task_id, APPROVER, "return", "Bitte die Anlage 3 ergänzen (vertraulich)")
    assert decided.status_code == 200, decided.text
    mail = mails.mail_about(SUBMITTER_ADDRESS, "Zur Überarbeitung zurückgegeben: Antrag Zuschuss")
    delay = time.monotonic() - started
    print(f"\nnotification delay, decision to mail received: {delay:.2f} s")
    assert "(50.20-2026/0099)" in mail.subject
    assert f"{PORTAL}/dokumente/{document_id}" in mail.body
    assert "Anlage 3" not in mail.body  # the reason stays in the portal
    assert not mails.smtp.to(f"{SUBMITTER}@{DOMAIN}")  # the token's `email` claim wins over the mail domain


def test_a_mail_server_that_is_down_delays_the_mail_but_never_the_decision(mails: Mails) -> None:
    document_id = mails.submit("t_notify", "Vertrag Hausmeisterei", "10.30-2026/0007")
    task_id = mails.open_task(document_id)
    mails.mail_about(f"{APPROVER}@{DOMAIN}", "Neue Aufgabe: Vertrag Hausmeisterei")
    assert mails.sign_in_submitter().status_code == 200
    mails.smtp.stop()
    try:
        decided = mails.decide(task_id, APPROVER, "reject", "Unvollständig")
        assert decided.status_code == 200, decided.text
        assert decided.json()["workflow_state"] == "rejected"
        log = mails.stack.services["workflow"].log_path
        wait_for(lambda: "mail delivery failed" in log.read_text(errors="replace"))  # tried while down
    finally:
        mails.smtp.start()
    mail = mails.mail_about(SUBMITTER_ADDRESS, "Abgelehnt: Vertrag Hausmeisterei")
    rejected = [m for m in mails.smtp.to(SUBMITTER_ADDRESS) if "Vertrag Hausmeisterei" in m.subject]
    assert len(rejected) == 1  # retried until delivered, and delivered once
    assert f"{PORTAL}/dokumente/{document_id}" in mail.body


def test_the_daily_digest_collects_a_persons_mails_into_one(mails: Mails) -> None:
    chosen = mails.http.put(
        f"{mails.url}/notifications/preferences",
        headers=headers(DIGESTER, "approver"),
        json={"delivery": "digest", "archived": False},
    )
    assert chosen.status_code == 200 and chosen.json()["delivery"] == "digest", chosen.text
    first = mails.submit("t_digest", "Rechnung Streusalz", "20.10-2026/0001")
    second = mails.submit("t_digest", "Rechnung Winterdienst", "20.10-2026/0002")
    mails.open_task(first), mails.open_task(second)
    assert not mails.smtp.to(f"{DIGESTER}@{DOMAIN}")  # nothing before the digest time

    moved = mails.http.post(
        f"{mails.url}/_test/clock", headers=headers("adam", "admin"), json={"advance_seconds": 86400}
    )
    assert moved.status_code == 200, moved.text
    digest = mails.mail_about(f"{DIGESTER}@{DOMAIN}", "Tagesübersicht")
    assert "Rechnung Streusalz (20.10-2026/0001)" in digest.body
    assert "Rechnung Winterdienst (20.10-2026/0002)" in digest.body
    assert len(mails.smtp.to(f"{DIGESTER}@{DOMAIN}")) == 1


def test_an_archived_document_is_announced_to_its_submitter_who_asked_for_it(mails: Mails) -> None:
    assert mails.sign_in_submitter().status_code == 200
    chosen = mails.http.put(
        f"{mails.url}/notifications/preferences",
        headers=headers(SUBMITTER, "clerk", email=SUBMITTER_ADDRESS),
        json={"delivery": "immediate", "archived": True},
    )
    assert chosen.status_code == 200 and chosen.json()["archived"] is True, chosen.text
    document_id = mails.submit("eingangspost", "Posteingang Stadtwerke", "80.10-2026/0003")  # filed without review
    mail = mails.mail_about(SUBMITTER_ADDRESS, "Archiviert: Posteingang Stadtwerke", timeout_s=60)
    assert "(80.10-2026/0003)" in mail.subject
    assert f"{PORTAL}/archiv/{document_id}" in mail.body
    assert CITIZEN not in mail.body
