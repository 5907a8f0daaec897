"""Event contracts and tokens."""

import uuid
from datetime import timedelta

import jwt
import pytest
from pydantic import ValidationError

from eakte_cli import main
from shared.auth import InvalidRoles, decode_token, issue_token, parse_roles
from shared.events import ALL_TOPICS, DocumentIngested, DocumentMetadata, StoredObject

SECRET = "unit-test-secret-0123456789abcdef0123"


def _ingested(**extra: object) -> dict:
    event = DocumentIngested(
        document_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        original=StoredObject(bucket="b", key="k", size=1, sha256="0" * 64),
        metadata=DocumentMetadata(title="Antrag"),
        workflow="default",
        submitted_by="clara",
    )
    return {**event.model_dump(mode="json"), **extra}


def test_event_round_trips_and_is_keyed_by_document_id() -> None:
    payload = _ingested()
    event = DocumentIngested.model_validate(payload)
    assert event.key == payload["document_id"].encode()
    assert event.schema_version == 1 and event.metadata.title == "Antrag"


def test_unknown_fields_are_ignored() -> None:
    event = DocumentIngested.model_validate(_ingested(added_in_a_later_minor="x"))
    assert not hasattr(event, "added_in_a_later_minor")


def test_newer_schema_version_is_refused() -> None:
    with pytest.raises(ValidationError, match="schema_version 2"):
        DocumentIngested.model_validate(_ingested(schema_version=2))


def test_every_topic_has_a_dead_letter_topic() -> None:
    assert "documents.ingested" in ALL_TOPICS and "documents.ingested.dlq" in ALL_TOPICS
    assert {"documents.approved", "documents.rejected", "documents.archived"} <= set(ALL_TOPICS)


def test_token_round_trip() -> None:
    token = issue_token("alice", frozenset({"clerk", "approver"}), SECRET, timedelta(hours=1))
    principal = decode_token(token, SECRET)
    assert principal.user == "alice" and principal.roles == {"clerk", "approver"}
    assert principal.org_units == frozenset()  # a person without an org unit is a member of none


def test_a_token_carries_the_persons_org_units() -> None:
    token = issue_token("alice", frozenset({"clerk"}), SECRET, timedelta(hours=1), frozenset({"50", "63"}))
    assert decode_token(token, SECRET).org_units == {"50", "63"}
    forged = jwt.encode({"sub": "alice", "roles": ["clerk"], "org_units": "50", "exp": 9999999999}, SECRET, "HS256")
    with pytest.raises(jwt.InvalidTokenError):
        decode_token(forged, SECRET)


def test_expired_or_foreign_tokens_are_refused() -> None:
    expired = issue_token("alice", frozenset({"clerk"}), SECRET, timedelta(seconds=-1))
    with pytest.raises(jwt.ExpiredSignatureError):
        decode_token(expired, SECRET)
    foreign = issue_token("alice", frozenset({"clerk"}), "another-secret-0123456789abcdef0123", timedelta(hours=1))
    with pytest.raises(jwt.InvalidSignatureError):
        decode_token(foreign, SECRET)


def test_a_token_accepted_a_moment_ago_is_refused_once_it_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked tokens are kept for the next request, never past their expiry."""
    import asyncio
    from datetime import UTC, datetime

    import jwt.api_jwt

    from shared import auth
    from shared.settings import Settings

    now = datetime.now(UTC)

    class Clock(datetime):
        @classmethod
        def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
            return now

    token = issue_token("alice", frozenset({"clerk"}), SECRET, timedelta(seconds=30))
    monkeypatch.setattr(auth, "_verified", auth._VerifiedTokens(clock=lambda: now.timestamp()))
    monkeypatch.setattr(jwt.api_jwt, "datetime", Clock)  # the library's clock too: both see the same "now"
    settings = Settings(jwt_secret=SECRET)
    assert asyncio.run(auth.verify_token(token, settings)).user == "alice"
    assert asyncio.run(auth.verify_token(token, settings)).user == "alice"  # the kept answer
    now += timedelta(seconds=31)
    with pytest.raises(jwt.ExpiredSignatureError):
        asyncio.run(auth.verify_token(token, settings))


def test_roles_must_be_known() -> None:
    assert parse_roles("clerk, approver") == {"clerk", "approver"}
    with pytest.raises(InvalidRoles):
        parse_roles("clerk,superuser")
    with pytest.raises(InvalidRoles):
        parse_roles("")


def test_cli_prints_only_the_token(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EAKTE_JWT_SECRET", SECRET)
    from shared.settings import get_settings

    get_settings.cache_clear()
    try:
        assert main(["token", "--user", "alice", "--roles", "clerk,approver", "--org-units", "50, 63"]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out.strip()
    assert "\n" not in out
    assert decode_token(out, SECRET).roles == {"clerk", "approver"}
    assert decode_token(out, SECRET).org_units == {"50", "63"}
    assert main(["token", "--user", "alice", "--roles", "root"]) == 2
