"""Page previews in a real browser (headless Debian Chromium, no PDF plug-in): the document, task and archive
pages show the pages as images with paging and zoom, the lists show thumbnails; axe finds nothing serious."""

from dataclasses import dataclass
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Locator, expect

from devstack.stack import Stack
from tests.conftest import unique_bytes
from tests.e2e.test_portal import sign_in
from tests.integration.browser import PageChecks
from tests.integration.conftest import Api, wait_for
from tests.preview_pdfs import nested_forms_pdf


@dataclass(frozen=True)
class Documents:
    reviewed: str  # two pages, in the standard workflow (a task for anton)
    reviewed_title: str
    archived: str  # one page, archived at once
    hostile: str  # PDFium cannot draw it: "keine Vorschau"


def _upload(api: Api, name: str, data: bytes, title: str, workflow: str) -> str:
    response = api.http.post(
        f"{api.stack.url('ingest')}/api/v1/documents",
        headers=api.headers("clara", "clerk"),
        files={"file": (name, data, "application/pdf")},
        data={"title": title, "workflow": workflow, "file_plan_class": "63.01", "akte_title": "Vorschau-Akte"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["document_id"])


def _preview_state(api: Api, document_id: str) -> str:
    url = f"{api.stack.url('ingest')}/api/v1/documents/{document_id}/pages"
    return str(api.http.get(url, headers=api.headers("clara", "clerk")).json()["state"])


@pytest.fixture(scope="module")
def documents(api: Api) -> Documents:
    title = "Bauzeichnung mit zwei Seiten"
    reviewed = _upload(api, "zeichnung.pdf", unique_bytes("ocr__tagged.pdf"), title, "standard")
    archived = _upload(api, "bescheid.pdf", unique_bytes("sf__minimal-document.pdf"), "Bescheid archiviert", "none")
    hostile = _upload(api, "kaputt.pdf", nested_forms_pdf(), "Nicht darstellbar", "none")
    for document_id in (reviewed, archived, hostile):
        wait_for(lambda d=document_id: _preview_state(api, d) != "pending", timeout_s=90)
    return Documents(reviewed, title, archived, hostile)


def _loaded(image: Locator) -> None:
    """The image is shown: visible, and the browser decoded a picture (a broken image has no natural width)."""
    expect(image).to_be_visible()
    image.scroll_into_view_if_needed()  # thumbnails load lazily: only once they are in view
    wait_for(lambda: image.evaluate("img => img.complete && img.naturalWidth > 0"), timeout_s=15)


def test_the_document_page_shows_its_pages_with_paging_and_zoom(
    browser: Browser, stack: Stack, documents: Documents, page_checks: PageChecks
) -> None:
    clara = sign_in(browser, stack, "clara", "clerk")
    clara.goto(f"{stack.url('portal')}/dokumente/{documents.reviewed}")
    viewer = clara.locator(".preview-viewer")
    large = viewer.locator("img.preview-large")
    _loaded(large)
    expect(large).to_have_attribute("alt", f"Seite 1 von 2: {documents.reviewed_title}")
    expect(viewer.get_by_role("toolbar", name="Seitenansicht")).to_contain_text("Seite 1 von 2")
    expect(viewer.get_by_role("list", name="Seitenübersicht").get_by_role("link")).to_have_count(2)
    expect(clara.get_by_role("link", name="PDF in neuem Fenster öffnen")).to_be_visible()  # the PDF, one click away
    page_checks.check(clara, "vorschau-01-dokument")

    viewer.get_by_role("button", name="Nächste Seite").click()
    expect(viewer.get_by_role("toolbar")).to_contain_text("Seite 2 von 2")
    expect(large).to_have_attribute("src", f"/dokumente/{documents.reviewed}/seiten/2.png?size=large")
    expect(viewer.get_by_role("button", name="Nächste Seite")).to_be_disabled()
    _loaded(large)
    width_before = large.evaluate("img => img.getBoundingClientRect().width")
    # The keyboard alone: focus the page, zoom in with "+", back with "0", page back with the left arrow.
    viewer.locator(".preview-page").focus()
    clara.keyboard.press("+")
    assert large.evaluate("img => img.getBoundingClientRect().width") > width_before * 1.2
    page_checks.check(clara, "vorschau-02-seite-2-vergroessert")
    clara.keyboard.press("0")
    clara.keyboard.press("ArrowLeft")
    expect(viewer.get_by_role("toolbar")).to_contain_text("Seite 1 von 2")
    viewer.get_by_role("link", name="Seite 2").click()  # the page strip
    expect(large).to_have_attribute("alt", f"Seite 2 von 2: {documents.reviewed_title}")
    clara.context.close()


def test_lists_show_thumbnails(
    browser: Browser, stack: Stack, api: Api, documents: Documents, page_checks: PageChecks
) -> None:
    clara = sign_in(browser, stack, "clara", "clerk")
    clara.goto(f"{stack.url('portal')}/dokumente")
    _loaded(clara.locator(f'img.thumb[src="/dokumente/{documents.reviewed}/seiten/1.png?size=thumb"]'))
    page_checks.check(clara, "vorschau-03-dokumente-liste")
    clara.context.close()

    api.task_for(documents.reviewed)
    anton = sign_in(browser, stack, "anton", "approver")
    # The inbox is paged (and the shared stack holds many tasks): the approver looks for this one by its title.
    anton.goto(f"{stack.url('portal')}/aufgaben?suche={quote(documents.reviewed_title)}")
    _loaded(anton.locator(f'img.thumb[src="/dokumente/{documents.reviewed}/seiten/1.png?size=thumb"]'))
    page_checks.check(anton, "vorschau-04-aufgaben")
    anton.get_by_role("link", name=documents.reviewed_title).first.click()
    _loaded(anton.locator(".preview-viewer img.preview-large"))
    page_checks.check(anton, "vorschau-05-aufgabe")
    anton.context.close()


def test_the_archive_page_shows_the_archived_documents_pages(
    browser: Browser, stack: Stack, api: Api, documents: Documents, page_checks: PageChecks
) -> None:
    wait_for(lambda: api.archived(documents.archived).status_code == 200, timeout_s=60)
    rita = sign_in(browser, stack, "rita", "records_officer")
    rita.goto(f"{stack.url('portal')}/archiv/{documents.archived}")
    _loaded(rita.locator(".preview-viewer img.preview-large"))
    page_checks.check(rita, "vorschau-06-archivpaket")
    rita.context.close()


def test_a_document_that_cannot_be_drawn_says_so_and_offers_the_pdf(
    browser: Browser, stack: Stack, documents: Documents, page_checks: PageChecks
) -> None:
    clara = sign_in(browser, stack, "clara", "clerk")
    clara.goto(f"{stack.url('portal')}/dokumente/{documents.hostile}")
    expect(clara.locator(".preview")).to_contain_text("Keine Vorschau verfügbar.")
    expect(clara.locator(".preview-viewer")).to_have_count(0)
    expect(clara.get_by_role("link", name="PDF in neuem Fenster öffnen")).to_be_visible()
    page_checks.check(clara, "vorschau-07-keine-vorschau")
    clara.context.close()


def test_a_preview_being_made_appears_without_a_reload(
    browser: Browser, stack: Stack, api: Api, page_checks: PageChecks
) -> None:
    clara = sign_in(browser, stack, "clara", "clerk")
    document_id = _upload(api, "frisch.pdf", unique_bytes("sf__pdflatex-image.pdf"), "Gerade erfasst", "none")
    clara.goto(f"{stack.url('portal')}/dokumente/{document_id}")
    clara.evaluate("window.__notReloaded = true")
    _loaded(clara.locator(".preview-viewer img.preview-large"))
    assert clara.evaluate("window.__notReloaded") is True
    clara.context.close()
