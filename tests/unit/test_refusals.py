"""One handler turns every refusal into the API's error body, with the status the service's table gives its code."""

from datetime import timedelta

from fastapi import APIRouter
from fastapi.testclient import TestClient

from shared.auth import issue_token
from shared.errors import InvalidRequest, NotFound, Refused
from shared.service_app import ServiceRuntime, build_app
from shared.settings import get_settings

router = APIRouter()


@router.get("/four-eyes")
def four_eyes() -> None:
    raise Refused("four_eyes", "the submitter of a document may not decide on it")


@router.get("/missing")
def missing() -> None:
    raise NotFound("no such task")


@router.get("/conflict")
def conflict() -> None:
    raise Refused("already_decided", "this task has already been decided")


@router.get("/invalid")
def invalid() -> None:
    raise InvalidRequest("unknown_workflow", "unknown workflow 'x'")


def client() -> TestClient:
    settings = get_settings()
    runtime = ServiceRuntime(name="test", settings=settings, sessions=None, broker=None, relay=None)  # type: ignore[arg-type]
    # Every route but the open ones needs a valid token before it is reached (the request gate).
    token = issue_token("anna", frozenset({"clerk"}), settings.jwt_secret, timedelta(minutes=5))
    app = build_app(runtime, [router], refusal_status={"four_eyes": 403})
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


def test_a_refusal_answers_with_its_code_and_the_status_of_the_services_table() -> None:
    answer = client().get("/four-eyes")
    assert answer.status_code == 403
    assert answer.json() == {"error": "four_eyes", "reason": "the submitter of a document may not decide on it"}


def test_codes_every_service_shares_and_the_default_conflict() -> None:
    assert client().get("/missing").status_code == 404
    assert client().get("/missing").json() == {"error": "not_found", "reason": "no such task"}
    assert client().get("/conflict").status_code == 409


def test_an_invalid_request_carries_its_reason_code_and_message() -> None:
    answer = client().get("/invalid")
    assert answer.status_code == 422
    assert answer.json() == {
        "error": "invalid_request",
        "reason": "unknown_workflow",
        "message": "unknown workflow 'x'",
    }
