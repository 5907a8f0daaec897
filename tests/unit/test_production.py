"""Production mode: what EAKTE_ENV=production refuses, and names reserved for the system."""

import re

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from eakte_cli import main
from services.portal.app import create_app
from shared.auth import Principal, current_principal
from shared.production import problems, refuse_unsafe_start
from shared.reserved_names import RESERVED_NAMES, is_reserved
from shared.settings import DEV_JWT_SECRET, DEV_S3_ACCESS_KEY, DEV_S3_SECRET_KEY, Settings, dev_kafka_password
from tests.conftest import token

SERVICES = ("ingest", "workflow", "archive")


def production(**overrides: object) -> Settings:
    """A clean production configuration of a service or the portal; each test spoils one thing."""
    values: dict[str, object] = {
        "env": "production",
        "jwt_secret": "prod-jwt-4f1c9a0e7b2d",
        "s3_access_key": "eakte-prod",
        "s3_secret_key": "prod-s3-8d2e6b1a9c",
        "kafka_username": "ingest",
        "kafka_password": "prod-kafka-1b7e4c",
        "portal_auth": "oidc",
        "portal_oidc_issuer": "https://sso.example.org/realms/stadt",
        "portal_oidc_client_id": "eakte-portal",
        "portal_oidc_client_secret": "prod-oidc-client-5a3f",
        "portal_session_secret": "prod-session-7c9d2e",
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


def variables(found: list[str]) -> set[str]:
    return {name for problem in found for name in re.findall(r"EAKTE_[A-Z_0-9]+", problem.split(" is ")[0])}


@pytest.mark.parametrize("process", [*SERVICES, "portal"])
def test_a_clean_production_configuration_starts(process: str) -> None:
    assert problems(production(kafka_username=process), process) == []


@pytest.mark.parametrize("process", [*SERVICES, "portal"])
def test_development_is_the_default_and_refuses_nothing(process: str) -> None:
    assert Settings().env == "development"
    assert problems(Settings(), process) == []


def test_an_unknown_environment_is_refused_even_for_development_secrets() -> None:
    found = problems(Settings(env="staging"), "ingest")
    assert len(found) == 1 and "EAKTE_ENV" in found[0] and "staging" in found[0]


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"jwt_secret": DEV_JWT_SECRET}, "EAKTE_JWT_SECRET"),
        ({"jwt_secret": ""}, "EAKTE_JWT_SECRET"),
        ({"s3_access_key": DEV_S3_ACCESS_KEY}, "EAKTE_S3_ACCESS_KEY"),
        ({"s3_secret_key": DEV_S3_SECRET_KEY}, "EAKTE_S3_SECRET_KEY"),
        ({"kafka_username": ""}, "EAKTE_KAFKA_USERNAME"),
        ({"kafka_password": ""}, "EAKTE_KAFKA_PASSWORD"),
        ({"kafka_password": dev_kafka_password("ingest")}, "EAKTE_KAFKA_PASSWORD"),
        ({"kafka_password": dev_kafka_password("archive")}, "EAKTE_KAFKA_PASSWORD"),
    ],
)
def test_a_service_refuses_each_development_secret(overrides: dict[str, str], variable: str) -> None:
    for service in SERVICES:
        assert variables(problems(production(**overrides), service)) == {variable}


def test_the_development_token_secret_is_allowed_only_beside_an_oidc_issuer() -> None:
    with_oidc = production(jwt_secret=DEV_JWT_SECRET, oidc_issuer="https://sso.example.org/realms/stadt")
    assert problems(with_oidc, "workflow") == []


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"portal_auth": "dev"}, "EAKTE_PORTAL_AUTH"),
        ({"portal_session_secret": ""}, "EAKTE_PORTAL_SESSION_SECRET"),
        ({"portal_session_secret": "prod-jwt-4f1c9a0e7b2d"}, "EAKTE_PORTAL_SESSION_SECRET"),  # = the JWT secret
        ({"portal_session_secret": "prod-oidc-client-5a3f"}, "EAKTE_PORTAL_SESSION_SECRET"),  # = the OIDC secret
        ({"portal_session_secret": DEV_JWT_SECRET}, "EAKTE_PORTAL_SESSION_SECRET"),
        ({"portal_oidc_client_secret": ""}, "EAKTE_PORTAL_OIDC_CLIENT_SECRET"),
        ({"portal_oidc_issuer": ""}, "EAKTE_PORTAL_OIDC_ISSUER"),
        ({"jwt_secret": DEV_JWT_SECRET}, "EAKTE_JWT_SECRET"),
        ({"kafka_password": dev_kafka_password("portal")}, "EAKTE_KAFKA_PASSWORD"),
    ],
)
def test_the_portal_refuses_development_sign_in_and_a_borrowed_session_key(
    overrides: dict[str, str], variable: str
) -> None:
    assert variables(problems(production(kafka_username="portal", **overrides), "portal")) == {variable}


def test_one_message_names_every_offending_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        refuse_unsafe_start(Settings(env="production"), "portal")
    assert exited.value.code != 0
    message = capsys.readouterr().err
    for variable in ("EAKTE_JWT_SECRET", "EAKTE_KAFKA_USERNAME", "EAKTE_KAFKA_PASSWORD", "EAKTE_PORTAL_AUTH"):
        assert variable in message
    assert "EAKTE_PORTAL_SESSION_SECRET" in message
    refuse_unsafe_start(production(), "ingest")  # a clean configuration passes silently


# --- names reserved for the system --------------------------------------------------------------------------------


def test_the_systems_names_are_reserved_in_any_spelling() -> None:
    assert {"scanner", "system"} <= RESERVED_NAMES
    assert is_reserved("System") and is_reserved(" scanner ") and is_reserved("scan01", hotfolder_user="scan01")
    assert not is_reserved("clara")


def test_a_service_refuses_a_token_for_a_reserved_name(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "unit-test-secret-0123456789abcdef0123"
    monkeypatch.setattr("shared.auth.get_settings", lambda: Settings(jwt_secret=secret))
    app = FastAPI()

    @app.get("/who")
    def who(principal: Principal = Depends(current_principal)) -> str:  # noqa: B008
        return principal.user

    client = TestClient(app)
    assert client.get("/who", headers=token("clara", "clerk", secret=secret)).json() == "clara"
    for name in ("system", "scanner", "SYSTEM"):
        assert client.get("/who", headers=token(name, "admin", secret=secret)).status_code == 401


def test_eakte_token_refuses_a_reserved_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--user", "system", "--roles", "admin"]) == 2
    assert main(["token", "--user", "scanner", "--roles", "clerk"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "reserved" in captured.err


@pytest.mark.parametrize("name", ["system", "scanner", "System"])
def test_the_development_sign_in_refuses_a_reserved_name_in_german(name: str) -> None:
    client = TestClient(create_app(Settings(jwt_secret="unit-test-secret-0123456789abcdef0123")))
    page = client.get("/anmelden").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    refused = client.post(
        "/anmelden", data={"csrf_token": csrf, "user": name, "roles": ["admin"]}, follow_redirects=False
    )
    assert refused.status_code == 403 and "dem System vorbehalten" in refused.text
    again = client.get("/archiv", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/anmelden")  # not signed in


def test_production_accepts_no_token_signed_with_the_development_secret() -> None:
    """With an OIDC issuer, production may leave EAKTE_JWT_SECRET unset; the README's secret must not open it."""
    import asyncio
    from datetime import timedelta

    import jwt as pyjwt

    from shared.auth import issue_token, verify_token

    forged = issue_token("mallory", frozenset({"admin"}), DEV_JWT_SECRET, timedelta(minutes=5))
    production = Settings(env="production", oidc_issuer="https://sso.example.org/realms/stadt")
    with pytest.raises(pyjwt.InvalidTokenError, match="not accepted in production"):
        asyncio.run(verify_token(forged, production))
    assert asyncio.run(verify_token(forged, Settings())).user == "mallory"  # development keeps working
    # Accepted once in development, the same token is judged afresh by production settings (checked tokens are
    # kept per settings).
    with pytest.raises(pyjwt.InvalidTokenError, match="not accepted in production"):
        asyncio.run(verify_token(forged, production))


def test_the_operator_password_may_be_unset_but_never_the_development_one() -> None:
    assert problems(production(kafka_username="portal"), "portal") == []
    found = problems(
        production(kafka_username="portal", kafka_operator_password=dev_kafka_password("operator")), "portal"
    )
    assert any("EAKTE_KAFKA_OPERATOR_PASSWORD" in problem for problem in found)


def test_fitconnect_is_reached_only_over_tls_in_production() -> None:
    """Online applications carry personal data: an http:// Submission API or token URL refuses the start."""
    plain = production(fitconnect_api_url="http://fit.example.org", fitconnect_token_url="http://auth.example.org")
    assert variables(problems(plain, "ingest")) >= {"EAKTE_FITCONNECT_API_URL", "EAKTE_FITCONNECT_TOKEN_URL"}
    tls = production(fitconnect_api_url="https://fit.example.org", fitconnect_token_url="https://auth.example.org")
    assert problems(tls, "ingest") == []
    development = production(env="development", fitconnect_api_url="http://127.0.0.1:1")
    assert problems(development, "ingest") == []  # the tests' local Submission API
