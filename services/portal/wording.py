"""All text a user reads in the portal, from one reviewable file (locale/de.yaml), and German date formats."""

import datetime as dt
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

LOCALE_FILE = Path(__file__).resolve().parent / "locale" / "de.yaml"


def _flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = str(value)
    return flat


@lru_cache
def texts() -> dict[str, str]:
    return _flatten(yaml.safe_load(LOCALE_FILE.read_text(encoding="utf-8")))


def t(key: str, **values: object) -> str:
    """The German text for `key`; a missing key is a programming error and fails loudly (tests cover it)."""
    text = texts()[key]
    return text.format(**values) if values else text


def t_or(key: str, fallback: str) -> str:
    """For keys built from data (a status, a reason code): unknown values show as they are."""
    return texts().get(key, fallback)


class GermanDates:
    def __init__(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)

    def datetime(self, value: dt.datetime | str | None) -> str:
        if not value:
            return "—"
        moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is not None:
            moment = moment.astimezone(self.zone)
        return moment.strftime("%d.%m.%Y, %H:%M Uhr")

    def date(self, value: dt.date | dt.datetime | str | None) -> str:
        if not value:
            return "—"
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            value = value.astimezone(self.zone)
        return value.strftime("%d.%m.%Y")


def file_size(size: int | None) -> str:
    if size is None:
        return "—"
    if size < 1024:
        return f"{size} Byte"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB".replace(".", ",")
    return f"{size / 1024 / 1024:.1f} MB".replace(".", ",")
