"""Sign-in through OpenID Connect: the portal against a small standard provider on loopback (a stand-in
for Keycloak: discovery, authorization code with PKCE, RS256-signed ID and access tokens, JWKS)."""

from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi.testclient import TestClient

from services.portal.app import create_app
from shared.settings import Settings
from tests.oidc_provider import Provider, running_provider

PORTAL = "http://127.0.0.1:8080"


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> Iterator[Provider]:
    with running_provider(getattr(request, "param", None)) as provider:
        yield provider


def portal_for(provider: Provider) -> TestClient:
    settings = Settings(
        jwt_secret="unit-test-secret-0123456789abcdef0123",
        portal_auth="oidc",
        portal_public_url=PORTAL,
        portal_oidc_issuer=provider.issuer,
        portal_oidc_client_id="eakte-portal",
        portal_oidc_client_secret="client-secret",
        portal_oidc_roles_claim="realm_access.roles",
    )
    return TestClient(create_app(settings), base_url=PORTAL)


def sign_in_through_provider(client: TestClient, next_path: str) -> httpx.Response:
    to_provider = client.get(f"/anmelden?next={next_path}", follow_redirects=False)
    assert to_provider.status_code == 302
    query = parse_qs(urlparse(to_provider.headers["location"]).query)
    assert query["redirect_uri"] == [f"{PORTAL}/anmelden/rueckkehr"] and query["code_challenge_method"] == ["S256"]
    back = httpx.get(to_provider.headers["location"], follow_redirects=False)
    assert back.status_code == 302
    return client.get(back.headers["location"].removeprefix(PORTAL), follow_redirects=False)


def test_a_person_signs_in_at_the_provider_and_gets_the_portal_roles_from_the_token(provider: Provider) -> None:
    client = portal_for(provider)
    signed_in = sign_in_through_provider(client, "/archiv")
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/archiv"
    assert client.post("/anmelden", data={"user": "adam", "roles": ["admin"]}).status_code == 403  # no dev sign-in
    page = client.get("/abgemeldet")
    assert "Angemeldet als rita" in page.text
    assert 'href="/archiv"' in page.text and 'href="/erfassen"' not in page.text


@pytest.mark.parametrize("provider", [["offline_access"]], indirect=True)
def test_an_account_without_a_portal_role_is_not_let_in(provider: Provider) -> None:
    client = portal_for(provider)
    refused = sign_in_through_provider(client, "/")
    assert refused.status_code == 403 and "keine Rolle" in refused.text
    again = client.get("/archiv", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/anmelden")  # not signed in


def test_a_forged_return_without_the_sessions_state_is_refused(provider: Provider) -> None:
    client = portal_for(provider)
    forged = client.get("/anmelden/rueckkehr?code=abc&state=xyz", follow_redirects=False)
    assert forged.status_code == 401 and "fehlgeschlagen" in forged.text
