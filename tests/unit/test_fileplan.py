"""The file plan: loading, validation with clear errors, file references."""

from pathlib import Path

import pytest

from services.ingest.fileplan import (
    Disposal,
    FilePlanError,
    class_of,
    format_aktenzeichen,
    load_file_plan,
    parse_file_plan,
)
from shared.settings import Settings


def test_shipped_sample_plan_loads() -> None:
    plan = load_file_plan(Settings().file_plan)
    social = plan.get("50.10")
    assert social is not None and social.retention_years == 10 and social.disposal is Disposal.DESTROY
    assert plan.get("63.01").disposal is Disposal.ARCHIVE
    assert [c.number for c in plan.ordered()] == sorted(c.number for c in plan.ordered())


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"number": "5", "title": "x", "retention_years": 1, "disposal": "archive"}, "is not like"),
        ({"number": "50.10", "title": "", "retention_years": 1, "disposal": "archive"}, "title is missing"),
        ({"number": "50.10", "title": "x", "retention_years": "ten", "disposal": "archive"}, "retention_years"),
        ({"number": "50.10", "title": "x", "retention_years": 10, "disposal": "shred"}, "disposal must be"),
    ],
)
def test_plan_errors_name_the_entry(entry: dict, message: str) -> None:
    with pytest.raises(FilePlanError, match=message) as error:
        parse_file_plan({"classes": [entry]}, "plan.yaml")
    assert "plan.yaml: classes[0]" in str(error.value)


def test_duplicate_class_and_bad_yaml(tmp_path: Path) -> None:
    twice = {"number": "50.10", "title": "x", "retention_years": 1, "disposal": "archive"}
    with pytest.raises(FilePlanError, match="appears twice"):
        parse_file_plan({"classes": [twice, twice]})
    broken = tmp_path / "plan.yaml"
    broken.write_text("classes: [unclosed")
    with pytest.raises(FilePlanError, match="not valid YAML"):
        load_file_plan(broken)
    with pytest.raises(FilePlanError, match="cannot read"):
        load_file_plan(tmp_path / "missing.yaml")


def test_aktenzeichen_format() -> None:
    assert format_aktenzeichen("50.10", 2026, 42) == "50.10-2026/0042"
    assert class_of("50.10-2026/0042") == "50.10"
    assert class_of("50.10-2026/12345") == "50.10"
    assert class_of("50.10/2026-0042") is None
