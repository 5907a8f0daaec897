"""The file plan (`Aktenplan`) and file references (`Aktenzeichen`). Imports nothing of Kafka, MinIO or HTTP."""

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml

# `50.10-2026/0042`: file plan class, year the Akte was opened, running number within class and year.
AKTENZEICHEN = re.compile(r"^(?P<cls>\d{2}(?:\.\d{2})*)-(?P<year>\d{4})/(?P<seq>\d{4,})$")
CLASS_NUMBER = re.compile(r"^\d{2}(?:\.\d{2})*$")


class Disposal(StrEnum):
    ARCHIVE = "archive"
    DESTROY = "destroy"


@dataclass(frozen=True)
class FilePlanClass:
    """A class of the file plan, with its retention period (`Aufbewahrungsfrist`) and disposal decision."""

    number: str
    title: str
    retention_years: int
    disposal: Disposal
    archive_rejected: bool = False  # a rejection is part of the record: keep rejected documents too
    org_unit: str = ""  # the owning org unit of its Akten (empty: the creator's first org unit)
    confidential: bool = False  # e.g. personnel files: content only for the owning org unit and records office


class FilePlanError(ValueError):
    pass


@dataclass(frozen=True)
class FilePlan:
    classes: dict[str, FilePlanClass]

    def get(self, number: str) -> FilePlanClass | None:
        return self.classes.get(number)

    def ordered(self) -> list[FilePlanClass]:
        return [self.classes[number] for number in sorted(self.classes)]


def parse_file_plan(document: object, source: str = "file plan") -> FilePlan:
    """Check every entry and say exactly which one is wrong."""
    if not isinstance(document, dict) or not isinstance(document.get("classes"), list):
        raise FilePlanError(f"{source}: expected a mapping with a list `classes`")
    classes: dict[str, FilePlanClass] = {}
    for index, entry in enumerate(document["classes"]):
        where = f"{source}: classes[{index}]"
        if not isinstance(entry, dict):
            raise FilePlanError(f"{where}: expected a mapping")
        number = str(entry.get("number", ""))
        if not CLASS_NUMBER.match(number):
            raise FilePlanError(f"{where}: number {number!r} is not like '50.10'")
        if number in classes:
            raise FilePlanError(f"{where}: number {number} appears twice")
        title = str(entry.get("title", "")).strip()
        if not title:
            raise FilePlanError(f"{where} ({number}): title is missing")
        years = entry.get("retention_years")
        if not isinstance(years, int) or isinstance(years, bool) or not 0 <= years <= 200:
            raise FilePlanError(f"{where} ({number}): retention_years must be a whole number of years (0-200)")
        try:
            disposal = Disposal(str(entry.get("disposal")))
        except ValueError as exc:
            raise FilePlanError(f"{where} ({number}): disposal must be 'archive' or 'destroy'") from exc
        archive_rejected = entry.get("archive_rejected", False)
        if not isinstance(archive_rejected, bool):
            raise FilePlanError(f"{where} ({number}): archive_rejected must be true or false")
        org_unit, confidential = _need_to_know(entry, f"{where} ({number})")
        classes[number] = FilePlanClass(number, title, years, disposal, archive_rejected, org_unit, confidential)
    if not classes:
        raise FilePlanError(f"{source}: no classes")
    return FilePlan(classes)


def _need_to_know(entry: dict[str, object], where: str) -> tuple[str, bool]:
    org_unit = entry.get("org_unit", "")
    if not isinstance(org_unit, str | int) or isinstance(org_unit, bool) or len(str(org_unit)) > 50:
        raise FilePlanError(f"{where}: org_unit must be an org unit id like '50'")
    confidential = entry.get("confidential", False)
    if not isinstance(confidential, bool):
        raise FilePlanError(f"{where}: confidential must be true or false")
    return str(org_unit).strip(), confidential


def load_file_plan(path: Path) -> FilePlan:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FilePlanError(f"cannot read the file plan {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise FilePlanError(f"file plan {path} is not valid YAML: {exc}") from exc
    return parse_file_plan(document, str(path))


def format_aktenzeichen(class_number: str, year: int, seq: int) -> str:
    return f"{class_number}-{year}/{seq:04d}"


def class_of(aktenzeichen: str) -> str | None:
    match = AKTENZEICHEN.match(aktenzeichen)
    return match["cls"] if match else None


@dataclass(frozen=True)
class AktenzeichenParts:
    class_number: str
    year: int
    seq: int


def parse_aktenzeichen(aktenzeichen: str) -> AktenzeichenParts | None:
    """The parts of a well-formed Aktenzeichen (class, year, running number), else None."""
    match = AKTENZEICHEN.match(aktenzeichen)
    if match is None or format_aktenzeichen(match["cls"], int(match["year"]), int(match["seq"])) != aktenzeichen:
        return None
    return AktenzeichenParts(match["cls"], int(match["year"]), int(match["seq"]))
