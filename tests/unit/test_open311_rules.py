"""Open311 rules: the place of a report, duplicates at the same place, api keys, the public status, the photo."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.ingest.domain import (
    DocumentStatus,
    EarlierReport,
    FileKind,
    PublicStatus,
    Rejection,
    RejectionReason,
    ReportPlace,
    api_client,
    check_report_photo,
    first_report_here,
    parse_api_keys,
    public_status,
    report_place,
    sniff,
)
from services.ingest.fileplan import load_file_plan
from services.ingest.open311 import _distance_m
from services.ingest.open311_services import Open311ConfigError, load_services, parse_services
from shared.errors import Refused
from shared.request_gate import BodyLimits
from shared.settings import CONFIG_DIR
from shared.workflow_catalog import WORKFLOWS_DIR, workflow_names

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
RATHAUS = ReportPlace(54.3233, 10.1228, "")
WINDOW = timedelta(days=14)


def _earlier(request_id: str, place: ReportPlace, hours_ago: float, closed: bool = False) -> EarlierReport:
    return EarlierReport(request_id, place, NOW - timedelta(hours=hours_ago), closed)


def _first(place: ReportPlace, earlier: list[EarlierReport]) -> str | None:
    return first_report_here(place, NOW, earlier, 30.0, WINDOW, _distance_m)


def test_a_report_names_coordinates_or_an_address() -> None:
    assert report_place("54.3233", "10.1228", "") == ReportPlace(54.3233, 10.1228, "")
    assert report_place("", "", "  Holstenstraße   12 ") == ReportPlace(None, None, "Holstenstraße 12")
    with pytest.raises(Refused) as missing:
        report_place("", "", "")
    assert missing.value.code == "missing_location"
    for lat, long in (("91", "10"), ("54", "181"), ("54", ""), ("Kiel", "10")):
        with pytest.raises(Refused) as invalid:
            report_place(lat, long, "")
        assert invalid.value.code == "invalid_location", (lat, long)


def test_a_report_a_few_metres_away_within_the_window_is_linked_to_the_first_open_one() -> None:
    ten_metres_north = ReportPlace(RATHAUS.lat + 0.00009, RATHAUS.long, "")  # 0.00009° latitude ≈ 10 m
    earlier = [_earlier("second", RATHAUS, 2), _earlier("first", RATHAUS, 30)]
    assert _first(ten_metres_north, earlier) == "first"


def test_far_away_old_or_closed_reports_are_no_duplicates() -> None:
    hundred_metres_north = ReportPlace(RATHAUS.lat + 0.0009, RATHAUS.long, "")
    assert 95 < _distance_m((RATHAUS.lat or 0, RATHAUS.long or 0), (hundred_metres_north.lat or 0, 10.1228)) < 105
    assert _first(hundred_metres_north, [_earlier("a", RATHAUS, 1)]) is None
    assert _first(RATHAUS, [_earlier("old", RATHAUS, 15 * 24)]) is None
    assert _first(RATHAUS, [_earlier("fixed", RATHAUS, 1, closed=True)]) is None


def test_without_coordinates_the_same_address_is_the_same_place() -> None:
    typed = ReportPlace(None, None, "Holstenstraße 12")
    assert _first(typed, [_earlier("a", ReportPlace(None, None, "holstenstraße 12"), 1)]) == "a"
    assert _first(typed, [_earlier("b", ReportPlace(None, None, "Holstenstraße 14"), 1)]) is None
    assert _first(typed, [_earlier("c", RATHAUS, 1)]) is None


def test_api_keys_identify_a_client_app_by_fingerprint_never_by_the_key() -> None:
    keys = parse_api_keys(" app-one-0123456789abcdef , app-two-0123456789abcdef,")
    assert keys == ("app-one-0123456789abcdef", "app-two-0123456789abcdef")
    client = api_client("app-two-0123456789abcdef", keys)
    assert client is not None and client.startswith("app-") and "0123456789abcdef" not in client
    assert api_client("app-one-0123456789abcdef", keys) != client
    assert api_client("", keys) is None
    assert api_client("app-three-0123456789abcdef", keys) is None
    assert api_client("anything", ()) is None
    with pytest.raises(ValueError, match="shorter than 16"):
        parse_api_keys("short")


def test_the_public_status_closes_when_the_workflow_ends_and_tells_no_names() -> None:
    assert public_status(False, [DocumentStatus.RECEIVED, DocumentStatus.IN_REVIEW]) == (PublicStatus.OPEN, "")
    status, notes = public_status(False, [DocumentStatus.RECEIVED, DocumentStatus.IN_REVIEW, DocumentStatus.APPROVED])
    assert status is PublicStatus.CLOSED and notes.startswith("Erledigt")
    status, notes = public_status(False, [DocumentStatus.RECEIVED, DocumentStatus.REJECTED])
    assert status is PublicStatus.CLOSED and "abgeschlossen" in notes
    assert public_status(True, [])[0] is PublicStatus.CLOSED


def test_a_photo_is_a_jpeg_or_png_of_bounded_size_judged_by_its_bytes() -> None:
    assert check_report_photo(FileKind.JPEG, 1000, 2000) is None
    assert check_report_photo(FileKind.PNG, 2000, 2000) is None
    too_large = check_report_photo(FileKind.JPEG, 2001, 2000)
    assert isinstance(too_large, Rejection) and too_large.reason is RejectionReason.TOO_LARGE
    pdf = check_report_photo(FileKind.PDF, 10, 2000)
    assert isinstance(pdf, Rejection) and pdf.reason is RejectionReason.UNSUPPORTED_TYPE
    disguised = check_report_photo(sniff(b"PK\x03\x04 a zip called foto.jpg"), 10, 2000)
    assert isinstance(disguised, Rejection) and disguised.reason is RejectionReason.UNSUPPORTED_TYPE


def test_the_shipped_report_types_are_filed_in_classes_of_the_file_plan() -> None:
    plan = load_file_plan(CONFIG_DIR / "aktenplan.yaml")
    services = load_services(CONFIG_DIR / "open311_services.yaml", plan, workflow_names(WORKFLOWS_DIR))
    assert {"schlagloch", "wilder-muell", "strassenbeleuchtung"} <= set(services)
    for service in services.values():
        plan_class = plan.get(service.file_plan_class)
        assert plan_class is not None and service.org_unit == plan_class.org_unit and service.agency


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"code": "Schlagloch!", "name": "x", "file_plan_class": "66.20"}, "is not like"),
        ({"code": "a", "name": "", "file_plan_class": "66.20"}, "name is missing"),
        ({"code": "a", "name": "x", "file_plan_class": "99.99"}, "not a class of the file plan"),
        ({"code": "a", "name": "x", "file_plan_class": "66.20", "workflow": "nope"}, "workflow 'nope'"),
    ],
)
def test_a_broken_report_type_names_its_entry(entry: dict[str, str], message: str) -> None:
    plan = load_file_plan(CONFIG_DIR / "aktenplan.yaml")
    with pytest.raises(Open311ConfigError, match=message):
        parse_services({"services": [entry]}, plan, {"default"})


def test_the_request_gate_opens_exactly_the_four_open311_routes() -> None:
    limits = BodyLimits(json_bytes=1024)
    for path in (
        "/open311/v2/services.json",
        "/open311/v2/requests.json",
        "/open311/v2/requests/0b8e7a52-4d5e-4c11-9a1f-2f0d8f1c3b9a.json",
    ):
        assert limits.is_open(path), path
    for path in ("/open311/", "/open311/v2/admin", "/open311/v2/requests/a/b.json", "/api/v1/documents"):
        assert not limits.is_open(path), path


def test_settings_default_to_no_key(tmp_path: Path) -> None:
    from shared.settings import Settings

    settings = Settings(data_dir=tmp_path)
    assert settings.open311_api_keys == "" and parse_api_keys(settings.open311_api_keys) == ()
    assert settings.open311_duplicate_radius_m > 0 and settings.open311_duplicate_window_h > 0
