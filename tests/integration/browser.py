"""Headless Chromium from Debian, driven by Playwright: screenshots and axe-core checks of the portal's pages."""

import json
from collections.abc import Iterator
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from devstack.browser_tools import CHROMIUM
from devstack.stack import PROJECT_ROOT

# Browsers cannot be downloaded here: Debian's Chromium, with flags that keep it off the network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=de-DE",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
SERIOUS = ("serious", "critical")


def launch() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def new_context(browser: Browser) -> BrowserContext:
    context = browser.new_context(
        locale="de-DE", timezone_id="Europe/Berlin", viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(30_000)
    return context


class PageChecks:
    """Screenshot each main page and run axe-core on it; the report lists every violation found."""

    def __init__(self) -> None:
        self.axe = Axe()
        self.report: dict[str, list[dict]] = {}
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def check(self, page: Page, name: str) -> Path:
        page.wait_for_load_state("load")
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        results = self.axe.run(
            page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
        )
        violations = [
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "nodes": [node["target"] for node in v["nodes"]],
            }
            for v in results.response["violations"]
        ]
        self.report[name] = violations
        serious = [v for v in violations if v["impact"] in SERIOUS]
        assert not serious, f"accessibility violations on {name}: {json.dumps(serious, indent=1)}"
        return path

    def write_report(self) -> Path:
        path = ARTIFACTS / "accessibility.json"
        summary = {
            "engine": f"axe-core {self.axe_version()}",
            "standard": "WCAG 2.1 A/AA rules",
            "pages": self.report,
        }
        path.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        return path

    def axe_version(self) -> str:
        first_line = self.axe.axe_script.split("\n", 1)[0]
        return first_line.replace("/*! axe v", "").strip()
