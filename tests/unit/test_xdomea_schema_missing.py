"""Without the official xdomea schema the archive says so at start and refuses every xdomea step with a clear 503.

The schema is not part of the repository (docker-compose.yml mounts it from a folder the operator fills and names it
with EAKTE_XDOMEA_SCHEMA); nothing is ever built or read unchecked.
"""

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.archive import aussonderung, xdomea, xdomea_xml
from services.archive.app import REFUSAL_STATUS, announce_xdomea_schema
from services.archive.bootstrap import Archive
from services.archive.domain import XdomeaSchemaMissing
from services.archive.xdomea_routes import router
from shared.auth import issue_token
from shared.need_to_know import Reader
from shared.service_app import ServiceRuntime, build_app
from shared.settings import get_settings
from tests.unit.fakes_archive import FakeArchiveUnitOfWork, FakePackages

CITY = xdomea.Institution(name="Stadtverwaltung")
STATE_ARCHIVE = xdomea.Institution(name="Landesarchiv")
RITA = Reader("rita", frozenset({"records_officer"}))
MISSING = "/nonexistent/xdomea_3.0.0/xdomea.xsd"
WITHOUT_SCHEMA = aussonderung.Parties(sender=CITY, receiver=STATE_ARCHIVE, schema=MISSING)
WITH_SCHEMA = aussonderung.Parties(sender=CITY, receiver=STATE_ARCHIVE)  # ../shared/xdomea beside the project


def test_every_xdomea_step_is_refused_without_the_schema_and_nothing_is_recorded() -> None:
    uow, packages = FakeArchiveUnitOfWork(), FakePackages()
    process_id, object_id = "4f1c2a7e-0000-4000-8000-000000000001", "4f1c2a7e-0000-4000-8000-000000000002"
    message = xdomea.build_evaluation(process_id, STATE_ARCHIVE, CITY, {object_id: "archive"})
    steps = [
        lambda: aussonderung.offer(uow, WITHOUT_SCHEMA, ["50.10-2016/0001"], "rita"),
        lambda: aussonderung.evaluation(uow, WITHOUT_SCHEMA, message),
        lambda: aussonderung.transfer(uow, packages, WITHOUT_SCHEMA, ["50.10-2016/0001"], RITA),
        lambda: aussonderung.confirmation(uow, packages, WITHOUT_SCHEMA, message, "rita"),
    ]
    for step in steps:
        with pytest.raises(XdomeaSchemaMissing) as refused:
            step()
        assert refused.value.code == "xdomea_schema_missing"
        assert MISSING in str(refused.value) and "EAKTE_XDOMEA_SCHEMA" in str(refused.value)
    assert uow.processes.rows == {}


def test_the_offer_route_answers_503_with_what_to_configure() -> None:
    settings = get_settings()
    uow = FakeArchiveUnitOfWork()
    runtime = ServiceRuntime(name="archive", settings=settings, sessions=None, broker=None, relay=None)  # type: ignore[arg-type]
    app = build_app(runtime, [router], refusal_status=REFUSAL_STATUS)
    app.state.archive = Archive(lambda: uow, None, WITHOUT_SCHEMA, settings)  # type: ignore[arg-type]
    token = issue_token("rita", frozenset({"records_officer"}), settings.jwt_secret, timedelta(minutes=5))

    answer = TestClient(app).post(
        "/api/v1/archive/xdomea/offer",
        json={"aktenzeichen": ["50.10-2016/0001"]},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert answer.status_code == 503
    assert answer.json()["error"] == "xdomea_schema_missing"
    assert "EAKTE_XDOMEA_SCHEMA" in answer.json()["reason"] and MISSING in answer.json()["reason"]


def _announced(parties: aussonderung.Parties, caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    with caplog.at_level(logging.INFO, logger="services.archive.app"):
        asyncio.run(announce_xdomea_schema(parties))
    return [r for r in caplog.records if r.name == "services.archive.app"]


def test_the_archive_warns_at_start_when_the_configured_schema_is_not_there(caplog: pytest.LogCaptureFixture) -> None:
    [record] = _announced(WITHOUT_SCHEMA, caplog)
    assert record.levelno == logging.WARNING
    text = record.getMessage()
    assert "xdomea disposal" in text and "NOT available" in text and MISSING in text
    assert "503 xdomea_schema_missing" in text and "EAKTE_XDOMEA_SCHEMA" in text


def test_the_archive_warns_at_start_when_no_schema_is_configured(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("EAKTE_XDOMEA_SCHEMA", raising=False)
    monkeypatch.setattr(xdomea_xml, "DEFAULT_SCHEMA_PATH", tmp_path / "xdomea_3.0.0" / "xdomea.xsd")
    [record] = _announced(aussonderung.Parties(sender=CITY, receiver=STATE_ARCHIVE), caplog)
    assert record.levelno == logging.WARNING
    assert "no xdomea schema is configured (EAKTE_XDOMEA_SCHEMA is empty" in record.getMessage()


def test_with_the_schema_the_archive_names_it_and_does_not_warn(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EAKTE_XDOMEA_SCHEMA", raising=False)
    [record] = _announced(WITH_SCHEMA, caplog)
    assert record.levelno == logging.INFO
    assert str(xdomea.DEFAULT_SCHEMA_PATH) in record.getMessage()
