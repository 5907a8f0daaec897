"""Issue 17 points 3 and 5 in a real browser (headless Debian Chromium) on the real stack: the Akte page with its
Vorgänge, documents, timeline and actions; need-to-know on it; the inbox's filters and approving several tasks
at once, each decision audited by itself. Screenshots go to test-artifacts/screenshots/, axe-core checks each."""

import uuid
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Browser, Page, expect

from devstack.stack import Stack
from tests.conftest import unique_bytes
from tests.e2e.test_portal import sign_in
from tests.integration.browser import PageChecks, new_context
from tests.integration.conftest import Api, wait_for

GOOD_FILE = "sf__minimal-document.pdf"


def _upload(api: Api, tmp_path: Path, title: str, workflow: str = "default", **fields: str) -> dict:
    path = tmp_path / f"{uuid.uuid4().hex}.pdf"
    path.write_bytes(unique_bytes(GOOD_FILE))
    response = api.upload(path, "clara", workflow, title=title, **fields)
    assert response.status_code == 201, response.text
    return response.json()


def _sign_in_with_unit(browser: Browser, stack: Stack, user: str, role_label: str, units: str) -> Page:
    page = new_context(browser).new_page()
    page.goto(f"{stack.url('portal')}/anmelden")
    page.get_by_label("Benutzername").fill(user)
    page.get_by_role("checkbox", name=role_label).check()
    page.get_by_label("Organisationseinheiten (optional)").fill(units)
    page.get_by_role("button", name="Anmelden", exact=True).click()
    expect(page.get_by_text(f"Angemeldet als {user}")).to_be_visible()
    return page


def test_akte_page_shows_vorgaenge_documents_timeline_and_files_into_a_vorgang(
    browser: Browser, stack: Stack, api: Api, page_checks: PageChecks, tmp_path: Path
) -> None:
    """A Wohngeld Akte (class 50.30, owned by the Sozialamt, 50) with two Vorgänge; a member of 50 opens it from
    the document page, reads it and files a new document into the first Vorgang; a clerk of 20 gets 404."""
    mark = uuid.uuid4().hex[:6]
    first = _upload(
        api, tmp_path, f"Wohngeldantrag {mark}", file_plan_class="50.30", akte_title=f"Wohngeld Familie {mark}"
    )
    aktenzeichen = first["aktenzeichen"]
    second = _upload(
        api, tmp_path, f"Widerspruch {mark}", "none", aktenzeichen=aktenzeichen, vorgang_title="Widerspruch"
    )
    api.wait_status(second["document_id"], "archived", user="clara")
    api.wait_status(first["document_id"], "in_review", user="clara")

    carl = _sign_in_with_unit(browser, stack, "carl", "Sachbearbeitung", "50")
    carl.goto(f"{stack.url('portal')}/dokumente/{first['document_id']}")
    carl.get_by_role("link", name=aktenzeichen, exact=True).click()
    expect(carl.get_by_role("heading", level=1)).to_have_text(f"Akte {aktenzeichen}")
    facts = carl.locator("#akte-facts")
    expect(facts).to_contain_text(f"Wohngeld Familie {mark}")
    expect(facts).to_contain_text("50.30 – Wohngeld")
    expect(facts).to_contain_text("10 Jahre, danach Vernichtung")
    expect(facts.locator("dd").nth(3)).to_have_text("50")  # the owning org unit: the class's
    expect(carl.get_by_role("heading", level=3)).to_have_count(2)
    first_table = carl.get_by_role("table", name=f"Dokumente im Vorgang „Wohngeldantrag {mark}“")
    expect(first_table).to_contain_text(f"Wohngeldantrag {mark}")
    expect(first_table).to_contain_text("In Prüfung")
    expect(first_table).to_contain_text("Upload")
    second_table = carl.get_by_role("table", name="Dokumente im Vorgang „Widerspruch“")
    expect(second_table).to_contain_text("Archiviert")
    timeline = carl.locator("#akte-timeline")
    expect(timeline).to_contain_text(f"Eingegangen: Wohngeldantrag {mark}")
    expect(timeline).to_contain_text(f"Archiviert: Widerspruch {mark}")
    page_checks.check(carl, "akte-seite")

    carl.get_by_role("link", name=f"Neues Dokument in den Vorgang „Wohngeldantrag {mark}“").click()
    expect(carl.get_by_label("Vorhandene Akte (Aktenzeichen)")).to_have_value(aktenzeichen)
    carl.get_by_label("Titel", exact=True).fill(f"Nachweis {mark}")
    carl.get_by_label("Dateien auswählen").set_input_files(
        [{"name": "nachweis.pdf", "mimeType": "application/pdf", "buffer": unique_bytes(GOOD_FILE)}]
    )
    carl.get_by_role("button", name="Hochladen").click()
    expect(carl.locator("#upload-results li.ok")).to_have_count(1)
    new_id = carl.locator("#upload-results li.ok a").get_attribute("href").rsplit("/", 1)[-1]
    filed = api.document(new_id, "carl", org_units=["50"])
    assert filed["aktenzeichen"] == aktenzeichen
    assert filed["vorgang_id"] == api.document(first["document_id"])["vorgang_id"]
    carl.goto(f"{stack.url('portal')}/akten/{aktenzeichen}")
    expect(first_table).to_contain_text(f"Nachweis {mark}")
    carl.context.close()

    # Need-to-know: a clerk of the Kämmerei (20) learns nothing of the Sozialamt's Akte, not even that it exists.
    kira = _sign_in_with_unit(browser, stack, "kira", "Sachbearbeitung", "20")
    response = kira.goto(f"{stack.url('portal')}/akten/{aktenzeichen}")
    assert response is not None and response.status == 404
    expect(kira.locator("main")).not_to_contain_text(f"Wohngeld Familie {mark}")
    headers = api.headers("kira", "clerk", org_units=["20"])
    akte = api.http.get(f"{stack.url('ingest')}/api/v1/akten/{aktenzeichen}", headers=headers)
    assert akte.status_code == 404
    kira.context.close()


def test_inbox_filters_sorts_and_approves_several_tasks_each_audited(
    browser: Browser, stack: Stack, api: Api, page_checks: PageChecks, tmp_path: Path
) -> None:
    """Anton narrows his inbox to three new tasks, sorts them, and approves them together with one comment; one
    was decided by berta meanwhile: he reads per task what happened, and each decision is its own audit entry."""
    mark = uuid.uuid4().hex[:6]
    titles = [f"Sammel {mark} {letter}" for letter in "ABC"]
    documents = [_upload(api, tmp_path, title)["document_id"] for title in titles]
    tasks = [api.task_for(document_id) for document_id in documents]

    anton = sign_in(browser, stack, "anton", "approver")
    anton.goto(f"{stack.url('portal')}/aufgaben")
    anton.get_by_label("Titel oder Aktenzeichen enthält").fill(f"Sammel {mark}")
    anton.get_by_label("Sortieren nach").select_option("titel")
    anton.get_by_label("Reihenfolge").select_option("ab")
    anton.get_by_role("button", name="Anzeigen").click()
    expect(anton.locator("#inbox-total")).to_have_text("3 Aufgaben entsprechen der Auswahl.")
    rows = anton.locator("#bulk-form tbody tr")
    expect(rows).to_have_count(3)
    assert [rows.nth(i).get_by_role("link").first.inner_text() for i in range(3)] == titles[::-1]
    page_checks.check(anton, "aufgaben-filter")

    anton.get_by_label("Fälligkeit").select_option("ueberfaellig")  # the standard workflow gives five days
    anton.get_by_role("button", name="Anzeigen").click()
    expect(anton.get_by_text("Keine offene Aufgabe entspricht der Auswahl.")).to_be_visible()
    anton.goto(f"{stack.url('portal')}/aufgaben?suche={quote(f'Sammel {mark}')}&schritt=Schlusszeichnung")
    expect(rows).to_have_count(3)
    anton.get_by_label("Alle Aufgaben auf dieser Seite auswählen").check()
    for title in titles:
        expect(anton.get_by_role("checkbox", name=f"Auswählen: {title}")).to_be_checked()
    anton.get_by_label("Anmerkung zur Freigabe").fill("Gemeinsam geprüft, in Ordnung.")

    assert api.decide(tasks[1]["task_id"], "approve", "berta", "Vorab erledigt").status_code == 200
    anton.get_by_role("button", name="Ausgewählte freigeben").click()
    expect(anton.locator("#bulk-summary")).to_have_text("2 freigegeben, 1 nicht freigegeben.")
    results = anton.locator("#bulk-results li")
    expect(results.filter(has_text=titles[0])).to_contain_text("freigegeben")
    expect(results.filter(has_text=titles[2])).to_have_class("ok")
    expect(results.filter(has_text=titles[1])).to_contain_text("Über diese Aufgabe wurde bereits entschieden.")
    page_checks.check(anton, "aufgaben-sammelfreigabe")
    anton.context.close()

    for document_id, decider, comment in (
        (documents[0], "anton", "Gemeinsam geprüft, in Ordnung."),
        (documents[1], "berta", "Vorab erledigt"),
        (documents[2], "anton", "Gemeinsam geprüft, in Ordnung."),
    ):
        trail = api.http.get(
            f"{stack.url('workflow')}/api/v1/workflows/{document_id}/audit", headers=api.headers("adam", "admin")
        ).json()
        decided = [e for e in trail["entries"] if e["action"] == "decided"]
        assert trail["verified"] and len(decided) == 1
        assert decided[0]["actor"] == decider and decided[0]["payload"]["comment"] == comment
        wait_for(lambda d=document_id: api.document(d)["status"] in ("approved", "archived"))
