"""Without a valid identity nothing but the description answers: every route of the three services, table-driven.

The table is every route of each running service (its OpenAPI document, plus any route its routers hide from the
document) × {no token, a token signed with another key, an expired token, a token for a name reserved for the
system}: each answers 401. Only /health, /openapi.json and /docs answer without a token. The portal's pages are
session-based: without a session none of them shows a page (200), they send the browser to sign in.
"""

import importlib
import pkgutil
import re
import uuid
from datetime import timedelta

import httpx
import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from devstack.stack import Stack
from services.portal.app import create_app as create_portal
from shared.auth import issue_token
from shared.reserved_names import RESERVED_NAMES
from shared.settings import Settings
from tests.stack import JWT_SECRET

SERVICES = ("ingest", "workflow", "archive")
OPEN = {("GET", "/health"), ("GET", "/openapi.json"), ("GET", "/docs")}
# Citizens' defect reports (Open311 GeoReport v2, ingest): open without a token; a report needs a client app's
# api_key instead (403 without: tests/integration/test_open311.py); the public views show no personal data.
OPEN311 = {
    ("GET", "/open311/v2/services.json"),
    ("POST", "/open311/v2/requests.json"),
    ("GET", "/open311/v2/requests.json"),
    ("GET", "/open311/v2/requests/{request_id}.json"),
}
# Mounted only with EAKTE_CLOCK=controllable (test stacks); when mounted, they are in the table like any route.
ONLY_IN_TEST_STACKS = "/api/v1/_test/"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


CASES: dict[str, dict[str, str]] = {
    "no token": {},
    "another key": _bearer(issue_token("clara", frozenset({"admin"}), "some-other-key-0123456789abcdef", timedelta(1))),
    "expired": _bearer(issue_token("clara", frozenset({"admin"}), JWT_SECRET, timedelta(seconds=-60))),
    **{
        f"reserved name {name}": _bearer(issue_token(name, frozenset({"admin"}), JWT_SECRET, timedelta(hours=1)))
        for name in sorted(RESERVED_NAMES)
    },
}


def _router_routes(service: str) -> list[APIRoute]:
    """Every route the service's modules declare, found in its package (not from a list kept by hand)."""
    package = importlib.import_module(f"services.{service}")
    routers: dict[int, APIRouter] = {}
    for module_info in pkgutil.walk_packages(package.__path__, f"services.{service}."):
        if ".migrations" in module_info.name:
            continue  # Alembic's env.py runs migrations when imported; migrations declare no routes
        module = importlib.import_module(module_info.name)
        routers |= {id(value): value for value in vars(module).values() if isinstance(value, APIRouter)}
    return [route for router in routers.values() for route in router.routes if isinstance(route, APIRoute)]


def _filled(path: str) -> str:
    """A concrete path: each parameter gets a fresh id (nothing exists under it; auth comes first anyway)."""
    return re.sub(r"\{[^}]+\}", lambda _m: str(uuid.uuid4()), path)


def _table(stack: Stack) -> list[tuple[str, str, str]]:
    rows: set[tuple[str, str, str]] = set()
    for service in SERVICES:
        document = httpx.get(f"{stack.url(service)}/openapi.json", timeout=10).json()
        for path, operations in document["paths"].items():
            rows |= {(service, method.upper(), path) for method in operations if method != "parameters"}
        for route in _router_routes(service):
            if not route.include_in_schema:
                rows |= {(service, method, route.path) for method in route.methods}
    rows -= {("ingest", method, path) for method, path in OPEN311}
    return sorted(rows - {(service, method, path) for service in SERVICES for method, path in OPEN})


def test_every_route_refuses_every_caller_without_a_valid_identity(stack: Stack) -> None:
    table = _table(stack)
    assert len({(s, m, p) for s, m, p in table if s == "ingest"}) >= 10, "the ingest API lost its routes?"
    wrong: list[str] = []
    with httpx.Client(timeout=30) as http:
        for service, method, path in table:
            url = f"{stack.url(service)}{_filled(path)}"
            for case, headers in CASES.items():
                answer = http.request(method, url, headers=headers)
                if answer.status_code != 401 or answer.json().get("error") != "unauthorized":
                    wrong.append(f"{service} {method} {path} [{case}]: {answer.status_code} {answer.text[:120]}")
    print(f"authentication table: {len(table)} routes x {len(CASES)} cases = {len(table) * len(CASES)} requests")
    assert not wrong, f"{len(wrong)} of {len(table) * len(CASES)} answers were not 401:\n" + "\n".join(wrong)


def test_the_open311_routes_are_the_only_other_open_ones_and_a_report_still_needs_a_key(stack: Stack) -> None:
    open_ones = {(m, p) for m, p in _described_routes(stack, "ingest") if p.startswith("/open311/")}
    assert open_ones == OPEN311
    with httpx.Client(timeout=30) as http:
        for case, headers in CASES.items():
            answer = http.post(f"{stack.url('ingest')}/open311/v2/requests.json", headers=headers)
            assert answer.status_code == 403 and answer.json()[0]["error"] == "invalid_api_key", case


def _described_routes(stack: Stack, service: str) -> set[tuple[str, str]]:
    document = httpx.get(f"{stack.url(service)}/openapi.json", timeout=10).json()
    return {(m.upper(), p) for p, operations in document["paths"].items() for m in operations if m != "parameters"}


def test_every_route_the_services_declare_is_in_their_openapi_document(stack: Stack) -> None:
    for service in SERVICES:
        document = httpx.get(f"{stack.url(service)}/openapi.json", timeout=10).json()
        described = {(m.upper(), p) for p, operations in document["paths"].items() for m in operations}
        declared = {
            (method, re.sub(r":[^}]+\}", "}", route.path))  # OpenAPI writes {name:path} as {name}
            for route in _router_routes(service)
            if route.include_in_schema and not route.path.startswith(ONLY_IN_TEST_STACKS)
            for method in route.methods
        }
        assert declared <= described, f"{service}: not described: {sorted(declared - described)}"


@pytest.mark.parametrize("service", SERVICES)
def test_the_contract_and_health_are_open_and_reveal_no_data(stack: Stack, service: str) -> None:
    url = stack.url(service)
    document = httpx.get(f"{url}/openapi.json", timeout=10)
    assert document.status_code == 200
    assert document.json()["info"]["title"] == f"E-Akte {service}"
    assert any(path.startswith("/api/v1/") for path in document.json()["paths"])
    assert "bearer" in str(document.json().get("components", {}).get("securitySchemes", {})).lower()
    docs = httpx.get(f"{url}/docs", timeout=10)
    assert docs.status_code == 200 and "/openapi.json" in docs.text and "swagger" in docs.text.lower()
    assert httpx.get(f"{url}/health", timeout=10).json()["status"] == "ok"


# --- the portal: pages behind a session --------------------------------------------------------------------------

PORTAL_PUBLIC = {
    ("GET", "/"),  # sends the browser on: home or sign-in
    ("GET", "/anmelden"),
    ("POST", "/anmelden"),  # signs in (CSRF-checked)
    ("GET", "/anmelden/rueckkehr"),  # the OIDC return; without OIDC it sends to /anmelden
    ("GET", "/abgemeldet"),
    ("GET", "/health"),
}


def _portal_table() -> list[tuple[str, str]]:
    """Every page of the portal's page modules (the app adds only /health and /static itself)."""
    rows: set[tuple[str, str]] = set()
    for name in ("auth_routes", "clerk_routes", "approver_routes", "records_routes", "admin_routes"):
        router = importlib.import_module(f"services.portal.{name}").router
        rows |= {(m, route.path) for route in router.routes if isinstance(route, APIRoute) for m in route.methods}
    return sorted(rows - PORTAL_PUBLIC)


def test_no_portal_page_is_shown_without_a_session(stack: Stack) -> None:
    settings = Settings(
        jwt_secret=JWT_SECRET,
        ingest_url=stack.url("ingest"),
        workflow_url=stack.url("workflow"),
        archive_url=stack.url("archive"),
    )
    with TestClient(create_portal(settings), base_url="http://127.0.0.1:8080") as portal:
        table = _portal_table()
        assert len(table) >= 10, "the portal lost its pages?"
        wrong: list[str] = []
        for method, path in table:
            answer = portal.request(method, _filled(path), follow_redirects=False)
            to_sign_in = answer.status_code == 303 and answer.headers["location"].startswith("/anmelden")
            if not (to_sign_in or answer.status_code in (401, 403)):
                wrong.append(f"{method} {path}: {answer.status_code}")
        assert not wrong, "pages answered without a session:\n" + "\n".join(wrong)
