"""Sign-in through OpenID Connect: the portal against a small standard provider on loopback (a stand-in
for Keycloak: discovery, authorization code with PKCE, RS256-signed ID token, JWKS)."""

import threading
import time
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
import uvicorn
from authlib.jose import JsonWebKey, jwt
from fastapi import FastAPI, Form
from fastapi.responses import RedirectResponse
from fastapi.testclient import TestClient

from devstack.processes import free_port
from services.portal.app import create_app
from shared.settings import Settings

PORTAL = "http://127.0.0.1:8080"


class Provider:
    def __init__(self, port: int, roles: list[str]) -> None:
        self.issuer = f"http://127.0.0.1:{port}/realms/stadt"
        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "k1"})
        self.roles = roles
        self.user = "rita"  # preferred_username of the account that signs in
        self.codes: dict[str, str] = {}  # code -> nonce
        self.app = self._app()

    def _app(self) -> FastAPI:
        app = FastAPI()
        base = "/realms/stadt"

        @app.get(f"{base}/.well-known/openid-configuration")
        def discovery() -> dict:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/auth",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/certs",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            }

        @app.get(f"{base}/certs")
        def certs() -> dict:
            return {"keys": [self.key.as_dict(is_private=False)]}

        @app.get(f"{base}/auth")
        def authorize(redirect_uri: str, state: str, nonce: str, code_challenge: str) -> RedirectResponse:
            assert code_challenge, "the portal must use PKCE"
            code = uuid.uuid4().hex
            self.codes[code] = nonce
            return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", status_code=302)

        @app.post(f"{base}/token")
        def token(code: str = Form(), code_verifier: str = Form()) -> dict:
            assert code_verifier
            nonce = self.codes.pop(code)
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "sub": "f47ac10b",
                "aud": "eakte-portal",
                "iat": now,
                "exp": now + 300,
                "nonce": nonce,
                "preferred_username": self.user,
                "realm_access": {"roles": self.roles},
            }
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key).decode()
            return {"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}

        return app


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> Iterator[Provider]:
    port = free_port()
    provider = Provider(port, getattr(request, "param", ["records_officer", "offline_access"]))
    server = uvicorn.Server(uvicorn.Config(provider.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield provider
    server.should_exit = True
    thread.join(5)


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


def test_an_account_with_a_name_reserved_for_the_system_is_not_let_in(provider: Provider) -> None:
    provider.user = "system"
    client = portal_for(provider)
    refused = sign_in_through_provider(client, "/archiv")
    assert refused.status_code == 403 and "dem System vorbehalten" in refused.text
    again = client.get("/archiv", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/anmelden")  # not signed in
