"""Sign-in through OpenID Connect: the portal against a small standard provider on loopback (a stand-in
for Keycloak: discovery, authorization code with PKCE, RS256-signed ID and access tokens, JWKS)."""

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient

from services.portal.app import create_app
from services.portal.backend import Backend
from shared import auth
from shared.auth import Principal, require_roles
from shared.service_app import ServiceRuntime, build_app
from shared.settings import Settings, get_settings
from tests.oidc_provider import AUDIENCE, Provider, running_provider

PORTAL = "http://127.0.0.1:8080"


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> Iterator[Provider]:
    with running_provider(getattr(request, "param", None)) as provider:
        yield provider


def portal_settings(provider: Provider) -> Settings:
    return Settings(
        jwt_secret="unit-test-secret-0123456789abcdef0123",
        portal_auth="oidc",
        portal_public_url=PORTAL,
        portal_oidc_issuer=provider.issuer,
        portal_oidc_client_id="eakte-portal",
        portal_oidc_client_secret="client-secret",
        portal_oidc_roles_claim="realm_access.roles",
    )


def portal_for(provider: Provider) -> TestClient:
    return TestClient(create_app(portal_settings(provider)), base_url=PORTAL)


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


def test_an_account_with_a_name_reserved_for_the_system_is_not_let_in(provider: Provider) -> None:
    provider.user = "system"
    client = portal_for(provider)
    refused = sign_in_through_provider(client, "/archiv")
    assert refused.status_code == 403 and "dem System vorbehalten" in refused.text
    again = client.get("/archiv", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/anmelden")  # not signed in


archive_api = APIRouter()


@archive_api.get("/api/v1/archive/search")
async def search(principal: Annotated[Principal, Depends(require_roles("records_officer"))]) -> dict:
    # The services' own check: the portal's call must carry a token the service accepts for this person.
    return {"total": 1, "items": [], "seen_as": principal.user}


@pytest.fixture
def services_trusting(provider: Provider, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """An archive service (shared.auth on every route) that accepts the provider's access tokens only."""
    monkeypatch.setenv("EAKTE_JWT_SECRET", "the-services-secret-differs-from-the-portals-0123")
    monkeypatch.setenv("EAKTE_OIDC_ISSUER", provider.issuer)
    monkeypatch.setenv("EAKTE_OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("EAKTE_OIDC_ROLES_CLAIM", "realm_access.roles")
    get_settings.cache_clear()
    auth.reset_oidc_cache()
    runtime = ServiceRuntime(name="archive", settings=get_settings(), sessions=None, broker=None, relay=None)  # type: ignore[arg-type]
    service = build_app(runtime, [archive_api])
    seen: list[str] = []

    async def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        transport = httpx.ASGITransport(app=service)
        return await transport.handle_async_request(request)

    backend = Backend(portal_settings(provider), transport=httpx.MockTransport(recording))
    backend.seen = seen  # type: ignore[attr-defined]
    yield backend
    get_settings.cache_clear()
    auth.reset_oidc_cache()


def test_the_portal_calls_the_services_with_the_persons_own_access_token(
    provider: Provider, services_trusting: Backend
) -> None:
    client = TestClient(create_app(portal_settings(provider), services_trusting), base_url=PORTAL)
    sign_in_through_provider(client, "/archiv")
    page = client.get("/archiv?suchen=1")
    assert page.status_code == 200 and "1 Treffer" in page.text
    (sent,) = services_trusting.seen  # type: ignore[attr-defined]
    claims = jwt.decode(sent.removeprefix("Bearer "), options={"verify_signature": False})
    assert claims["iss"] == provider.issuer and claims["preferred_username"] == "rita"  # the provider's, not minted


def test_an_expired_access_token_sends_the_person_to_sign_in_again(
    provider: Provider, services_trusting: Backend
) -> None:
    provider.access_ttl_s = 5  # within the portal's margin: already too old to send
    client = TestClient(create_app(portal_settings(provider), services_trusting), base_url=PORTAL)
    sign_in_through_provider(client, "/archiv")
    page = client.get("/archiv?suchen=1", follow_redirects=False)
    assert page.status_code == 401 and "Ihre Anmeldung ist abgelaufen" in page.text
    assert 'href="/anmelden?next=/archiv"' in page.text
    assert services_trusting.seen == []  # type: ignore[attr-defined]
    assert client.get("/archiv", follow_redirects=False).headers["location"].startswith("/anmelden")  # session ended


def test_a_token_the_service_no_longer_accepts_also_means_sign_in_again(
    provider: Provider, services_trusting: Backend
) -> None:
    client = TestClient(create_app(portal_settings(provider), services_trusting), base_url=PORTAL)
    sign_in_through_provider(client, "/archiv")
    provider.rotate()  # the provider dropped the key the person's token was signed with
    page = client.get("/archiv?suchen=1", follow_redirects=False)
    assert page.status_code == 401 and "Ihre Anmeldung ist abgelaufen" in page.text
