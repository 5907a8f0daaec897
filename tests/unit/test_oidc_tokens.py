"""The services accept the organisation's OIDC access tokens: checked against a standard provider on loopback
(discovery, JWKS, RS256), next to the development tokens signed with the shared secret."""

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from jwt.utils import base64url_encode

from devstack.processes import free_port
from shared import auth
from shared.auth import Principal, issue_token, require_roles
from shared.service_app import ServiceRuntime, build_app
from shared.settings import get_settings
from tests.oidc_provider import AUDIENCE, Provider, new_key, running_provider

SECRET = "unit-test-secret-0123456789abcdef0123"
router = APIRouter()


@router.get("/whoami")
async def whoami(principal: Annotated[Principal, Depends(require_roles("clerk", "approver", "admin"))]) -> dict:
    return {"user": principal.user, "roles": sorted(principal.roles), "org_units": sorted(principal.org_units)}


def configure(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in {"EAKTE_JWT_SECRET": SECRET, **env}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    auth.reset_oidc_cache()


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    with running_provider(["clerk", "offline_access"]) as provider:
        configure(
            monkeypatch,
            EAKTE_OIDC_ISSUER=provider.issuer,
            EAKTE_OIDC_AUDIENCE=AUDIENCE,
            EAKTE_OIDC_ROLES_CLAIM="realm_access.roles",
            EAKTE_OIDC_ORG_UNITS_CLAIM="org_units",
        )
        yield provider
    get_settings.cache_clear()
    auth.reset_oidc_cache()


@pytest.fixture
def service() -> Iterator[TestClient]:
    runtime = ServiceRuntime(name="test", settings=get_settings(), sessions=None, broker=None, relay=None)  # type: ignore[arg-type]
    yield TestClient(build_app(runtime, [router]))  # no lifespan: this app has no broker


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_access_token_of_the_provider_is_accepted_with_its_roles_and_org_units(
    provider: Provider, service: TestClient
) -> None:
    token = provider.access_token("clara", ["clerk", "offline_access", "uma_authorization"], org_units=["50", "63"])
    answer = service.get("/whoami", headers=bearer(token))
    assert answer.status_code == 200
    assert answer.json() == {"user": "clara", "roles": ["clerk"], "org_units": ["50", "63"]}


def test_an_es256_access_token_is_accepted_too(provider: Provider, service: TestClient) -> None:
    provider.use_ec_key()
    answer = service.get("/whoami", headers=bearer(provider.access_token("clara")))
    assert answer.status_code == 200 and answer.json()["user"] == "clara"


def test_roles_the_portal_does_not_know_give_no_access(provider: Provider, service: TestClient) -> None:
    answer = service.get("/whoami", headers=bearer(provider.access_token("clara", ["offline_access"])))
    assert answer.status_code == 403


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "another-client"}, "audience"),
        ({"iss": "http://127.0.0.1:1/realms/other"}, "issuer"),
        ({"exp": 1_700_000_000}, "expired"),
    ],
)
def test_a_token_for_another_audience_from_another_issuer_or_expired_is_refused(
    provider: Provider, service: TestClient, claims: dict, reason: str
) -> None:
    answer = service.get("/whoami", headers=bearer(provider.access_token("clara", **claims)))
    assert answer.status_code == 401
    assert reason in answer.json()["reason"].lower()


def test_a_token_signed_by_another_key_with_the_same_kid_is_refused(provider: Provider, service: TestClient) -> None:
    genuine = provider.access_token("clara")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    forged = jwt.encode(claims, new_key(), algorithm="RS256", headers={"kid": provider.kid})
    answer = service.get("/whoami", headers=bearer(forged))
    assert answer.status_code == 401 and "signature" in answer.json()["reason"].lower()


def hs256_signed_with(key: bytes, claims: dict) -> str:
    """A token signed HS256 by hand (PyJWT itself refuses to use a public key as an HMAC secret)."""
    header = base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = base64url_encode(json.dumps(claims).encode())
    signature = hmac.new(key, header + b"." + payload, hashlib.sha256).digest()
    return b".".join((header, payload, base64url_encode(signature))).decode()


def test_alg_none_and_hs256_signed_with_the_providers_public_key_are_refused(
    provider: Provider, service: TestClient
) -> None:
    claims = jwt.decode(provider.access_token("clara"), options={"verify_signature": False})
    claims |= {"sub": "clara", "roles": ["admin"]}
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert service.get("/whoami", headers=bearer(unsigned)).status_code == 401
    public_pem = provider.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    confused = hs256_signed_with(public_pem, claims)
    assert service.get("/whoami", headers=bearer(confused)).status_code == 401
    control = {"sub": "clara", "roles": ["admin"], "exp": claims["exp"]}  # the same forgery with the real secret
    assert service.get("/whoami", headers=bearer(hs256_signed_with(SECRET.encode(), control))).status_code == 200


def test_a_rotated_key_is_picked_up_when_a_token_names_an_unknown_kid(
    provider: Provider, service: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "JWKS_REFRESH_COOLDOWN_S", 0.0)
    assert service.get("/whoami", headers=bearer(provider.access_token("clara"))).status_code == 200
    assert service.get("/whoami", headers=bearer(provider.access_token("clara"))).status_code == 200
    assert provider.jwks_fetches == 1  # cached
    provider.rotate()
    answer = service.get("/whoami", headers=bearer(provider.access_token("clara")))
    assert answer.status_code == 200 and provider.jwks_fetches == 2


def test_development_tokens_signed_with_the_shared_secret_still_work(provider: Provider, service: TestClient) -> None:
    token = issue_token("clara", frozenset({"clerk"}), SECRET, timedelta(minutes=5), org_units=frozenset({"50"}))
    assert service.get("/whoami", headers=bearer(token)).json() == {
        "user": "clara",
        "roles": ["clerk"],
        "org_units": ["50"],
    }


def test_a_provider_that_is_down_gives_503_with_the_reason_not_a_hang(
    monkeypatch: pytest.MonkeyPatch, service: TestClient
) -> None:
    down = f"http://127.0.0.1:{free_port()}/realms/stadt"
    configure(monkeypatch, EAKTE_OIDC_ISSUER=down, EAKTE_OIDC_AUDIENCE=AUDIENCE)
    token = jwt.encode({"iss": down, "aud": AUDIENCE, "exp": 2_000_000_000}, new_key(), algorithm="RS256")
    answer = service.get("/whoami", headers=bearer(token))
    assert answer.status_code == 503
    assert answer.json()["error"] == "identity_provider_unavailable" and "discovery" in answer.json()["reason"]
    get_settings.cache_clear()
    auth.reset_oidc_cache()


def test_without_an_issuer_only_development_tokens_are_accepted(
    monkeypatch: pytest.MonkeyPatch, service: TestClient
) -> None:
    configure(monkeypatch)
    token = jwt.encode({"sub": "clara", "roles": ["clerk"], "exp": 2_000_000_000}, new_key(), algorithm="RS256")
    assert service.get("/whoami", headers=bearer(token)).status_code == 401
    get_settings.cache_clear()
