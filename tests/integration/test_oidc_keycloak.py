"""The services accept the organisation's access tokens from a real Keycloak on loopback (devstack/keycloak.py):
roles from `realm_access.roles`, org units from group membership, audience from an audience mapper."""

import re
import uuid
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from devstack.keycloak import KeycloakServer
from devstack.processes import free_port
from devstack.stack import Stack
from services.portal.app import create_app
from tests.stack import wait_for

AUDIENCE = "eakte"
PORTAL_SECRET = "portal-client-secret-for-tests"
PASSWORD = "Passwort-fuer-Tests-1"
PORTAL = "http://127.0.0.1:8080"


def person(name: str, role: str, group: str) -> dict:
    return {
        "username": name,
        "enabled": True,
        "email": f"{name}@stadt.example",
        "emailVerified": True,
        "firstName": name.capitalize(),
        "lastName": "Muster",
        "realmRoles": [role],
        "groups": [f"/{group}"],
        "credentials": [{"type": "password", "value": PASSWORD, "temporary": False}],
    }


def realm(name: str) -> dict:
    mappers = [
        {
            "name": "eakte audience",
            "protocol": "openid-connect",
            "protocolMapper": "oidc-audience-mapper",
            "config": {"included.custom.audience": AUDIENCE, "access.token.claim": "true", "id.token.claim": "false"},
        },
        {
            "name": "org units",
            "protocol": "openid-connect",
            "protocolMapper": "oidc-group-membership-mapper",
            "config": {
                "claim.name": "org_units",
                "full.path": "false",
                "access.token.claim": "true",
                "id.token.claim": "true",
                "userinfo.token.claim": "true",
            },
        },
        {
            # Keycloak puts realm roles only into access tokens by default; the portal reads them from the ID token.
            "name": "realm roles in the ID token",
            "protocol": "openid-connect",
            "protocolMapper": "oidc-usermodel-realm-role-mapper",
            "config": {
                "claim.name": "realm_access.roles",
                "multivalued": "true",
                "access.token.claim": "true",
                "id.token.claim": "true",
                "userinfo.token.claim": "true",
            },
        },
    ]
    client = {
        "clientId": "eakte-portal",
        "secret": PORTAL_SECRET,
        "publicClient": False,
        "standardFlowEnabled": True,
        "directAccessGrantsEnabled": True,
        "redirectUris": [f"{PORTAL}/*"],
        "attributes": {"pkce.code.challenge.method": "S256"},
        "protocolMappers": mappers,
    }
    other = {**client, "clientId": "other-app", "protocolMappers": []}  # no audience mapper: tokens not for us
    return {
        "realm": name,
        "enabled": True,
        "roles": {"realm": [{"name": role} for role in ("clerk", "approver", "records_officer", "admin")]},
        "groups": [{"name": "50"}, {"name": "63"}],
        "clients": [client, other],
        "users": [
            person("clara", "clerk", "50"),
            person("anton", "approver", "63"),
            person("rita", "records_officer", "50"),
        ],
    }


@pytest.fixture(scope="module")
def keycloak(stack: Stack) -> Iterator[KeycloakServer]:
    server = KeycloakServer(stack.data_dir / "keycloak", free_port())
    try:
        server.start()
        server.admin("POST", "/realms", json=realm("stadt"))
        server.admin("POST", "/realms", json=realm("nachbarstadt"))  # another issuer on the same provider
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def ingest_with_oidc(stack: Stack, keycloak: KeycloakServer) -> Iterator[str]:
    stack.restart_service(
        "ingest",
        EAKTE_OIDC_ISSUER=keycloak.issuer("stadt"),
        EAKTE_OIDC_AUDIENCE=AUDIENCE,
        EAKTE_OIDC_ROLES_CLAIM="realm_access.roles",
        EAKTE_OIDC_ORG_UNITS_CLAIM="org_units",
    )
    yield stack.url("ingest")
    stack.restart_service("ingest")


def token_of(keycloak: KeycloakServer, user: str, client: str = "eakte-portal", realm_name: str = "stadt") -> str:
    return keycloak.password_token(realm_name, client, PORTAL_SECRET, user, PASSWORD)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def upload(ingest: str, token: str, pdf: Path) -> httpx.Response:
    pdf.write_bytes(pdf.read_bytes() + f"\n%{uuid.uuid4().hex}\n".encode())  # new bytes: no duplicate
    with pdf.open("rb") as handle:
        return httpx.post(
            f"{ingest}/api/v1/documents",
            headers=bearer(token),
            files={"file": (pdf.name, handle, "application/pdf")},
            data={"title": f"Antrag {uuid.uuid4().hex[:6]}"},
            timeout=30,
        )


def test_a_clerk_signed_in_at_keycloak_files_and_lists_her_own_documents(
    keycloak: KeycloakServer, ingest_with_oidc: str, pdf: Path
) -> None:
    token = token_of(keycloak, "clara")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["org_units"] == ["50"] and "clerk" in claims["realm_access"]["roles"]  # the realm's mappers
    filed = upload(ingest_with_oidc, token, pdf)
    assert filed.status_code == 201, filed.text
    mine = httpx.get(f"{ingest_with_oidc}/api/v1/documents", headers=bearer(token), timeout=30)
    assert mine.status_code == 200
    assert filed.json()["document_id"] in [item["document_id"] for item in mine.json()["items"]]
    approver = upload(ingest_with_oidc, token_of(keycloak, "anton"), pdf)
    assert approver.status_code == 403  # the roles of the token apply


def test_tokens_for_another_audience_or_from_another_issuer_are_refused(
    keycloak: KeycloakServer, ingest_with_oidc: str
) -> None:
    for token in (
        token_of(keycloak, "clara", client="other-app"),
        token_of(keycloak, "clara", realm_name="nachbarstadt"),
    ):
        answer = httpx.get(f"{ingest_with_oidc}/api/v1/documents", headers=bearer(token), timeout=30)
        assert answer.status_code == 401, answer.text


def test_a_new_signing_key_of_the_provider_is_picked_up(keycloak: KeycloakServer, ingest_with_oidc: str) -> None:
    before = token_of(keycloak, "clara")
    assert httpx.get(f"{ingest_with_oidc}/api/v1/documents", headers=bearer(before), timeout=30).status_code == 200
    realm_id = keycloak.admin("GET", "/realms/stadt").json()["id"]
    rotated = {
        "name": f"rotated-{uuid.uuid4().hex[:6]}",
        "providerId": "rsa-generated",
        "providerType": "org.keycloak.keys.KeyProvider",
        "parentId": realm_id,
        "config": {"priority": ["500"], "enabled": ["true"], "active": ["true"]},
    }
    keycloak.admin("POST", "/realms/stadt/components", json=rotated)
    after = token_of(keycloak, "clara")
    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]

    def accepted() -> bool:
        answer = httpx.get(f"{ingest_with_oidc}/api/v1/documents", headers=bearer(after), timeout=30)
        return answer.status_code == 200

    # An unknown kid refetches the key set, at most every 30 s (so a flood of made-up kids cannot hammer Keycloak).
    assert wait_for(accepted, timeout_s=60, interval_s=2)


def sign_in_at_keycloak(client: TestClient, user: str) -> None:
    to_keycloak = client.get("/anmelden?next=/erfassen", follow_redirects=False)
    login_page = httpx.get(to_keycloak.headers["location"], timeout=30)
    action = unescape(re.search(r'action="([^"]+)"', login_page.text).group(1))  # type: ignore[union-attr]
    back = httpx.post(
        action,
        data={"username": user, "password": PASSWORD},
        # Keycloak marks its login cookies Secure; on plain-http loopback they go back by hand, as a browser would.
        headers={"Cookie": "; ".join(f"{name}={value}" for name, value in login_page.cookies.items())},
        follow_redirects=False,
        timeout=30,
    )
    assert back.status_code == 302, back.text[:500]
    location = back.headers["location"]
    assert location.startswith(f"{PORTAL}/anmelden/rueckkehr") and "code" in parse_qs(urlparse(location).query)
    assert client.get(location.removeprefix(PORTAL), follow_redirects=False).status_code == 303


def test_the_portal_signed_in_through_keycloak_calls_the_services_with_the_persons_token(
    stack: Stack, keycloak: KeycloakServer, ingest_with_oidc: str, pdf: Path
) -> None:
    filed = upload(ingest_with_oidc, token_of(keycloak, "clara"), pdf)
    assert filed.status_code == 201, filed.text
    settings = stack.settings().model_copy(
        update={
            "jwt_secret": "the-portal-cannot-mint-tokens-the-services-accept-0123",
            "portal_auth": "oidc",
            "portal_public_url": PORTAL,
            "portal_oidc_issuer": keycloak.issuer("stadt"),
            "portal_oidc_client_id": "eakte-portal",
            "portal_oidc_client_secret": PORTAL_SECRET,
            "portal_oidc_roles_claim": "realm_access.roles",
        }
    )
    with TestClient(create_app(settings), base_url=PORTAL) as client:
        sign_in_at_keycloak(client, "clara")
        page = client.get("/dokumente", follow_redirects=False)
        assert page.status_code == 200, page.text[:500]
        assert filed.json()["document_id"] in page.text  # her own documents, read with her own token
