"""/einstellungen in a real browser (headless Debian Chromium) against the real stack: a person chooses how
notification mails reach them, and the choice is stored by the workflow service."""

import time

import httpx
import jwt
from playwright.sync_api import Browser, expect

from devstack.stack import Stack
from tests.e2e.test_portal import sign_in
from tests.integration.browser import PageChecks
from tests.integration.conftest import JWT_SECRET

USER = "greta"  # nobody else's tests use her


def stored_choice(stack: Stack) -> dict:
    token = jwt.encode({"sub": USER, "roles": ["approver"], "exp": int(time.time()) + 300}, JWT_SECRET, "HS256")
    response = httpx.get(
        f"{stack.url('workflow')}/api/v1/notifications/preferences", headers={"Authorization": f"Bearer {token}"}
    )
    response.raise_for_status()
    return response.json()


def test_a_person_chooses_the_daily_digest_and_archived_notices(
    browser: Browser, stack: Stack, page_checks: PageChecks
) -> None:
    page = sign_in(browser, stack, USER, "approver")
    page.get_by_role("link", name="Einstellungen").click()
    expect(page.get_by_role("heading", name="Einstellungen", level=1)).to_be_visible()
    immediate = page.get_by_label("Sofort, mit einer E-Mail je Ereignis")
    expect(immediate).to_be_checked()  # the default: one mail per event
    page.get_by_label("Einmal täglich, als Tagesübersicht").check()
    page.get_by_label("Mich benachrichtigen, wenn ein von mir eingereichtes Dokument archiviert wurde").check()
    page.get_by_role("button", name="Einstellungen speichern").click()
    expect(page.get_by_role("status")).to_contain_text("Ihre Einstellungen wurden gespeichert.")
    expect(page.get_by_label("Einmal täglich, als Tagesübersicht")).to_be_checked()
    page_checks.check(page, "20-einstellungen")
    assert stored_choice(stack)["delivery"] == "digest" and stored_choice(stack)["archived"] is True
    page.context.close()
