"""End-to-end journeys: through the browser (the portal) or through all three services, on the real stack."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.integration.browser import PageChecks, launch


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


@pytest.fixture(scope="session")
def page_checks() -> Iterator[PageChecks]:
    """Screenshots and axe checks of every browser journey (serious violations fail); one report of all their pages
    (`test-artifacts/accessibility.json`) when the run ends."""
    checks = PageChecks()
    yield checks
    checks.write_report()
