"""The search page (/suche) in headless Chromium: a clerk finds their office's documents by another word form,
narrows by a facet, follows a hit to the document; screenshot and axe-core (0 serious or critical violations)."""

import secrets
import string

from playwright.sync_api import Browser, Page, expect

from devstack.stack import Stack
from shared.record_pdf import Section, record_pdf
from tests.integration.browser import PageChecks, new_context
from tests.integration.conftest import Api, wait_for


def _upload(api: Api, user: str, org_unit: str, file_plan_class: str, title: str, text: str, workflow: str) -> str:
    pdf = record_pdf(title, [Section("Inhalt", [("Betreff", title)], text)], "Testdokument")
    response = api.http.post(
        f"{api.stack.url('ingest')}/api/v1/documents",
        headers=api.headers(user, "clerk", org_units=[org_unit]),
        files={"file": ("antrag.pdf", pdf, "application/pdf")},
        data={"workflow": workflow, "file_plan_class": file_plan_class, "title": title, "document_type": "Antrag"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["document_id"])


def _sign_in(browser: Browser, stack: Stack, user: str, org_units: str) -> Page:
    page = new_context(browser).new_page()
    page.goto(f"{stack.url('portal')}/anmelden")
    page.get_by_label("Benutzername").fill(user)
    page.get_by_role("checkbox", name="Sachbearbeitung").check()
    page.get_by_label("Organisationseinheiten (optional)").fill(org_units)
    page.get_by_role("button", name="Anmelden", exact=True).click()
    expect(page.get_by_text(f"Angemeldet als {user}")).to_be_visible()
    return page


def test_a_clerk_searches_narrows_by_status_and_opens_a_hit(
    browser: Browser, stack: Stack, api: Api, page_checks: PageChecks
) -> None:
    marker = "Vermerk" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(8))
    in_review = _upload(api, "paula", "50", "50.10", "Carport <Gartenweg>", f"Antrag auf Carport. {marker}", "default")
    archived = _upload(api, "paula", "50", "50.10", "Bescheid Carport", f"Der Antrag ist genehmigt. {marker}", "none")
    _upload(api, "kira", "20", "20.30", "Sondernutzung Markt", f"Antrag auf Sondernutzung. {marker}", "none")
    admin = api.headers("adam", "admin")
    url = f"{api.stack.url('ingest')}/api/v1/documents/{archived}"
    wait_for(lambda: api.http.get(url, headers=admin).json()["status"] == "archived", timeout_s=90)

    page = _sign_in(browser, stack, "sven", "50")
    page.get_by_role("link", name="Suche").click()
    page.get_by_label("Suchbegriffe").fill(f"Anträge {marker}")
    page.get_by_role("button", name="Suchen").click()
    expect(page.get_by_role("heading", name="2 Treffer")).to_be_visible()
    hits = page.locator(".hit")
    expect(hits).to_have_count(2)
    expect(hits.locator("mark").first).to_have_text("Antrag")
    # The title with angle brackets is escaped, shown as typed, and links to the document.
    expect(page.get_by_role("link", name="Carport <Gartenweg>")).to_have_attribute("href", f"/dokumente/{in_review}")
    expect(page.get_by_text("Sondernutzung Markt")).to_have_count(0)  # another office's: not shown
    facets = page.locator(".facets")
    expect(facets).to_contain_text("Archiviert (1)")
    expect(facets).not_to_contain_text("20.30")  # nor counted
    page_checks.check(page, "20-suche")

    facets.get_by_role("link", name="Archiviert (1)").click()
    expect(page.get_by_role("heading", name="1 Treffer")).to_be_visible()
    page_checks.check(page, "21-suche-eingegrenzt")
    page.get_by_role("link", name="Bescheid Carport").click()
    expect(page).to_have_url(f"{stack.url('portal')}/dokumente/{archived}")
    page.context.close()
