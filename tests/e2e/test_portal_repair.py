"""The admin's system page repairs what did not go through: Kafka dead letters and set-aside outbox rows."""

import hashlib
import sqlite3
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
from playwright.sync_api import Browser, Page, expect

from devstack.stack import Stack
from shared.events import DeadLetter
from tests.e2e.test_portal import sign_in
from tests.integration.browser import PageChecks
from tests.integration.conftest import TopicReader, wait_for

TOPIC = "documents.review_started"  # consumed by ingest alone: an unreadable message makes one dead letter


def _section(page: Page, stack: Stack) -> str:
    page.goto(f"{stack.url('portal')}/admin/system")
    found = page.locator("section.kafka-topic", has=page.get_by_role("heading", name=TOPIC))
    return found.inner_text() if found.count() else ""


def test_admin_replays_and_purges_dead_letters_on_the_system_page(
    browser: Browser, stack: Stack, topics: TopicReader, page_checks: PageChecks
) -> None:
    key = f"kaputt-{uuid.uuid4().hex[:8]}"
    topics.publish(TOPIC, key, b'{"document_id": "' + key.encode() + b'", "not": "an event"}')
    admin = sign_in(browser, stack, "adam", "admin")
    wait_for(lambda: key in _section(admin, stack), timeout_s=60)
    section = admin.locator("section.kafka-topic", has=admin.get_by_role("heading", name=TOPIC))
    row = section.locator("tr", has_text=key).first
    expect(row).to_contain_text("ingest.documents.review_started")
    letter_id = row.locator("code").inner_text()
    page_checks.check(admin, "13b-systemzustand-fehlerthemen")

    row.get_by_role("button", name=f"Erneut senden: {letter_id}").click()
    expect(admin.get_by_role("status")).to_contain_text(f"Das Ereignis {letter_id} wurde erneut an {TOPIC} gesendet.")
    # Still unreadable, so it is a dead letter again: a second one about the same message.
    wait_for(lambda: _section(admin, stack).count(key) >= 2, timeout_s=60)

    section = admin.locator("section.kafka-topic", has=admin.get_by_role("heading", name=TOPIC))
    section.get_by_label(f"Aus {TOPIC} löschen, was vor diesem Tag einging").fill(
        (date.today() + timedelta(days=2)).isoformat()
    )
    section.get_by_role("button", name="Löschen").click()
    expect(admin.get_by_role("status")).to_contain_text("nicht verarbeitete Ereignisse aus documents.review_started")
    assert key not in _section(admin, stack)

    # Not just hidden: without the form token the server refuses the action.
    cookies = {c["name"]: c["value"] for c in admin.context.cookies()}
    forged = httpx.post(f"{stack.url('portal')}/admin/system/fehlerthemen/{TOPIC}.dlq/erneut-senden", cookies=cookies)
    assert forged.status_code == 403
    admin.context.close()


def test_a_clerk_may_not_replay(browser: Browser, stack: Stack) -> None:
    clerk = sign_in(browser, stack, "clara", "clerk")
    assert clerk.goto(f"{stack.url('portal')}/admin/system").status == 403
    clerk.context.close()


def test_admin_puts_a_set_aside_outbox_row_back(browser: Browser, stack: Stack, topics: TopicReader) -> None:
    key = f"zurueck-{uuid.uuid4().hex[:8]}"
    payload = DeadLetter.of("documents.archived", "test", "test", b"{}", document_id=key).model_dump_json().encode()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(stack.data_dir / "ingest.db", timeout=30) as db:
        row_id = db.execute(
            "INSERT INTO outbox_dead_letters (outbox_id, topic, key, size, payload_sha256, payload_prefix, payload, "
            "reason, attempts, created_at, moved_at) VALUES (0, ?, ?, ?, ?, '', ?, ?, 5, ?, ?)",
            (
                "documents.archived.dlq",
                key.encode(),
                len(payload),
                hashlib.sha256(payload).hexdigest(),
                payload,
                "KafkaTimeoutError: away",
                now,
                now,
            ),
        ).lastrowid
    admin = sign_in(browser, stack, "adam", "admin")
    admin.goto(f"{stack.url('portal')}/admin/system")
    admin.get_by_role("button", name=f"Erneut senden: zurückgestellte Nachricht {row_id} (Erfassung)").click()
    expect(admin.get_by_role("status")).to_contain_text("Die Nachricht wurde wieder in den Ausgang gestellt")
    assert wait_for(lambda: topics.about("documents.archived.dlq", key), timeout_s=30)
    admin.goto(f"{stack.url('portal')}/admin/system")
    expect(admin.locator("table.dead-letters:not(.kafka-letters)").filter(has_text=key)).to_have_count(0)
    expect(admin.locator("table.kafka-letters").filter(has_text=key)).to_have_count(1)  # published: now a letter
    admin.context.close()
