"""The archive domain: what may enter, how a package is laid out (BagIt, RFC 8493), how long it is kept.

Imports nothing of Kafka, MinIO or HTTP.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shared.errors import Refused

BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
# Documents filed in no Akte (no file plan class) are kept this long; their disposal is decided by a person.
DEFAULT_RETENTION_YEARS = 10


@dataclass(frozen=True)
class IntegrityFailure:
    """Why a document must not be archived (BSI TR-RESISCAN: the intake fingerprint must still hold)."""

    reason: str


def check_fixity(
    expected_sha256: str, expected_size: int, actual_sha256: str, actual_size: int
) -> IntegrityFailure | None:
    if actual_sha256 != expected_sha256:
        return IntegrityFailure(f"sha256 mismatch: intake {expected_sha256}, stored object {actual_sha256}")
    if actual_size != expected_size:
        return IntegrityFailure(f"size mismatch: intake {expected_size} bytes, stored object {actual_size} bytes")
    return None


@dataclass(frozen=True)
class PayloadFile:
    """A file in the bag's `data/` directory."""

    path: str
    sha256: str
    size: int


def package_prefix(document_id: str) -> str:
    return f"packages/{document_id}/"


def manifest(files: list[PayloadFile]) -> str:
    """`manifest-sha256.txt` / `tagmanifest-sha256.txt`: one `<checksum> <path>` line per file."""
    return "".join(f"{f.sha256}  {f.path}\n" for f in sorted(files, key=lambda f: f.path))


def parse_manifest(text: str) -> dict[str, str]:
    entries = {}
    for line in text.splitlines():
        if line.strip():
            checksum, path = line.split(maxsplit=1)
            entries[path.strip()] = checksum.lower()
    return entries


def bag_info(fields: dict[str, str], payload: list[PayloadFile], bagged_at: datetime) -> str:
    """`bag-info.txt` with the RFC's reserved fields first, then ours (labels may not contain colons)."""
    octets = sum(f.size for f in payload)
    lines = {
        "Bagging-Date": bagged_at.date().isoformat(),
        "Payload-Oxum": f"{octets}.{len(payload)}",
        **{label.replace(":", "-"): " ".join(str(value).split()) for label, value in fields.items() if value},
    }
    return "".join(f"{label}: {value}\n" for label, value in lines.items())


def retain_until(archived_at: datetime, retention_years: int | None, override_seconds: int | None) -> datetime:
    """End of the retention period (`Aufbewahrungsfrist`), counted from archiving."""
    if override_seconds is not None:  # development and tests only: COMPLIANCE locks cannot be shortened later
        return archived_at + timedelta(seconds=override_seconds)
    years = retention_years if retention_years is not None else DEFAULT_RETENTION_YEARS
    try:
        return archived_at.replace(year=archived_at.year + years)
    except ValueError:  # 29 February into a year without it
        return archived_at.replace(year=archived_at.year + years, day=28)


class FixityResult(StrEnum):
    OK = "ok"
    MISMATCH = "mismatch"
    MISSING = "missing"


@dataclass(frozen=True)
class FixityReport:
    result: FixityResult
    problems: list[str]


def compare_fixity(expected: dict[str, str], found: dict[str, str | None]) -> FixityReport:
    """Compare every manifest hash with what was re-read (None: the object is gone)."""
    problems, result = [], FixityResult.OK
    for path, checksum in sorted(expected.items()):
        actual = found.get(path)
        if actual is None:
            problems.append(f"{path}: missing")
            result = FixityResult.MISSING
        elif actual != checksum:
            problems.append(f"{path}: sha256 {actual} instead of {checksum}")
            if result is FixityResult.OK:
                result = FixityResult.MISMATCH
    return FixityReport(result, problems)


class Disposal(StrEnum):
    ARCHIVE = "archive"  # offer to the state archive (xdomea), then delete here
    DESTROY = "destroy"


class DisposalRefused(Refused):
    """Disposal the rules forbid now (legal hold, retention running, or the file plan says archive)."""


def check_may_destroy(
    disposal: str, retain_until_at: datetime, legal_hold: bool, now: datetime, handed_over: bool = False
) -> None:
    if legal_hold:
        raise DisposalRefused("legal_hold", "a legal hold blocks disposal")
    if now < retain_until_at:
        raise DisposalRefused("retention_running", f"the retention period runs until {retain_until_at.isoformat()}")
    if disposal != Disposal.DESTROY and not handed_over:
        raise DisposalRefused("not_destroy", "the file plan says `archive`: offer it to the state archive first")
