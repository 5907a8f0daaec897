"""The request gate: the caller is known before a body is read, and bodies are bounded while they stream."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from shared.auth import issue_token
from shared.request_gate import BodyLimits, RequestGate
from shared.settings import get_settings

LIMIT = 1000


class Note(BaseModel):
    text: str


def _app(read: list[int]) -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestGate, limits=lambda: BodyLimits(json_bytes=LIMIT, xdomea_bytes=2 * LIMIT))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/notes")
    async def note(body: Note) -> dict[str, int]:
        read.append(len(body.text))
        return {"length": len(body.text)}

    @app.post("/api/v1/archive/xdomea/evaluation")
    async def xdomea(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    return app


@pytest.fixture
def client() -> Iterator[tuple[TestClient, list[int]]]:
    read: list[int] = []
    with TestClient(_app(read), raise_server_exceptions=False) as test_client:
        yield test_client, read


def _bearer(secret: str | None = None) -> dict[str, str]:
    token = issue_token("anna", frozenset({"clerk"}), secret or get_settings().jwt_secret, timedelta(minutes=5))
    return {"Authorization": f"Bearer {token}"}


def test_no_token_is_refused_before_the_body_is_read(client: tuple[TestClient, list[int]]) -> None:
    test_client, read = client
    answer = test_client.post("/api/v1/notes", json={"text": "x" * 10})
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized"
    assert answer.headers["www-authenticate"] == "Bearer"
    assert read == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer"},
        _bearer(secret="another-key-another-key-another-key"),
    ],
)
def test_invalid_tokens_get_401(client: tuple[TestClient, list[int]], headers: dict[str, str]) -> None:
    assert client[0].post("/api/v1/notes", json={"text": "x"}, headers=headers).status_code == 401


def test_non_ascii_authorization_header_gets_401_not_500(client: tuple[TestClient, list[int]]) -> None:
    headers = [(b"authorization", "Bearer tökén".encode())]
    answer = client[0].post("/api/v1/notes", json={"text": "x"}, headers=headers)  # type: ignore[arg-type]
    assert answer.status_code == 401


def test_open_paths_need_no_token(client: tuple[TestClient, list[int]]) -> None:
    assert client[0].get("/health").status_code == 200


def test_valid_token_and_small_body_pass(client: tuple[TestClient, list[int]]) -> None:
    test_client, read = client
    answer = test_client.post("/api/v1/notes", json={"text": "hello"}, headers=_bearer())
    assert answer.status_code == 200
    assert read == [5]


def test_declared_length_above_the_limit_gets_413(client: tuple[TestClient, list[int]]) -> None:
    test_client, read = client
    answer = test_client.post("/api/v1/notes", json={"text": "x" * 2 * LIMIT}, headers=_bearer())
    assert answer.status_code == 413
    assert answer.json()["error"] == "too_large"
    assert read == []


def test_streamed_body_above_the_limit_gets_413(client: tuple[TestClient, list[int]]) -> None:
    test_client, read = client

    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(10):
            yield b"x" * 300
        yield b'"}'

    headers = {**_bearer(), "Content-Type": "application/json"}
    answer = test_client.post("/api/v1/notes", content=chunks(), headers=headers)
    assert answer.status_code == 413
    assert read == []


def test_xdomea_messages_have_their_own_limit(client: tuple[TestClient, list[int]]) -> None:
    test_client, _read = client
    path = "/api/v1/archive/xdomea/evaluation"
    assert test_client.post(path, content=b"x" * (LIMIT + 500), headers=_bearer()).json() == {"length": LIMIT + 500}
    assert test_client.post(path, content=b"x" * (2 * LIMIT + 1), headers=_bearer()).status_code == 413


@pytest.mark.parametrize("length", ["abc", "-5", "１２"])
def test_broken_content_length_gets_400(client: tuple[TestClient, list[int]], length: str) -> None:
    headers = [(b"authorization", _bearer()["Authorization"].encode()), (b"content-length", length.encode())]
    answer = client[0].post("/api/v1/notes", headers=headers)  # type: ignore[arg-type]
    assert answer.status_code == 400
