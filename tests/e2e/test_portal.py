"""The portal in a real browser (headless Debian Chromium) against the real stack: what each person sees and does."""

import hashlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from devstack.stack import Stack
from tests.conftest import unique_bytes
from tests.integration.browser import PageChecks, new_context
from tests.integration.conftest import Api, wait_for

GOOD_FILE = "sf__002-trivial-libre-office-writer.pdf"
ROLE_LABELS = {
    "clerk": "Sachbearbeitung",
    "approver": "Freigabe",
    "records_officer": "Registratur",
    "admin": "Administration",
}
NOT_A_PDF = "Die Datei ist weder ein PDF-Dokument noch ein Bild (TIFF, PNG, JPEG)."


def sign_in(browser: Browser, stack: Stack, user: str, *roles: str) -> Page:
    """Sign in on the development page the way a person does: name, role boxes, button."""
    page = new_context(browser).new_page()
    page.goto(f"{stack.url('portal')}/anmelden")
    page.get_by_label("Benutzername").fill(user)
    for role in roles:
        page.get_by_role("checkbox", name=ROLE_LABELS[role]).check()
    page.get_by_role("button", name="Anmelden", exact=True).click()
    expect(page.get_by_text(f"Angemeldet als {user}")).to_be_visible()
    return page


@dataclass
class Upload:
    document_id: str
    aktenzeichen: str
    title: str
    original: bytes


@pytest.fixture(scope="module")
def clerk_upload(browser: Browser, stack: Stack, page_checks: PageChecks) -> Iterator[tuple[Upload, Page]]:
    """Clara uploads a good scan and a file that is no PDF in one go, into a new Akte, with the standard workflow."""
    page = sign_in(browser, stack, "clara", "clerk")
    page.goto(f"{stack.url('portal')}/erfassen")
    page_checks.check(page, "01-erfassen")
    title = f"Antrag Müller {uuid.uuid4().hex[:6]}"
    good = unique_bytes(GOOD_FILE)
    new_akte = page.locator("details", has_text="Neue Akte anlegen")
    if not new_akte.evaluate("details => details.open"):  # closed when Akten exist already
        page.get_by_text("Neue Akte anlegen").click()
    page.get_by_label("Aktenplankennzeichen").select_option("63.01")
    page.get_by_label("Titel der neuen Akte").fill("Neubau Einfamilienhaus Müller")
    page.get_by_label("Titel", exact=True).fill(title)
    page.get_by_label("Freigabeverfahren").select_option("standard")
    page.get_by_label("Dateien auswählen").set_input_files(
        [
            {"name": "bauantrag.pdf", "mimeType": "application/pdf", "buffer": good},
            {"name": "notiz.pdf", "mimeType": "application/pdf", "buffer": b"Dies ist nur eine Textnotiz.\n"},
        ]
    )
    page.get_by_role("button", name="Hochladen").click()
    results = page.locator("#upload-results")
    expect(results.locator("li.ok")).to_have_count(1)
    expect(results.locator("li.error")).to_have_count(1)
    page_checks.check(page, "02-erfassen-ergebnis")
    link = results.locator("li.ok a").get_attribute("href")
    document_id = link.rsplit("/", 1)[-1]
    aktenzeichen = re.search(r"Erfasst in Akte (\S+)\.", results.locator("li.ok").inner_text()).group(1)
    yield Upload(document_id, aktenzeichen, title, good), page
    page.context.close()


def test_clerk_sees_acceptance_and_the_german_reason_for_a_rejected_file(clerk_upload, api: Api) -> None:
    upload, page = clerk_upload
    results = page.locator("#upload-results")
    expect(results.locator("li.ok")).to_contain_text("bauantrag.pdf")
    expect(results.locator("li.ok")).to_contain_text(f"Erfasst in Akte {upload.aktenzeichen}.")
    expect(results.locator("li.error")).to_contain_text("notiz.pdf")
    expect(results.locator("li.error")).to_contain_text(f"Abgelehnt: {NOT_A_PDF}")
    # What the page says is what happened: the document exists with the clerk's metadata and workflow.
    document = api.document(upload.document_id)
    assert document["title"] == upload.title and document["workflow"] == "standard"
    assert document["aktenzeichen"] == upload.aktenzeichen and document["submitted_by"] == "clara"
    assert document["sha256"] == hashlib.sha256(upload.original).hexdigest()


def test_approver_approves_and_the_clerk_timeline_follows_live(
    clerk_upload, browser: Browser, stack: Stack, api: Api, page_checks: PageChecks
) -> None:
    upload, _ = clerk_upload
    clerk = sign_in(browser, stack, "clara", "clerk")
    clerk.goto(f"{stack.url('portal')}/dokumente/{upload.document_id}")
    timeline = clerk.locator("#timeline")
    expect(timeline).to_contain_text("Eingegangen")
    expect(timeline).to_contain_text("In Prüfung")
    page_checks.check(clerk, "03-dokument-verlauf")
    clerk.evaluate("window.__notReloaded = true")

    approver = sign_in(browser, stack, "anton", "approver")
    api.task_for(upload.document_id)  # the task exists before the inbox is opened
    approver.goto(f"{stack.url('portal')}/aufgaben?suche={quote(upload.title)}")  # the inbox is paged
    expect(approver.locator(".counts")).to_contain_text("offen")
    page_checks.check(approver, "04-aufgaben")
    approver.get_by_role("link", name=upload.title).click()
    expect(approver.locator("object.pdf-view")).to_have_attribute("data", f"/dokumente/{upload.document_id}/inhalt")
    pdf = approver.request.get(f"{stack.url('portal')}/dokumente/{upload.document_id}/inhalt")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    page_checks.check(approver, "05-aufgabe-entscheiden")
    approver.get_by_label("Freigeben").check()
    approver.get_by_label("Begründung / Anmerkung").fill("Sachlich und rechnerisch richtig.")
    approver.get_by_role("button", name="Entscheidung speichern").click()
    expect(approver.get_by_role("status")).to_contain_text(f"„{upload.title}“ wurde freigegeben.")

    # The clerk's open page shows approval and archiving by itself, without a reload.
    expect(timeline).to_contain_text("Freigegeben", timeout=30_000)
    expect(timeline).to_contain_text("von anton")
    expect(timeline).to_contain_text("Archiviert", timeout=60_000)
    assert clerk.evaluate("window.__notReloaded") is True
    page_checks.check(clerk, "06-dokument-archiviert")
    approver.context.close()
    clerk.context.close()


def test_records_officer_finds_the_document_and_downloads_identical_bytes(
    clerk_upload, browser: Browser, stack: Stack, api: Api, page_checks: PageChecks
) -> None:
    upload, _ = clerk_upload
    wait_for(lambda: api.archived(upload.document_id).status_code == 200 or _approve(api, upload), 60)
    rita = sign_in(browser, stack, "rita", "records_officer")
    rita.goto(f"{stack.url('portal')}/archiv")
    rita.get_by_label("Aktenzeichen").fill(upload.aktenzeichen)
    rita.get_by_role("button", name="Suchen").click()
    expect(rita.get_by_role("heading", name="1 Treffer")).to_be_visible()
    page_checks.check(rita, "07-archiv-suche")
    rita.get_by_role("link", name=upload.title).click()
    expect(rita.locator("table")).to_contain_text("unveränderbar (Compliance)")
    page_checks.check(rita, "08-archivpaket")

    with rita.expect_download() as info:
        rita.get_by_role("link", name="Original herunterladen").click()
    downloaded = Path(info.value.path()).read_bytes()
    assert hashlib.sha256(downloaded).hexdigest() == hashlib.sha256(upload.original).hexdigest()
    assert downloaded == upload.original

    rita.get_by_role("button", name="Unversehrtheit prüfen").click()
    expect(rita.get_by_role("status")).to_contain_text("Geprüft – das Dokument ist unverändert.")
    expect(rita.locator("dd", has_text="unverändert")).to_contain_text(": unverändert")
    rita.get_by_role("button", name="Rechtliche Sperre setzen").click()
    expect(rita.get_by_role("status")).to_contain_text("Die rechtliche Sperre ist gesetzt")
    expect(rita.locator("table")).to_contain_text("Ja")  # every object of the package carries the hold
    rita.get_by_role("button", name="Rechtliche Sperre aufheben").click()
    expect(rita.get_by_role("status")).to_contain_text("Die rechtliche Sperre ist aufgehoben.")
    rita.goto(f"{stack.url('portal')}/aussonderung")
    page_checks.check(rita, "09-aussonderung")
    rita.context.close()


def _approve(api: Api, upload: Upload) -> bool:
    """Only if the approver test did not run (e.g. -k selection): approve through the API instead."""
    for task in api.tasks():
        if task["document_id"] == upload.document_id:
            api.decide(task["task_id"], "approve", comment="ok")
    return False


def test_a_clerk_is_not_allowed_on_records_office_pages(
    browser: Browser, stack: Stack, page_checks: PageChecks
) -> None:
    clerk = sign_in(browser, stack, "clara", "clerk")
    expect(clerk.get_by_role("navigation", name="Hauptnavigation")).not_to_contain_text("Archiv")
    response = clerk.goto(f"{stack.url('portal')}/archiv")
    assert response is not None and response.status == 403
    expect(clerk.get_by_role("heading", name="Nicht erlaubt")).to_be_visible()
    page_checks.check(clerk, "10-nicht-erlaubt")
    # Not just hidden: the server refuses the download and a state change without a form token, too.
    assert clerk.goto(f"{stack.url('portal')}/admin/quarantaene").status == 403
    cookies = {c["name"]: c["value"] for c in clerk.context.cookies()}
    forged = httpx.post(f"{stack.url('portal')}/aufgaben/x/entscheidung", cookies=cookies, data={"decision": "approve"})
    assert forged.status_code == 403
    clerk.context.close()


def test_without_sign_in_every_page_leads_to_the_sign_in_page(
    browser: Browser, stack: Stack, page_checks: PageChecks
) -> None:
    page = new_context(browser).new_page()
    page.goto(f"{stack.url('portal')}/aufgaben")
    assert page.url.endswith("/anmelden?next=/aufgaben")
    page_checks.check(page, "00-anmelden")
    cookie = next(c for c in page.context.cookies() if c["name"] == "eakte_portal")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.context.close()


def test_approver_records_an_absence_with_a_deputy(browser: Browser, stack: Stack, page_checks: PageChecks) -> None:
    page = sign_in(browser, stack, "berta", "approver")
    page.goto(f"{stack.url('portal')}/abwesenheit")
    page.get_by_label("Vertretung (Benutzername)").fill("sven")
    page.get_by_label("Von").fill("2030-07-01")
    page.get_by_label("Bis einschließlich").fill("2030-07-14")
    page.get_by_role("button", name="Abwesenheit eintragen").click()
    expect(page.get_by_role("status")).to_contain_text("Vertretung: sven")
    expect(page.locator("table")).to_contain_text("01.07.2030")
    page_checks.check(page, "11-abwesenheit")
    page.context.close()


def test_admin_sees_the_rejected_file_in_quarantine_and_the_system_state(
    clerk_upload, browser: Browser, stack: Stack, page_checks: PageChecks
) -> None:
    admin = sign_in(browser, stack, "adam", "admin")
    admin.goto(f"{stack.url('portal')}/admin/quarantaene")
    row = admin.locator("tr", has_text="notiz.pdf").first
    expect(row).to_contain_text(NOT_A_PDF)
    expect(row).to_contain_text("von clara")
    page_checks.check(admin, "12-quarantaene")
    with admin.expect_download() as info:
        row.get_by_role("link", name="Datei herunterladen: notiz.pdf").click()
    assert Path(info.value.path()).read_bytes() == b"Dies ist nur eine Textnotiz.\n"
    row.get_by_role("button", name="Verwerfen").click()
    expect(admin.get_by_role("status")).to_contain_text("Die Datei wurde verworfen und gelöscht.")
    admin.get_by_role("link", name="Verworfen").click()
    expect(admin.locator("tr", has_text="notiz.pdf").first).to_contain_text(NOT_A_PDF)
    admin.goto(f"{stack.url('portal')}/admin/system")
    expect(admin.locator(".health")).to_contain_text("Erfassung: erreichbar")
    expect(admin.locator(".health")).to_contain_text("Nachrichtenbus (Kafka): erreichbar")
    expect(admin.locator("table.consumer-lag")).to_contain_text("documents.ingested")
    page_checks.check(admin, "13-systemzustand")
    admin.context.close()


def test_a_returned_document_goes_back_to_the_clerk_who_submits_a_new_version(
    browser: Browser, stack: Stack, api: Api, tmp_path: Path, page_checks: PageChecks
) -> None:
    first = tmp_path / "widerspruch.pdf"
    first.write_bytes(unique_bytes("sf__minimal-document.pdf"))
    title = f"Widerspruch Schulz {uuid.uuid4().hex[:6]}"
    created = api.upload(first, workflow="standard", title=title)
    assert created.status_code == 201, created.text
    document_id = created.json()["document_id"]
    api.task_for(document_id)

    approver = sign_in(browser, stack, "anton", "approver")
    approver.goto(f"{stack.url('portal')}/aufgaben?suche={quote(title)}")  # the inbox is paged
    approver.get_by_role("link", name=title).click()
    approver.get_by_label("Zur Überarbeitung zurückgeben").check()
    approver.get_by_role("button", name="Entscheidung speichern").click()
    expect(approver.get_by_role("alert")).to_contain_text("Bitte geben Sie eine Begründung an.")
    approver.get_by_label("Zur Überarbeitung zurückgeben").check()
    approver.get_by_label("Begründung / Anmerkung").fill("Bitte die Anlage 2 beifügen.")
    approver.get_by_role("button", name="Entscheidung speichern").click()
    expect(approver.get_by_role("status")).to_contain_text("wurde zur Überarbeitung zurückgegeben")
    approver.context.close()

    clerk = sign_in(browser, stack, "clara", "clerk")
    clerk.goto(f"{stack.url('portal')}/dokumente/{document_id}")
    expect(clerk.locator("#timeline")).to_contain_text("Zur Überarbeitung zurückgegeben", timeout=30_000)
    clerk.reload()  # the revision form belongs to the page, not to the live timeline
    page_checks.check(clerk, "14-zurueckgegeben")
    second = unique_bytes("sf__minimal-document.pdf")
    clerk.get_by_label("Überarbeitete Fassung (PDF, TIFF, PNG oder JPEG)").set_input_files(
        {"name": "widerspruch-v2.pdf", "mimeType": "application/pdf", "buffer": second}
    )
    clerk.get_by_role("button", name="Fassung einreichen").click()
    expect(clerk.get_by_role("status")).to_contain_text("Version 2")
    assert api.document(document_id)["version"] == 2
    assert api.task_for(document_id)["version"] == 2
    clerk.context.close()


def test_sign_in_works_with_the_keyboard_alone(browser: Browser, stack: Stack) -> None:
    page = new_context(browser).new_page()
    page.goto(f"{stack.url('portal')}/anmelden")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Zum Inhalt springen"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "E-Akte"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "clara (Sachbearbeitung)"
    page.keyboard.press("Enter")
    expect(page.get_by_text("Angemeldet als clara")).to_be_visible()
    assert page.url.endswith("/erfassen")
    page.context.close()
